//! The rollout part of `job status`: while instances of an older version
//! remain, how many of the new version run and have proven themselves
//! (`drover_core::reconcile::readiness`), what the rollout waits for, and
//! why it halted, if it did; and the deployment of the current version as
//! recorded (`drover_core::state::deployments`).

use drover_core::JobKind;
use drover_core::reconcile::{Readiness, readiness};
use drover_core::state::{DeploymentStatus, Job};
use drover_core::{ClusterState, DesiredStatus};
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
pub fn deployment_doc(state: &ClusterState, job: &Job) -> Value {
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
    })
}
