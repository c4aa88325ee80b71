//! The worker loop: long-poll a control node for this node's assignments,
//! start and stop tasks through the executor, and report what happens as
//! commands. A worker cut off from every control node keeps its tasks for
//! `max_disconnect`, then stops them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drover_adapters::exec::{Executor, Exit, SharedExecutor};
use drover_core::state::AllocReport;
use drover_core::{AllocId, AllocStatus, CommandKind, DesiredStatus, NodeId};
use tracing::{debug, info, warn};

use crate::propose::Proposer;
use crate::raft::{Rpc, call_internal, connect};
use crate::work::{Assignment, PollReply, PollRequest};

/// How long a task gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL_WAIT: Duration = Duration::from_secs(1);

pub struct Worker {
    pub node: NodeId,
    /// Control nodes to poll, in order of preference.
    pub control: Vec<SocketAddr>,
    pub proposer: Proposer,
    pub executor: SharedExecutor,
    pub max_disconnect: Duration,
}

/// What this worker last told the control plane about each allocation.
type Reported = BTreeMap<AllocId, AllocStatus>;

impl Worker {
    pub async fn run(self) {
        let mut after_index = 0;
        let mut last_contact = Instant::now();
        let mut stopping: BTreeSet<AllocId> = BTreeSet::new();
        let mut reported = Reported::new();
        let mut disconnected = false;
        // Exits not yet committed: kept until they are, never dropped.
        let mut unreported: BTreeMap<AllocId, (Exit, bool)> = BTreeMap::new();
        loop {
            let exits = self.lock().poll();
            for (alloc, exit) in exits {
                let asked_to_stop = stopping.remove(&alloc);
                unreported.insert(alloc, (exit, asked_to_stop));
            }
            let pending: Vec<_> = unreported
                .iter()
                .map(|(a, (e, s))| (*a, e.clone(), *s))
                .collect();
            for (alloc, exit, asked_to_stop) in pending {
                if self
                    .report_exit(&mut reported, alloc, &exit, asked_to_stop)
                    .await
                {
                    unreported.remove(&alloc);
                }
            }
            match self.poll(after_index).await {
                Ok(reply) if reply.index < after_index => {
                    debug!(node = %self.node, "ignoring a stale replica's answer");
                }
                Ok(reply) => {
                    if disconnected {
                        info!(node = %self.node, "reconnected to the control plane");
                        disconnected = false;
                    }
                    last_contact = Instant::now();
                    after_index = reply.index;
                    self.stop_unowned(&reply, &mut stopping);
                    for assignment in reply.assignments {
                        self.handle(&assignment, &mut stopping, &mut reported).await;
                    }
                }
                Err(e) => {
                    debug!(node = %self.node, "poll failed: {e}");
                    tokio::time::sleep(POLL_WAIT).await;
                    if last_contact.elapsed() > self.max_disconnect && !disconnected {
                        warn!(node = %self.node, "no control node reachable for {:?}: stopping local tasks", self.max_disconnect);
                        disconnected = true;
                        let running = self.lock().running();
                        for alloc in running {
                            self.lock().stop(alloc, STOP_GRACE);
                            stopping.insert(alloc);
                        }
                    }
                }
            }
        }
    }

    /// Stops tasks that no allocation of this node owns any more: left by
    /// an earlier worker process for allocations that have since ended or
    /// moved. Every reply lists all of the node's unfinished allocations,
    /// but only a replica that has issued an allocation can vouch for it.
    fn stop_unowned(&self, reply: &PollReply, stopping: &mut BTreeSet<AllocId>) {
        let owned: BTreeSet<AllocId> = reply.assignments.iter().map(|a| a.alloc).collect();
        let running = self.lock().running();
        for alloc in running {
            let vouched = alloc <= reply.last_alloc;
            if vouched && !owned.contains(&alloc) && stopping.insert(alloc) {
                warn!(%alloc, "stopping a task no allocation of this node owns");
                self.lock().stop(alloc, STOP_GRACE);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, dyn Executor + Send + 'static> {
        self.executor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn poll(&self, after_index: u64) -> Result<PollReply, String> {
        let request = PollRequest {
            node: self.node.clone(),
            after_index,
            wait_ms: u64::try_from(POLL_WAIT.as_millis()).unwrap_or(1000),
        };
        let mut last_error = String::from("no control node configured");
        for addr in &self.control {
            let attempt = async {
                let mut client = connect(&addr.to_string()).await?;
                call_internal::<_, PollReply>(&mut client, Rpc::Poll, &request, POLL_WAIT * 3).await
            };
            match attempt.await {
                Ok(reply) => return Ok(reply),
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        Err(last_error)
    }

    /// Brings one allocation in line with what the control plane wants.
    async fn handle(
        &self,
        a: &Assignment,
        stopping: &mut BTreeSet<AllocId>,
        reported: &mut Reported,
    ) {
        let running = self.lock().running().contains(&a.alloc);
        match (a.desired, running) {
            (DesiredStatus::Stop, true) => {
                if stopping.insert(a.alloc) {
                    self.lock().stop(a.alloc, STOP_GRACE);
                }
            }
            (DesiredStatus::Stop, false) => {
                self.report(
                    reported,
                    a.alloc,
                    AllocStatus::Stopped,
                    None,
                    "stopped".into(),
                )
                .await;
            }
            (DesiredStatus::Run, true) => {
                if a.status != AllocStatus::Running {
                    self.report_running(reported, a.alloc).await;
                }
            }
            (DesiredStatus::Run, false) => self.start(a, reported).await,
        }
    }

    async fn start(&self, a: &Assignment, reported: &mut Reported) {
        if a.status != AllocStatus::Pending {
            // It ran here before this worker process: learn how it ended.
            let exit = self.lock().recorded_exit(a.alloc).unwrap_or(Exit {
                code: None,
                message: "lost when the worker restarted".into(),
            });
            self.report_exit(reported, a.alloc, &exit, false).await;
            return;
        }
        let Some(task) = &a.task else { return };
        let started = self.lock().start(a.alloc, &a.job, task);
        match started {
            Ok(()) => {
                info!(alloc = %a.alloc, "started");
                self.report_running(reported, a.alloc).await;
            }
            Err(e) => {
                warn!(alloc = %a.alloc, "could not start: {e}");
                self.report(reported, a.alloc, AllocStatus::Failed, None, e)
                    .await;
            }
        }
    }

    async fn report_running(&self, reported: &mut Reported, alloc: AllocId) {
        self.report(
            reported,
            alloc,
            AllocStatus::Running,
            None,
            "running".into(),
        )
        .await;
    }

    async fn report_exit(
        &self,
        reported: &mut Reported,
        alloc: AllocId,
        exit: &Exit,
        asked_to_stop: bool,
    ) -> bool {
        let status = if asked_to_stop {
            AllocStatus::Stopped
        } else if exit.success() {
            AllocStatus::Complete
        } else {
            AllocStatus::Failed
        };
        info!(%alloc, %status, "{}", exit.message);
        self.report(reported, alloc, status, exit.code, exit.message.clone())
            .await
    }

    /// Reports a status once (repeats are skipped). False when it could
    /// not be committed now; the caller retries.
    async fn report(
        &self,
        reported: &mut Reported,
        alloc: AllocId,
        status: AllocStatus,
        exit_code: Option<i32>,
        message: String,
    ) -> bool {
        if reported.get(&alloc) == Some(&status) {
            return true;
        }
        let command = CommandKind::AllocUpdate(AllocReport {
            alloc,
            node: self.node.clone(),
            status,
            exit_code,
            message,
        });
        match self.proposer.propose(command).await {
            Ok((_, outcome)) => {
                if let Err(e) = outcome {
                    debug!(%alloc, "report refused: {e}");
                }
                reported.insert(alloc, status);
                true
            }
            Err(e) => {
                debug!(%alloc, "report not committed yet: {e}");
                false
            }
        }
    }
}
