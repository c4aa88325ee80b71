//! Deployments: how each service's latest version was rolled out —
//! running, succeeded or failed, and whether its canaries were promoted —
//! and the newest version whose deployment succeeded (the one
//! `auto_revert` goes back to). The reconciler decides when a deployment
//! ends (`crate::reconcile`); applying the decision records it and, for a
//! failure under `auto_revert`, makes the stable version's spec the next
//! version, as Nomad does.

use serde::{Deserialize, Serialize};

use super::{ApplyError, ClusterState, JobStatus, Response, Success};
use crate::ids::JobId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Running,
    Succeeded,
    Failed,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// One version's deployment, as far as it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub version: u64,
    pub status: DeploymentStatus,
    /// Its canaries were promoted: the rest of the rollout may go on.
    pub promoted: bool,
    /// Why it failed, and what was done about it.
    pub message: String,
    /// When it last changed.
    pub at_ms: u64,
}

/// A job's deployment record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDeployments {
    /// The latest version's deployment, once anything was recorded of it.
    pub latest: Option<Deployment>,
    /// The newest version whose deployment succeeded.
    pub stable: Option<u64>,
}

/// How the reconciler found a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed(String),
}

/// The leader's word that `job`'s deployment of `version` ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub job: JobId,
    pub version: u64,
    pub outcome: Outcome,
}

impl ClusterState {
    pub fn deployments(&self, job: &JobId) -> Option<&JobDeployments> {
        self.deploys.jobs.get(job)
    }

    /// The recorded deployment of `job`'s `version`, if it is the latest.
    pub fn deployment(&self, job: &JobId, version: u64) -> Option<&Deployment> {
        self.deployments(job)?
            .latest
            .as_ref()
            .filter(|d| d.version == version)
    }

    /// Whether `job`'s `version` is an update whose canaries wait for
    /// promotion: it asks for canaries, was not promoted, and instances of
    /// an older version still run (a first version has no canaries).
    pub fn awaiting_promotion(&self, job: &JobId, version: u64) -> bool {
        let Some(spec) = self.job(job).map(|j| &j.spec) else {
            return false;
        };
        spec.version == version
            && spec.ext.update.canary > 0
            && !self.deployment(job, version).is_some_and(|d| d.promoted)
            && self.job_allocs(job).any(|a| {
                a.job_version < version
                    && a.desired == crate::alloc::DesiredStatus::Run
                    && !a.status.is_terminal()
            })
    }

    pub(super) fn settle_deployment(
        &mut self,
        index: u64,
        now_ms: u64,
        settlement: Settlement,
    ) -> Response {
        let Settlement {
            job,
            version,
            outcome,
        } = settlement;
        let spec = self.current_version(&job, version)?.spec.clone();
        if self
            .deployment(&job, version)
            .is_some_and(|d| d.status != DeploymentStatus::Running)
        {
            return Ok(Success::Unchanged);
        }
        if outcome == Outcome::Succeeded && self.awaiting_promotion(&job, version) {
            return Err(ApplyError::Deployment(format!(
                "job {job} version {version} cannot succeed before its canaries are promoted"
            )));
        }
        let promoted = self.deployment(&job, version).is_some_and(|d| d.promoted);
        let stable = self.deployments(&job).and_then(|d| d.stable);
        let (status, message, reverted) = match outcome {
            Outcome::Succeeded => (DeploymentStatus::Succeeded, String::new(), None),
            Outcome::Failed(why) => {
                let (message, reverted) = self.auto_revert(index, now_ms, &spec, stable, why);
                (DeploymentStatus::Failed, message, reverted)
            }
        };
        let failed = (status == DeploymentStatus::Failed).then(|| message.clone());
        let record = self.deploys.jobs.entry(job.clone()).or_default();
        record.latest = Some(match reverted {
            // The version put back needs no canaries proving it again: it
            // starts promoted, and says why it exists.
            Some(new_version) => Deployment {
                version: new_version,
                status: DeploymentStatus::Running,
                promoted: true,
                message: format!("version {version} failed: {message}"),
                at_ms: now_ms,
            },
            None => Deployment {
                version,
                status,
                promoted,
                message,
                at_ms: now_ms,
            },
        });
        if status == DeploymentStatus::Succeeded {
            record.stable = Some(version);
        }
        self.changes.job(&job);
        self.events
            .deployment_ended(&job, version, failed.as_deref());
        match reverted {
            Some(new_version) => Ok(Success::JobAccepted {
                job,
                version: new_version,
            }),
            None => Ok(Success::DeploymentSettled { job, version }),
        }
    }

    /// Under `auto_revert`, makes the stable version's spec the job's next
    /// version; the failure's message says what was done, and the new
    /// version is returned when there is one. A revert that would change
    /// nothing (the failed version is the stable one's spec already) or
    /// is refused leaves the job as it is: the failure stands, and the
    /// rollout stays halted.
    fn auto_revert(
        &mut self,
        index: u64,
        now_ms: u64,
        spec: &crate::job::JobSpec,
        stable: Option<u64>,
        why: String,
    ) -> (String, Option<u64>) {
        if !spec.ext.update.auto_revert {
            return (why, None);
        }
        let Some(stable) = stable.filter(|s| *s != spec.version) else {
            return (
                format!("{why}; auto_revert: no earlier version succeeded"),
                None,
            );
        };
        let Some(back) = self.job_version(&spec.id, stable).cloned() else {
            return (
                format!("{why}; auto_revert: version {stable} succeeded but is no longer kept"),
                None,
            );
        };
        match self.update_job(index, now_ms, back, Some(spec.version)) {
            Ok(Success::JobAccepted { version, .. }) => (
                format!("{why}; auto_revert: version {stable} is back as version {version}"),
                Some(version),
            ),
            Ok(_) => (
                format!("{why}; auto_revert: this version is version {stable}'s spec already"),
                None,
            ),
            Err(e) => (
                format!("{why}; auto_revert to version {stable} refused: {e}"),
                None,
            ),
        }
    }

    /// `drover job promote`: the canaries of `job`'s `version` are good;
    /// the rollout goes on past them.
    pub(super) fn promote_deployment(&mut self, now_ms: u64, job: JobId, version: u64) -> Response {
        let canary = self.current_version(&job, version)?.spec.ext.update.canary;
        if canary == 0 {
            return Err(ApplyError::Deployment(format!(
                "job {job} has no canaries to promote ([update] canary is 0)"
            )));
        }
        if let Some(d) = self.deployment(&job, version) {
            if d.status != DeploymentStatus::Running {
                return Err(ApplyError::Deployment(format!(
                    "job {job} version {version}'s deployment already {}: {}",
                    d.status.as_str(),
                    d.message
                )));
            }
            if d.promoted {
                return Ok(Success::Unchanged);
            }
        }
        let record = self.deploys.jobs.entry(job.clone()).or_default();
        record.latest = Some(Deployment {
            version,
            status: DeploymentStatus::Running,
            promoted: true,
            message: String::new(),
            at_ms: now_ms,
        });
        self.changes.job(&job);
        Ok(Success::DeploymentPromoted { job, version })
    }

    /// `job`, active and at `version`.
    fn current_version(&self, job: &JobId, version: u64) -> Result<&super::Job, ApplyError> {
        let current = self
            .job(job)
            .ok_or_else(|| ApplyError::UnknownJob(job.clone()))?;
        if current.status != JobStatus::Active {
            return Err(ApplyError::Deployment(format!("job {job} is stopped")));
        }
        if current.spec.version != version {
            return Err(ApplyError::VersionMismatch {
                job: job.clone(),
                expected: version,
                actual: current.spec.version,
            });
        }
        Ok(current)
    }

    /// This state without deployment records, as formats before 8 held
    /// it: for tests of the upgrade from them.
    #[doc(hidden)]
    #[must_use]
    pub fn without_deployments(&self) -> Self {
        let mut bare = self.clone();
        bare.deploys = super::Deploys::default();
        bare
    }

    pub(super) fn forget_deployments(&mut self, job: &JobId) {
        self.deploys.jobs.remove(job);
    }
}
