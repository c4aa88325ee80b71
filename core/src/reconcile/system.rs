//! System jobs: one allocation on every eligible node of the job's pool,
//! including nodes that join later; none anywhere else.

use std::collections::BTreeMap;

use super::view::{Fate, JobView, fate};
use super::{Reconciliation, StopReason};
use crate::alloc::{AllocStatus, Allocation, DesiredStatus};
use crate::ids::NodeId;
use crate::node::{Node, NodeStatus};
use crate::scheduler::Checker;
use crate::state::{ClusterState, Job};

pub(super) fn reconcile(state: &ClusterState, job: &Job, now_ms: u64, out: &mut Reconciliation) {
    let spec = &job.spec;
    let checker = Checker::new(spec);
    let view = JobView::new(state, &spec.id);
    let mut active: BTreeMap<&NodeId, Vec<&Allocation>> = BTreeMap::new();
    for alloc in &view.allocs {
        if alloc.desired == DesiredStatus::Run && !alloc.status.is_terminal() {
            active.entry(&alloc.node).or_default().push(alloc);
        }
    }
    let starting = view
        .live()
        .filter(|a| a.job_version == spec.version && a.status == AllocStatus::Pending)
        .count();
    let mut update_budget = usize::try_from(spec.update.max_parallel)
        .unwrap_or(usize::MAX)
        .saturating_sub(starting);
    for slot in state.pool_members(&spec.pool) {
        let node = state.node_at(*slot);
        let id = &node.id;
        let here = active.remove(id).unwrap_or_default();
        if checker.static_check(node).is_err() {
            stop_on_ineligible(node, &here, out);
            continue;
        }
        let Some((keep, extra)) = pick(&here, spec.version) else {
            fill(&view, node, job, now_ms, out);
            continue;
        };
        for alloc in extra {
            out.stop.push((alloc.id, StopReason::Surplus));
        }
        if keep.job_version < spec.version && update_budget > 0 {
            update_budget -= 1;
            out.stop.push((keep.id, StopReason::Update));
            out.place_on
                .push((spec.id.clone(), id.clone(), Some(keep.id)));
        }
    }
    // Nodes that left the pool.
    for (id, here) in active {
        if let Some(node) = state.node(id) {
            stop_on_ineligible(node, &here, out);
        }
    }
}

/// A reachable node that is no longer eligible loses its instance; a
/// disconnected one keeps it until it is back or down.
fn stop_on_ineligible(node: &Node, here: &[&Allocation], out: &mut Reconciliation) {
    if node.status != NodeStatus::Ready {
        return;
    }
    let why = if node.draining {
        StopReason::Drained
    } else {
        StopReason::Ineligible
    };
    for alloc in here {
        out.stop.push((alloc.id, why));
    }
}

/// The allocation to keep on a node (current version and running first) and the rest.
fn pick<'a>(
    here: &[&'a Allocation],
    version: u64,
) -> Option<(&'a Allocation, Vec<&'a Allocation>)> {
    let mut sorted = here.to_vec();
    sorted.sort_by_key(|a| {
        (
            std::cmp::Reverse(a.job_version == version),
            std::cmp::Reverse(a.status == AllocStatus::Running),
            a.id,
        )
    });
    let keep = *sorted.first()?;
    Some((keep, sorted[1..].to_vec()))
}

/// An eligible node without an instance: place one, or wait out the
/// backoff of the one that failed there.
fn fill(view: &JobView, node: &Node, job: &Job, now_ms: u64, out: &mut Reconciliation) {
    let ended = view
        .ended_unreplaced(false)
        .filter(|a| a.node == node.id)
        .max_by_key(|a| a.id);
    let previous = match ended {
        None => None,
        Some(alloc) => match fate(alloc, &job.spec.reschedule, job.spec.version, now_ms) {
            Fate::ReplaceNow => Some(alloc.id),
            Fate::ReplaceAt(due) => {
                out.reschedule_later.push((alloc.id, due));
                out.wake_job(&job.spec.id, due);
                return;
            }
            Fate::GiveUp => return,
        },
    };
    out.place_on
        .push((job.spec.id.clone(), node.id.clone(), previous));
}
