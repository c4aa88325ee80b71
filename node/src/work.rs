//! What crosses the wire between workers and control nodes: assignments
//! (long-polled by state index), output slices and slices of the local
//! data a replacement takes over.

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

/// A slice of the archive of an ended allocation's local data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataRequest {
    pub alloc: AllocId,
    pub offset: u64,
    pub max_bytes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSlice {
    pub bytes: Vec<u8>,
    /// The whole archive's length: the fetch is done at this offset.
    pub total: u64,
}
