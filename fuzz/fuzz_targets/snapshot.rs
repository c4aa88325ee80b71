//! State snapshots from the disk (`state.snapshot`) and from a peer
//! (InstallSnapshot: an id and the state's bytes): never a panic; a state
//! accepted encodes back to bytes that decode to the same state.
//!
//! The input is a `state.snapshot` file, or after a line `==> install
//! <==` (see `drover_fuzz::Files`) an installed snapshot: its id, a
//! newline, the state's bytes.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use drover_adapters::disk::SimFs;
use drover_core::ClusterState;
use drover_fuzz::{Files, put};
use drover_node::raft::StateMachine;
use libfuzzer_sys::fuzz_target;
use openraft::storage::RaftStateMachine;

fuzz_target!(|bytes: &[u8]| {
    let dir = Path::new("/data");
    for (name, content) in Files::split(bytes).named(&["state.snapshot", "install"]) {
        let fs = SimFs::new();
        if name == "state.snapshot" {
            put(&fs, &dir.join(name), content);
            if let Err(error) = StateMachine::open(fs, dir) {
                let message = error.to_string();
                assert!(message.contains("/data/state.snapshot"), "{message}");
            }
            continue;
        }
        let (id, state) = match content.iter().position(|b| *b == b'\n') {
            Some(at) => (&content[..at], &content[at + 1..]),
            None => (content, &content[content.len()..]),
        };
        let id = String::from_utf8_lossy(id).into_owned();
        if let Ok(restored) = ClusterState::restore(state) {
            let encoded = restored.snapshot();
            let again = ClusterState::restore(&encoded).expect("an encoded state decodes");
            assert_eq!(
                again.snapshot(),
                encoded,
                "a state's encoding is not stable"
            );
        }
        let mut machine = StateMachine::open(fs, dir).expect("an empty directory opens");
        let meta = openraft::SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(3, 1),
                42,
            )),
            last_membership: openraft::StoredMembership::default(),
            snapshot_id: id,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime starts");
        let _ = runtime
            .block_on(machine.install_snapshot(&meta, Box::new(Cursor::new(state.to_vec()))));
    }
});
