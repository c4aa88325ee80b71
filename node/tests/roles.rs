//! Roles as separate processes: three control nodes hold the state, a
//! worker runs the work, an edge node only relays the API — and a client
//! that talks to the edge node alone sees everything.

mod common;

use std::time::Duration;

use common::{cli, cluster_of, json, leader, wait_for};

#[test]
fn control_worker_and_edge_nodes_each_do_their_part() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster_of(
        dir.path(),
        &["control", "control", "control", "worker", "edge"],
        "",
    );
    leader(&agents[..3]);
    let edge = agents[4].addr();
    let spec = dir.path().join("hello.toml");
    std::fs::write(
        &spec,
        "id = \"hello\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"from the worker\"]\n",
    )
    .unwrap();
    wait_for(
        "the edge node to relay a submission",
        Duration::from_secs(30),
        || {
            cli(&edge, &["job", "run", "--detach", spec.to_str().unwrap()])
                .status
                .success()
                .then_some(())
        },
    );
    let alloc = wait_for("the job to complete", Duration::from_secs(30), || {
        let doc = json(&edge, &["job", "status", "hello"])?;
        let alloc = doc["allocations"].as_array()?.first()?.clone();
        (alloc["status"] == "complete").then_some(alloc)
    });
    assert_eq!(
        alloc["node"], "node-4",
        "only the worker runs work: {alloc}"
    );
    let out = cli(&edge, &["job", "logs", "hello"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the worker\n");
    let nodes = wait_for("every node to register", Duration::from_secs(30), || {
        let nodes = json(&edge, &["node", "list"])?;
        (nodes["nodes"].as_array()?.len() == 5).then_some(nodes)
    });
    let roles: Vec<(&str, &str)> = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("node-1", "control"),
            ("node-2", "control"),
            ("node-3", "control"),
            ("node-4", "worker"),
            ("node-5", "edge")
        ]
    );
    let status = json(&edge, &["cluster", "status"]).unwrap();
    assert_eq!(
        status["members"].as_array().unwrap().len(),
        3,
        "the edge node is not a voter"
    );
}

/// A worker told `exec = "off"` registers without the exec driver: an exec
/// job is never placed there, and says why it waits.
#[test]
fn a_worker_without_the_exec_driver_gets_no_exec_task() {
    let dir = tempfile::tempdir().unwrap();
    let agents = common::cluster_each(
        dir.path(),
        &["control", "control", "control", "worker"],
        |id| {
            if id == 4 {
                "exec = \"off\"\ndocker = \"off\"\n".into()
            } else {
                String::new()
            }
        },
    );
    leader(&agents[..3]);
    let addr = agents[0].addr();
    wait_for("the worker to register", Duration::from_secs(30), || {
        let nodes = json(&addr, &["node", "list"])?;
        let nodes = nodes["nodes"].as_array()?;
        nodes
            .iter()
            .any(|n| n["id"] == "node-4" && n["status"] == "ready")
            .then_some(())
    });
    let spec = dir.path().join("hello.toml");
    std::fs::write(
        &spec,
        "id = \"hello\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"nowhere\"]\n",
    )
    .unwrap();
    let out = cli(&addr, &["job", "run", "--detach", spec.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = wait_for(
        "the job to say why it waits",
        Duration::from_secs(30),
        || {
            let out = cli(&addr, &["job", "status", "hello"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("no exec driver").then_some(text)
        },
    );
    assert!(!status.contains("complete"), "{status}");
}
