//! What a worker hears from the control plane and from its executor.

use serde::{Deserialize, Serialize};

use crate::job::TaskSpec;
use crate::{AllocId, AllocStatus, DesiredStatus, JobId};

/// A replica's answer to a worker's long poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollReply {
    pub index: u64,
    /// The newest allocation id this replica has issued: it can vouch
    /// that an allocation it does not list is not this node's only for
    /// ids up to this one.
    pub last_alloc: AllocId,
    pub assignments: Vec<Assignment>,
    /// Of the allocations the worker asked about, those this replica has
    /// issued (up to `last_alloc`) and no longer records: collected, so
    /// what the worker keeps of them can go.
    pub gone: Vec<AllocId>,
}

/// One of the node's unfinished allocations, as the control plane sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub alloc: AllocId,
    pub job: JobId,
    pub desired: DesiredStatus,
    pub status: AllocStatus,
    /// The task to run; `None` when the job has moved to another version
    /// since the allocation was placed: it is not to start.
    pub task: Option<TaskSpec>,
    /// The task's health checks, run by the worker while it runs.
    pub checks: Vec<crate::health::CheckSpec>,
    /// The host volumes the task mounts, by name: the worker knows their
    /// paths.
    pub volumes: Vec<crate::volumes::VolumeAsk>,
    /// Where its local data comes from, if its job migrates data and it
    /// replaces another allocation (`crate::migrate`).
    pub data_from: Option<crate::migrate::DataFrom>,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// `None` when the status could not be learned (the task was killed
    /// before its wrapper recorded one).
    pub code: Option<i32>,
    pub message: String,
}

impl Exit {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}
