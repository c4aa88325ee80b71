//! Garbage collection: what the replicated state may forget, and when.
//! Nomad's rules, by retention since the last change: a finished batch job
//! or a stopped job once nothing of it runs (4 h); a job's terminal
//! allocations nothing depends on any more, beyond its newest few (1 h);
//! a node down for a day with nothing unfinished on it (24 h).
//!
//! The leader finds candidates ([`find`]) and proposes them; applying the
//! command asks the same questions again of the committed state at the
//! command's own time, so a candidate that came back to life in between
//! stays. Only terminal allocations that no reconciler rule reads are ever
//! forgotten: one replaced by another that exists, or one asked to stop.
//! The newest allocation of every slot stays with its job, so forgetting
//! never makes a slot look empty and never runs work twice.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::alloc::{Allocation, DesiredStatus};
use crate::ids::{AllocId, JobId};
use crate::job::JobKind;
use crate::node::{Node, NodeStatus};
use crate::reconcile::{JobPhase, job_phase};
use crate::state::{ClusterState, Collection, Job};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcPolicy {
    /// A finished batch job or a stopped job is forgotten this long after
    /// its last change (Nomad's `job_gc_threshold`).
    pub job_retention_ms: u64,
    /// A job's superseded terminal allocations are forgotten this long
    /// after they ended (Nomad's `eval_gc_threshold`).
    pub alloc_retention_ms: u64,
    /// A node down this long, with nothing unfinished on it, is forgotten
    /// (Nomad's `node_gc_threshold`); it registers again if it returns.
    pub node_retention_ms: u64,
    /// Each job keeps this many of its collectable allocations, newest
    /// first, whatever their age: the recent failures an operator reads.
    pub keep_allocs: u32,
    /// A write's idempotency key is forgotten this long after the write:
    /// a retry later than this applies again.
    pub key_retention_ms: u64,
}

impl Default for GcPolicy {
    fn default() -> Self {
        Self {
            job_retention_ms: 4 * 3_600_000,
            alloc_retention_ms: 3_600_000,
            node_retention_ms: 24 * 3_600_000,
            keep_allocs: 3,
            key_retention_ms: 3_600_000,
        }
    }
}

/// Whether `job` is finished for good and has been for the retention:
/// stopped (any kind) or a batch job complete or failed, with every one of
/// its allocations terminal.
pub fn job_collectable(state: &ClusterState, job: &Job, now_ms: u64, policy: &GcPolicy) -> bool {
    if !finished(state, job) {
        return false;
    }
    let mut last_change_ms = job.modified_ms;
    for alloc in state.job_allocs(&job.spec.id) {
        if !alloc.status.is_terminal() {
            return false;
        }
        last_change_ms = last_change_ms.max(alloc.modified_ms);
    }
    aged(last_change_ms, policy.job_retention_ms, now_ms)
}

/// Stopped (any kind), or a batch job complete or failed.
fn finished(state: &ClusterState, job: &Job) -> bool {
    match job_phase(state, job) {
        JobPhase::Stopped => true,
        JobPhase::Complete | JobPhase::Failed => job.spec.kind == JobKind::Batch,
        JobPhase::Pending | JobPhase::Running => false,
    }
}

/// The allocations of a job that stays which may be forgotten: terminal,
/// ended at least the retention ago, and either asked to stop or replaced
/// by an allocation that exists — except the newest `keep_allocs` of them.
/// None of a finished job's: its retention counts from its allocations'
/// last change, which forgetting some of them would move back (the job
/// would then be forgotten sooner than its own rule says); the whole job
/// goes at once instead.
pub fn collectable_allocs(
    state: &ClusterState,
    job: &JobId,
    now_ms: u64,
    policy: &GcPolicy,
) -> Vec<AllocId> {
    if state.job(job).is_none_or(|j| finished(state, j)) {
        return Vec::new();
    }
    let allocs: Vec<&Allocation> = state.job_allocs(job).collect();
    let replaced: BTreeSet<AllocId> = allocs.iter().filter_map(|a| a.previous).collect();
    let superseded = |a: &Allocation| a.desired == DesiredStatus::Stop || replaced.contains(&a.id);
    let mut collectable: Vec<AllocId> = allocs
        .iter()
        .filter(|a| a.status.is_terminal() && superseded(a))
        .map(|a| a.id)
        .collect();
    // Ids grow with placement: the newest are last.
    let kept = (policy.keep_allocs as usize).min(collectable.len());
    collectable.truncate(collectable.len() - kept);
    collectable.retain(|id| {
        state
            .alloc(*id)
            .is_some_and(|a| aged(a.modified_ms, policy.alloc_retention_ms, now_ms))
    });
    collectable
}

/// Whether `node` has been down for the retention with nothing unfinished
/// on it.
pub fn node_collectable(state: &ClusterState, node: &Node, now_ms: u64, policy: &GcPolicy) -> bool {
    node.status == NodeStatus::Down
        && aged(node.status_changed_ms, policy.node_retention_ms, now_ms)
        && state.node_allocs(&node.id).all(|a| a.status.is_terminal())
}

/// Whether the idempotency key of a write made at `at_ms` has expired.
pub fn key_expired(at_ms: u64, now_ms: u64, policy: &GcPolicy) -> bool {
    aged(at_ms, policy.key_retention_ms, now_ms)
}

/// Up to `limit` things to forget at `now_ms`, or `None` when there is
/// nothing. Walks every job: the leader runs it seldom (minutes apart), so
/// its cost is the state's size once per interval, not per change.
pub fn find(
    state: &ClusterState,
    now_ms: u64,
    policy: &GcPolicy,
    limit: usize,
) -> Option<Collection> {
    let mut found = Collection {
        policy: *policy,
        ..Collection::default()
    };
    let room = |found: &Collection| found.len() < limit;
    for job in state.jobs() {
        if !room(&found) {
            break;
        }
        if job_collectable(state, job, now_ms, policy) {
            found.jobs.push(job.spec.id.clone());
            continue;
        }
        let allocs = collectable_allocs(state, &job.spec.id, now_ms, policy);
        let take = (limit - found.len()).min(allocs.len());
        found.allocs.extend_from_slice(&allocs[..take]);
    }
    for node in state.nodes() {
        if room(&found) && node_collectable(state, node, now_ms, policy) {
            found.nodes.push(node.id.clone());
        }
    }
    for (key, write) in state.keyed_writes() {
        if !room(&found) {
            break;
        }
        if key_expired(write.at_ms, now_ms, policy) {
            found.keys.push(key.clone());
        }
    }
    (!found.is_empty()).then_some(found)
}

fn aged(since_ms: u64, retention_ms: u64, now_ms: u64) -> bool {
    since_ms.saturating_add(retention_ms) <= now_ms
}
