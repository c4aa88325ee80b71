//! Job lifecycle: submit, update, stop. Versions start at 1 and grow by one
//! with every accepted change, so a plan can name the version it was made for.

use super::{ApplyError, ClusterState, Job, JobStatus, Response, Success};
use crate::ids::JobId;
use crate::job::JobSpec;
use crate::spec;

impl ClusterState {
    /// Creates a job, or revives a stopped one under a new version.
    pub(super) fn submit_job(&mut self, index: u64, now_ms: u64, mut spec: JobSpec) -> Response {
        spec::check(&spec).map_err(ApplyError::InvalidSpec)?;
        let previous = self.data.jobs.get(&spec.id);
        if previous.is_some_and(|job| job.status == JobStatus::Active) {
            return Err(ApplyError::JobExists(spec.id));
        }
        spec.version = previous.map_or(1, |job| job.spec.version + 1);
        let job = Job {
            submitted_ms: previous.map_or(now_ms, |job| job.submitted_ms),
            create_index: previous.map_or(index, |job| job.create_index),
            status: JobStatus::Active,
            modified_ms: now_ms,
            modify_index: index,
            spec,
        };
        Ok(self.store_job(job))
    }

    pub(super) fn update_job(
        &mut self,
        index: u64,
        now_ms: u64,
        mut spec: JobSpec,
        expected_version: Option<u64>,
    ) -> Response {
        spec::check(&spec).map_err(ApplyError::InvalidSpec)?;
        let current = self
            .data
            .jobs
            .get(&spec.id)
            .ok_or_else(|| ApplyError::UnknownJob(spec.id.clone()))?;
        let actual = current.spec.version;
        if let Some(expected) = expected_version.filter(|v| *v != actual) {
            return Err(ApplyError::VersionMismatch {
                job: spec.id,
                expected,
                actual,
            });
        }
        spec.version = actual;
        if spec == current.spec && current.status == JobStatus::Active {
            return Ok(Success::Unchanged);
        }
        spec.version = actual + 1;
        let job = Job {
            spec,
            status: JobStatus::Active,
            modified_ms: now_ms,
            modify_index: index,
            ..current.clone()
        };
        Ok(self.store_job(job))
    }

    /// Marks the job stopped; the reconciler stops its allocations.
    pub(super) fn stop_job(&mut self, index: u64, now_ms: u64, id: &JobId) -> Response {
        let job = self
            .data
            .jobs
            .get_mut(id)
            .ok_or_else(|| ApplyError::UnknownJob(id.clone()))?;
        if job.status == JobStatus::Stopped {
            return Ok(Success::Unchanged);
        }
        job.status = JobStatus::Stopped;
        job.modified_ms = now_ms;
        job.modify_index = index;
        self.changes.job(id);
        self.events.job_stopped(id);
        Ok(Success::JobStopped { job: id.clone() })
    }

    /// Stores a new version of a job, keeping the one it replaces in the
    /// job's history.
    fn store_job(&mut self, job: Job) -> Success {
        let accepted = Success::JobAccepted {
            job: job.spec.id.clone(),
            version: job.spec.version,
        };
        self.changes.job(&job.spec.id);
        let (id, version) = (job.spec.id.clone(), job.spec.version);
        let previous = self.data.jobs.insert(id.clone(), job);
        self.events.job_stored(&id, version, previous.is_none());
        if let Some(previous) = previous {
            self.remember_version(&previous);
        }
        accepted
    }
}
