//! Per-job reconciliation: stopped jobs, then by kind. Batch jobs are one
//! slot that a clean exit closes; services are `replicas` slots; system jobs
//! one slot per eligible node.

use super::{ReconcileConfig, Reconciliation, StopReason, deployment, slots, system};
use crate::alloc::DesiredStatus;
use crate::job::JobKind;
use crate::state::{ClusterState, Job, JobStatus};

pub(super) fn reconcile_job(
    state: &ClusterState,
    job: &Job,
    now_ms: u64,
    config: &ReconcileConfig,
    out: &mut Reconciliation,
) {
    if job.status == JobStatus::Stopped {
        for alloc in state.job_allocs(&job.spec.id) {
            if alloc.desired == DesiredStatus::Run && !alloc.status.is_terminal() {
                out.stop.push((alloc.id, StopReason::JobStopped));
            }
        }
        return;
    }
    match job.spec.kind {
        JobKind::Batch => slots::reconcile(state, job, 1, now_ms, config, out),
        JobKind::Service { replicas } => {
            slots::reconcile(state, job, replicas, now_ms, config, out);
            deployment::watch(state, job, replicas, now_ms, out);
        }
        JobKind::System => system::reconcile(state, job, now_ms, out),
    }
}
