//! Three Drover nodes as containers on a private Docker network — their
//! own addresses, a real partition with `docker network disconnect` — built
//! from the `drover` binary under test (`scripts/docker-node-image`). The
//! leader is cut off: the majority elects another and keeps accepting
//! work, the cut-off node accepts none, and after the heal every node
//! holds the same state with every acknowledged job in it, run to the end.
//! `scripts/multihost-test` runs just this.

#![cfg(not(madsim))]

mod common;
mod hosts;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use common::{FAST, json, status, wait_for};
use drover_adapters::exec::docker::testing::image_from_script;
use hosts::{Network, Node, PORT};

/// Three nodes on one private network. Nodes are declared first: they
/// are removed before the network they are on.
struct Hosts {
    nodes: Vec<Node>,
    network: Network,
}

impl Hosts {
    fn start(image: &str) -> Self {
        let network = Network::create("mh");
        let peers = network.peers(3);
        let nodes = (1..=3)
            .map(|id| {
                let config = format!(
                    "id = {id}\nlisten = \"0.0.0.0:{PORT}\"\nadvertise = \"{}:{PORT}\"\ndata_dir = \"/var/lib/drover\"\ndocker = \"off\"\n{FAST}[capacity]\ncpu = \"4\"\nmemory = \"4GiB\"\n{peers}",
                    network.ip(id)
                );
                Node::start(image, format!("{}-n{id}", network.name), &network, id, &config)
            })
            .collect();
        Self { nodes, network }
    }

    fn addr(&self, id: usize) -> String {
        self.nodes[id - 1].addr.clone()
    }

    fn disconnect(&self, id: usize) {
        self.nodes[id - 1].disconnect(&self.network);
    }

    fn reconnect(&self, id: usize) {
        self.nodes[id - 1].connect(&self.network, &self.network.ip(id));
    }

    fn cli_inside(&self, id: usize, script: &str) -> Output {
        self.nodes[id - 1].cli_inside(script)
    }
}

fn batch_spec(name: &str) -> String {
    format!(
        "id = \"{name}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"{name}\"]\n"
    )
}

fn submit(dir: &std::path::Path, addr: &str, name: &str) -> bool {
    common::run_job(dir, addr, name, &batch_spec(name))
}

fn leader_of(hosts: &Hosts, ids: &[usize]) -> Option<usize> {
    ids.iter().find_map(|id| {
        let doc = json(&hosts.addr(*id), &["cluster", "status"])?;
        let leader = usize::try_from(doc["leader"].as_u64()?).ok()?;
        ids.contains(&leader).then_some(leader)
    })
}

fn complete(addr: &str, job: &str) -> bool {
    status(addr, job).is_some_and(|doc| {
        doc["allocations"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["status"] == "complete"))
    })
}

#[test]
fn a_partitioned_leader_accepts_nothing_and_the_cluster_converges_after_the_heal() {
    let test = "a_partitioned_leader_accepts_nothing_and_the_cluster_converges_after_the_heal";
    let Some(image) = image_from_script(test, "docker-node-image", &[env!("CARGO_BIN_EXE_drover")])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hosts = Hosts::start(&image);
    let all = [1, 2, 3];
    let leader = wait_for("a leader", Duration::from_secs(30), || {
        leader_of(&hosts, &all)
    });

    let mut acknowledged = BTreeSet::new();
    for i in 0..6 {
        let name = format!("before-{i}");
        let via = hosts.addr(all[i % 3]);
        wait_for(
            "a submission to be acknowledged",
            Duration::from_secs(20),
            || submit(dir.path(), &via, &name).then_some(()),
        );
        acknowledged.insert(name);
    }

    // Cut the leader off; the other two are the majority.
    hosts.disconnect(leader);
    let majority: Vec<usize> = all.iter().copied().filter(|id| *id != leader).collect();
    let refused = hosts.cli_inside(
        leader,
        &format!(
            "printf '%s' '{}' > /tmp/minority.toml && timeout 20 drover job run --detach /tmp/minority.toml",
            batch_spec("minority")
        ),
    );
    let answer = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && answer.contains("cannot reach a quorum"),
        "the cut-off node should refuse, saying why: {:?} {answer}",
        refused.status.code()
    );
    let new_leader = wait_for(
        "the majority to elect a leader",
        Duration::from_secs(30),
        || leader_of(&hosts, &majority),
    );
    assert_ne!(new_leader, leader);
    for i in 0..6 {
        let name = format!("during-{i}");
        let via = hosts.addr(majority[i % 2]);
        wait_for(
            "the majority to acknowledge",
            Duration::from_secs(30),
            || submit(dir.path(), &via, &name).then_some(()),
        );
        acknowledged.insert(name);
    }

    hosts.reconnect(leader);
    wait_for(
        "every node to hold the same state",
        Duration::from_secs(60),
        || {
            let digests: BTreeSet<(u64, String)> = all
                .iter()
                .filter_map(|id| {
                    let doc = json(&hosts.addr(*id), &["cluster", "status"])?;
                    Some((
                        doc["applied_index"].as_u64()?,
                        doc["state_digest"].as_str()?.to_string(),
                    ))
                })
                .collect();
            let jobs: Option<Vec<BTreeSet<String>>> = all
                .iter()
                .map(|id| common::job_ids(&hosts.addr(*id)).map(|ids| ids.into_iter().collect()))
                .collect();
            let jobs = jobs?;
            (digests.len() == 1
                && jobs.iter().all(|j| *j == jobs[0])
                && acknowledged.is_subset(&jobs[0]))
            .then_some(())
        },
    );
    let anywhere = hosts.addr(leader);
    let ids: BTreeSet<String> = common::job_ids(&anywhere).unwrap().into_iter().collect();
    assert!(
        !ids.contains("minority"),
        "a write the cut-off node refused appeared"
    );
    wait_for(
        "every acknowledged job to complete",
        Duration::from_secs(60),
        || {
            acknowledged
                .iter()
                .all(|job| complete(&anywhere, job))
                .then_some(())
        },
    );
}
