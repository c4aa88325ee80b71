//! Large specs replicate: a follower that was down while several
//! near-limit specs (about 900 KB each) were accepted catches up when it
//! returns, although everything it missed is far more than one internal
//! message may carry. Three real control-only agents on loopback.

mod common;

use std::time::Duration;

use common::{cli, cluster_of, json, leader, wait_for, write_spec};

const JOBS: usize = 8;

fn big_spec(dir: &std::path::Path, n: usize) -> String {
    let filler = "x".repeat(900_000);
    write_spec(
        dir,
        &format!("big-{n}"),
        &format!(
            "id = \"big-{n}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n[task.env]\nFILLER = \"{filler}\"\n"
        ),
    )
}

fn stale_job_count(addr: &str) -> Option<usize> {
    let doc = json(addr, &["job", "list", "--stale"])?;
    Some(doc["jobs"].as_array()?.len())
}

#[test]
fn a_follower_that_missed_many_large_entries_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster_of(dir.path(), &["control", "control", "control"], "");
    let first = leader(&agents);
    let leader_addr = agents.iter().find(|a| a.id == first).unwrap().addr();
    let behind = agents.iter().position(|a| a.id != first).unwrap();
    agents[behind].kill();

    for n in 0..JOBS {
        let out = cli(
            &leader_addr,
            &["job", "run", "--detach", &big_spec(dir.path(), n)],
        );
        assert!(
            out.status.success(),
            "job {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    agents[behind].start();
    let addr = agents[behind].addr();
    wait_for(
        "the returning follower to hold every large job",
        Duration::from_secs(40),
        || (stale_job_count(&addr)? == JOBS).then_some(()),
    );
}
