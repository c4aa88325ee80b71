//! The node's background loops: it registers itself and heartbeats; and
//! while it leads, it reconciles and proposes plans — woken by commits and
//! by a timer, never more often than a floor interval.

use std::time::Duration;

use drover_core::gc::{self, GcPolicy};
use drover_core::reconcile::{Attention, Leadership, ReconcileConfig, Scope, plan_cycle_in};
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::{ApplyError, Success};
use drover_core::{CommandKind, NodeRegistration};
use openraft::ServerState;
use tracing::{debug, info, warn};

use crate::propose::Proposer;
use crate::raft::{Raft, SharedState};
use crate::time::now_ms;
use crate::worker::ReportsOwed;

/// The least time between passes: a pass looks only at what changed, so
/// this bounds how often a busy leader plans, not what a pass costs.
const RECONCILE_FLOOR: Duration = Duration::from_millis(20);
const RECONCILE_CEILING: Duration = Duration::from_secs(2);

/// Registers the node, then heartbeats until the process ends; registers
/// again if the cluster forgot it (down past the node retention). No
/// heartbeat goes while the node's worker owes reports: a heartbeat says
/// the node is in touch, and the control plane would take the statuses
/// it holds for the node as current.
pub async fn membership_loop(
    proposer: Proposer,
    registration: NodeRegistration,
    every: Duration,
    owed: ReportsOwed,
) {
    let node = registration.id.clone();
    wait_for_reports(&owed, &node).await;
    register(&proposer, &registration).await;
    loop {
        tokio::time::sleep(every).await;
        if owed.get() {
            debug!(%node, "heartbeat waits: the worker has task exits to report first");
            continue;
        }
        match proposer
            .propose(CommandKind::Heartbeat { node: node.clone() })
            .await
        {
            Ok((_, Err(ApplyError::UnknownNode(_)))) => {
                info!(%node, "the cluster forgot this node (down past its retention); registering again");
                register(&proposer, &registration).await;
            }
            Ok(_) => {}
            Err(e) => debug!(%node, "heartbeat not committed: {e}"),
        }
    }
}

/// How often a registration still waiting says so.
const REGISTRATION_WAIT_NOTICE: Duration = Duration::from_secs(30);

/// Waits until the worker has acted on an answer and reported what became
/// of the tasks a previous process of this node ran: a registration says
/// the node is in touch, and the control plane would take the statuses it
/// holds for the node as current. A worker that can act on no answer
/// could start nothing either, so the node is better left unregistered
/// (no work is placed on it) than registered.
async fn wait_for_reports(owed: &ReportsOwed, node: &drover_core::NodeId) {
    let mut noticed = tokio::time::Instant::now();
    while owed.get() {
        if noticed.elapsed() >= REGISTRATION_WAIT_NOTICE {
            warn!(%node, "registration waits: the worker has not yet acted on an answer from the control plane, or its reports are not committed");
            noticed = tokio::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn register(proposer: &Proposer, registration: &NodeRegistration) {
    let node = &registration.id;
    loop {
        match proposer
            .propose(CommandKind::RegisterNode(registration.clone()))
            .await
        {
            Ok((index, _)) => {
                info!(%node, index, "registered");
                return;
            }
            Err(e) => debug!(%node, "registration not committed yet: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// At most this many jobs, allocations and nodes per collection command:
/// one log entry stays small, and the loop goes on while there is more.
const GC_BATCH: usize = 1000;

/// While this node leads, every `every`: forget what `policy` says the
/// cluster no longer needs, by replicated commands stamped with this
/// leader's time.
pub async fn gc_loop(
    raft: Raft,
    proposer: Proposer,
    state: SharedState,
    policy: GcPolicy,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        if raft.metrics().borrow().state != ServerState::Leader {
            continue;
        }
        loop {
            let found = {
                let applied = state.read().await;
                gc::find(&applied.state, now_ms(), &policy, GC_BATCH)
            };
            let Some(found) = found else { break };
            let more = found.len() >= GC_BATCH;
            match proposer
                .propose_here(CommandKind::CollectGarbage(found))
                .await
            {
                Ok((
                    index,
                    Ok(Success::Collected {
                        jobs,
                        allocs,
                        nodes,
                        keys,
                    }),
                )) => {
                    info!(index, jobs, allocs, nodes, keys, "garbage collected");
                }
                Ok((index, Ok(_))) => debug!(index, "nothing left to collect"),
                Ok((index, Err(e))) => warn!(index, "garbage collection refused: {e}"),
                Err(e) => {
                    debug!("garbage collection not proposed: {e}");
                    break;
                }
            }
            if !more {
                break;
            }
        }
    }
}

/// While this node leads: reconcile the committed state and propose what
/// the reconciler and scheduler decide.
pub async fn leader_loop(
    raft: Raft,
    proposer: Proposer,
    state: SharedState,
    config: ReconcileConfig,
    observed: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut metrics = raft.metrics();
    let mut leader_since_ms: Option<u64> = None;
    let mut attention = Attention::default();
    let mut leader_seen = None;
    loop {
        // Counted here, on a loop that wakes on every change of Raft's
        // metrics anyway: a task of its own watching them made two runs
        // of one seed differ in the simulator.
        let leader = metrics.borrow().current_leader;
        if leader != leader_seen {
            observed.leader_changes.inc();
            leader_seen = leader;
        }
        let leading = metrics.borrow().state == ServerState::Leader;
        if !leading {
            leader_since_ms = None;
            attention = Attention::default();
            if raft_gone(&tokio::time::timeout(RECONCILE_CEILING, metrics.changed()).await) {
                return;
            }
            continue;
        }
        if leader_since_ms.is_none() {
            // A barrier, as Nomad's leader takes before scheduling: entries
            // a previous leader left uncommitted may still commit, and a
            // plan made without them would place the same work twice.
            if let Err(e) = raft.ensure_linearizable().await {
                debug!("not leading after all: {e}");
                continue;
            }
            leader_since_ms = Some(now_ms());
        }
        let leadership = Leadership {
            since_ms: leader_since_ms.unwrap_or_default(),
        };
        let started = std::time::Instant::now();
        let (pass, cycle) = {
            let applied = state.read().await;
            let now = now_ms();
            let pass = attention.next_pass(&applied.state, now);
            let cycle = plan_cycle_in(
                &applied.state,
                &pass.scope,
                now,
                &config,
                leadership,
                SchedulerConfig::default(),
            );
            if cfg!(debug_assertions) {
                check_nothing_skipped(&applied.state, &pass.scope, now, &config, leadership);
            }
            (pass, cycle)
        };
        observe_pass(&observed, &cycle, started.elapsed());
        let mut landed = true;
        for command in cycle.commands.iter().cloned() {
            let what = command.name();
            let answer = proposer.propose_here(command).await;
            if let Ok((_, Ok(Success::Plan(result)))) = &answer {
                observed.placements.inc_by(result.placed.len() as u64);
            }
            match answer {
                Ok((index, Ok(Success::Plan(result)))) if !result.fully_applied() => {
                    debug!(index, what, "partly refused: {result:?}");
                    landed = false;
                }
                Ok((index, Ok(_))) => debug!(index, what, "applied"),
                Ok((index, Err(e))) => {
                    warn!(index, what, "refused: {e}");
                    landed = false;
                }
                Err(e) => {
                    debug!(what, "not proposed: {e}");
                    landed = false;
                    break;
                }
            }
        }
        if landed {
            attention.landed(&pass, &cycle);
        }
        tokio::time::sleep(RECONCILE_FLOOR).await;
        if raft_gone(&tokio::time::timeout(RECONCILE_CEILING, metrics.changed()).await) {
            return;
        }
    }
}

/// What one pass decided, in the node's metrics.
fn observe_pass(
    observed: &crate::metrics::Metrics,
    cycle: &drover_core::reconcile::Cycle,
    took: std::time::Duration,
) {
    crate::metrics::Metrics::observe(&observed.reconcile_seconds, took);
    observed
        .unplaced
        .set(i64::from(i32::try_from(cycle.unplaced).unwrap_or(i32::MAX)));
    for (why, count) in &cycle.rejections {
        observed
            .rejections
            .get_or_create(&crate::metrics::Reason {
                reason: why.name().to_string(),
            })
            .inc_by(u64::from(*count));
    }
}

/// Debug builds check what the attention rules skipped: a pass over
/// every other job must act on none of them (nothing missed).
fn check_nothing_skipped(
    state: &drover_core::ClusterState,
    scope: &Scope,
    now_ms: u64,
    config: &ReconcileConfig,
    leadership: Leadership,
) {
    let skipped = scope.skipped(state);
    let missed = plan_cycle_in(
        state,
        &skipped,
        now_ms,
        config,
        leadership,
        SchedulerConfig::default(),
    )
    .acted_on;
    assert!(
        missed.is_empty(),
        "the leader's pass skipped jobs it had to act on: {missed:?}"
    );
}

/// Whether waiting for Raft's metrics found Raft gone (its core stopped):
/// waiting again would return at once, forever, and starve the node.
fn raft_gone<E>(waited: &Result<Result<(), E>, tokio::time::error::Elapsed>) -> bool {
    matches!(waited, Ok(Err(_)))
}
