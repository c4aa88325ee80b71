//! What happened in the cluster, as the replicated state machine applied
//! it: jobs submitted, updated and stopped; allocations placed and each
//! change of their status; nodes joining, changing status and draining;
//! leaders elected. Every replica applies the same log, so every replica
//! tells the same events, each under the log index that caused it — a
//! client that reconnects asks for what came after the last index it saw
//! and misses nothing, sees nothing twice (Nomad's event stream).
//!
//! Derived, never replicated: a replica keeps the most recent events up
//! to a bound, and a state restored from a snapshot knows none before it.
//! Asking for events it no longer holds is an error that says from where
//! it can answer, never a silent gap.

use imbl::Vector;
use serde::{Deserialize, Serialize};

use crate::alloc::{AllocStatus, Allocation, DesiredStatus};
use crate::ids::{JobId, NodeId};
use crate::node::{Node, NodeStatus};

/// How many events a replica keeps by default.
pub const DEFAULT_EVENTS_KEPT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Job,
    Alloc,
    Node,
    Leader,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Job, Topic::Alloc, Topic::Node, Topic::Leader];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Job => "job",
            Topic::Alloc => "alloc",
            Topic::Node => "node",
            Topic::Leader => "leader",
        }
    }

    /// Parses a topic's name, naming the valid ones when it is none.
    pub fn parse(name: &str) -> Result<Topic, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| {
                format!("unknown event topic {name:?}: expected job, alloc, node or leader")
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    JobSubmitted,
    JobUpdated,
    JobStopped,
    /// A version's rollout finished with every instance ready.
    DeploymentSucceeded,
    /// A version's rollout failed (its detail says why, and any revert).
    DeploymentFailed,
    AllocPlaced,
    /// The control plane asked the allocation's worker to stop it.
    AllocStopRequested,
    AllocRunning,
    AllocComplete,
    AllocFailed,
    /// Its node is disconnected: it may still be running.
    AllocUnknown,
    AllocLost,
    AllocStopped,
    NodeRegistered,
    NodeReady,
    NodeDisconnected,
    NodeDown,
    NodeDrainStarted,
    NodeDrainEnded,
    LeaderElected,
}

impl EventKind {
    pub fn topic(self) -> Topic {
        match self {
            Self::JobSubmitted
            | Self::JobUpdated
            | Self::JobStopped
            | Self::DeploymentSucceeded
            | Self::DeploymentFailed => Topic::Job,
            Self::AllocPlaced
            | Self::AllocStopRequested
            | Self::AllocRunning
            | Self::AllocComplete
            | Self::AllocFailed
            | Self::AllocUnknown
            | Self::AllocLost
            | Self::AllocStopped => Topic::Alloc,
            Self::NodeRegistered
            | Self::NodeReady
            | Self::NodeDisconnected
            | Self::NodeDown
            | Self::NodeDrainStarted
            | Self::NodeDrainEnded => Topic::Node,
            Self::LeaderElected => Topic::Leader,
        }
    }

    fn of_alloc_status(status: AllocStatus) -> Option<Self> {
        Some(match status {
            AllocStatus::Pending => return None,
            AllocStatus::Running => EventKind::AllocRunning,
            AllocStatus::Complete => EventKind::AllocComplete,
            AllocStatus::Failed => EventKind::AllocFailed,
            AllocStatus::Unknown => EventKind::AllocUnknown,
            AllocStatus::Lost => EventKind::AllocLost,
            AllocStatus::Stopped => EventKind::AllocStopped,
        })
    }

    fn of_node_status(status: NodeStatus) -> Self {
        match status {
            NodeStatus::Ready => EventKind::NodeReady,
            NodeStatus::Disconnected => EventKind::NodeDisconnected,
            NodeStatus::Down => EventKind::NodeDown,
        }
    }
}

/// One thing that happened, at the log index that made it happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub index: u64,
    pub topic: Topic,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// What the event is about: a job, allocation or node id, or the
    /// term a leader was elected in.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    /// Words for a person: a version, an exit, a term.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The proposing leader's clock (milliseconds since the epoch); zero
    /// for a leader's election, which carries none.
    pub at_ms: u64,
}

/// Asked for events from before what this replica keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsGone {
    /// Events after this index are all kept; ask from here.
    pub kept_after: u64,
}

impl std::fmt::Display for EventsGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "events up to index {} are no longer kept on this node; ask from index {} (or later)",
            self.kept_after, self.kept_after
        )
    }
}

/// The recent events of one replica, oldest first.
#[derive(Debug, Clone)]
pub struct EventLog {
    /// Events at or below this index may be missing (restored from a
    /// snapshot there, or dropped to keep within `kept`).
    floor: u64,
    events: Vector<Event>,
    kept: usize,
    /// The entry being applied: its index and its proposer's clock.
    applying: (u64, u64),
}

impl Default for EventLog {
    fn default() -> Self {
        Self::restored_at(0)
    }
}

impl EventLog {
    pub fn restored_at(index: u64) -> Self {
        Self {
            floor: index,
            events: Vector::new(),
            kept: DEFAULT_EVENTS_KEPT,
            applying: (index, 0),
        }
    }

    /// Keeps at most `kept` events (at least one index's worth).
    pub fn keep(&mut self, kept: usize) {
        self.kept = kept.max(1);
        self.trim();
    }

    pub(crate) fn applying(&mut self, index: u64, now_ms: u64) {
        self.applying = (index, now_ms);
    }

    fn push(
        &mut self,
        kind: EventKind,
        key: String,
        job: Option<JobId>,
        node: Option<NodeId>,
        detail: String,
    ) {
        let (index, at_ms) = self.applying;
        debug_assert!(
            self.events.back().is_none_or(|e| e.index <= index),
            "events are recorded in log order"
        );
        self.events.push_back(Event {
            index,
            topic: kind.topic(),
            kind,
            key,
            job,
            node,
            detail,
            at_ms,
        });
        self.trim();
    }

    /// Drops the oldest index's events, all of them at once, so that a
    /// client never resumes inside an index.
    fn trim(&mut self) {
        while self.events.len() > self.kept {
            let Some(oldest) = self.events.front().map(|e| e.index) else {
                return;
            };
            if self.events.back().is_some_and(|e| e.index == oldest) {
                // One index holds them all: keep it whole rather than none.
                return;
            }
            while self.events.front().is_some_and(|e| e.index == oldest) {
                self.events.pop_front();
            }
            self.floor = self.floor.max(oldest);
        }
    }

    /// Events after index `after` on `topics` (all when empty), whole
    /// indexes at a time, stopping once `limit` is reached. `after` 0
    /// asks for every event held, however far back that reaches.
    pub fn since(
        &self,
        after: u64,
        topics: &[Topic],
        limit: usize,
    ) -> Result<Vec<Event>, EventsGone> {
        if after < self.floor && after != 0 {
            return Err(EventsGone {
                kept_after: self.floor,
            });
        }
        // Never `Equal`: the search ends where events after `after` begin.
        let start = self
            .events
            .binary_search_by(|e| {
                if e.index <= after {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
            .unwrap_or_else(|at| at);
        let mut out = Vec::new();
        let mut last_index = None;
        for event in self.events.skip(start) {
            if out.len() >= limit && last_index != Some(event.index) {
                break;
            }
            last_index = Some(event.index);
            if topics.is_empty() || topics.contains(&event.topic) {
                out.push(event.clone());
            }
        }
        Ok(out)
    }

    pub(crate) fn job_stored(&mut self, job: &JobId, version: u64, new: bool) {
        let kind = if new {
            EventKind::JobSubmitted
        } else {
            EventKind::JobUpdated
        };
        self.push(
            kind,
            job.to_string(),
            Some(job.clone()),
            None,
            format!("version {version}"),
        );
    }

    pub(crate) fn job_stopped(&mut self, job: &JobId) {
        self.push(
            EventKind::JobStopped,
            job.to_string(),
            Some(job.clone()),
            None,
            String::new(),
        );
    }

    pub(crate) fn deployment_ended(&mut self, job: &JobId, version: u64, failed: Option<&str>) {
        let (kind, detail) = match failed {
            None => (EventKind::DeploymentSucceeded, format!("version {version}")),
            Some(why) => (
                EventKind::DeploymentFailed,
                format!("version {version}: {why}"),
            ),
        };
        self.push(kind, job.to_string(), Some(job.clone()), None, detail);
    }

    pub(crate) fn alloc_placed(&mut self, alloc: &Allocation) {
        let detail = match alloc.previous {
            Some(previous) => format!("version {}, replacing {previous}", alloc.job_version),
            None => format!("version {}", alloc.job_version),
        };
        self.alloc_event(EventKind::AllocPlaced, alloc, detail);
    }

    /// `after` was `(desired, status)` before the change.
    pub(crate) fn alloc_changed(
        &mut self,
        (desired, status): (DesiredStatus, AllocStatus),
        after: &Allocation,
    ) {
        if desired == DesiredStatus::Run && after.desired == DesiredStatus::Stop {
            self.alloc_event(EventKind::AllocStopRequested, after, after.message.clone());
        }
        if status != after.status
            && let Some(kind) = EventKind::of_alloc_status(after.status)
        {
            let detail = match after.exit_code {
                Some(code) if after.message.is_empty() => format!("exit code {code}"),
                _ => after.message.clone(),
            };
            self.alloc_event(kind, after, detail);
        }
    }

    fn alloc_event(&mut self, kind: EventKind, alloc: &Allocation, detail: String) {
        self.push(
            kind,
            alloc.id.to_string(),
            Some(alloc.job.clone()),
            Some(alloc.node.clone()),
            detail,
        );
    }

    pub(crate) fn node_registered(&mut self, node: &Node) {
        self.push(
            EventKind::NodeRegistered,
            node.id.to_string(),
            None,
            Some(node.id.clone()),
            format!("region {}", node.region),
        );
    }

    pub(crate) fn node_changed(&mut self, before: &Node, after: &Node) {
        if before.status != after.status {
            self.node_event(EventKind::of_node_status(after.status), after);
        }
        if before.draining != after.draining {
            let kind = if after.draining {
                EventKind::NodeDrainStarted
            } else {
                EventKind::NodeDrainEnded
            };
            self.node_event(kind, after);
        }
    }

    fn node_event(&mut self, kind: EventKind, node: &Node) {
        self.push(
            kind,
            node.id.to_string(),
            None,
            Some(node.id.clone()),
            String::new(),
        );
    }

    /// A leader's first entry of `term` was applied at `index`. The entry
    /// names the term, not the node (its log id carries the term only);
    /// the cluster status names the current leader.
    pub fn leader_elected(&mut self, index: u64, term: u64) {
        self.applying(index, 0);
        self.push(
            EventKind::LeaderElected,
            term.to_string(),
            None,
            None,
            format!("term {term}"),
        );
    }
}
