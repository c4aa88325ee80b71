//! What crosses the wire between workers and control nodes: assignments
//! (long-polled by state index) and output slices.

pub use drover_core::worker::{Assignment, PollReply};
use drover_core::{AllocId, NodeId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PollRequest {
    pub node: NodeId,
    /// Answer once the state is past this index (or the wait ends).
    pub after_index: u64,
    pub wait_ms: u64,
    /// Ended allocations this worker still keeps something of: the reply
    /// says which of them the control plane has collected.
    pub ask_gone: Vec<AllocId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputRequest {
    pub alloc: AllocId,
    pub stderr: bool,
    pub offset: u64,
    pub max_bytes: u32,
}
