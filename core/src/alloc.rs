//! Allocations: one instance of a job's task bound to one node.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AllocId, JobId, NodeId};
use crate::resources::Resources;

/// What the control plane wants for an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredStatus {
    Run,
    Stop,
}

/// What is known to be happening to an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocStatus {
    /// Placed; the worker has not reported it running yet.
    Pending,
    Running,
    /// Exited with status 0.
    Complete,
    /// Exited non-zero, or could not be started.
    Failed,
    /// Its node is disconnected: it may still be running.
    Unknown,
    /// Its node was declared down: it is gone.
    Lost,
    /// Stopped on the control plane's request.
    Stopped,
}

impl AllocStatus {
    /// Terminal statuses are final: the first terminal result is the one recorded.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Complete | Self::Failed | Self::Lost | Self::Stopped
        )
    }

    /// Statuses a worker may report about its own allocation.
    pub fn reportable_by_worker(self) -> bool {
        matches!(
            self,
            Self::Running | Self::Complete | Self::Failed | Self::Stopped
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Lost => "lost",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for AllocStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub id: AllocId,
    pub job: JobId,
    pub job_version: u64,
    pub node: NodeId,
    /// Reserved on `node` until the allocation is terminal.
    pub resources: Resources,
    pub desired: DesiredStatus,
    pub status: AllocStatus,
    pub exit_code: Option<i32>,
    pub message: String,
    /// How many allocations before this one tried to run the same slot.
    pub attempts: u32,
    /// The allocation this one replaces, if any.
    pub previous: Option<AllocId>,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub create_index: u64,
    pub modify_index: u64,
    /// Fields added after snapshot format 5: the ports it holds.
    #[serde(
        serialize_with = "crate::extensions::write_alloc",
        deserialize_with = "crate::extensions::read_alloc"
    )]
    pub ext: crate::extensions::AllocExtensions,
}

impl Allocation {
    /// Whether the allocation counts against its node's capacity. As in
    /// Nomad's plan applier, an allocation asked to stop frees its share at
    /// once, so a plan may stop one allocation and place another in its room.
    pub fn holds_resources(&self) -> bool {
        self.desired == DesiredStatus::Run && !self.status.is_terminal()
    }

    /// Whether its ports are held: until it is terminal, whatever was
    /// decided — a task asked to stop still listens until it has exited.
    pub fn holds_ports(&self) -> bool {
        !self.status.is_terminal()
    }
}
