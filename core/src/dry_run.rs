//! `job plan`: what submitting a spec would do, worked out on a copy of
//! the committed state — the change applied as the log would apply it,
//! then one leader pass over the job — without committing anything.

use serde::Serialize;

use crate::diff::{FieldChange, spec_changes};
use crate::ids::{AllocId, JobId, NodeId};
use crate::job::JobSpec;
use crate::reconcile::{Leadership, ReconcileConfig, Scope, plan_cycle_in};
use crate::scheduler::SchedulerConfig;
use crate::state::{ApplyError, ClusterState, Command, CommandKind, Success};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRun {
    pub job: JobId,
    /// The job's version now (0: no such job): what `--check-index` must
    /// name for the write to go through only if nothing changed since.
    pub check_index: u64,
    /// The version the submission would make; `None` when the spec is
    /// the current one (nothing would change).
    pub new_version: Option<u64>,
    /// Field by field, against the current version.
    pub changes: Vec<FieldChange>,
    /// New allocations the leader's next pass would place.
    pub place: Vec<NodeId>,
    /// Allocations that pass would replace, and where the replacement goes.
    pub replace: Vec<(AllocId, NodeId)>,
    /// Allocations that pass would stop, and why.
    pub stop: Vec<(AllocId, String)>,
    /// Running allocations of older versions, replaced `max_parallel` at
    /// a time over the rollout (the next pass starts the first of them).
    pub to_update: usize,
    /// Why anything would not be placed, one line per reason.
    pub unplaced: Vec<String>,
}

/// What submitting `spec` to `state` at `now_ms` would do. An error is
/// what the write itself would be refused with.
pub fn dry_run(
    state: &ClusterState,
    spec: JobSpec,
    now_ms: u64,
    config: &ReconcileConfig,
    scheduler: SchedulerConfig,
) -> Result<DryRun, ApplyError> {
    let id = spec.id.clone();
    let current = state.job(&id).map(|job| job.spec.clone());
    let command = if current.is_some() {
        CommandKind::UpdateJob {
            spec,
            expected_version: None,
        }
    } else {
        CommandKind::SubmitJob(spec)
    };
    let mut trial = state.clone();
    let outcome = trial.apply(state.index() + 1, Command::new(now_ms, command))?;
    let new_version = match outcome {
        Success::JobAccepted { version, .. } => Some(version),
        _ => None,
    };
    let after = &trial.job(&id).expect("the job was just written").spec;
    let changes = current
        .as_ref()
        .map_or_else(Vec::new, |before| spec_changes(before, after));
    let cycle = plan_cycle_in(
        &trial,
        &Scope::Jobs(std::iter::once(id.clone()).collect()),
        now_ms,
        config,
        Leadership::default(),
        scheduler,
    );
    let mut run = DryRun {
        job: id.clone(),
        check_index: current.map_or(0, |spec| spec.version),
        new_version,
        changes,
        place: Vec::new(),
        replace: Vec::new(),
        stop: Vec::new(),
        to_update: trial
            .job_allocs(&id)
            .filter(|a| !a.status.is_terminal() && a.job_version < after.version)
            .count(),
        unplaced: cycle.pending.get(&id).cloned().unwrap_or_default(),
    };
    for command in &cycle.commands {
        let CommandKind::ApplyPlan(plan) = command else {
            continue;
        };
        for placement in plan.placements.iter().filter(|p| p.job == id) {
            match placement.previous {
                Some(previous) => run.replace.push((previous, placement.node.clone())),
                None => run.place.push(placement.node.clone()),
            }
        }
        for stop in &plan.stops {
            if trial.alloc(stop.alloc).is_some_and(|a| a.job == id) {
                run.stop.push((stop.alloc, stop.reason.clone()));
            }
        }
    }
    Ok(run)
}
