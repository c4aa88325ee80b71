//! One turn of the leader's control loop, minus the I/O: reconcile, ask the
//! scheduler for nodes, and hand back the commands to propose.

use std::collections::{BTreeMap, BTreeSet};

use super::{Leadership, ReconcileConfig, Reconciliation, Scope, reconcile_in};
use crate::ids::{AllocId, JobId};
use crate::scheduler::{Rejection, Scheduler, SchedulerConfig, seed_for};
use crate::state::{ClusterState, CommandKind, Placement, Plan, PlanStop};

/// Commands to propose, and why any job still waits for room.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    pub commands: Vec<CommandKind>,
    /// Per job with unplaced allocations: one line per rejection reason.
    pub pending: BTreeMap<JobId, Vec<String>>,
    /// Nodes passed over, by reason, over the whole turn.
    pub rejections: BTreeMap<Rejection, u32>,
    /// Allocations that found no node.
    pub unplaced: u32,
    /// Jobs the plan places or stops allocations of.
    pub acted_on: BTreeSet<JobId>,
    pub reconciliation: Reconciliation,
}

/// A turn over every job.
pub fn plan_cycle(
    state: &ClusterState,
    now_ms: u64,
    config: &ReconcileConfig,
    leadership: Leadership,
    scheduler_config: SchedulerConfig,
) -> Cycle {
    plan_cycle_in(
        state,
        &Scope::All,
        now_ms,
        config,
        leadership,
        scheduler_config,
    )
}

/// A turn over the nodes and the jobs in `scope`.
pub fn plan_cycle_in(
    state: &ClusterState,
    scope: &Scope,
    now_ms: u64,
    config: &ReconcileConfig,
    leadership: Leadership,
    scheduler_config: SchedulerConfig,
) -> Cycle {
    let rec = reconcile_in(state, scope, now_ms, config, leadership);
    let mut commands = decisions(&rec);
    let mut scheduler = Scheduler::new(state, scheduler_config);
    let mut plan = Plan {
        based_on_index: Some(state.index()),
        ..Plan::default()
    };
    for (alloc, why) in &rec.stop {
        if let Some(a) = state.alloc(*alloc) {
            scheduler.release(a);
        }
        plan.stops.push(PlanStop {
            alloc: *alloc,
            reason: why.as_str().to_string(),
        });
    }
    let mut pending = BTreeMap::new();
    let mut tally = Tally::default();
    let mut not_replaced: BTreeSet<AllocId> = BTreeSet::new();
    for (job_id, previous) in requests(&rec) {
        let Some(job) = state.job(job_id) else {
            continue;
        };
        let count = u32::try_from(previous.len()).unwrap_or(u32::MAX);
        let placed = scheduler.place(&job.spec, count, seed_for(job_id, state.index()));
        if job.spec.ext.ephemeral_disk.migrate {
            // An instance whose data migrates is stopped only with its
            // replacement placed: one that found no node keeps running,
            // and keeps its data.
            not_replaced.extend(previous.iter().skip(placed.nodes.len()).flatten());
        }
        for (node, previous) in placed.nodes.into_iter().zip(previous) {
            plan.placements.push(Placement {
                job: job_id.clone(),
                job_version: job.spec.version,
                node,
                previous,
            });
        }
        tally.add(&placed.metrics);
        if placed.metrics.unplaced > 0 {
            pending.insert(job_id.clone(), placed.metrics.explain(&job.spec));
        }
    }
    for (job_id, node_id, previous) in &rec.place_on {
        let (Some(job), Some(node)) = (state.job(job_id), state.node(node_id)) else {
            continue;
        };
        match scheduler.place_on(&job.spec, node) {
            Ok(()) => plan.placements.push(Placement {
                job: job_id.clone(),
                job_version: job.spec.version,
                node: node_id.clone(),
                previous: *previous,
            }),
            Err(why) => {
                let mut metrics = crate::scheduler::PlacementMetrics {
                    need: job.spec.task.resources,
                    best_free: scheduler.free(node),
                    ..Default::default()
                };
                metrics.rejected.insert(why, 1);
                metrics.unplaced = 1;
                tally.add(&metrics);
                let lines = pending.entry(job_id.clone()).or_insert_with(Vec::new);
                lines.extend(
                    metrics
                        .explain(&job.spec)
                        .into_iter()
                        .map(|line| format!("{node_id}: {line}")),
                );
            }
        }
    }
    plan.stops
        .retain(|stop| !not_replaced.contains(&stop.alloc));
    let acted_on = plan
        .placements
        .iter()
        .map(|p| p.job.clone())
        .chain(
            plan.stops
                .iter()
                .filter_map(|s| state.alloc(s.alloc).map(|a| a.job.clone())),
        )
        .collect();
    if !plan.stops.is_empty() || !plan.placements.is_empty() {
        commands.push(CommandKind::ApplyPlan(plan));
    }
    Cycle {
        commands,
        pending,
        rejections: tally.rejections,
        unplaced: tally.unplaced,
        acted_on,
        reconciliation: rec,
    }
}

/// What the reconciliation decided besides placements and stops: nodes
/// marked, deployments settled.
fn decisions(rec: &Reconciliation) -> Vec<CommandKind> {
    let disconnected = rec
        .mark_disconnected
        .iter()
        .map(
            |(node, last_heartbeat_ms)| CommandKind::MarkNodeDisconnected {
                node: node.clone(),
                last_heartbeat_ms: *last_heartbeat_ms,
            },
        );
    let down = rec
        .mark_down
        .iter()
        .map(|(node, last_heartbeat_ms)| CommandKind::MarkNodeDown {
            node: node.clone(),
            last_heartbeat_ms: *last_heartbeat_ms,
        });
    let settled = rec
        .settle
        .iter()
        .map(|s| CommandKind::SettleDeployment(s.clone()));
    disconnected.chain(down).chain(settled).collect()
}

/// Rejections and unplaced allocations summed over a turn.
#[derive(Default)]
struct Tally {
    rejections: BTreeMap<Rejection, u32>,
    unplaced: u32,
}

impl Tally {
    fn add(&mut self, metrics: &crate::scheduler::PlacementMetrics) {
        for (why, count) in &metrics.rejected {
            *self.rejections.entry(*why).or_default() += count;
        }
        self.unplaced += metrics.unplaced;
    }
}

/// Placement requests grouped by job, in job order: replacements first
/// (each naming what it replaces), then new allocations.
fn requests(rec: &Reconciliation) -> BTreeMap<&JobId, Vec<Option<AllocId>>> {
    let mut by_job: BTreeMap<&JobId, Vec<Option<AllocId>>> = BTreeMap::new();
    for r in &rec.replace {
        by_job.entry(&r.job).or_default().push(Some(r.previous));
    }
    for (job, count) in &rec.place {
        let slots = by_job.entry(job).or_default();
        slots.extend(std::iter::repeat_n(
            None,
            usize::try_from(*count).unwrap_or(0),
        ));
    }
    by_job
}
