//! Machines in the cluster as the control plane sees them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::NodeId;
use crate::job::Driver;
use crate::resources::Resources;

/// What a node does. `Hybrid` (control + worker) is the default for small
/// clusters and for `drover dev`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    #[default]
    Hybrid,
    /// Raft voter and API, runs no work.
    Control,
    /// Runs allocations only.
    Worker,
    /// API only; forwards to the leader.
    Edge,
}

impl NodeRole {
    pub fn runs_work(self) -> bool {
        matches!(self, Self::Hybrid | Self::Worker)
    }

    pub fn is_voter(self) -> bool {
        matches!(self, Self::Hybrid | Self::Control)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Control => "control",
            Self::Worker => "worker",
            Self::Edge => "edge",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Heartbeating; can receive work (unless draining).
    Ready,
    /// Missed heartbeats; its allocations are `unknown`, not yet `lost`.
    Disconnected,
    /// Declared gone by the leader; its allocations are `lost`.
    Down,
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready => "ready",
            Self::Disconnected => "disconnected",
            Self::Down => "down",
        })
    }
}

/// What a node says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRegistration {
    pub id: NodeId,
    /// Where other nodes reach this one (`host:port`), e.g. to fetch output.
    pub address: String,
    pub region: String,
    pub labels: BTreeMap<String, String>,
    pub role: NodeRole,
    pub capacity: Resources,
    pub pools: BTreeSet<String>,
    /// The task drivers this node can run; work is placed only where its
    /// driver is.
    pub drivers: BTreeSet<Driver>,
}

/// A node as recorded in the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub address: String,
    pub region: String,
    pub labels: BTreeMap<String, String>,
    pub role: NodeRole,
    pub capacity: Resources,
    pub pools: BTreeSet<String>,
    pub drivers: BTreeSet<Driver>,
    pub status: NodeStatus,
    /// Draining nodes get no new work; the reconciler moves work off them.
    pub draining: bool,
    /// Leader-stamped time of the last heartbeat, in Unix milliseconds.
    pub last_heartbeat_ms: u64,
    pub registered_ms: u64,
    /// When `status` last changed; the leader paces liveness decisions by it.
    pub status_changed_ms: u64,
    /// Log index of the last command that changed this node.
    pub modify_index: u64,
}

impl Node {
    pub fn from_registration(reg: NodeRegistration, now_ms: u64, index: u64) -> Self {
        Self {
            id: reg.id,
            address: reg.address,
            region: reg.region,
            labels: reg.labels,
            role: reg.role,
            capacity: reg.capacity,
            pools: reg.pools,
            drivers: reg.drivers,
            status: NodeStatus::Ready,
            draining: false,
            last_heartbeat_ms: now_ms,
            registered_ms: now_ms,
            status_changed_ms: now_ms,
            modify_index: index,
        }
    }

    /// Ready, not draining, and of a role that runs work.
    pub fn accepts_work(&self) -> bool {
        self.status == NodeStatus::Ready && !self.draining && self.role.runs_work()
    }
}
