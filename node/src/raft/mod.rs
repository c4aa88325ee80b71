//! openraft wiring: the type configuration, and the storage and network
//! that drive Drover's core state machine through Raft.

// openraft's storage and network traits fix their (large) error types.
#![allow(clippy::result_large_err)]

mod assigned;
mod log_chain;
mod log_store;
mod network;
mod peers;
mod runtime;
mod state_machine;

use std::io::Cursor;

pub use assigned::Assigned;
pub use log_store::{CommittedIndex, LogStore};
pub use network::{Connections, Rpc, WIRE_LIMIT, call_internal, connect, never_sent};
pub use peers::Peers;
pub use runtime::DroverRuntime;
pub use state_machine::{SharedState, StateMachine};

/// Raft node ids are small integers; nodes also have names (`node-1`) in
/// the cluster state.
pub type RaftId = u64;

openraft::declare_raft_types!(
    /// Drover's Raft: log entries are core commands, results core responses.
    pub TypeConfig:
        D = drover_core::Command,
        R = drover_core::Response,
        NodeId = RaftId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = DroverRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<RaftId>;

/// This node's id, and the leader it knows of with that leader's address
/// (when the membership it holds names one).
pub fn known_leader(raft: &Raft) -> (RaftId, Option<(RaftId, Option<String>)>) {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    let leader = metrics.current_leader.map(|id| {
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone());
        (id, addr)
    });
    (metrics.id, leader)
}

/// Maps an encoding failure into openraft's storage error vocabulary.
fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
