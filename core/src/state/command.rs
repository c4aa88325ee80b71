//! Commands: the entries of the replicated log. Each carries the
//! leader-stamped time it needs, so applying one never reads a clock.

use serde::{Deserialize, Serialize};

use crate::acl::NewToken;
use crate::alloc::AllocStatus;
use crate::gc::GcPolicy;
use crate::ids::{AllocId, JobId, NodeId};
use crate::job::JobSpec;
use crate::node::NodeRegistration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Unix milliseconds, stamped by the leader that proposed the command.
    pub now_ms: u64,
    pub kind: CommandKind,
}

impl Command {
    pub fn new(now_ms: u64, kind: CommandKind) -> Self {
        Self { now_ms, kind }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandKind {
    /// A node joins, or rejoins after a restart (its record is replaced).
    RegisterNode(NodeRegistration),
    Heartbeat {
        node: NodeId,
    },
    /// The leader saw no heartbeat since `last_heartbeat_ms`. Rejected if a
    /// later heartbeat was committed meanwhile, so a stale decision is harmless.
    MarkNodeDisconnected {
        node: NodeId,
        last_heartbeat_ms: u64,
    },
    /// As `MarkNodeDisconnected`, but the node is declared gone: its
    /// allocations are lost.
    MarkNodeDown {
        node: NodeId,
        last_heartbeat_ms: u64,
    },
    DrainNode {
        node: NodeId,
        enable: bool,
    },
    SubmitJob(JobSpec),
    /// Replaces a job's spec. With `expected_version`, only if the job is
    /// still at that version (check-and-set).
    UpdateJob {
        spec: JobSpec,
        expected_version: Option<u64>,
    },
    StopJob {
        job: JobId,
    },
    ApplyPlan(Plan),
    /// A worker reports on one of its own allocations.
    AllocUpdate(AllocReport),
    /// Several independent commands sharing one log entry, and so one
    /// append, one fsync and one replication round: each applies or fails
    /// on its own, in order, at the entry's index and time. Never nested.
    Batch(Vec<CommandKind>),
    // New variants go last: entries are encoded by variant position, and
    // logs already on disk must decode as they were written.
    /// The leader's garbage collection: what to forget, each part checked
    /// again against `policy` at the command's time; parts no longer
    /// collectable stay.
    CollectGarbage(Collection),
    /// `command` under a client's idempotency key: applied once; a repeat
    /// with the same key yields what the first did and changes nothing.
    /// Submissions, updates and stops only.
    Keyed {
        key: String,
        command: Box<CommandKind>,
    },
    /// The first management token; refused once a bootstrap applied,
    /// unless `reset_index` names that bootstrap's index (the operator's
    /// way back in when the management token is lost).
    AclBootstrap {
        token: NewToken,
        reset_index: Option<u64>,
    },
    AclCreateToken(NewToken),
    AclRevokeToken {
        accessor: String,
    },
    /// A worker's word that one of its allocations changed health.
    AllocHealth(crate::health::HealthReport),
    /// The leader's reconciler found a version's deployment ended.
    SettleDeployment(super::Settlement),
    /// `drover job promote`: the canaries of the job's `version` are good.
    PromoteDeployment {
        job: JobId,
        version: u64,
    },
}

impl CommandKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::RegisterNode(_) => "register_node",
            Self::Heartbeat { .. } => "heartbeat",
            Self::MarkNodeDisconnected { .. } => "mark_node_disconnected",
            Self::MarkNodeDown { .. } => "mark_node_down",
            Self::DrainNode { .. } => "drain_node",
            Self::SubmitJob(_) => "submit_job",
            Self::UpdateJob { .. } => "update_job",
            Self::StopJob { .. } => "stop_job",
            Self::ApplyPlan(_) => "apply_plan",
            Self::AllocUpdate(_) => "alloc_update",
            Self::CollectGarbage(_) => "collect_garbage",
            Self::Keyed { .. } => "keyed",
            Self::Batch(_) => "batch",
            Self::AclBootstrap { .. } => "acl_bootstrap",
            Self::AclCreateToken(_) => "acl_create_token",
            Self::AclRevokeToken { .. } => "acl_revoke_token",
            Self::AllocHealth(_) => "alloc_health",
            Self::SettleDeployment(_) => "settle_deployment",
            Self::PromoteDeployment { .. } => "promote_deployment",
        }
    }
}

/// Placements and stops decided by the leader's scheduler against some
/// earlier state; `apply` re-checks each part against the committed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub stops: Vec<PlanStop>,
    pub placements: Vec<Placement>,
    /// The state index the plan was made against. A placement for a job
    /// that gained allocations since then is refused: another planner (a
    /// previous leader) acted on the same need, and applying both would
    /// run the work twice. `None` skips the check.
    pub based_on_index: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub job: JobId,
    /// The job version the scheduler planned for; stale versions are refused.
    pub job_version: u64,
    pub node: NodeId,
    /// The allocation this one replaces.
    pub previous: Option<AllocId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStop {
    pub alloc: AllocId,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocReport {
    pub alloc: AllocId,
    /// The reporting node; must own the allocation.
    pub node: NodeId,
    pub status: AllocStatus,
    pub exit_code: Option<i32>,
    pub message: String,
}

/// Jobs (with all their allocations), allocations and nodes to forget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub jobs: Vec<JobId>,
    pub allocs: Vec<AllocId>,
    pub nodes: Vec<NodeId>,
    /// Idempotency keys of writes older than the key retention.
    pub keys: Vec<String>,
    pub policy: GcPolicy,
}

impl Collection {
    pub fn len(&self) -> usize {
        self.jobs.len() + self.allocs.len() + self.nodes.len() + self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log entries on disk name their command by variant position: a new
    /// variant anywhere but last would make every entry after it decode as
    /// the wrong command.
    #[test]
    fn command_variants_keep_their_positions() {
        let node = NodeId::new("n1").expect("valid");
        let job = JobId::new("j1").expect("valid");
        let kinds = [
            (CommandKind::Heartbeat { node: node.clone() }, 1),
            (CommandKind::DrainNode { node, enable: true }, 4),
            (CommandKind::StopJob { job }, 7),
            (CommandKind::ApplyPlan(Plan::default()), 8),
            (CommandKind::Batch(Vec::new()), 10),
            (CommandKind::CollectGarbage(Collection::default()), 11),
            (
                CommandKind::Keyed {
                    key: String::new(),
                    command: Box::new(CommandKind::Batch(Vec::new())),
                },
                12,
            ),
            (
                CommandKind::AclRevokeToken {
                    accessor: String::new(),
                },
                15,
            ),
            (
                CommandKind::AllocHealth(crate::health::HealthReport {
                    alloc: crate::AllocId(1),
                    node: NodeId::new("n1").expect("valid"),
                    status: crate::health::HealthStatus::Healthy,
                    check: String::new(),
                    output: String::new(),
                }),
                16,
            ),
        ];
        for (kind, position) in kinds {
            let bytes = postcard::to_stdvec(&kind).expect("encodes");
            assert_eq!(bytes[0], position, "{} moved", kind.name());
        }
    }
}
