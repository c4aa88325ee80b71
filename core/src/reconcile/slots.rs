//! Batch and service jobs: keep `want` slots filled, each by one live
//! allocation; replace what was lost, failed or left behind; resolve
//! reconnect, migration and update pairs; roll new versions out
//! `max_parallel` at a time, creating before destroying (destroying first
//! where data migrates: its copy must hold all the old task wrote); move
//! work off draining nodes.

use std::collections::BTreeSet;

use super::readiness::{Readiness, readiness};
use super::view::{Fate, JobView, fate};
use super::{KeepPolicy, ReconcileConfig, Reconciliation, ReplaceReason, Replacement, StopReason};
use crate::alloc::{AllocStatus, Allocation, DesiredStatus};
use crate::ids::AllocId;
use crate::job::JobKind;
use crate::planted::{self, Bug};
use crate::state::{ClusterState, DeploymentStatus, Job};

pub(super) fn reconcile(
    state: &ClusterState,
    job: &Job,
    want: u32,
    now_ms: u64,
    config: &ReconcileConfig,
    out: &mut Reconciliation,
) {
    let spec = &job.spec;
    let batch = spec.kind == JobKind::Batch;
    let view = JobView::new(state, &spec.id);
    if batch && view.batch_done(spec.version) {
        for alloc in view.live() {
            out.stop.push((alloc.id, StopReason::Surplus));
        }
        return;
    }
    let pairs = view.live_pairs();
    let paired: BTreeSet<AllocId> = pairs.iter().flat_map(|(x, y)| [x.id, y.id]).collect();
    for (original, replacement) in &pairs {
        let pair = Pair {
            original,
            replacement,
        };
        resolve_pair(state, &pair, config, spec, now_ms, out);
    }
    let mut singles: Vec<&Allocation> = view.live().filter(|a| !paired.contains(&a.id)).collect();
    let mut incoming: Vec<Replacement> = view
        .unknown_unreplaced()
        .map(|a| replacement(job, a, ReplaceReason::Unknown))
        .collect();
    let mut deferred = Vec::new();
    // Slots whose allocation failed for good stay filled by it: no fresh
    // allocation takes their place (the job is degraded, or failed).
    let mut given_up = 0usize;
    for alloc in view.ended_unreplaced(batch) {
        match fate(alloc, &spec.reschedule, spec.version, now_ms) {
            Fate::ReplaceNow => incoming.push(replacement(job, alloc, reason_for(alloc))),
            Fate::ReplaceAt(due) => deferred.push((alloc.id, due)),
            Fate::GiveUp => given_up += 1,
        }
    }
    let filled = singles.len() + pairs.len() + incoming.len() + deferred.len() + given_up;
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    if filled < want {
        let missing = u32::try_from(want - filled).unwrap_or(u32::MAX);
        out.place.push((spec.id.clone(), missing));
    }
    let mut excess = filled.saturating_sub(want).saturating_sub(given_up);
    while excess > 0 && (deferred.pop().is_some() || incoming.pop().is_some()) {
        excess -= 1;
    }
    stop_surplus(&mut singles, excess, spec.version, out);
    for (alloc, due) in deferred {
        out.reschedule_later.push((alloc, due));
        out.wake_job(&spec.id, due);
    }
    out.replace.extend(incoming);
    // One budget for rollouts and drains together: at most `max_parallel`
    // extra instances run, whatever moves them.
    let migrating = migrations_in_flight(state, &view, &pairs);
    let updated = roll_out(state, &view, &singles, &pairs, migrating, job, now_ms, out);
    if !batch {
        let in_flight = migrating + rollout_in_flight(&view, &pairs, spec.version) + updated.len();
        migrate(state, &singles, &updated, job, in_flight, out);
    }
}

fn replacement(job: &Job, previous: &Allocation, reason: ReplaceReason) -> Replacement {
    Replacement {
        job: job.spec.id.clone(),
        previous: previous.id,
        reason,
    }
}

fn reason_for(alloc: &Allocation) -> ReplaceReason {
    match alloc.status {
        AllocStatus::Lost => ReplaceReason::Lost,
        AllocStatus::Stopped => ReplaceReason::StoppedByWorker,
        _ => ReplaceReason::Failed,
    }
}

struct Pair<'a> {
    original: &'a Allocation,
    replacement: &'a Allocation,
}

/// Keeps one allocation of a live pair. The other is stopped only once the
/// kept one runs, so the slot is never empty in between (nomad #10953).
fn resolve_pair(
    state: &ClusterState,
    pair: &Pair,
    config: &ReconcileConfig,
    spec: &crate::job::JobSpec,
    now_ms: u64,
    out: &mut Reconciliation,
) {
    let version = spec.version;
    let (original, replacement) = (pair.original, pair.replacement);
    let draining = state.node(&original.node).is_some_and(|n| n.draining);
    let (kept, dropped, why) = if draining {
        (replacement, original, StopReason::Drained)
    } else if original.job_version < replacement.job_version {
        (replacement, original, StopReason::Update)
    } else {
        let keep_original = match config.keep {
            KeepPolicy::KeepOriginal => true,
            KeepPolicy::KeepReplacement => false,
            KeepPolicy::BestScore => {
                score(original, version, true) >= score(replacement, version, false)
            }
        };
        if keep_original {
            (original, replacement, StopReason::Reconnected)
        } else {
            (replacement, original, StopReason::Reconnected)
        }
    };
    if kept.status != AllocStatus::Running {
        return;
    }
    // An update keeps the old instance until the new one has proven
    // itself (`[update]`'s health gate). A replacement a newer version
    // has superseded is the one to go if it has not proven itself, or if
    // the original runs the stable version (an auto_revert put it back):
    // the original runs on, and the rollout replaces it with the newest.
    if why == StopReason::Update {
        let proven = readiness(state, kept, spec.ext.update, now_ms);
        let ready = matches!(proven, Readiness::Ready { .. });
        let original_is_stable = state
            .deployments(&spec.id)
            .and_then(|d| d.stable)
            .is_some_and(|stable| stable == dropped.job_version);
        if (!ready || original_is_stable)
            && kept.job_version < version
            && dropped.status == AllocStatus::Running
            && heard_lately(state, dropped, config, now_ms)
        {
            out.stop.push((kept.id, StopReason::Update));
            return;
        }
        match proven {
            Readiness::Ready { .. } => {}
            Readiness::Waiting { due_ms, .. } => {
                out.wake_job(&spec.id, due_ms);
                return;
            }
            Readiness::Failed(_) => return,
        }
        // A canary runs beside the instance it will replace until the
        // deployment is promoted.
        if state.awaiting_promotion(&spec.id, version) {
            return;
        }
    }
    if heard_lately(state, kept, config, now_ms) {
        out.stop.push((dropped.id, why));
    } else {
        out.awaiting_heartbeat
            .push((kept.job.clone(), kept.node.clone()));
    }
}

/// Whether `alloc`'s node heartbeated within the TTL: "running" is only
/// as fresh as the node's last word. A node silent that long may have
/// stopped its tasks (its worker lost contact) before anyone marked it
/// disconnected, e.g. within the grace after a leader change.
fn heard_lately(
    state: &ClusterState,
    alloc: &Allocation,
    config: &ReconcileConfig,
    now_ms: u64,
) -> bool {
    state
        .node(&alloc.node)
        .is_some_and(|n| now_ms.saturating_sub(n.last_heartbeat_ms) < config.heartbeat_ttl_ms)
}

fn score(alloc: &Allocation, version: u64, original: bool) -> (bool, bool, bool) {
    (
        alloc.status == AllocStatus::Running,
        alloc.job_version == version,
        original,
    )
}

/// Stops `excess` single allocations: old versions first, then those not yet
/// running, then the newest.
fn stop_surplus(
    singles: &mut Vec<&Allocation>,
    excess: usize,
    version: u64,
    out: &mut Reconciliation,
) {
    if excess == 0 {
        return;
    }
    singles.sort_by_key(|a| {
        (
            a.job_version == version,
            a.status == AllocStatus::Running,
            std::cmp::Reverse(a.id),
        )
    });
    for alloc in singles.drain(..excess.min(singles.len())) {
        out.stop.push((alloc.id, StopReason::Surplus));
    }
}

/// Replaces old-version allocations, creating before destroying: each gets
/// a replacement, and `resolve_pair` stops it once the replacement runs,
/// so the service never runs fewer instances than before (nomad #10953,
/// docs/decisions/0008). At most `max_parallel` are in flight, so at most
/// that many extra instances run; a failure of the new version halts the
/// rollout. Returns the allocations rolled over now.
#[allow(clippy::too_many_arguments)]
fn roll_out(
    state: &ClusterState,
    view: &JobView,
    singles: &[&Allocation],
    pairs: &[(&Allocation, &Allocation)],
    migrating: usize,
    job: &Job,
    now_ms: u64,
    out: &mut Reconciliation,
) -> BTreeSet<AllocId> {
    let version = job.spec.version;
    let mut old: Vec<&Allocation> = singles
        .iter()
        .copied()
        .filter(|a| a.job_version < version)
        .collect();
    if old.is_empty() {
        return BTreeSet::new();
    }
    let current = || {
        view.allocs
            .iter()
            .filter(|a| a.job_version == version && a.desired == DesiredStatus::Run)
    };
    if current().any(|a| a.status == AllocStatus::Failed)
        || halted(state, current().copied(), job, now_ms)
        || state
            .deployment(&job.spec.id, version)
            .is_some_and(|d| d.status == DeploymentStatus::Failed)
    {
        return BTreeSet::new();
    }
    // A new instance may miss its deadline by the clock alone: look
    // again then, or the rollout would go on past it.
    for alloc in current().filter(|a| !a.status.is_terminal()) {
        if let Readiness::Waiting { due_ms, .. } =
            readiness(state, alloc, job.spec.ext.update, now_ms)
        {
            out.wake_job(&job.spec.id, due_ms);
        }
    }
    let moves_data = job.spec.ext.ephemeral_disk.migrate;
    let budget = if state.awaiting_promotion(&job.spec.id, version) {
        // Canaries: that many new instances at once, beside the old ones.
        let placed = current().filter(|a| !a.status.is_terminal()).count();
        usize::try_from(job.spec.ext.update.canary)
            .unwrap_or(usize::MAX)
            .saturating_sub(placed)
    } else {
        usize::try_from(job.spec.update.max_parallel)
            .unwrap_or(usize::MAX)
            .saturating_sub(rollout_in_flight(view, pairs, version) + migrating)
            .saturating_sub(if moves_data {
                unproven(state, current().copied(), job, now_ms)
            } else {
                0
            })
    };
    old.sort_by_key(|a| (a.status == AllocStatus::Running, a.id));
    old.into_iter()
        .take(budget)
        .map(|alloc| {
            if moves_data || planted::active(Bug::DestroyBeforeCreate) {
                out.stop.push((alloc.id, StopReason::Update));
            }
            out.replace
                .push(replacement(job, alloc, ReplaceReason::Update));
            alloc.id
        })
        .collect()
}

/// New-version instances running but not yet ready: where instances are
/// stopped before their replacements start (their data migrates), no
/// pair holds the old one back, so these count against `max_parallel`
/// until `[update]`'s health gate passes them.
fn unproven<'a>(
    state: &ClusterState,
    current: impl Iterator<Item = &'a Allocation>,
    job: &Job,
    now_ms: u64,
) -> usize {
    current
        .filter(|a| {
            a.status == AllocStatus::Running
                && matches!(
                    readiness(state, a, job.spec.ext.update, now_ms),
                    Readiness::Waiting { .. }
                )
        })
        .count()
}

/// Whether a new-version instance failed `[update]`'s health gate: the
/// rollout replaces no more old instances while it stays so.
fn halted<'a>(
    state: &ClusterState,
    mut current: impl Iterator<Item = &'a Allocation>,
    job: &Job,
    now_ms: u64,
) -> bool {
    current.any(|a| {
        !a.status.is_terminal()
            && matches!(
                readiness(state, a, job.spec.ext.update, now_ms),
                Readiness::Failed(_)
            )
    })
}

/// What a rollout has in flight: new-version allocations not yet running,
/// and old-version ones told to stop that may still run — including those
/// `resolve_pair` stops in this very pass, whose replacement runs.
fn rollout_in_flight(view: &JobView, pairs: &[(&Allocation, &Allocation)], version: u64) -> usize {
    let starting_or_stopping = view
        .allocs
        .iter()
        .filter(|a| {
            let starting = a.job_version == version
                && a.desired == DesiredStatus::Run
                && a.status == AllocStatus::Pending;
            let stopping = a.job_version < version
                && a.desired == DesiredStatus::Stop
                && !a.status.is_terminal();
            starting || stopping
        })
        .count();
    let superseded = pairs
        .iter()
        .filter(|(original, replacement)| {
            original.job_version < version
                && replacement.job_version == version
                && replacement.status == AllocStatus::Running
        })
        .count();
    starting_or_stopping + superseded
}

/// Migrations off draining nodes in flight: originals whose replacement
/// is placed, and originals told to stop that have not ended.
fn migrations_in_flight(
    state: &ClusterState,
    view: &JobView,
    pairs: &[(&Allocation, &Allocation)],
) -> usize {
    let draining = |a: &Allocation| state.node(&a.node).is_some_and(|n| n.draining);
    let stopping = view
        .allocs
        .iter()
        .filter(|a| draining(a) && a.desired == DesiredStatus::Stop && !a.status.is_terminal())
        .count();
    pairs.iter().filter(|(x, _)| draining(x)).count() + stopping
}

/// Starts replacements for allocations on draining nodes while the
/// shared budget (`max_parallel` less `in_flight`, rollout included)
/// allows; `resolve_pair` stops the originals once their replacements
/// run.
fn migrate(
    state: &ClusterState,
    singles: &[&Allocation],
    updated: &BTreeSet<AllocId>,
    job: &Job,
    in_flight: usize,
    out: &mut Reconciliation,
) {
    let draining = |a: &Allocation| state.node(&a.node).is_some_and(|n| n.draining);
    let budget = usize::try_from(job.spec.update.max_parallel)
        .unwrap_or(usize::MAX)
        .saturating_sub(in_flight);
    for alloc in singles
        .iter()
        .filter(|a| draining(a) && !updated.contains(&a.id))
        .take(budget)
    {
        // Data that migrates is copied once its task has stopped.
        if job.spec.ext.ephemeral_disk.migrate {
            out.stop.push((alloc.id, StopReason::Drained));
        }
        out.replace
            .push(replacement(job, alloc, ReplaceReason::Migrate));
    }
}
