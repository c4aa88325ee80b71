//! A node's whole Raft directory as found at start — the log, its purge
//! and failed-fsync records, the vote, the leader term, the record of a
//! lost tail, the state snapshot — over arbitrary bytes: every file is
//! read and every log entry decoded as a starting node does, and none of
//! it panics; a file refused is named.
//!
//! The input is the files one after the other (`drover_fuzz::Files`), so
//! the seed corpus is a real node's directory.
#![no_main]

use std::path::Path;

use drover_adapters::disk::SimFs;
use drover_fuzz::{Files, put};
use drover_node::raft::{LogStore, StateMachine};
use drover_node::recovering::Record;
use libfuzzer_sys::fuzz_target;
use openraft::storage::{RaftLogReader, RaftLogStorage};

const FILES: &[&str] = &[
    "raft.log",
    "raft.log.meta",
    "raft.log.unsynced",
    "raft.vote",
    "raft.leader_term",
    "raft.lost_tail",
    "state.snapshot",
];

fn named(error: impl std::fmt::Display) {
    let message = error.to_string();
    assert!(
        FILES.iter().any(|name| message.contains(name)),
        "a refusal that names no file: {message}"
    );
}

fuzz_target!(|bytes: &[u8]| {
    let fs = SimFs::new();
    let dir = Path::new("/data/raft");
    for (name, content) in Files::split(bytes).named(FILES) {
        put(&fs, &dir.join(name), content);
    }
    if let Err(error) = Record::new(fs.clone(), dir).read() {
        named(error);
    }
    if let Err(error) = StateMachine::open(fs.clone(), dir) {
        named(error);
    }
    let mut store = match LogStore::open(fs, dir) {
        Ok((store, _)) => store,
        Err(error) => return named(error),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime starts");
    runtime.block_on(async {
        let _ = store.read_vote().await;
        if let Ok(state) = store.get_log_state().await {
            let _ = store.try_get_log_entries(..).await;
            let _ = state.last_log_id;
        }
    });
});
