//! Three Drover nodes as containers on a private Docker network — their
//! own addresses, a real partition with `docker network disconnect` — built
//! from the `drover` binary under test (`scripts/docker-node-image`). The
//! leader is cut off: the majority elects another and keeps accepting
//! work, the cut-off node accepts none, and after the heal every node
//! holds the same state with every acknowledged job in it, run to the end.
//! `scripts/multihost-test` runs just this.

#![cfg(not(madsim))]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::Duration;

use common::{FAST, json, status, wait_for};
use drover_adapters::exec::docker::testing::image_from_script;

const PORT: u16 = 7401;

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A private network and the nodes on it, all removed when dropped.
struct Hosts {
    network: String,
    /// `a.b.c.` of the network's /24.
    prefix: String,
    names: Vec<String>,
}

impl Hosts {
    fn create(nodes: usize) -> Self {
        let tag = std::process::id();
        let network = format!("drover-mh-{tag}");
        // A /24 from 172.16.0.0/12 that no other network holds.
        for attempt in 0..32 {
            let prefix = format!(
                "172.{}.{}.",
                16 + (tag + attempt) % 16,
                (tag / 16 + attempt) % 256
            );
            let created = docker(&[
                "network",
                "create",
                "--subnet",
                &format!("{prefix}0/24"),
                &network,
            ]);
            if created.status.success() {
                let names = (1..=nodes).map(|i| format!("{network}-n{i}")).collect();
                return Self {
                    network,
                    prefix,
                    names,
                };
            }
        }
        panic!("no free /24 for a docker network");
    }

    fn ip(&self, id: usize) -> String {
        format!("{}{}", self.prefix, 10 + id)
    }

    fn addr(&self, id: usize) -> String {
        format!("{}:{PORT}", self.ip(id))
    }

    fn name(&self, id: usize) -> &str {
        &self.names[id - 1]
    }

    fn start(&self, image: &str, dir: &std::path::Path) {
        let peers: Vec<String> = (1..=self.names.len())
            .map(|i| format!("[[peers]]\nid = {i}\naddr = \"{}\"\n", self.addr(i)))
            .collect();
        let peers = peers.concat();
        for id in 1..=self.names.len() {
            let config = dir.join(format!("n{id}.toml"));
            std::fs::write(
                &config,
                format!(
                    "id = {id}\nlisten = \"0.0.0.0:{PORT}\"\nadvertise = \"{}\"\ndata_dir = \"/var/lib/drover\"\ndocker = \"off\"\n{FAST}[capacity]\ncpu = \"4\"\nmemory = \"4GiB\"\n{peers}",
                    self.addr(id)
                ),
            )
            .unwrap();
            let name = self.name(id);
            docker_ok(&[
                "create",
                "--name",
                name,
                "--hostname",
                &format!("n{id}"),
                "--network",
                &self.network,
                "--ip",
                &self.ip(id),
                "-e",
                "RUST_LOG=info,openraft=warn",
                image,
                "agent",
                // Private Docker network addresses, not loopback: this
                // test is about partitions, not TLS (tests/tls.rs).
                "--insecure",
                "--config",
                "/etc/drover.toml",
            ]);
            docker_ok(&[
                "cp",
                config.to_str().unwrap(),
                &format!("{name}:/etc/drover.toml"),
            ]);
            docker_ok(&["start", name]);
        }
    }

    fn disconnect(&self, id: usize) {
        docker_ok(&["network", "disconnect", &self.network, self.name(id)]);
    }

    fn reconnect(&self, id: usize) {
        docker_ok(&[
            "network",
            "connect",
            "--ip",
            &self.ip(id),
            &self.network,
            self.name(id),
        ]);
    }

    /// Runs the CLI inside node `id`'s container, against that node.
    fn cli_inside(&self, id: usize, script: &str) -> Output {
        docker(&[
            "exec",
            "-e",
            &format!("DROVER_ADDR=127.0.0.1:{PORT}"),
            self.name(id),
            "sh",
            "-c",
            script,
        ])
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in &self.names {
                let logs = docker(&["logs", "--tail", "20", name]);
                eprintln!(
                    "--- {name} (last lines) ---\n{}",
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
        }
        let mut rm = vec!["rm", "-f"];
        rm.extend(self.names.iter().map(String::as_str));
        let _ = docker(&rm);
        let _ = docker(&["network", "rm", &self.network]);
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
    let hosts = Hosts::create(3);
    hosts.start(&image, dir.path());
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
