//! What crosses the wire between workers and control nodes: assignments
//! (long-polled by state index) and output slices.

use drover_core::job::TaskSpec;
use drover_core::{AllocId, AllocStatus, DesiredStatus, NodeId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PollRequest {
    pub node: NodeId,
    /// Answer once the state is past this index (or the wait ends).
    pub after_index: u64,
    pub wait_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PollReply {
    pub index: u64,
    pub assignments: Vec<Assignment>,
}

/// One of the node's unfinished allocations, as the control plane sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub alloc: AllocId,
    pub desired: DesiredStatus,
    pub status: AllocStatus,
    /// The task to run; `None` when the job has moved to another version
    /// (the allocation is about to be replaced, not started).
    pub task: Option<TaskSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputRequest {
    pub alloc: AllocId,
    pub stderr: bool,
    pub offset: u64,
    pub max_bytes: u32,
}
