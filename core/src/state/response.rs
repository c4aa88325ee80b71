//! What applying a command yields. Errors leave the state untouched.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alloc::AllocStatus;
use crate::ids::{AllocId, JobId, NodeId};
use crate::spec::SpecErrors;

pub type Response = Result<Success, ApplyError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Success {
    /// The command changed nothing (a repeated stop, an identical update).
    Unchanged,
    NodeRegistered,
    NodeUpdated,
    JobAccepted {
        job: JobId,
        version: u64,
    },
    JobStopped {
        job: JobId,
    },
    Plan(PlanResult),
    AllocUpdated {
        alloc: AllocId,
        status: AllocStatus,
    },
    /// What each command of a batch yielded, in the batch's order.
    Batch(Vec<Response>),
    /// What garbage collection forgot (a job's allocations count among
    /// `allocs`).
    Collected {
        jobs: usize,
        allocs: usize,
        nodes: usize,
        keys: usize,
    },
    TokenCreated {
        accessor: String,
    },
    TokenRevoked {
        accessor: String,
    },
    DeploymentSettled {
        job: JobId,
        version: u64,
    },
    DeploymentPromoted {
        job: JobId,
        version: u64,
    },
}

/// Which parts of a plan were applied and which were refused, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanResult {
    pub stopped: Vec<AllocId>,
    pub stops_refused: Vec<(AllocId, PlanRefusal)>,
    /// New allocation ids, in the order of the accepted placements.
    pub placed: Vec<AllocId>,
    /// Refused placements by their position in the plan.
    pub placements_refused: Vec<(usize, PlanRefusal)>,
}

impl PlanResult {
    pub fn fully_applied(&self) -> bool {
        self.stops_refused.is_empty() && self.placements_refused.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanRefusal {
    UnknownJob,
    JobStopped,
    StaleJobVersion {
        planned: u64,
        current: u64,
    },
    UnknownNode,
    NodeNotAcceptingWork,
    NodeLacksDriver,
    InsufficientCapacity,
    UnknownAlloc,
    AllocTerminal,
    UnknownPrevious,
    /// The job gained allocations after the plan was made.
    StaleJobAllocations,
    /// The node cannot give the task its ports.
    Ports(crate::ports::PortConflict),
    /// The node lacks a host volume the task asks for.
    Volume(String),
}

impl fmt::Display for PlanRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownJob => f.write_str("job does not exist"),
            Self::JobStopped => f.write_str("job is stopped"),
            Self::StaleJobVersion { planned, current } => {
                write!(f, "planned for job version {planned}, current is {current}")
            }
            Self::UnknownNode => f.write_str("node does not exist"),
            Self::NodeNotAcceptingWork => f.write_str("node is not accepting work"),
            Self::NodeLacksDriver => f.write_str("node does not offer the task's driver"),
            Self::InsufficientCapacity => f.write_str("node lacks free capacity"),
            Self::UnknownAlloc => f.write_str("allocation does not exist"),
            Self::AllocTerminal => f.write_str("allocation already finished"),
            Self::UnknownPrevious => f.write_str("replaced allocation does not exist"),
            Self::StaleJobAllocations => {
                f.write_str("the job gained allocations after the plan was made")
            }
            Self::Ports(conflict) => conflict.fmt(f),
            Self::Volume(why) => f.write_str(why),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyError {
    /// The log index is not past the last applied one.
    StaleIndex {
        index: u64,
        applied: u64,
    },
    InvalidSpec(SpecErrors),
    InvalidNode {
        node: NodeId,
        reason: String,
    },
    UnknownNode(NodeId),
    UnknownJob(JobId),
    UnknownAlloc(AllocId),
    JobExists(JobId),
    VersionMismatch {
        job: JobId,
        expected: u64,
        actual: u64,
    },
    /// A liveness decision based on an old heartbeat.
    StaleHeartbeat {
        node: NodeId,
        observed_ms: u64,
        actual_ms: u64,
    },
    WrongNode {
        alloc: AllocId,
        owner: NodeId,
        reporter: NodeId,
    },
    AlreadyTerminal {
        alloc: AllocId,
        status: AllocStatus,
    },
    NotReportable {
        alloc: AllocId,
        status: AllocStatus,
    },
    EmptyPlan,
    /// A batch inside a batch: batches are flat.
    NestedBatch,
    /// An idempotency key that is empty, too long or not printable.
    InvalidKey(String),
    /// Only submissions, updates and stops take an idempotency key.
    NotKeyable(String),
    /// At log index `index`.
    AclAlreadyBootstrapped {
        index: u64,
    },
    InvalidToken(String),
    TokenExists(String),
    UnknownToken(String),
    /// A deployment cannot change so: the message says why.
    Deployment(String),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaleIndex { index, applied } => {
                write!(
                    f,
                    "log index {index} is not after the applied index {applied}"
                )
            }
            Self::InvalidSpec(errors) => write!(f, "invalid job spec: {errors}"),
            Self::InvalidNode { node, reason } => write!(f, "node {node}: {reason}"),
            Self::UnknownNode(node) => write!(f, "no node {node}"),
            Self::UnknownJob(job) => write!(f, "no job {job}"),
            Self::UnknownAlloc(alloc) => write!(f, "no allocation {alloc}"),
            Self::JobExists(job) => {
                write!(f, "job {job} already exists; update it instead")
            }
            Self::VersionMismatch {
                job,
                expected,
                actual,
            } => write!(f, "job {job} is at version {actual}, not {expected}"),
            Self::StaleHeartbeat {
                node,
                observed_ms,
                actual_ms,
            } => write!(
                f,
                "node {node} heartbeat at {actual_ms} is newer than the {observed_ms} this decision saw"
            ),
            Self::WrongNode {
                alloc,
                owner,
                reporter,
            } => write!(f, "allocation {alloc} runs on {owner}, not {reporter}"),
            Self::AlreadyTerminal { alloc, status } => {
                write!(f, "allocation {alloc} already finished as {status}")
            }
            Self::NotReportable { alloc, status } => {
                write!(f, "allocation {alloc}: a worker cannot report {status}")
            }
            Self::EmptyPlan => f.write_str("the plan is empty"),
            Self::NestedBatch => f.write_str("a batch cannot hold another batch"),
            Self::InvalidKey(reason) => write!(f, "idempotency key {reason}"),
            Self::NotKeyable(what) => write!(f, "a {what} command takes no idempotency key"),
            Self::AclAlreadyBootstrapped { index } => write!(
                f,
                "ACLs were bootstrapped at log index {index}; the management token was printed then, once. If it is lost, write {index} into the file acl-bootstrap-reset in the data directory of the control node you call, and bootstrap again"
            ),
            Self::InvalidToken(reason) => write!(f, "token {reason}"),
            Self::TokenExists(accessor) => write!(f, "a token with accessor {accessor} exists"),
            Self::UnknownToken(accessor) => write!(f, "no token with accessor {accessor}"),
            Self::Deployment(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ApplyError {}
