//! A node's data from before job specs carried extensions — a Raft log of
//! format 2 and a snapshot of format 4, written by a real agent of that
//! build (`tests/fixtures/format-1-data`: six services, one updated to a
//! second version, one stopped) — opened by this build: the log is
//! rewritten in format 3 once, every job is there as it was, and new
//! writes and a restart work on top.

mod common;

use std::time::Duration;

use common::{Agent, drover, free_ports, json, wait_for};

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn log_format(data: &std::path::Path) -> u32 {
    let bytes = std::fs::read(data.join("raft/raft.log")).unwrap();
    u32::from_le_bytes(bytes[8..12].try_into().unwrap())
}

#[test]
fn data_written_before_spec_extensions_opens_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-1-data/raft");
    copy_dir(&fixture, &data.join("raft"));
    assert_eq!(log_format(&data), 2, "the fixture is a format 2 log");
    let port = free_ports(1)[0];
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "id = 1\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nsnapshot_every = 10\n[[peers]]\nid = 1\naddr = \"127.0.0.1:{port}\"\n",
            data.display()
        ),
    )
    .unwrap();
    let mut agent = Agent {
        id: 1,
        port,
        config,
        data: data.clone(),
        child: None,
    };
    agent.start();
    let addr = agent.addr();
    let jobs = wait_for("the old jobs listed", Duration::from_secs(30), || {
        let list = json(&addr, &["job", "list"])?;
        let jobs: Vec<(String, u64, String)> = list["jobs"]
            .as_array()?
            .iter()
            .map(|j| {
                (
                    j["id"].as_str().unwrap_or_default().to_string(),
                    j["version"].as_u64().unwrap_or_default(),
                    j["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        (jobs.len() == 6).then_some(jobs)
    });
    assert_eq!(jobs[0].0, "old-1");
    assert_eq!(jobs[0].1, 2, "old-1 was updated to version 2: {jobs:?}");
    assert_eq!(jobs[5], ("old-6".to_string(), 1, "stopped".to_string()));
    let history = json(&addr, &["job", "history", "old-1"]).unwrap();
    assert_eq!(
        history["versions"].as_array().map(Vec::len),
        Some(2),
        "{history}"
    );
    assert_eq!(
        log_format(&data),
        3,
        "the log was rewritten in this build's format"
    );

    // New writes on top, and a restart that reads both.
    let spec = dir.path().join("new.toml");
    std::fs::write(
        &spec,
        "id = \"new\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let out = drover()
        .args(["job", "run", "--detach", spec.to_str().unwrap()])
        .env("DROVER_ADDR", &addr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    agent.kill();
    agent.start();
    wait_for(
        "old and new jobs after a restart",
        Duration::from_secs(30),
        || {
            let list = json(&addr, &["job", "list"])?;
            (list["jobs"].as_array()?.len() == 7).then_some(())
        },
    );
}

/// A format 2 log from a real node of that build, holding the submission
/// of a job: the submission reads back with its spec whole.
#[test]
fn log_entries_written_before_spec_extensions_read_back_whole() {
    use drover_core::CommandKind;
    use openraft::storage::RaftLogReader;

    let dir = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-1-log/raft");
    copy_dir(&fixture, dir.path());
    let (mut store, recovery) =
        drover_node::raft::LogStore::open(drover_adapters::disk::RealFs, dir.path()).unwrap();
    assert_eq!(recovery.upgraded_from, Some(2));
    let entries = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(store.try_get_log_entries(..))
        .unwrap();
    let specs: Vec<drover_core::JobSpec> = entries
        .into_iter()
        .filter_map(|e| match e.payload {
            openraft::EntryPayload::Normal(command) => Some(command.kind),
            _ => None,
        })
        .flat_map(|kind| match kind {
            CommandKind::Batch(kinds) => kinds,
            other => vec![other],
        })
        .filter_map(|kind| match kind {
            CommandKind::SubmitJob(spec) => Some(spec),
            CommandKind::Keyed { command, .. } => match *command {
                CommandKind::SubmitJob(spec) => Some(spec),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(!specs.is_empty(), "the fixture holds a submission");
    // Misread bytes would not make specs that validate, with every field
    // of the example web service where it was.
    for spec in &specs {
        assert!(spec.ext.multiregion.is_empty());
        assert_eq!(drover_core::spec::check(spec), Ok(()), "{spec:?}");
    }
    let web = specs
        .iter()
        .find(|s| s.id.as_str() == "web")
        .expect("the web example");
    assert_eq!(web.task.command, ["httpd", "-f", "-p", "8080"]);
    assert_eq!(web.task.image.as_deref(), Some("busybox:latest"));
    assert_eq!(
        (web.priority, web.max_per_node, web.update.max_parallel),
        (70, Some(1), 2)
    );
}
