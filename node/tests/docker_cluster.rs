//! The docker driver under real `drover agent` processes and a real Docker
//! engine: a service's containers are replaced when their worker dies; a
//! worker killed with SIGKILL and restarted adopts its container (no
//! duplicate) and removes one that no allocation owns any more (no
//! orphan). Without an engine each test prints a SKIP line instead.

#![cfg(not(madsim))]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{FAST, cli, cluster_with, leader, run_job, running_allocs, status, wait_for};
use drover_adapters::exec::docker::LABEL_STORE;
use drover_adapters::exec::docker::testing::{containers_labelled, test_image};

fn docker_task(image: &str, script: &str) -> String {
    format!("driver = \"docker\"\nimage = \"{image}\"\ncommand = [\"sh\", \"-c\", \"{script}\"]\n")
}

/// Containers of the worker whose data directory is `data`.
fn containers_of(data: &Path) -> BTreeSet<String> {
    containers_labelled(LABEL_STORE, &data.join("allocs").display().to_string())
        .into_iter()
        .collect()
}

#[test]
fn a_docker_service_keeps_its_replicas_when_a_worker_dies() {
    let Some(image) = test_image("a_docker_service_keeps_its_replicas_when_a_worker_dies") else {
        return;
    };
    common::service_survives_worker_death(&docker_task(&image, "sleep 1000"));
}

#[test]
fn a_killed_worker_adopts_its_container_and_removes_the_one_no_allocation_owns() {
    let Some(image) =
        test_image("a_killed_worker_adopts_its_container_and_removes_the_one_no_allocation_owns")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster_with(dir.path(), FAST);
    let leader_id = leader(&agents);
    let via = agents[usize::try_from(leader_id).unwrap() - 1].addr();

    // A batch task that outlives its worker's restart.
    let slow = format!(
        "id = \"slow\"\nkind = \"batch\"\n[task]\n{}",
        docker_task(&image, "echo begun; sleep 5; echo done")
    );
    assert!(run_job(dir.path(), &via, "slow", &slow));
    let (alloc, node) = wait_for("the task to run", Duration::from_secs(30), || {
        running_allocs(&status(&via, "slow")?).into_iter().next()
    });
    let worker = agents
        .iter_mut()
        .find(|a| format!("node-{}", a.id) == node)
        .unwrap();
    let before = containers_of(&worker.data);
    assert_eq!(before.len(), 1, "one container for {alloc}");
    worker.kill();
    worker.start();
    let worker_data = worker.data.clone();
    let addr = agents.iter().find(|a| a.id == leader_id).unwrap().addr();
    common::completes_once(&addr, "slow", &alloc, "begun\ndone\n", || {
        let containers = containers_of(&worker_data);
        assert!(
            containers.is_subset(&before),
            "a second container was started: {containers:?}"
        );
    });
    assert!(
        containers_of(&worker_data).is_empty(),
        "removed once its output was saved"
    );

    // A service whose worker is down while the job is stopped: when the
    // worker returns, nothing owns its container any more.
    let keep = format!(
        "id = \"keep\"\nkind = \"service\"\nreplicas = 1\n[task]\n{}",
        docker_task(&image, "sleep 1000")
    );
    assert!(run_job(dir.path(), &addr, "keep", &keep));
    let (_, node) = wait_for("the service to run", Duration::from_secs(30), || {
        running_allocs(&status(&addr, "keep")?).into_iter().next()
    });
    let survivor = agents
        .iter()
        .find(|a| a.child.is_some() && format!("node-{}", a.id) != node)
        .unwrap()
        .addr();
    let worker = agents
        .iter_mut()
        .find(|a| format!("node-{}", a.id) == node)
        .unwrap();
    assert_eq!(containers_of(&worker.data).len(), 1);
    worker.kill();
    // Refused until a new leader is elected if the killed node led.
    wait_for("the stop to be accepted", Duration::from_secs(30), || {
        cli(&survivor, &["job", "stop", "keep"])
            .status
            .success()
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        containers_of(&worker.data).len(),
        1,
        "the container outlives its killed worker"
    );
    worker.start();
    let data = worker.data.clone();
    wait_for(
        "the unowned container to be stopped and removed",
        Duration::from_secs(60),
        || containers_of(&data).is_empty().then_some(()),
    );
}
