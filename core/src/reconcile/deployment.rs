//! When a service's deployment of its current version ends: it succeeds
//! once every slot runs a ready instance of the version and no older one
//! is left (its canaries promoted, if it has any); it fails when one of
//! its instances misses `healthy_deadline`, or when no instance became
//! ready for `progress_deadline`. Applying the settlement records it and,
//! under `auto_revert`, puts the last good version back
//! (`crate::state::deployments`).

use super::Reconciliation;
use super::readiness::{Readiness, readiness};
use crate::alloc::DesiredStatus;
use crate::state::{ClusterState, DeploymentStatus, Job, Outcome, Settlement};
use crate::units::format_duration_ms;

pub(super) fn watch(
    state: &ClusterState,
    job: &Job,
    want: u32,
    now_ms: u64,
    out: &mut Reconciliation,
) {
    let spec = &job.spec;
    let (id, version, gate) = (&spec.id, spec.version, spec.ext.update);
    let recorded = state.deployment(id, version);
    if recorded.is_some_and(|d| d.status != DeploymentStatus::Running) {
        return;
    }
    let live: Vec<_> = state
        .job_allocs(id)
        .filter(|a| a.desired == DesiredStatus::Run && !a.status.is_terminal())
        .collect();
    let old_left = live.iter().any(|a| a.job_version < version);
    let awaiting_promotion = state.awaiting_promotion(id, version);
    // The clock a progress deadline runs on starts with the version, again
    // at its promotion, and again whenever an instance becomes ready.
    let promoted_at = recorded.filter(|d| d.promoted).map_or(0, |d| d.at_ms);
    let mut progress_ms = job.modified_ms.max(promoted_at);
    let mut ready = 0u32;
    for alloc in live.iter().filter(|a| a.job_version == version) {
        match readiness(state, alloc, gate, now_ms) {
            Readiness::Ready { since_ms } => {
                ready += 1;
                progress_ms = progress_ms.max(since_ms);
            }
            Readiness::Waiting { due_ms, .. } => out.wake_job(id, due_ms),
            Readiness::Failed(why) => return settle(out, job, Outcome::Failed(why)),
        }
    }
    if ready >= want && !old_left && !awaiting_promotion {
        return settle(out, job, Outcome::Succeeded);
    }
    // Canaries all ready wait for an operator, not for a deadline.
    let waiting_for_operator = awaiting_promotion
        && ready >= gate.canary
        && live.iter().filter(|a| a.job_version == version).count() as u64 == u64::from(ready);
    let progress_deadline_ms = gate.progress_deadline_ms();
    if progress_deadline_ms == 0 || waiting_for_operator {
        return;
    }
    let deadline = progress_ms.saturating_add(progress_deadline_ms);
    if now_ms >= deadline {
        let why = format!(
            "no new instance became ready within progress_deadline {} ({ready} of {want} ready)",
            format_duration_ms(progress_deadline_ms)
        );
        settle(out, job, Outcome::Failed(why));
    } else {
        out.wake_job(id, deadline);
    }
}

fn settle(out: &mut Reconciliation, job: &Job, outcome: Outcome) {
    out.settle.push(Settlement {
        job: job.spec.id.clone(),
        version: job.spec.version,
        outcome,
    });
}
