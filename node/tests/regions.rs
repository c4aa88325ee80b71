//! Two regions on real processes: each three voters of its own; region
//! dev-1's nodes know one address of dev-2 and learn the others from it. A job run through a dev-1 node
//! with `--region dev-2` is placed and run by dev-2; when dev-2 is cut off
//! (its processes stopped), dev-1 keeps taking and running work, says dev-2
//! is unreachable, and a call for dev-2 fails within seconds naming it;
//! when dev-2 is back, calls reach it again with nothing done by hand.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Agent, cluster_each, drover, signal, wait_for};
use serde_json::Value;

fn in_region(addr: &str, region: Option<&str>, args: &[&str]) -> Output {
    let mut command = drover();
    command
        .args(args)
        .env("DROVER_ADDR", addr)
        .env_remove("DROVER_REGION");
    if let Some(region) = region {
        command.args(["--region", region]);
    }
    command.output().unwrap()
}

fn doc(out: &Output) -> Option<Value> {
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn region(dir: &std::path::Path, name: &str, federation: &str) -> Vec<Agent> {
    std::fs::create_dir_all(dir).unwrap();
    cluster_each(dir, &["hybrid", "hybrid", "hybrid"], |id| {
        format!("name = \"{name}-node-{id}\"\nregion = \"{name}\"\n{federation}")
    })
}

fn stopped_for(agents: &[Agent], which: &str) {
    for agent in agents {
        if let Some(child) = &agent.child {
            signal(child.id(), which);
        }
    }
}

#[test]
fn a_region_places_work_for_another_and_keeps_working_when_that_one_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let far = region(&dir.path().join("dev-2"), "dev-2", "");
    // One address is enough: dev-1 learns the rest from dev-2.
    let federation = format!(
        "[[federation]]\nregion = \"dev-2\"\naddrs = [\"{}\"]\n",
        far[0].addr()
    );
    let near = region(&dir.path().join("dev-1"), "dev-1", &federation);
    let entry = near[0].addr();

    let status = wait_for("both regions led", Duration::from_secs(30), || {
        let status = doc(&in_region(&entry, None, &["cluster", "status", "--json"]))?;
        let regions = status["regions"].as_array()?;
        (status["leader"].is_u64()
            && regions.len() == 1
            && regions[0]["reachable"] == true
            && regions[0]["leader"].is_u64())
        .then_some(status)
    });
    assert_eq!(status["region"], "dev-1", "{status}");

    let spec = dir.path().join("far.toml");
    std::fs::write(
        &spec,
        "id = \"far\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"ran in dev-2\"]\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let run = in_region(&entry, Some("dev-2"), &["job", "run", "--detach", spec]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let placed = wait_for("the job complete in dev-2", Duration::from_secs(30), || {
        let status = doc(&in_region(
            &entry,
            Some("dev-2"),
            &["job", "status", "far", "--json"],
        ))?;
        (status["status"] == "complete").then_some(status)
    });
    let node = placed["allocations"][0]["node"].as_str().unwrap();
    assert!(node.starts_with("dev-2-node-"), "placed on {node}");
    let logs = in_region(&entry, Some("dev-2"), &["job", "logs", "far"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "ran in dev-2\n");
    let events = in_region(&entry, Some("dev-2"), &["events"]);
    let told = String::from_utf8_lossy(&events.stdout);
    assert!(
        told.contains("job_submitted") && told.contains("far"),
        "dev-2's events: {told}"
    );
    let home = doc(&in_region(&entry, None, &["job", "list", "--json"])).unwrap();
    stopped_for(&far[..1], "-STOP");
    wait_for(
        "dev-2 reached through a node it told of",
        Duration::from_secs(60),
        || {
            let list = doc(&in_region(
                &entry,
                Some("dev-2"),
                &["job", "list", "--json"],
            ))?;
            (list["jobs"][0]["id"] == "far").then_some(())
        },
    );
    stopped_for(&far[..1], "-CONT");
    multiregion(dir.path(), &entry);
    assert_eq!(
        home["jobs"].as_array().unwrap().len(),
        0,
        "dev-1 holds no part of it: {home}"
    );

    cut_off_and_back(dir.path(), &entry, &far);
}

const WEB: &str = "id = \"web\"\nkind = \"service\"\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"1000\"]\n[[multiregion.region]]\nname = \"dev-1\"\ncount = 1\n[[multiregion.region]]\nname = \"dev-2\"\ncount = 2\n";

/// A service in both regions, one replica in dev-1 and two in dev-2,
/// submitted once through dev-1: each region runs its part on its own
/// nodes, and the job's status in either shows both.
fn multiregion(dir: &std::path::Path, entry: &str) {
    let spec = dir.join("web.toml");
    std::fs::write(&spec, WEB).unwrap();
    let out = in_region(entry, None, &["job", "run", spec.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (region, count) in [("dev-1", 1), ("dev-2", 2)] {
        wait_for(
            "each region's part running",
            Duration::from_secs(30),
            || {
                let status = doc(&in_region(
                    entry,
                    Some(region),
                    &["job", "status", "web", "--json"],
                ))?;
                let running: Vec<&str> = status["allocations"]
                    .as_array()?
                    .iter()
                    .filter(|a| a["status"] == "running")
                    .filter_map(|a| a["node"].as_str())
                    .collect();
                (running.len() == count && running.iter().all(|n| n.starts_with(region)))
                    .then_some(())
            },
        );
    }
    let both = doc(&in_region(entry, None, &["job", "status", "web", "--json"])).unwrap();
    let parts: Vec<(String, u64)> = both["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().to_string(),
                r["running"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [("dev-1".to_string(), 1), ("dev-2".to_string(), 2)],
        "{both}"
    );
}

/// dev-2 cut off (every one of its processes stops answering), then back.
fn cut_off_and_back(dir: &std::path::Path, entry: &str, far: &[Agent]) {
    stopped_for(far, "-STOP");
    let status = wait_for("dev-2 shown unreachable", Duration::from_secs(20), || {
        let status = doc(&in_region(entry, None, &["cluster", "status", "--json"]))?;
        (status["regions"][0]["reachable"] == false).then_some(status)
    });
    assert!(status["leader"].is_u64(), "dev-1 still led: {status}");
    let started = Instant::now();
    let cut = in_region(entry, Some("dev-2"), &["job", "list"]);
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert!(
        !cut.status.success() && stderr.contains("region dev-2"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a call for a cut-off region took {:?}",
        started.elapsed()
    );
    // A multi-region update while dev-2 is cut off: dev-1 takes its part,
    // and the command says dev-2 did not, naming it.
    let spec = dir.join("web.toml");
    std::fs::write(&spec, WEB.replace("count = 1", "count = 2")).unwrap();
    let out = in_region(entry, None, &["job", "run", spec.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("region dev-2"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("in region dev-1: version 2"));
    let local = dir.join("near.toml");
    std::fs::write(
        &local,
        "id = \"near\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    assert!(
        in_region(
            entry,
            None,
            &["job", "run", "--detach", local.to_str().unwrap()]
        )
        .status
        .success()
    );
    wait_for(
        "dev-1 to run its own work meanwhile",
        Duration::from_secs(30),
        || {
            let status = doc(&in_region(
                entry,
                None,
                &["job", "status", "near", "--json"],
            ))?;
            let node = status["allocations"][0]["node"].as_str()?.to_string();
            (status["status"] == "complete" && node.starts_with("dev-1-node-")).then_some(())
        },
    );

    // Back: reached again, with nothing done by hand.
    stopped_for(far, "-CONT");
    wait_for("dev-2 reached again", Duration::from_secs(30), || {
        let list = doc(&in_region(entry, Some("dev-2"), &["job", "list", "--json"]))?;
        (list["jobs"][0]["id"] == "far").then_some(())
    });
}
