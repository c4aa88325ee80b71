//! Host volumes on real agents: of three nodes only the third offers
//! `data`, so work asking for it goes there and finds its directory (a
//! process through `DROVER_VOLUME_DATA`, a container mounted at its
//! destination); work asking for a volume no node has waits and says
//! why; a container given a volume read-only cannot write to it.

#![cfg(not(madsim))]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{Agent, cluster_each, run_job, status, wait_for};
use drover_adapters::exec::docker::testing::test_image;
use serde_json::Value;

/// Three hybrid agents; node 3 offers `data` at `dir/volume`.
fn cluster_with_volume(dir: &Path) -> (Vec<Agent>, std::path::PathBuf) {
    let volume = dir.join("volume");
    std::fs::create_dir(&volume).unwrap();
    // Containers run as nobody unless the spec says otherwise.
    std::fs::set_permissions(&volume, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = volume.display().to_string();
    let agents = cluster_each(dir, &["hybrid", "hybrid", "hybrid"], |id| {
        if id == 3 {
            format!("[[volume]]\nname = \"data\"\npath = \"{path}\"\n")
        } else {
            String::new()
        }
    });
    (agents, volume)
}

/// The job's allocations once one of them has `status`.
fn with_status(addr: &str, job: &str, wanted: &str) -> Value {
    wait_for(
        &format!("an allocation of {job} {wanted}"),
        Duration::from_secs(60),
        || {
            let doc = status(addr, job)?;
            doc["allocations"]
                .as_array()?
                .iter()
                .find(|a| a["status"] == wanted)
                .cloned()
        },
    )
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[test]
fn a_process_asking_for_a_volume_runs_where_it_is_and_writes_there() {
    let dir = tempfile::tempdir().unwrap();
    let (agents, volume) = cluster_with_volume(dir.path());
    let addr = agents[0].addr();
    let spec = r#"id = "writer"
kind = "service"
replicas = 2
[[volume]]
name = "data"
[task]
driver = "exec"
command = ["sh", "-c", "echo $DROVER_ALLOC_ID > $DROVER_VOLUME_DATA/$DROVER_ALLOC_ID.txt && exec sleep 300"]
"#;
    assert!(run_job(dir.path(), &addr, "writer", spec));
    let running = wait_for("both instances running", Duration::from_secs(60), || {
        let doc = status(&addr, "writer")?;
        let running: Vec<Value> = doc["allocations"]
            .as_array()?
            .iter()
            .filter(|a| a["status"] == "running")
            .cloned()
            .collect();
        (running.len() == 2).then_some(running)
    });
    for alloc in &running {
        assert_eq!(alloc["node"], "node-3", "only node 3 offers data: {alloc}");
        let id = alloc["id"].as_str().unwrap();
        let written = wait_for("the file in the volume", Duration::from_secs(10), || {
            read(&volume.join(format!("{id}.txt")))
        });
        assert_eq!(written.trim(), id);
    }

    let nowhere = r#"id = "nowhere"
kind = "batch"
[[volume]]
name = "scratch"
read_only = true
[task]
driver = "exec"
command = ["true"]
"#;
    assert!(run_job(dir.path(), &addr, "nowhere", nowhere));
    let pending = wait_for("the reason it waits", Duration::from_secs(30), || {
        let doc = status(&addr, "nowhere")?;
        let lines: Vec<String> = doc["pending"]
            .as_array()?
            .iter()
            .filter_map(|l| l.as_str().map(String::from))
            .collect();
        (!lines.is_empty()).then_some(lines)
    });
    assert!(
        pending
            .iter()
            .any(|l| l.contains("3 nodes: lacks host volume scratch (read-only)")),
        "{pending:?}"
    );
}

#[test]
fn a_container_mounts_its_volume_and_cannot_write_one_given_read_only() {
    let Some(image) =
        test_image("a_container_mounts_its_volume_and_cannot_write_one_given_read_only")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (agents, volume) = cluster_with_volume(dir.path());
    let addr = agents[0].addr();
    let job = |id: &str, read_only: bool| {
        format!(
            r#"id = "{id}"
kind = "batch"
[[volume]]
name = "data"
destination = "/data"
read_only = {read_only}
[task]
driver = "docker"
image = "{image}"
command = ["sh", "-c", "echo $DROVER_VOLUME_DATA > /data/{id}.txt"]
"#
        )
    };
    assert!(run_job(dir.path(), &addr, "writes", &job("writes", false)));
    let done = with_status(&addr, "writes", "complete");
    assert_eq!(done["node"], "node-3", "{done}");
    assert_eq!(
        read(&volume.join("writes.txt")).map(|s| s.trim().to_string()),
        Some("/data".to_string()),
        "written through the mount; the task saw its destination"
    );

    assert!(run_job(dir.path(), &addr, "reads", &job("reads", true)));
    let failed = with_status(&addr, "reads", "failed");
    assert_eq!(failed["node"], "node-3", "{failed}");
    assert!(
        read(&volume.join("reads.txt")).is_none(),
        "a read-only volume was written"
    );
    let logs = common::cli(&addr, &["job", "logs", "reads", "--stderr"]);
    let stderr = String::from_utf8_lossy(&logs.stdout);
    assert!(
        stderr.contains("Read-only file system"),
        "it failed for another reason: {stderr}"
    );
}
