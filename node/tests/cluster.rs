//! Three real `drover agent` processes on loopback with real disks: jobs
//! acknowledged are never lost — not when the leader is killed with
//! SIGKILL, not when it comes back — and bad input changes nothing.

mod common;

use std::time::Duration;

use common::{
    Agent, cli, cluster, drover, job_ids, leader, signal, status, submit, wait_for, write_spec,
};

#[test]
fn acknowledged_jobs_survive_the_leader_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    let first = leader(&agents);
    let mut acknowledged = Vec::new();
    for n in 0..40 {
        if n == 20 {
            agents[usize::try_from(first).unwrap() - 1].kill();
        }
        // Round-robin over the live nodes (followers forward to the
        // leader), retrying as a client would while a new leader is elected.
        let live: Vec<String> = agents
            .iter()
            .filter(|a| a.child.is_some())
            .map(Agent::addr)
            .collect();
        let accepted = (0..40).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250));
            }
            submit(dir.path(), &live[(n + attempt) % live.len()], n)
        });
        assert!(accepted, "job-{n} never acknowledged");
        acknowledged.push(format!("job-{n}"));
    }
    let second = leader(&agents);
    assert_ne!(first, second, "a new leader took over");
    let survivor = agents.iter().find(|a| a.child.is_some()).unwrap().addr();
    let ids = job_ids(&survivor).unwrap();
    for job in &acknowledged {
        assert!(ids.contains(job), "acknowledged {job} lost; have {ids:?}");
    }
    // The killed node restarts from its disk and catches up.
    let killed = agents.iter_mut().find(|a| a.id == first).unwrap();
    killed.start();
    let addr = killed.addr();
    wait_for(
        "the restarted node to catch up",
        Duration::from_secs(30),
        || {
            let ids = job_ids(&addr)?;
            acknowledged.iter().all(|j| ids.contains(j)).then_some(())
        },
    );
}

#[test]
fn a_malformed_spec_is_refused_with_its_field_path_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    leader(&agents);
    let addr = agents[1].addr();
    wait_for("the API", Duration::from_secs(20), || job_ids(&addr));
    let spec = dir.path().join("bad.toml");
    std::fs::write(&spec, "id = \"bad\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n[task.resources]\nmemory = \"512MB\"\n").unwrap();
    let out = cli(&addr, &["job", "run", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "invalid input exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("7:10: error: task.resources.memory"),
        "{stderr}"
    );
    assert_eq!(job_ids(&addr).unwrap(), Vec::<String>::new());
}

#[test]
fn a_corrupted_log_stops_the_node_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    leader(&agents);
    for n in 0..5 {
        assert!(submit(dir.path(), &agents[0].addr(), n));
    }
    for agent in &mut agents {
        agent.kill();
    }
    let log = dir.path().join("data-1/raft/raft.log");
    let mut bytes = std::fs::read(&log).unwrap();
    // Damage the first record's length field so that it points past the
    // end of the file, as a torn write's would: still damage, because
    // the record's header checksum fails. The file header is 16 bytes
    // (format 3: magic, format, checksum).
    bytes[16 + 4 + 3] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let out = drover()
        .args(["agent", "--config"])
        .arg(&agents[0].config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} at byte 16: corrupt", log.display())),
        "{stderr}"
    );
    assert!(stderr.contains("header checksum"), "{stderr}");
    assert!(stderr.contains("replace it with a fresh one"), "{stderr}");
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "nothing was cut");
}

/// A follower that cannot reach the leader does not answer a read from what
/// it has (which may be older than writes already acknowledged); with
/// `--stale` it does.
#[test]
fn a_follower_cut_off_from_the_leader_refuses_reads_unless_stale() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    let leader_id = leader(&agents);
    let via = agents[usize::try_from(leader_id).unwrap() - 1].addr();
    assert!(submit(dir.path(), &via, 1));
    let follower = agents.iter().find(|a| a.id != leader_id).unwrap().addr();
    wait_for(
        "the follower to show the job",
        Duration::from_secs(10),
        || status(&follower, "job-1"),
    );
    // SIGSTOP, not SIGKILL: the sockets stay open, as in a partition.
    let frozen: Vec<u32> = agents
        .iter()
        .filter(|a| a.addr() != follower)
        .map(|a| a.child.as_ref().unwrap().id())
        .collect();
    for pid in &frozen {
        signal(*pid, "-STOP");
    }
    let consistent = cli(&follower, &["job", "status", "job-1"]);
    let stale = cli(&follower, &["job", "status", "job-1", "--stale", "--json"]);
    for pid in &frozen {
        signal(*pid, "-CONT");
    }
    let said = String::from_utf8_lossy(&consistent.stderr);
    assert!(
        !consistent.status.success(),
        "answered without a leader: {said}"
    );
    assert!(
        said.contains("consistent read") && said.contains("--stale"),
        "{said}"
    );
    assert!(
        stale.status.success(),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&stale.stdout).unwrap();
    assert_eq!(doc["id"], "job-1");
    agents.clear();
}

/// A voter restarted on a log whose tail a crash tore withholds its vote
/// until a leader has brought its log past what the tail could have held
/// (the tail might have been an acknowledged write the disk lost), then
/// votes again.
#[test]
fn a_voter_that_cut_a_torn_tail_votes_again_once_a_leader_caught_it_up() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    let leader_id = leader(&agents);
    let via = agents[usize::try_from(leader_id).unwrap() - 1].addr();
    for n in 0..3 {
        assert!(submit(dir.path(), &via, n));
    }
    let follower = agents.iter().position(|a| a.id != leader_id).unwrap();
    agents[follower].kill();
    let log = agents[follower].data.join("raft/raft.log");
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(&[7, 0, 0, 0, 9]).unwrap();
    drop(file);
    agents[follower].start();
    for n in 3..6 {
        assert!(submit(dir.path(), &via, n));
    }
    let agent_log = agents[follower].config.with_extension("log");
    let said = wait_for("the voter to vote again", Duration::from_secs(30), || {
        let said = std::fs::read_to_string(&agent_log).unwrap_or_default();
        said.contains("voting again").then_some(said)
    });
    assert!(said.contains("cut off a tail of 5 bytes"), "{said}");
    assert!(
        said.contains("not campaigning, and voting only for candidates holding entries of term"),
        "{said}"
    );
    assert!(said.contains("log caught up to index"), "{said}");
}

#[test]
fn lists_come_a_page_at_a_time_and_the_cli_reads_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    leader(&agents);
    for n in 0..7 {
        assert!(submit(dir.path(), &addr, n), "job-{n} accepted");
    }
    let out = cli(&addr, &["job", "list", "--json", "--page-size", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..7).map(|n| format!("job-{n}")).collect();
    assert_eq!(ids, expected, "four pages of two, every job once, in order");
    let out = cli(
        &addr,
        &[
            "job", "list", "--json", "--prefix", "job-3", "--status", "active",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["jobs"].as_array().unwrap().len(), 1, "{doc}");
    let out = cli(&addr, &["job", "list", "--status", "finished"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("status"),
        "an unknown status is refused naming the field"
    );
}

#[test]
fn a_finished_batch_job_reads_complete_and_one_out_of_attempts_reads_failed() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    leader(&agents);
    let write = |name: &str, command: &str| {
        write_spec(
            dir.path(),
            name,
            &format!(
                "id = \"{name}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"{command}\"]\n[restart]\nattempts = 0\n[reschedule]\nattempts = 0\n"
            ),
        )
    };
    for (name, command) in [("ok", "true"), ("broken", "false")] {
        let out = cli(&addr, &["job", "run", "--detach", &write(name, command)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let phase =
        |job: &str| status(&addr, job).map(|doc| doc["status"].as_str().unwrap().to_string());
    wait_for("ok to read complete", Duration::from_secs(30), || {
        (phase("ok")? == "complete").then_some(())
    });
    wait_for("broken to read failed", Duration::from_secs(30), || {
        (phase("broken")? == "failed").then_some(())
    });
    let listed = |wanted: &str| {
        let out = cli(&addr, &["job", "list", "--json", "--status", wanted]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed("complete"), ["ok"]);
    assert_eq!(listed("failed"), ["broken"]);
    assert_eq!(listed("active"), ["broken", "ok"], "neither was stopped");
    assert!(listed("running").is_empty());
}
