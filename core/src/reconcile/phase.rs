//! A job at a glance — what `job list` and `job status` show — by the
//! same rules the reconciler acts on: a batch job is complete once an
//! allocation of its version exited cleanly, and failed once nothing runs
//! and every ended allocation is out of reschedule attempts.

use serde::{Deserialize, Serialize};

use crate::alloc::AllocStatus;
use crate::job::JobKind;
use crate::state::{ClusterState, Job, JobStatus};

use super::view::{Fate, JobView, fate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    /// Nothing of it runs yet (or again): waiting for placement, for a
    /// start, or for a reschedule's backoff.
    Pending,
    /// At least one allocation runs.
    Running,
    /// A batch job whose current version finished with exit 0.
    Complete,
    /// Nothing runs and nothing will: every ended allocation is out of
    /// reschedule attempts.
    Failed,
    /// Stopped by an operator.
    Stopped,
}

impl JobPhase {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Complete,
        Self::Failed,
        Self::Stopped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == text)
    }

    /// Not stopped, whether or not anything runs.
    pub fn is_active(self) -> bool {
        self != Self::Stopped
    }
}

pub fn job_phase(state: &ClusterState, job: &Job) -> JobPhase {
    if job.status == JobStatus::Stopped {
        return JobPhase::Stopped;
    }
    let spec = &job.spec;
    let view = JobView::new(state, &spec.id);
    let batch = matches!(spec.kind, JobKind::Batch);
    if batch && view.batch_done(spec.version) {
        return JobPhase::Complete;
    }
    if view.live().any(|a| a.status == AllocStatus::Running) {
        return JobPhase::Running;
    }
    let nothing_to_come =
        view.live().next().is_none() && view.unknown_unreplaced().next().is_none();
    let mut ended = view.ended_unreplaced(batch).peekable();
    let any_ended = ended.peek().is_some();
    let all_given_up =
        ended.all(|a| matches!(fate(a, &spec.reschedule, spec.version, 0), Fate::GiveUp));
    if nothing_to_come && any_ended && all_given_up {
        JobPhase::Failed
    } else {
        JobPhase::Pending
    }
}
