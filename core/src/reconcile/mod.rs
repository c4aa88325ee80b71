//! The reconciler: `reconcile(&state, now) -> Reconciliation` compares what
//! should be (job specs, node health) with what is (allocations, heartbeats)
//! and says what to change, sorted into named buckets as Nomad's
//! `ReconcileResults`. Runs on the leader only; pure.
//!
//! Vocabulary (used once, here):
//! - **place**: new allocations for a job, on nodes the scheduler picks.
//! - **replace**: a new allocation standing in for `previous` (lost, unknown,
//!   failed, migrated off a draining node, or an old version).
//! - **stop**: allocations to stop (job stopped, surplus, rolled over,
//!   drained, no longer eligible).
//! - **reschedule later**: failed allocations whose backoff has not expired.
//! - **mark disconnected / down**: liveness decisions, paced and suspended
//!   as `liveness` explains; **withheld** ones say why they were not made.
//! - **place on**: system-job instances bound to one node.
//! - **settle**: a service version's deployment succeeded or failed.

mod attention;
mod backoff;
mod config;
mod cycle;
mod deployment;
mod jobs;
mod liveness;
mod phase;
mod readiness;
mod slots;
mod system;
mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use attention::{Attention, Pass, Scope};
pub use backoff::delay_ms as reschedule_delay_ms;
pub use config::{KeepPolicy, Leadership, ReconcileConfig};
pub use cycle::{Cycle, plan_cycle, plan_cycle_in};
pub use phase::{JobPhase, job_phase};
pub use readiness::{Readiness, readiness};

use crate::ids::{AllocId, JobId, NodeId};
use crate::state::ClusterState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceReason {
    Lost,
    Unknown,
    Failed,
    /// The worker stopped it on its own (e.g. after `max_disconnect`).
    StoppedByWorker,
    Migrate,
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    JobStopped,
    Surplus,
    /// The other half of a reconnect pair was kept.
    Reconnected,
    Update,
    Drained,
    Ineligible,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobStopped => "job stopped",
            Self::Surplus => "more allocations than the job wants",
            Self::Reconnected => "node reconnected; the other allocation of the pair was kept",
            Self::Update => "replaced by a new job version",
            Self::Drained => "migrated off a draining node",
            Self::Ineligible => "node no longer eligible for this system job",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub job: JobId,
    pub previous: AllocId,
    pub reason: ReplaceReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// Within the grace period after a leader change.
    LeaderGrace,
    /// Too many of the region's (or cluster's) nodes are unhealthy at once.
    MassUnreachability,
    /// The region's decision budget is spent for now.
    RateLimited,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// (job, count) of new allocations.
    pub place: Vec<(JobId, u32)>,
    pub replace: Vec<Replacement>,
    pub stop: Vec<(AllocId, StopReason)>,
    /// (failed allocation, when its replacement is due).
    pub reschedule_later: Vec<(AllocId, u64)>,
    /// (node, the last heartbeat the decision saw).
    pub mark_disconnected: Vec<(NodeId, u64)>,
    pub mark_down: Vec<(NodeId, u64)>,
    pub withheld: Vec<(NodeId, Withheld)>,
    /// System-job instances for specific nodes, and what each replaces.
    pub place_on: Vec<(JobId, NodeId, Option<AllocId>)>,
    /// When to reconcile again even if nothing commits (backoffs, TTLs, pacing).
    pub wake_at_ms: Option<u64>,
    /// Jobs to look at again at a time even if nothing about them changes.
    pub job_wakes: BTreeMap<JobId, u64>,
    /// Jobs waiting for a node's next heartbeat, and the node.
    pub awaiting_heartbeat: Vec<(JobId, NodeId)>,
    pub settle: Vec<crate::state::Settlement>,
}

impl Reconciliation {
    fn wake_at(&mut self, at_ms: u64) {
        self.wake_at_ms = Some(self.wake_at_ms.map_or(at_ms, |w| w.min(at_ms)));
    }

    fn wake_job(&mut self, job: &JobId, at_ms: u64) {
        self.wake_at(at_ms);
        let at = self.job_wakes.entry(job.clone()).or_insert(at_ms);
        *at = (*at).min(at_ms);
    }

    pub fn is_empty(&self) -> bool {
        self.place.is_empty()
            && self.replace.is_empty()
            && self.stop.is_empty()
            && self.mark_disconnected.is_empty()
            && self.mark_down.is_empty()
            && self.place_on.is_empty()
            && self.settle.is_empty()
    }
}

/// Everything that should change, given the committed state at `now_ms`.
pub fn reconcile(
    state: &ClusterState,
    now_ms: u64,
    config: &ReconcileConfig,
    leadership: Leadership,
) -> Reconciliation {
    reconcile_in(state, &Scope::All, now_ms, config, leadership)
}

/// What should change for the nodes and the jobs in `scope`.
pub fn reconcile_in(
    state: &ClusterState,
    scope: &Scope,
    now_ms: u64,
    config: &ReconcileConfig,
    leadership: Leadership,
) -> Reconciliation {
    let mut out = Reconciliation::default();
    liveness::decide(state, now_ms, config, leadership, &mut out);
    match scope {
        Scope::All => {
            for job in state.jobs() {
                jobs::reconcile_job(state, job, now_ms, config, &mut out);
            }
        }
        Scope::Jobs(ids) => {
            for job in ids.iter().filter_map(|id| state.job(id)) {
                jobs::reconcile_job(state, job, now_ms, config, &mut out);
            }
        }
    }
    out
}
