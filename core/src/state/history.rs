//! Job history: the versions a job had before its current one, newest
//! last, at most [`HISTORY_DEPTH`] of them, as Nomad's `job history`
//! keeps them. Recorded when a change makes a new version; gone with the
//! job when garbage collection forgets it.

use serde::{Deserialize, Serialize};

use super::{ClusterState, Job};
use crate::ids::JobId;
use crate::job::JobSpec;

/// Earlier versions kept per job, besides the current one.
pub const HISTORY_DEPTH: usize = 10;

/// A version a job had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastVersion {
    pub spec: JobSpec,
    /// When it became the job's version, and at which log index.
    pub since_ms: u64,
    pub since_index: u64,
}

impl PastVersion {
    pub fn of(job: &Job) -> Self {
        Self {
            spec: job.spec.clone(),
            since_ms: job.modified_ms,
            since_index: job.modify_index,
        }
    }
}

impl ClusterState {
    /// Keeps `previous` (a job's version about to be replaced) in its
    /// history, dropping the oldest beyond [`HISTORY_DEPTH`].
    pub(super) fn remember_version(&mut self, previous: &Job) {
        let history = self
            .records
            .history
            .entry(previous.spec.id.clone())
            .or_default();
        history.push(PastVersion::of(previous));
        if history.len() > HISTORY_DEPTH {
            history.remove(0);
        }
    }

    pub(super) fn forget_history(&mut self, job: &JobId) {
        self.records.history.remove(job);
    }

    /// The versions `job` had before its current one, oldest first.
    pub fn job_history(&self, job: &JobId) -> &[PastVersion] {
        self.records.history.get(job).map_or(&[], Vec::as_slice)
    }

    /// The spec `job` had at `version`: the current one or one kept in
    /// its history.
    pub fn job_version(&self, job: &JobId, version: u64) -> Option<&JobSpec> {
        let current = self.job(job).map(|j| &j.spec);
        current.filter(|spec| spec.version == version).or_else(|| {
            self.job_history(job)
                .iter()
                .map(|past| &past.spec)
                .find(|spec| spec.version == version)
        })
    }
}
