//! What a client is told when a write is not acknowledged, with three
//! real agents on loopback: "not applied" when no leader took it (the CLI
//! tries every address it was given, then says so), "outcome unknown"
//! when a leader appended it but could not commit it — and that write
//! does commit once a quorum is back, which is why it is not "not applied".

mod common;

use std::time::Duration;

use common::{Agent, cli, cluster, job_ids, leader, wait_for, write_spec};

fn spec(dir: &std::path::Path, name: &str) -> String {
    write_spec(
        dir,
        name,
        &format!(
            "id = \"{name}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n"
        ),
    )
}

fn index_of(agents: &[Agent], id: u64) -> usize {
    agents.iter().position(|a| a.id == id).unwrap()
}

#[test]
fn a_write_no_leader_took_is_not_applied_and_one_a_leader_appended_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    let every: Vec<String> = agents.iter().map(Agent::addr).collect();
    let first = leader(&agents);

    // Only a follower is left: nobody leads, nothing is appended.
    let follower = agents.iter().map(|a| a.id).find(|id| *id != first).unwrap();
    for agent in agents.iter_mut().filter(|a| a.id != follower) {
        agent.kill();
    }
    std::thread::sleep(Duration::from_secs(1));
    let out = cli(
        &every.join(","),
        &["job", "run", "--detach", &spec(dir.path(), "never")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not applied after"),
        "the CLI kept trying and says it was not applied: {stderr}"
    );

    // Bring the others back; then leave only the leader.
    for agent in agents.iter_mut().filter(|a| a.child.is_none()) {
        agent.start();
    }
    let second = leader(&agents);
    let addr = agents[index_of(&agents, second)].addr();
    wait_for(
        "the cluster to take writes",
        Duration::from_secs(20),
        || {
            cli(
                &addr,
                &["job", "run", "--detach", &spec(dir.path(), "warmup")],
            )
            .status
            .success()
            .then_some(())
        },
    );
    for agent in agents.iter_mut().filter(|a| a.id != second) {
        agent.kill();
    }
    let out = cli(
        &addr,
        &["job", "run", "--detach", &spec(dir.path(), "maybe")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("outcome unknown"),
        "a write the leader appended but could not commit is reported as unknown: {stderr}"
    );

    // With a quorum back, the unknown write commits; the one that was
    // not applied never appears.
    for agent in agents.iter_mut().filter(|a| a.child.is_none()) {
        agent.start();
    }
    let ids = wait_for(
        "the appended write to commit",
        Duration::from_secs(30),
        || {
            let ids = job_ids(&addr)?;
            ids.contains(&"maybe".to_string()).then_some(ids)
        },
    );
    assert!(!ids.contains(&"never".to_string()), "{ids:?}");
}
