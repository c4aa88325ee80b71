//! A region cut off keeps working, on containers: region dev-1 and region
//! dev-2, three nodes each on a private network of their own; dev-1's
//! nodes also reach dev-2's network, which is how they forward calls for
//! it. Cutting that link (`docker network disconnect`) leaves dev-2 whole
//! inside and alone: it takes new work, replaces the work of a node that
//! dies meanwhile, and loses nothing; dev-1 says dev-2 is unreachable and
//! fails calls for it at once. After the heal, calls reach dev-2 again
//! with nothing done by hand, and hold everything it acknowledged.

#![cfg(not(madsim))]

mod common;
mod hosts;

use std::time::{Duration, Instant};

use common::{FAST, cli, json, wait_for};
use drover_adapters::exec::docker::testing::image_from_script;
use hosts::{Network, Node, PORT};
use serde_json::Value;

/// Three hybrid nodes of `region` on `network`; `extra` is added to each
/// node.toml.
fn region(image: &str, region: &str, network: &Network, extra: &str) -> Vec<Node> {
    let peers = network.peers(3);
    (1..=3)
        .map(|id| {
            let config = format!(
                "id = {id}\nname = \"{region}-node-{id}\"\nregion = \"{region}\"\nlisten = \"0.0.0.0:{PORT}\"\nadvertise = \"{}:{PORT}\"\ndata_dir = \"/var/lib/drover\"\ndocker = \"off\"\n{FAST}[capacity]\ncpu = \"4\"\nmemory = \"4GiB\"\n{peers}{extra}",
                network.ip(id)
            );
            Node::start(image, format!("{}-n{id}", network.name), network, id, &config)
        })
        .collect()
}

fn with_region(addr: &str, region: &str, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["--region", region]);
    cli(addr, &all)
}

fn running_on(doc: &Value) -> Vec<String> {
    doc["allocations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == "running")
        .filter_map(|a| a["node"].as_str().map(String::from))
        .collect()
}

#[test]
fn a_region_cut_off_from_the_others_keeps_its_services_and_takes_work() {
    let test = "a_region_cut_off_from_the_others_keeps_its_services_and_takes_work";
    let Some(image) = image_from_script(test, "docker-node-image", &[env!("CARGO_BIN_EXE_drover")])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (net1, net2) = (Network::create("region-1"), Network::create("region-2"));
    let far = region(&image, "dev-2", &net2, "");
    let addrs: Vec<String> = far.iter().map(|n| format!("\"{}\"", n.addr)).collect();
    let federation = format!(
        "[[federation]]\nregion = \"dev-2\"\naddrs = [{}]\n",
        addrs.join(", ")
    );
    let near = region(&image, "dev-1", &net1, &federation);
    // The link between the regions: dev-1's nodes on dev-2's network.
    for (i, node) in near.iter().enumerate() {
        node.connect(&net2, &net2.ip(100 + i));
    }
    let entry = near[0].addr.clone();

    // A service for dev-2, sent through dev-1.
    let service = dir.path().join("svc.toml");
    std::fs::write(
        &service,
        "id = \"svc\"\nkind = \"service\"\nreplicas = 2\nmax_per_node = 1\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    let service = service.to_str().unwrap();
    wait_for(
        "dev-2 to take a service through dev-1",
        Duration::from_secs(60),
        || {
            with_region(&entry, "dev-2", &["job", "run", "--detach", service])
                .status
                .success()
                .then_some(())
        },
    );
    let placed = wait_for(
        "2 replicas running in dev-2",
        Duration::from_secs(60),
        || {
            let doc = json(&far[0].addr, &["job", "status", "svc"])?;
            let nodes = running_on(&doc);
            (nodes.len() == 2).then_some(nodes)
        },
    );
    assert!(
        placed.iter().all(|n| n.starts_with("dev-2-node-")),
        "{placed:?}"
    );

    // Cut.
    for node in &near {
        node.disconnect(&net2);
    }
    wait_for(
        "dev-1 to say dev-2 is unreachable",
        Duration::from_secs(30),
        || {
            let status = json(&entry, &["cluster", "status"])?;
            (status["regions"][0]["reachable"] == false && status["leader"].is_u64()).then_some(())
        },
    );
    let started = Instant::now();
    let refused = with_region(&entry, "dev-2", &["job", "list"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("region dev-2"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    alone(dir.path(), &far, &placed[0]);

    // Heal: reached again through dev-1, holding everything.
    for (i, node) in near.iter().enumerate() {
        node.connect(&net2, &net2.ip(100 + i));
    }
    wait_for(
        "dev-2 reached again through dev-1",
        Duration::from_secs(60),
        || {
            let out = with_region(&entry, "dev-2", &["job", "list", "--json"]);
            let list: Value = serde_json::from_slice(&out.stdout).ok()?;
            let ids: Vec<&str> = list["jobs"]
                .as_array()?
                .iter()
                .filter_map(|j| j["id"].as_str())
                .collect();
            (ids == ["during", "svc"]).then_some(())
        },
    );
}

/// dev-2 cut off: `victim`, a node holding a replica, dies; the region
/// replaces its work and takes new work, alone.
fn alone(dir: &std::path::Path, far: &[Node], victim: &str) {
    let index: usize = victim.trim_start_matches("dev-2-node-").parse().unwrap();
    far[index - 1].kill();
    let alive: Vec<&Node> = far
        .iter()
        .enumerate()
        .filter(|(i, _)| i + 1 != index)
        .map(|(_, n)| n)
        .collect();
    let replaced = wait_for(
        "dev-2 back at 2 replicas without the dead node",
        Duration::from_secs(90),
        || {
            let doc = json(&alive[0].addr, &["job", "status", "svc"])?;
            let nodes = running_on(&doc);
            (nodes.len() == 2 && !nodes.iter().any(|n| n == victim)).then_some(nodes)
        },
    );
    assert!(
        replaced.iter().all(|n| n.starts_with("dev-2-node-")),
        "{replaced:?}"
    );
    let batch = dir.join("during.toml");
    std::fs::write(
        &batch,
        "id = \"during\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    wait_for(
        "dev-2 to take work while cut off",
        Duration::from_secs(30),
        || {
            cli(
                &alive[1].addr,
                &["job", "run", "--detach", batch.to_str().unwrap()],
            )
            .status
            .success()
            .then_some(())
        },
    );
}
