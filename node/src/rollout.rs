//! The rollout part of `job status`: while instances of an older version
//! remain, how many of the new version run and have proven themselves
//! (`drover_core::reconcile::readiness`), what the rollout waits for, and
//! why it halted, if it did.

use drover_core::reconcile::{Readiness, readiness};
use drover_core::state::Job;
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
            Readiness::Ready => ready += 1,
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
