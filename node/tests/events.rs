//! `drover events` against three real agents: a follower sees a job's
//! whole life as it happens, keeps following when the node it streams
//! from is killed (it resumes on another after the last index it printed),
//! and what it printed is exactly what any replica tells afterwards — no
//! gap, no repeat.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Agent, cli, cluster, leader, submit, wait_for};
use serde_json::Value;

fn printed(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn completed(events: &[Value], job: &str) -> bool {
    events
        .iter()
        .any(|e| e["type"] == "alloc_complete" && e["job"] == job)
}

fn all_addrs(agents: &[Agent]) -> String {
    agents.iter().map(Agent::addr).collect::<Vec<_>>().join(",")
}

#[test]
fn a_follower_sees_every_event_once_across_the_loss_of_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    leader(&agents);
    let out_path = dir.path().join("followed.jsonl");
    let mut following = common::drover()
        .args([
            "events",
            "--follow",
            "--json",
            "--addr",
            &all_addrs(&agents),
        ])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(submit(dir.path(), &agents[1].addr(), 1));
    wait_for("job-1 seen complete", Duration::from_secs(60), || {
        completed(&printed(&out_path), "job-1").then_some(())
    });
    let life: Vec<String> = printed(&out_path)
        .iter()
        .filter(|e| e["job"] == "job-1")
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(life, common::BATCH_LIFE);

    // The follower streams from the first address; that node goes away.
    agents[0].kill();
    leader(&agents);
    assert!(submit(dir.path(), &agents[1].addr(), 2));
    wait_for("job-2 seen complete", Duration::from_secs(60), || {
        completed(&printed(&out_path), "job-2").then_some(())
    });
    following.kill().unwrap();
    let _ = following.wait();

    let followed = printed(&out_path);
    let last = followed.last().unwrap()["index"].as_u64().unwrap();
    let out = cli(&agents[2].addr(), &["events", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let told: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e["index"].as_u64().unwrap() <= last)
        .collect();
    assert_eq!(
        followed, told,
        "what was followed across the loss of a node is what a replica tells"
    );
    assert!(
        told.iter().any(|e| e["type"] == "leader_elected"),
        "{told:#?}"
    );

    // Topics filter; a bad one is refused with the names of the good ones.
    let jobs = cli(&agents[1].addr(), &["events", "--json", "--topic", "job"]);
    let kinds: Vec<Value> = String::from_utf8_lossy(&jobs.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].clone())
        .collect();
    assert_eq!(kinds, ["job_submitted", "job_submitted"]);
    let bad = cli(&agents[1].addr(), &["events", "--topic", "jobs"]);
    assert_eq!(bad.status.code(), Some(1), "input to fix");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("job, alloc, node or leader"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
