//! The worker's health checks: one loop for each running allocation whose
//! task asks for checks, driving `drover_core::health::HealthMachine` —
//! it runs what is due (`probe`), commits each change of health as an
//! `AllocHealth` command, and hands a restart to the worker, which stops
//! the task as failed so that the control plane replaces it.

pub mod probe;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use drover_adapters::exec::InTask;
use drover_core::health::{HealthAction, HealthMachine, HealthReport};
use drover_core::worker::Assignment;
use drover_core::{AllocId, CommandKind, DesiredStatus, NodeId};
use futures_util::future::join_all;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::propose::Proposer;

/// Restarts asked for by checks, for the worker to carry out.
type Restarts = Arc<Mutex<Vec<(AllocId, String)>>>;

pub struct Checks {
    node: NodeId,
    proposer: Proposer,
    watched: Mutex<BTreeMap<AllocId, JoinHandle<()>>>,
    /// Tasks being stopped: never checked again, though they run on
    /// through their stop grace and a poll still lists them to run.
    retired: Mutex<BTreeSet<AllocId>>,
    restarts: Restarts,
    /// Wakes the worker's loop when a restart is asked.
    wake: Arc<Notify>,
}

impl Checks {
    pub fn new(node: NodeId, proposer: Proposer, wake: Arc<Notify>) -> Self {
        Self {
            node,
            proposer,
            watched: Mutex::new(BTreeMap::new()),
            retired: Mutex::new(BTreeSet::new()),
            restarts: Arc::default(),
            wake,
        }
    }

    /// Checks every allocation of `assignments` that is to run, runs here
    /// and asks for checks, unless it is checked already; stops checking
    /// any that no longer runs.
    /// `in_task` says how to run an exec check inside a task that is
    /// isolated from the host.
    pub fn watch(
        &self,
        assignments: &[Assignment],
        running: &BTreeSet<AllocId>,
        in_task: impl Fn(AllocId) -> Option<InTask>,
    ) {
        self.unwatch_ended(running);
        let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        let mut watched = self.watched();
        for a in assignments {
            let Some(task) = &a.task else { continue };
            let wanted = a.desired == DesiredStatus::Run
                && !a.checks.is_empty()
                && running.contains(&a.alloc);
            if !wanted || watched.contains_key(&a.alloc) || retired.contains(&a.alloc) {
                continue;
            }
            debug!(alloc = %a.alloc, checks = a.checks.len(), "checking the task's health");
            let machine = HealthMachine::new(a.checks.clone(), 0);
            let checking = Checking {
                alloc: a.alloc,
                node: self.node.clone(),
                env: task.env.clone(),
                commands: match task.driver {
                    drover_core::Driver::Exec => probe::CommandsRun::OnHost,
                    drover_core::Driver::Docker => {
                        probe::CommandsRun::InContainer(in_task(a.alloc))
                    }
                },
                proposer: self.proposer.clone(),
                restarts: self.restarts.clone(),
                wake: self.wake.clone(),
            };
            watched.insert(a.alloc, tokio::spawn(checking.run(machine)));
        }
    }

    /// Stops checking `alloc` for good (its task is being stopped).
    pub fn unwatch(&self, alloc: AllocId) {
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(alloc);
        if let Some(handle) = self.watched().remove(&alloc) {
            handle.abort();
        }
    }

    /// Stops checking allocations whose task is not running.
    pub fn unwatch_ended(&self, running: &BTreeSet<AllocId>) {
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|alloc| running.contains(alloc));
        self.watched().retain(|alloc, handle| {
            let keep = running.contains(alloc);
            if !keep {
                handle.abort();
            }
            keep
        });
    }

    /// The restarts checks asked for since the last call.
    pub fn take_restarts(&self) -> Vec<(AllocId, String)> {
        std::mem::take(&mut *self.restarts.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, BTreeMap<AllocId, JoinHandle<()>>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One allocation's checking loop.
struct Checking {
    alloc: AllocId,
    node: NodeId,
    /// The task's environment: where its ports are, for the probes.
    env: BTreeMap<String, String>,
    /// Where its exec checks run.
    commands: probe::CommandsRun,
    proposer: Proposer,
    restarts: Restarts,
    wake: Arc<Notify>,
}

impl Checking {
    async fn run(self, mut machine: HealthMachine) {
        let clock = Instant::now();
        let ms = || u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The newest change not yet committed: sent again after each round
        // until it is, and replaced by a newer one.
        let mut owed: Option<HealthReport> = None;
        while let Some(due_ms) = machine.deadline_ms() {
            let at = clock + Duration::from_millis(due_ms);
            tokio::time::sleep(at.saturating_duration_since(Instant::now())).await;
            let due = machine.due(ms());
            let outcomes = join_all(
                due.iter()
                    .map(|&i| probe::run(machine.check(i), &self.env, &self.commands)),
            )
            .await;
            for (i, outcome) in due.into_iter().zip(outcomes) {
                for action in machine.finished(i, outcome.passed, &outcome.output, ms()) {
                    match action {
                        HealthAction::Report {
                            status,
                            check,
                            output,
                        } => {
                            info!(alloc = %self.alloc, "{status}: {check}: {output}");
                            owed = Some(HealthReport {
                                alloc: self.alloc,
                                node: self.node.clone(),
                                status,
                                check,
                                output,
                            });
                        }
                        HealthAction::Restart { reason } => {
                            warn!(alloc = %self.alloc, "{reason}");
                            self.restarts
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push((self.alloc, reason));
                            self.wake.notify_one();
                        }
                    }
                }
            }
            if let Some(report) = owed.take() {
                owed = self.report(report).await;
            }
        }
        // A restart was asked: the health last seen still goes out.
        if let Some(report) = owed {
            self.report(report).await;
        }
    }

    /// Commits `report`; gives it back if it did not commit.
    async fn report(&self, report: HealthReport) -> Option<HealthReport> {
        match self
            .proposer
            .propose(CommandKind::AllocHealth(report.clone()))
            .await
        {
            Ok((_, outcome)) => {
                if let Err(e) = outcome {
                    debug!(alloc = %self.alloc, "health report refused: {e}");
                }
                None
            }
            Err(e) => {
                debug!(alloc = %self.alloc, "health report not committed yet: {e}");
                Some(report)
            }
        }
    }
}
