//! Workers running real processes under a real 3-node cluster: batch jobs
//! run exactly to completion and their output is readable from any node,
//! through a leader crash; services keep their replicas when a worker dies.

mod common;

use std::time::Duration;

use common::{Agent, FAST, cli, cluster_with, leader, run_job, signal, status, wait_for};
use serde_json::Value;

fn live_addr(agents: &[Agent]) -> String {
    agents.iter().find(|a| a.child.is_some()).unwrap().addr()
}

#[test]
fn batch_jobs_complete_through_a_leader_crash_and_their_output_is_read_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster_with(dir.path(), FAST);
    let first = leader(&agents);
    let jobs: Vec<String> = (0..50).map(|n| format!("echo-{n}")).collect();
    for (n, job) in jobs.iter().enumerate() {
        if n == 25 {
            agents[usize::try_from(first).unwrap() - 1].kill();
        }
        let spec = format!(
            "id = \"{job}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"output of {job}\"]\n"
        );
        let accepted = (0..60).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250));
            }
            let live: Vec<String> = agents
                .iter()
                .filter(|a| a.child.is_some())
                .map(Agent::addr)
                .collect();
            run_job(dir.path(), &live[(n + attempt) % live.len()], job, &spec)
        });
        assert!(accepted, "{job} never acknowledged");
    }
    // The crashed node comes back, so output it holds can be read too.
    agents[usize::try_from(first).unwrap() - 1].start();
    let addr = live_addr(&agents);
    for job in &jobs {
        let done = wait_for(
            &format!("{job} to complete"),
            Duration::from_secs(90),
            || {
                let doc = status(&addr, job)?;
                let allocs = doc["allocations"].as_array()?.clone();
                allocs
                    .iter()
                    .any(|a| a["status"] == "complete")
                    .then_some(allocs)
            },
        );
        let complete: Vec<&Value> = done.iter().filter(|a| a["status"] == "complete").collect();
        assert_eq!(
            complete.len(),
            1,
            "{job} recorded exactly one completion: {done:?}"
        );
        let ran_on = complete[0]["node"].as_str().unwrap().to_string();
        let other = agents
            .iter()
            .find(|a| a.child.is_some() && format!("node-{}", a.id) != ran_on)
            .unwrap()
            .addr();
        let out = wait_for(&format!("output of {job}"), Duration::from_secs(30), || {
            let out = cli(
                &other,
                &[
                    "job",
                    "logs",
                    job,
                    "--alloc",
                    complete[0]["id"].as_str().unwrap(),
                ],
            );
            out.status.success().then_some(out.stdout)
        });
        assert_eq!(String::from_utf8_lossy(&out), format!("output of {job}\n"));
    }
}

#[test]
fn a_service_keeps_its_replicas_when_a_worker_dies() {
    common::service_survives_worker_death("driver = \"exec\"\ncommand = [\"sleep\", \"1000\"]\n");
}

fn pid_alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .unwrap_or_default()
            .contains(") Z")
}

#[test]
fn a_restarted_worker_adopts_its_running_task_instead_of_starting_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = common::cluster(dir.path());
    let leader_id = leader(&agents);
    let spec = "id = \"slow\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"sleep 4; echo done\"]\n";
    let via = agents[usize::try_from(leader_id).unwrap() - 1].addr();
    assert!(run_job(dir.path(), &via, "slow", spec));
    let (alloc, node) = wait_for("the task to run", Duration::from_secs(30), || {
        let doc = status(&via, "slow")?;
        let a = doc["allocations"].as_array()?.first()?.clone();
        let ids = (
            a["id"].as_str()?.to_string(),
            a["node"].as_str()?.to_string(),
        );
        (a["status"] == "running").then_some(ids)
    });
    // The worker dies and comes straight back; its task keeps running.
    let worker = agents
        .iter_mut()
        .find(|a| format!("node-{}", a.id) == node)
        .unwrap();
    worker.kill();
    worker.start();
    let addr = live_addr(&agents);
    common::completes_once(&addr, "slow", &alloc, "done\n", || {});
}

#[test]
fn a_worker_cut_off_from_every_control_node_stops_its_work_after_max_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[liveness]\nheartbeat_ttl = \"2s\"\nmax_disconnect = \"4s\"\n";
    let mut agents = common::cluster_of(
        dir.path(),
        &["control", "control", "control", "worker"],
        extra,
    );
    let leader_id = leader(&agents[..3]);
    let via = agents[usize::try_from(leader_id).unwrap() - 1].addr();
    let spec = "id = \"keep\"\nkind = \"service\"\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"1000\"]\n";
    assert!(run_job(dir.path(), &via, "keep", spec));
    let alloc = wait_for(
        "the task to run on the worker",
        Duration::from_secs(30),
        || {
            let doc = status(&via, "keep")?;
            let a = doc["allocations"].as_array()?.first()?.clone();
            (a["status"] == "running" && a["node"] == "node-4")
                .then(|| a["id"].as_str().unwrap().to_string())
        },
    );
    let pid =
        std::fs::read_to_string(agents[3].data.join("allocs").join(&alloc).join("pid")).unwrap();
    for control in &mut agents[..3] {
        control.kill();
    }
    let cut_off = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        pid_alive(&pid),
        "the worker keeps its work while only briefly cut off"
    );
    wait_for(
        "the worker to stop its task",
        Duration::from_secs(20),
        || (!pid_alive(&pid)).then_some(()),
    );
    // max_disconnect runs from the last heartbeat a quorum committed,
    // sent at most one heartbeat interval (a third of the TTL) before the
    // cut.
    assert!(
        cut_off.elapsed() >= Duration::from_millis(4000 - 2000 / 3),
        "not before max_disconnect"
    );
}

/// A hybrid node cut off with a minority still hears its own replica,
/// which keeps answering polls; that must not count as contact. The node
/// stops its task after `max_disconnect` and says so.
#[test]
fn a_hybrid_node_whose_peers_stop_answering_stops_its_work_after_max_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[liveness]\nheartbeat_ttl = \"2s\"\nmax_disconnect = \"6s\"\n";
    let mut agents = cluster_with(dir.path(), extra);
    let leader_id = leader(&agents);
    let via = agents[usize::try_from(leader_id).unwrap() - 1].addr();
    let spec = "id = \"keep\"\nkind = \"service\"\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"1000\"]\n";
    assert!(run_job(dir.path(), &via, "keep", spec));
    let (alloc, node) = wait_for("the task to run", Duration::from_secs(30), || {
        let doc = status(&via, "keep")?;
        let a = doc["allocations"].as_array()?.first()?.clone();
        (a["status"] == "running").then(|| {
            let node = a["node"].as_str().unwrap().trim_start_matches("node-");
            (
                a["id"].as_str().unwrap().to_string(),
                node.parse::<usize>().unwrap(),
            )
        })
    });
    let alone = &agents[node - 1];
    let pid = std::fs::read_to_string(alone.data.join("allocs").join(&alloc).join("pid")).unwrap();
    // SIGSTOP, not SIGKILL: the peers' sockets stay open, as in a
    // partition, and the node still reaches its own replica.
    let frozen: Vec<u32> = agents
        .iter()
        .filter(|a| a.id != node as u64)
        .map(|a| a.child.as_ref().unwrap().id())
        .collect();
    for pid in &frozen {
        signal(*pid, "-STOP");
    }
    let cut_off = std::time::Instant::now();
    let stopped = wait_for_opt(Duration::from_secs(25), || (!pid_alive(&pid)).then_some(()));
    let elapsed = cut_off.elapsed();
    for pid in &frozen {
        signal(*pid, "-CONT");
    }
    assert!(
        stopped.is_some(),
        "node-{node} still runs its task {elapsed:?} after its peers froze"
    );
    assert!(
        elapsed >= Duration::from_secs(4),
        "not before max_disconnect: {elapsed:?}"
    );
    let log = std::fs::read_to_string(agents[node - 1].config.with_extension("log")).unwrap();
    assert!(log.contains("stopping local tasks"), "{log}");
    agents.clear();
}

fn wait_for_opt<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let until = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < until {
        if let Some(found) = probe() {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}
