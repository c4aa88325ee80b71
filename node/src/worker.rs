//! The worker driver: long-polls a control node for this node's
//! assignments and carries out what the worker's state machine
//! (`drover_core::worker`) decides — starts and stops through the
//! executor, reports as commands. Contact with the control plane is judged
//! by this node's own commands that a quorum committed, never by poll
//! answers; cut off for `max_disconnect`, the node stops its tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drover_adapters::exec::{Executor, SharedExecutor};
use drover_core::migrate::DataFrom;
use drover_core::state::AllocReport;
use drover_core::worker::{Action, Notice, PollReply, Report, WorkerMachine};
use drover_core::{AllocId, CommandKind, NodeId};
use futures_util::future::join_all;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::buggify::{self, Point};
use crate::checks::Checks;
use crate::contact_record::ContactRecord;
use crate::data_transfer::Copies;
use crate::propose::Proposer;
use crate::raft::{Rpc, call_internal};
use crate::time::now_ms;
use crate::work::PollRequest;

/// How long a task gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL_WAIT: Duration = Duration::from_secs(1);
/// How often a poll asks which ended allocations the control plane has
/// collected, and how many at once.
const FORGET_EVERY: Duration = Duration::from_secs(10);
const FORGET_BATCH: usize = 1000;

pub struct Worker {
    pub node: NodeId,
    /// Control nodes to poll, in order of preference.
    pub control: Vec<SocketAddr>,
    /// Which of `control` polls start from: the last one that answered,
    /// or the one after it when its answer was stale.
    poll_from: AtomicUsize,
    pub proposer: Proposer,
    pub executor: SharedExecutor,
    pub max_disconnect: Duration,
    /// When a poll last asked what was collected.
    asked_gone: std::sync::Mutex<Option<Instant>>,
    owed: ReportsOwed,
    contact_record: Option<Arc<dyn ContactRecord>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Wakes the loop from its long poll: a task ended, or its checks
    /// asked for a restart.
    wake: Arc<Notify>,
    checks: Checks,
    /// The host volumes this node offers, by name.
    volumes: BTreeMap<String, drover_core::volumes::Offered>,
    /// Data being copied for replacements before they start.
    copies: Copies,
}

/// Whether this node's worker owes the control plane reports
/// ([`WorkerMachine::owes_reports`]); the node's registration and
/// heartbeats wait while it does, so that the first word a quorum hears
/// from a node back from a cut-off, or restarted, is what became of its
/// tasks. Owed from a worker's start until it has acted on an answer;
/// never owed on a node without a worker.
#[derive(Debug, Clone, Default)]
pub struct ReportsOwed(Arc<AtomicBool>);

impl ReportsOwed {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, owed: bool) {
        self.0.store(owed, Ordering::SeqCst);
    }
}

/// The worker's monotonic clock, in the milliseconds the machine counts.
struct Clock(Instant);

impl Clock {
    /// A clock whose zero is the last contact (`last_unix_ms`) when one
    /// is known, else `now`.
    fn since_contact(last_unix_ms: Option<u64>, now: Instant, now_unix_ms: u64) -> Self {
        let silent =
            Duration::from_millis(last_unix_ms.map_or(0, |last| now_unix_ms.saturating_sub(last)));
        Self(now.checked_sub(silent).unwrap_or(now))
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.0).as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

impl Worker {
    pub fn new(
        node: NodeId,
        control: Vec<SocketAddr>,
        proposer: Proposer,
        executor: SharedExecutor,
        max_disconnect: Duration,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let checks = Checks::new(node.clone(), proposer.clone(), wake.clone());
        Self {
            node,
            control,
            poll_from: AtomicUsize::new(0),
            proposer,
            executor,
            max_disconnect,
            asked_gone: std::sync::Mutex::new(None),
            owed: ReportsOwed(Arc::new(AtomicBool::new(true))),
            contact_record: None,
            metrics: None,
            wake,
            checks,
            volumes: BTreeMap::new(),
            copies: Copies::default(),
        }
    }

    /// The host volumes this node offers, by name, with their paths.
    #[must_use]
    pub fn with_volumes(
        mut self,
        volumes: BTreeMap<String, drover_core::volumes::Offered>,
    ) -> Self {
        self.volumes = volumes;
        self
    }

    /// Keeps the last contact where the next process finds it
    /// (`contact_record`), and takes the previous process's.
    #[must_use]
    pub fn with_contact_record(mut self, record: Arc<dyn ContactRecord>) -> Self {
        self.contact_record = Some(record);
        self
    }

    /// Records how long its polls take in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The worker's clock starts at the last contact a previous process
    /// of this node recorded, if any: its deadline carries over.
    fn clock(&self) -> Clock {
        let last = self.contact_record.as_ref().and_then(|r| r.load());
        let clock = Clock::since_contact(last, Instant::now(), now_ms());
        let silent = Instant::now().saturating_duration_since(clock.0);
        if silent > Duration::ZERO {
            info!(node = %self.node, "the last contact recorded was {:.1}s ago: the contact deadline counts from it", silent.as_secs_f64());
        }
        clock
    }

    fn record_contact(&self, sent: Instant) {
        if let Some(record) = &self.contact_record {
            let ago = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX);
            record.save(now_ms().saturating_sub(ago));
        }
    }

    /// What the node's heartbeats consult before they go.
    pub fn reports_owed(&self) -> ReportsOwed {
        self.owed.clone()
    }

    pub async fn run(self) {
        let clock = self.clock();
        let max_disconnect_ms = u64::try_from(self.max_disconnect.as_millis()).unwrap_or(u64::MAX);
        let mut machine =
            WorkerMachine::new(0, max_disconnect_ms).with_volumes(self.volumes.clone());
        // Task exits interrupt the long poll, so they are reported as they
        // happen rather than when the control plane next has news.
        let exited = self.wake.clone();
        let wake = exited.clone();
        self.lock().on_exit(Arc::new(move || wake.notify_one()));
        loop {
            let deadline = machine.deadline_ms().map(|ms| clock.at(ms));
            // The contact deadline interrupts whatever the step waits on
            // (a poll, a report that cannot commit): losing contact must
            // stop tasks on time, whatever else is slow.
            // `biased`: tokio picks a branch at random otherwise, from a
            // source the simulator cannot seed.
            tokio::select! {
                biased;
                () = self.step(&mut machine, &clock, &exited) => {}
                () = sleep_until(deadline) => {}
            }
            if let Some(sent) = self.proposer.quorum_heard() {
                machine.committed(clock.ms(sent));
                self.record_contact(sent);
            }
            machine.committed_at(self.proposer.committed_at());
            let running = self.running();
            let actions = machine.tick(clock.ms(Instant::now()), &running);
            self.owed.set(machine.owes_reports());
            self.carry_out(&mut machine, actions).await;
            self.owed.set(machine.owes_reports());
        }
    }

    /// One round: report what ended, then poll and act on the answer —
    /// unless a task ends meanwhile, which ends the round (a poll is only
    /// a read, safe to abandon).
    async fn step(&self, machine: &mut WorkerMachine, clock: &Clock, exited: &Notify) {
        self.restart_failing(machine).await;
        let exits = self.lock().poll();
        for (alloc, exit) in exits {
            let report = machine.exited(alloc, &exit);
            info!(alloc = %report.alloc, status = %report.status, "{}", report.message);
        }
        self.checks.unwatch_ended(&self.running());
        self.owed.set(machine.owes_reports());
        self.report_all(machine, machine.unreported()).await;
        self.owed.set(machine.owes_reports());
        let ask_gone = self.ask_gone(machine);
        let asked = Instant::now();
        let polled = tokio::select! {
            biased;
            () = exited.notified() => return,
            polled = self.poll(machine.after_index(), ask_gone) => polled,
        };
        if let Some(metrics) = &self.metrics {
            crate::metrics::Metrics::observe(&metrics.poll_seconds, asked.elapsed());
        }
        match polled {
            Ok(reply) => {
                let running = self.running();
                let actions = machine.answered(clock.ms(Instant::now()), &reply, &running);
                if actions
                    .iter()
                    .any(|a| matches!(a, Action::Notice(Notice::StaleAnswer { .. })))
                {
                    self.poll_elsewhere();
                }
                self.carry_out(machine, actions).await;
                self.owed.set(machine.owes_reports());
                self.checks
                    .watch(&reply.assignments, &self.running(), |alloc| {
                        self.lock().command_in_task(alloc)
                    });
            }
            Err(e) => {
                debug!(node = %self.node, "poll failed: {e}");
                tokio::time::sleep(POLL_WAIT).await;
            }
        }
    }

    /// Does what the machine asked: everything touching the executor first
    /// and without a pause, so that an interrupted round can only lose
    /// reports (which the machine asks for again), never a stop.
    /// A start whose data is to be copied first begins the copy, and
    /// happens when the next answer asks again once the copy is done.
    async fn carry_out(&self, machine: &mut WorkerMachine, actions: Vec<Action>) {
        let mut reports = Vec::new();
        for action in actions {
            match action {
                Action::Start {
                    alloc,
                    job,
                    task,
                    data:
                        Some(DataFrom::Ended {
                            alloc: from,
                            address,
                        }),
                } => {
                    if self.copies.take_done(alloc) || !self.begin_copy(alloc, from, address) {
                        reports.extend(self.start(machine, alloc, &job, &task));
                    }
                }
                Action::Start {
                    alloc,
                    job,
                    task,
                    data,
                } => {
                    if let Some(DataFrom::Unavailable { alloc: from, why }) = data {
                        warn!(%alloc, "starting without the data of {from}: {why}");
                    }
                    reports.extend(self.start(machine, alloc, &job, &task));
                }
                Action::Stop { alloc } => {
                    self.checks.unwatch(alloc);
                    self.lock().stop(alloc, STOP_GRACE);
                }
                Action::Recover { alloc } => {
                    let exit = self.lock().recorded_exit(alloc);
                    reports.extend(machine.recovered(alloc, exit));
                }
                Action::Report(report) => reports.push(Action::Report(report)),
                Action::Forget { alloc } => {
                    debug!(%alloc, "collected by the control plane: removing what is kept of it");
                    self.lock().forget(alloc);
                }
                Action::Notice(notice) => self.log(&notice),
            }
        }
        let reports = reports
            .into_iter()
            .filter_map(|action| match action {
                Action::Report(report) => Some(report),
                _ => None,
            })
            .collect();
        self.report_all(machine, reports).await;
    }

    fn start(
        &self,
        machine: &mut WorkerMachine,
        alloc: AllocId,
        job: &drover_core::JobId,
        task: &drover_core::job::TaskSpec,
    ) -> Option<Action> {
        let started = self.lock().start(alloc, job, task);
        match &started {
            Ok(()) => info!(%alloc, "started"),
            Err(e) => warn!(%alloc, "could not start: {e}"),
        }
        machine.started(alloc, started)
    }

    /// Begins copying into `alloc`'s data directory the data `from`
    /// left at `address` (`crate::data_transfer`); false when there is
    /// nowhere to copy it to, and the task starts without it.
    fn begin_copy(&self, alloc: AllocId, from: AllocId, address: String) -> bool {
        let store = self.lock().store().cloned();
        let Some(store) = store else {
            warn!(%alloc, "starting without the data of {from}: this node's executor keeps no local data");
            return false;
        };
        let peers = self.proposer.peers().clone();
        self.copies
            .begin(peers, store, alloc, from, address, self.wake.clone());
        true
    }

    /// Stops, as failed, the tasks whose checks asked for a restart.
    async fn restart_failing(&self, machine: &mut WorkerMachine) {
        let restarts = self.checks.take_restarts();
        if restarts.is_empty() {
            return;
        }
        let running = self.running();
        let stops = restarts
            .into_iter()
            .filter_map(|(alloc, reason)| machine.fail(alloc, reason, &running))
            .collect();
        self.carry_out(machine, stops).await;
    }

    /// Sends `reports` at once, so that they share the trip to the leader
    /// and one log entry, rather than one commit each in turn; then tells
    /// the machine which committed.
    async fn report_all(&self, machine: &mut WorkerMachine, reports: Vec<Report>) {
        let committed = join_all(reports.iter().map(|report| self.report(report))).await;
        for (report, committed) in reports.iter().zip(committed) {
            machine.reported(report, committed);
        }
    }

    fn log(&self, notice: &Notice) {
        let node = &self.node;
        match notice {
            Notice::ContactLost {
                silent_ms,
                stopping,
            } => warn!(
                %node,
                "no quorum has committed anything from this node for {:.1}s (max_disconnect {:?}): stopping local tasks ({stopping} running)",
                Duration::from_millis(*silent_ms).as_secs_f64(),
                self.max_disconnect
            ),
            Notice::ContactRegained => info!(%node, "reconnected to the control plane"),
            Notice::StaleAnswer { index, after } => {
                debug!(%node, "ignoring a stale replica's answer (index {index}, had {after})");
            }
            Notice::Unowned { alloc } => {
                warn!(%alloc, "stopping a task no allocation of this node owns");
            }
        }
    }

    fn running(&self) -> BTreeSet<AllocId> {
        self.lock().running().into_iter().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, dyn Executor + Send + 'static> {
        self.executor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every `FORGET_EVERY`: the ended allocations the executor still
    /// keeps something of, oldest first, for the poll to ask about.
    fn ask_gone(&self, machine: &WorkerMachine) -> Vec<AllocId> {
        let mut asked = self
            .asked_gone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if asked.is_some_and(|at| at.elapsed() < FORGET_EVERY) {
            return Vec::new();
        }
        *asked = Some(Instant::now());
        let running = self.running();
        self.lock()
            .kept()
            .into_iter()
            .filter(|alloc| machine.may_forget(*alloc, &running))
            .take(FORGET_BATCH)
            .collect()
    }

    async fn poll(&self, after_index: u64, ask_gone: Vec<AllocId>) -> Result<PollReply, String> {
        let request = PollRequest {
            node: self.node.clone(),
            after_index,
            wait_ms: u64::try_from(POLL_WAIT.as_millis()).unwrap_or(1000),
            ask_gone,
        };
        let mut last_error = String::from("no control node configured");
        let from = self.poll_from.load(Ordering::SeqCst);
        for at in (0..self.control.len()).map(|k| (from + k) % self.control.len()) {
            let addr = self.control[at].to_string();
            let peers = self.proposer.peers();
            let attempt = async {
                let mut client = peers.client(&addr).await?;
                call_internal::<_, PollReply>(&mut client, Rpc::Poll, &request, POLL_WAIT * 3).await
            };
            let attempt = attempt.await;
            if attempt.is_err() {
                peers.forget(&addr);
            }
            match attempt {
                Ok(_) if buggify::fires(Point::DropPollAnswer) => {
                    last_error = format!("{addr}: the answer was lost");
                }
                Ok(reply) => {
                    self.poll_from.store(at, Ordering::SeqCst);
                    return Ok(reply);
                }
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        Err(last_error)
    }

    /// The next poll starts at the control node after the one that gave a
    /// stale answer: a replica that stopped moving (a voter removed while
    /// cut off never hears of it, and answers from where it stopped) would
    /// otherwise be asked again for ever while it still answers.
    fn poll_elsewhere(&self) {
        let answered = self.poll_from.load(Ordering::SeqCst);
        self.poll_from
            .store((answered + 1) % self.control.len().max(1), Ordering::SeqCst);
    }

    /// Whether the report committed (its outcome refused or not).
    async fn report(&self, report: &Report) -> bool {
        let command = CommandKind::AllocUpdate(AllocReport {
            alloc: report.alloc,
            node: self.node.clone(),
            status: report.status,
            exit_code: report.exit_code,
            message: report.message.clone(),
        });
        match self.proposer.propose(command).await {
            Ok((_, outcome)) => {
                if let Err(e) = outcome {
                    debug!(alloc = %report.alloc, "report refused: {e}");
                }
                true
            }
            Err(e) => {
                debug!(alloc = %report.alloc, "report not committed yet: {e}");
                false
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep(at.saturating_duration_since(Instant::now())).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent that starts 8 s after its previous process last heard a
    /// quorum has 8 s less before it must stop the tasks it adopts.
    #[test]
    fn a_new_process_counts_from_the_last_contact_recorded() {
        let now = Instant::now() + Duration::from_secs(60);
        let clock = Clock::since_contact(Some(1_000_000), now, 1_008_000);
        assert_eq!(clock.ms(now), 8_000);
        let mut machine = WorkerMachine::new(0, 10_000);
        assert_eq!(machine.deadline_ms(), Some(10_000));
        let running = BTreeSet::from([AllocId(1)]);
        assert!(machine.tick(clock.ms(now), &running).is_empty());
        let stops = machine.tick(clock.ms(now + Duration::from_secs(2)), &running);
        assert!(
            stops.contains(&Action::Stop { alloc: AllocId(1) }),
            "stopped 2 s into the new process: {stops:?}"
        );
    }

    #[test]
    fn without_a_record_the_start_counts_as_contact() {
        let now = Instant::now();
        assert_eq!(Clock::since_contact(None, now, 5_000).ms(now), 0);
        // A record from the future (a clock set back) counts as now.
        assert_eq!(Clock::since_contact(Some(9_000), now, 5_000).ms(now), 0);
    }
}
