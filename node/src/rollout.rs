//! The rollout part of `job status`: while instances of an older version
//! remain, how many of the new version run and have proven themselves
//! (`drover_core::reconcile::readiness`), what the rollout waits for, and
//! why it halted, if it did; and the deployment of the current version as
//! recorded (`drover_core::state::deployments`), with its instances
//! counted per version.

use drover_core::JobKind;
use drover_core::health::HealthStatus;
use drover_core::reconcile::{Readiness, readiness};
use drover_core::state::{DeploymentStatus, Job};
use drover_core::{AllocStatus, ClusterState, DesiredStatus};
use serde_json::{Value, json};

/// `null` when every live instance runs the current version.
pub fn doc(state: &ClusterState, job: &Job, now_ms: u64) -> Value {
    let version = job.spec.version;
    let live: Vec<_> = state
        .job_allocs(&job.spec.id)
        .filter(|a| a.desired == DesiredStatus::Run && !a.status.is_terminal())
        .collect();
    let old = live.iter().filter(|a| a.job_version < version).count();
    if old == 0 {
        return Value::Null;
    }
    let (mut ready, mut waiting, mut halted) = (0, Vec::new(), Vec::new());
    for alloc in live.iter().filter(|a| a.job_version == version) {
        match readiness(state, alloc, job.spec.ext.update, now_ms) {
            Readiness::Ready { .. } => ready += 1,
            Readiness::Waiting { why, .. } => waiting.push(why),
            Readiness::Failed(why) => halted.push(why),
        }
    }
    json!({
        "version": version,
        "old": old,
        "new": live.len() - old,
        "ready": ready,
        "waiting_for": waiting,
        "halted": (!halted.is_empty()).then(|| halted.join("; ")),
    })
}

/// A service's deployment of its current version: `null` for other jobs.
pub fn deployment_doc(state: &ClusterState, job: &Job, now_ms: u64) -> Value {
    if !matches!(job.spec.kind, JobKind::Service { .. }) {
        return Value::Null;
    }
    let (id, version) = (&job.spec.id, job.spec.version);
    let recorded = state.deployment(id, version);
    // The deployment of an earlier version, until the current one records
    // anything: what an auto_revert reverted from, and why.
    let previous = state
        .deployments(id)
        .and_then(|d| d.latest.as_ref())
        .filter(|d| d.version != version)
        .map(|d| {
            json!({
                "version": d.version,
                "status": d.status.as_str(),
                "message": d.message,
            })
        });
    json!({
        "version": version,
        "status": recorded.map_or(DeploymentStatus::Running, |d| d.status).as_str(),
        "canary": job.spec.ext.update.canary,
        "promoted": recorded.is_some_and(|d| d.promoted),
        "awaiting_promotion": state.awaiting_promotion(id, version),
        "auto_revert": job.spec.ext.update.auto_revert,
        "message": recorded.map_or("", |d| d.message.as_str()),
        "stable_version": state.deployments(id).and_then(|d| d.stable),
        "previous": previous,
        "versions": instances_by_version(state, job, now_ms),
    })
}

/// For each version with live instances, newest first: how many are
/// placed, running, healthy and unhealthy (by their checks), and ready
/// (what the deployment counts: running, healthy where checked, for
/// `min_healthy_time`).
fn instances_by_version(state: &ClusterState, job: &Job, now_ms: u64) -> Vec<Value> {
    let mut counts: std::collections::BTreeMap<u64, [u32; 5]> = std::collections::BTreeMap::new();
    let live = state
        .job_allocs(&job.spec.id)
        .filter(|a| a.desired == DesiredStatus::Run && !a.status.is_terminal());
    for alloc in live {
        let [placed, running, healthy, unhealthy, ready] =
            counts.entry(alloc.job_version).or_default();
        *placed += 1;
        *running += u32::from(alloc.status == AllocStatus::Running);
        match alloc.ext.health.as_ref().map(|h| h.status) {
            Some(HealthStatus::Healthy) => *healthy += 1,
            Some(HealthStatus::Unhealthy) => *unhealthy += 1,
            _ => {}
        }
        let proven = readiness(state, alloc, job.spec.ext.update, now_ms);
        *ready += u32::from(matches!(proven, Readiness::Ready { .. }));
    }
    counts
        .into_iter()
        .rev()
        .map(|(version, [placed, running, healthy, unhealthy, ready])| {
            json!({
                "version": version,
                "placed": placed,
                "running": running,
                "healthy": healthy,
                "unhealthy": unhealthy,
                "ready": ready,
            })
        })
        .collect()
}
