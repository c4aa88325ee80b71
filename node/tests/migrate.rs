//! Local data that migrates, on real agents: a service keeps files in its
//! data directory; drained off its node, its replacement on another node
//! starts with those files, copied through the internal service once the
//! old task has stopped; a new version takes them over the same way. A
//! container finds its data at /local.

#![cfg(not(madsim))]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Agent, cli, cluster, run_job, running_allocs, status, wait_for};
use drover_adapters::exec::docker::testing::test_image;

/// The one running allocation of `job` other than those in `before`, with
/// its node, once there is one.
fn next_running(addr: &str, job: &str, before: &[String]) -> (String, String) {
    wait_for(
        &format!("a new running allocation of {job}"),
        Duration::from_secs(90),
        || {
            let running = running_allocs(&status(addr, job)?);
            match running.as_slice() {
                [(alloc, node)] if !before.contains(alloc) => Some((alloc.clone(), node.clone())),
                _ => None,
            }
        },
    )
}

/// Where `alloc` keeps its data on node `node` ("node-N").
fn data_dir(agents: &[Agent], node: &str, alloc: &str) -> PathBuf {
    let id: u64 = node.trim_start_matches("node-").parse().unwrap();
    let agent = agents.iter().find(|a| a.id == id).unwrap();
    agent.data.join("allocs").join(alloc).join("work")
}

fn read_when_there(path: &Path) -> String {
    wait_for(
        &format!("{} to be written", path.display()),
        Duration::from_secs(20),
        || std::fs::read_to_string(path).ok().filter(|s| !s.is_empty()),
    )
}

fn drain(addr: &str, node: &str) {
    let out = cli(addr, &["node", "drain", node]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A service that records, in its data directory, the first instance
/// that ran and every instance since.
fn exec_keeper(version: u32) -> String {
    format!(
        r#"id = "keeper"
kind = "service"
replicas = 1
[ephemeral_disk]
migrate = true
[task]
driver = "exec"
command = ["sh", "-c", "mkdir -p db && {{ test -f db/first || echo $DROVER_ALLOC_ID > db/first; }} && echo $DROVER_ALLOC_ID >> \"$DROVER_DATA_DIR/db/seen\" && exec sleep 600"]
[task.env]
VERSION = "{version}"
"#
    )
}

#[test]
fn a_drained_instance_hands_its_data_to_its_replacement_and_so_does_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    assert!(run_job(dir.path(), &addr, "keeper", &exec_keeper(1)));
    let (first, first_node) = next_running(&addr, "keeper", &[]);
    let original = data_dir(&agents, &first_node, &first);
    assert_eq!(read_when_there(&original.join("db/first")).trim(), first);

    drain(&addr, &first_node);
    let (second, second_node) = next_running(&addr, "keeper", std::slice::from_ref(&first));
    assert_ne!(second_node, first_node, "drained work moves elsewhere");
    let moved = data_dir(&agents, &second_node, &second);
    let seen = read_when_there(&moved.join("db/seen"));
    assert_eq!(
        std::fs::read_to_string(moved.join("db/first"))
            .unwrap()
            .trim(),
        first,
        "the replacement started with the data the first instance wrote"
    );
    assert_eq!(seen.lines().collect::<Vec<_>>(), [&first, &second]);

    // A new version: the instance is stopped, then replaced, with its data.
    assert!(run_job(dir.path(), &addr, "keeper", &exec_keeper(2)));
    let (third, third_node) = next_running(&addr, "keeper", &[first.clone(), second.clone()]);
    let updated_dir = data_dir(&agents, &third_node, &third);
    let seen = wait_for("the third instance's line", Duration::from_secs(20), || {
        let seen = std::fs::read_to_string(updated_dir.join("db/seen")).ok()?;
        (seen.lines().count() == 3).then_some(seen)
    });
    assert_eq!(seen.lines().collect::<Vec<_>>(), [&first, &second, &third]);
}

#[test]
fn a_container_finds_its_data_at_local_and_takes_it_along() {
    let Some(image) = test_image("a_container_finds_its_data_at_local_and_takes_it_along") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    let spec = format!(
        r#"id = "boxed"
kind = "service"
replicas = 1
[ephemeral_disk]
migrate = true
[task]
driver = "docker"
image = "{image}"
command = ["sh", "-c", "test -f $DROVER_DATA_DIR/first || echo $DROVER_ALLOC_ID > /local/first; echo $DROVER_ALLOC_ID >> /local/seen && exec sleep 600"]
"#
    );
    assert!(run_job(dir.path(), &addr, "boxed", &spec));
    let (first, first_node) = next_running(&addr, "boxed", &[]);
    let original = data_dir(&agents, &first_node, &first);
    assert_eq!(read_when_there(&original.join("first")).trim(), first);

    drain(&addr, &first_node);
    let (second, second_node) = next_running(&addr, "boxed", std::slice::from_ref(&first));
    assert_ne!(second_node, first_node);
    let moved = data_dir(&agents, &second_node, &second);
    assert_eq!(
        read_when_there(&moved.join("first")).trim(),
        first,
        "the container on the new node found the first one's file"
    );
    // It runs as nobody: the files it takes over are still its to write.
    let seen = wait_for("the second line", Duration::from_secs(20), || {
        let seen = std::fs::read_to_string(moved.join("seen")).ok()?;
        (seen.lines().count() == 2).then_some(seen)
    });
    assert_eq!(seen.lines().collect::<Vec<_>>(), [&first, &second]);
}
