//! What the API says about a job's versions: its history, field by field,
//! and a dry run of a submission (`job plan`).

use drover_core::diff::spec_changes;
use drover_core::dry_run::dry_run;
use drover_core::reconcile::ReconcileConfig;
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::ApplyError;
use drover_core::{ClusterState, JobId, JobSpec};
use serde_json::{Value, json};
use tonic::Status;

use crate::time::now_ms;

/// The job's versions, newest first, each with what changed from the
/// version before it (none for the oldest kept).
pub fn history_doc(state: &ClusterState, id: &JobId) -> Result<Value, Status> {
    let job = state
        .job(id)
        .ok_or_else(|| Status::not_found(format!("no job {id}")))?;
    let mut versions: Vec<(&JobSpec, u64, u64)> = state
        .job_history(id)
        .iter()
        .map(|past| (&past.spec, past.since_ms, past.since_index))
        .collect();
    versions.push((&job.spec, job.modified_ms, job.modify_index));
    let mut docs: Vec<Value> = Vec::with_capacity(versions.len());
    let mut before: Option<&JobSpec> = None;
    for (spec, since_ms, since_index) in versions {
        docs.push(json!({
            "version": spec.version,
            "since_ms": since_ms,
            "since_index": since_index,
            "current": spec.version == job.spec.version,
            "changes": before.map(|b| spec_changes(b, spec)),
        }));
        before = Some(spec);
    }
    docs.reverse();
    Ok(json!({ "job": id.as_str(), "status": job.status, "versions": docs }))
}

/// The spec of `version` of the job, or why there is none.
pub fn kept_version(state: &ClusterState, id: &JobId, version: u64) -> Result<JobSpec, Status> {
    if state.job(id).is_none() {
        return Err(Status::not_found(format!("no job {id}")));
    }
    state.job_version(id, version).cloned().ok_or_else(|| {
        let kept: Vec<String> = state
            .job_history(id)
            .iter()
            .map(|past| past.spec.version.to_string())
            .chain(state.job(id).map(|j| j.spec.version.to_string()))
            .collect();
        Status::not_found(format!(
            "job {id} has no version {version} kept (kept: {})",
            kept.join(", ")
        ))
    })
}

/// What submitting `spec` would do now.
pub fn plan_doc(state: &ClusterState, spec: JobSpec) -> Result<Value, Status> {
    let run = dry_run(
        state,
        spec,
        now_ms(),
        &ReconcileConfig::default(),
        SchedulerConfig::default(),
    )
    .map_err(|e| match e {
        ApplyError::InvalidSpec(errors) => Status::invalid_argument(errors.to_string()),
        other => Status::failed_precondition(other.to_string()),
    })?;
    let pairs = |pairs: &[(drover_core::AllocId, String)]| -> Vec<Value> {
        pairs
            .iter()
            .map(|(alloc, what)| json!([alloc.to_string(), what]))
            .collect()
    };
    let replace: Vec<_> = run
        .replace
        .iter()
        .map(|(alloc, node)| (*alloc, node.to_string()))
        .collect();
    Ok(json!({
        "job": run.job.as_str(),
        "check_index": run.check_index,
        "new_version": run.new_version,
        "changes": run.changes,
        "place": run.place,
        "replace": pairs(&replace),
        "stop": pairs(&run.stop),
        "to_update": run.to_update,
        "unplaced": run.unplaced,
    }))
}
