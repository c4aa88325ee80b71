//! Job specifications: what the user asked to run, after parsing.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::JobId;
use crate::resources::Resources;

pub const DEFAULT_POOL: &str = "default";
pub const DEFAULT_PRIORITY: u8 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub id: JobId,
    pub kind: JobKind,
    pub task: TaskSpec,
    pub constraints: Vec<Constraint>,
    pub spread: Vec<Spread>,
    /// At most this many of the job's allocations on one node.
    pub max_per_node: Option<u32>,
    pub pool: String,
    /// 1 (lowest) to 100.
    pub priority: u8,
    pub restart: RestartPolicy,
    pub reschedule: ReschedulePolicy,
    pub update: UpdatePolicy,
    /// Assigned by the state machine: 1 on submit, +1 on every accepted change.
    pub version: u64,
    /// Fields added since the first format (`extensions`).
    #[serde(
        serialize_with = "crate::extensions::write",
        deserialize_with = "crate::extensions::read"
    )]
    pub ext: crate::extensions::Extensions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Runs to completion, at least once; the first terminal result is kept.
    Batch,
    /// Keeps `replicas` instances running.
    Service { replicas: u32 },
    /// One instance on every eligible node, including nodes that join later.
    System,
}

impl JobKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Service { .. } => "service",
            Self::System => "system",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    Docker,
    Exec,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Docker => "docker",
            Self::Exec => "exec",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub driver: Driver,
    /// Container image; required by `docker`, refused by `exec`.
    pub image: Option<String>,
    /// Program and arguments; for `docker`, empty means the image's default.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub resources: Resources,
    pub sandbox: Sandbox,
}

/// Isolation for the task. The defaults are the strict ones; a spec must
/// relax each of them by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub network: NetworkMode,
    pub read_only_root: bool,
    pub no_new_privileges: bool,
    pub drop_all_capabilities: bool,
    /// Run as this user (`"1000:1000"`, `"nobody"`); `None` keeps the image's.
    pub user: Option<String>,
    pub pids_limit: u32,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self {
            network: NetworkMode::None,
            read_only_root: true,
            no_new_privileges: true,
            drop_all_capabilities: true,
            user: None,
            pids_limit: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    None,
    Bridge,
    Host,
}

/// A node property a constraint or spread can look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attribute {
    NodeId,
    Region,
    Pool,
    Label(String),
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeId => f.write_str("node.id"),
            Self::Region => f.write_str("node.region"),
            Self::Pool => f.write_str("node.pool"),
            Self::Label(key) => write!(f, "label.{key}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub attribute: Attribute,
    pub op: ConstraintOp,
}

/// Constraint operators, as Nomad's: equality, set membership, presence,
/// version ranges and regular expressions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    /// A comma-separated range of comparisons: `">= 1.2.0, < 2"`.
    Version(String),
    Regex(String),
}

impl ConstraintOp {
    pub fn symbol(&self) -> &'static str {
        match self {
            Self::Eq(_) => "=",
            Self::NotEq(_) => "!=",
            Self::In(_) => "in",
            Self::NotIn(_) => "not_in",
            Self::Exists => "exists",
            Self::Version(_) => "version",
            Self::Regex(_) => "regex",
        }
    }
}

/// Spread allocations across the values of an attribute, optionally with
/// target percentages (as Nomad's `spread` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub attribute: Attribute,
    /// 1..=100, relative to other spreads.
    pub weight: u8,
    pub targets: Vec<SpreadTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpreadTarget {
    pub value: String,
    pub percent: u8,
}

/// Restarts in place, on the same node, before the allocation is failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub attempts: u32,
    pub delay_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            attempts: 2,
            delay_ms: 15_000,
        }
    }
}

/// Replacement of a failed allocation elsewhere, with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReschedulePolicy {
    /// Replacements allowed; 0 disables rescheduling.
    pub attempts: u32,
    pub delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for ReschedulePolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            delay_ms: 5_000,
            max_delay_ms: 300_000,
        }
    }
}

/// How a new version replaces the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePolicy {
    /// Allocations replaced at once during a rolling update.
    pub max_parallel: u32,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        Self { max_parallel: 1 }
    }
}

impl JobSpec {
    /// A minimal batch job; the base that tests and builders start from.
    pub fn batch(id: JobId, command: Vec<String>, resources: Resources) -> Self {
        Self {
            id,
            kind: JobKind::Batch,
            task: TaskSpec {
                driver: Driver::Exec,
                image: None,
                command,
                env: BTreeMap::new(),
                resources,
                sandbox: Sandbox::default(),
            },
            constraints: Vec::new(),
            spread: Vec::new(),
            max_per_node: None,
            pool: DEFAULT_POOL.into(),
            priority: DEFAULT_PRIORITY,
            restart: RestartPolicy::default(),
            reschedule: ReschedulePolicy::default(),
            update: UpdatePolicy::default(),
            version: 0,
            ext: crate::extensions::Extensions::default(),
        }
    }

    /// One line for humans: `web (service ×3, docker nginx:1, 500 millicpu, 256 MiB)`.
    pub fn summary(&self) -> String {
        let kind = match self.kind {
            JobKind::Service { replicas } => format!("service ×{replicas}"),
            other => other.name().to_string(),
        };
        let what = match (&self.task.image, self.task.command.first()) {
            (Some(image), _) => format!("{} {image}", self.task.driver),
            (None, Some(program)) => format!("{} {program}", self.task.driver),
            (None, None) => self.task.driver.to_string(),
        };
        format!("{} ({kind}, {what}, {})", self.id, self.task.resources)
    }
}
