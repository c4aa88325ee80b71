//! What crosses the wire between workers and control nodes: assignments
//! (long-polled by state index) and output slices.

use drover_core::job::TaskSpec;
use drover_core::{AllocId, AllocStatus, DesiredStatus, JobId, NodeId};
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
    /// The newest allocation id this replica has issued: it can vouch
    /// that an allocation it does not list is not this node's only for
    /// ids up to this one.
    pub last_alloc: AllocId,
    pub assignments: Vec<Assignment>,
}

/// One of the node's unfinished allocations, as the control plane sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub alloc: AllocId,
    pub job: JobId,
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
