//! The worker's decisions as a pure state machine, driven the way
//! quinn-proto's `Connection` is: poll answers, task exits, commits of the
//! node's own commands and the clock go in; starts, stops and reports come
//! out, with the next deadline. `node/src/worker.rs` carries them out.
//!
//! Times are milliseconds on the worker's steady clock (one that never goes back).

mod contact;
mod wire;

use std::collections::{BTreeMap, BTreeSet};

use crate::job::TaskSpec;
use crate::migrate::DataFrom;
use crate::planted::{self, Bug};
use crate::{AllocId, AllocStatus, DesiredStatus, JobId};

pub use contact::{Contact, ContactChange};
pub use wire::{Assignment, Exit, PollReply};

/// What the worker asks of its executor and of the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Start {
        alloc: AllocId,
        job: JobId,
        task: TaskSpec,
        /// Copy this data in first, or say why there is none
        /// (`crate::migrate`); never [`DataFrom::Stopping`].
        data: Option<DataFrom>,
    },
    Stop {
        alloc: AllocId,
    },
    /// Ask the executor how a task that ran before this worker process
    /// ended, and pass the answer to [`WorkerMachine::recovered`].
    Recover {
        alloc: AllocId,
    },
    /// Commit a status; pass the outcome to [`WorkerMachine::reported`].
    Report(Report),
    /// The control plane forgot this ended allocation: remove what the
    /// executor keeps of it (its directory, output and exit record).
    Forget {
        alloc: AllocId,
    },
    /// Something the operator should read in the log.
    Notice(Notice),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub alloc: AllocId,
    pub status: AllocStatus,
    pub exit_code: Option<i32>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// No command of this node's committed for `silent_ms`: every task
    /// is being stopped.
    ContactLost {
        silent_ms: u64,
        stopping: usize,
    },
    ContactRegained,
    /// An answer from a replica behind one already heard; ignored.
    StaleAnswer {
        index: u64,
        after: u64,
    },
    /// A task no allocation of this node owns any more is being stopped.
    Unowned {
        alloc: AllocId,
    },
}

#[derive(Debug, Clone)]
pub struct WorkerMachine {
    contact: Contact,
    after_index: u64,
    /// The highest log index at which a command of this node's committed:
    /// a replica that has not applied that far is behind what this node
    /// knows, however it answers.
    known_committed: u64,
    /// Tasks asked to stop whose exit has not been seen.
    stopping: BTreeSet<AllocId>,
    /// Tasks stopped because they failed (their checks), and why: their
    /// exit is reported as a failure saying so.
    failing: BTreeMap<AllocId, String>,
    /// What was last committed about each allocation.
    reported: BTreeMap<AllocId, AllocStatus>,
    /// Exits not yet committed: kept until they are, never dropped.
    unreported: BTreeMap<AllocId, Report>,
    /// The host volumes this node offers, by name.
    volumes: BTreeMap<String, crate::volumes::Offered>,
    /// Whether an answer has been acted on since this process started.
    /// Until then the statuses the control plane holds for this node are
    /// a previous process's (which may have died owing reports), and the
    /// node must not vouch for them.
    synced: bool,
}

impl WorkerMachine {
    pub fn new(now_ms: u64, max_disconnect_ms: u64) -> Self {
        Self {
            contact: Contact::new(now_ms, max_disconnect_ms),
            after_index: 0,
            known_committed: 0,
            stopping: BTreeSet::new(),
            failing: BTreeMap::new(),
            reported: BTreeMap::new(),
            unreported: BTreeMap::new(),
            volumes: BTreeMap::new(),
            synced: false,
        }
    }

    /// The host volumes this node offers (`[[volume]]` in node.toml), by
    /// name, with their paths: what the tasks that ask for them get.
    #[must_use]
    pub fn with_volumes(mut self, volumes: BTreeMap<String, crate::volumes::Offered>) -> Self {
        self.volumes = volumes;
        self
    }

    /// The state index the next poll asks to be answered after.
    pub fn after_index(&self) -> u64 {
        self.after_index
    }

    /// When [`Self::tick`] must next run, if anything is due.
    pub fn deadline_ms(&self) -> Option<u64> {
        (!self.contact.is_lost()).then(|| self.contact.deadline_ms())
    }

    pub fn is_disconnected(&self) -> bool {
        self.contact.is_lost()
    }

    /// Whether the control plane has yet to commit what became of a task
    /// here: one ended, or is being stopped because contact was lost.
    /// Meanwhile a heartbeat would tell the control plane this node is in
    /// touch while the statuses it holds for the node no longer hold; the
    /// reconciler would keep an allocation it believes running and stop
    /// the other of its pair (a node back from a cut-off whose liveness
    /// was never decided, e.g. within a new leader's grace). A process
    /// that has not yet acted on an answer owes what became of the tasks
    /// its predecessor ran: until then the node neither registers nor
    /// heartbeats (a node restarted after its worker stopped a task, the
    /// exit not yet committed, registered and was trusted to run it).
    pub fn owes_reports(&self) -> bool {
        !self.synced
            || !self.unreported.is_empty()
            || (self.contact.is_lost() && !self.stopping.is_empty())
    }

    /// A command this node sent at `sent_ms` was committed by a quorum.
    pub fn committed(&mut self, sent_ms: u64) {
        self.contact.committed(sent_ms);
    }

    /// A command of this node's committed at log `index`. Answers from a
    /// replica behind it are stale: one that stopped moving (a voter
    /// removed while cut off never learns it was) would otherwise look
    /// merely quiet, and its worker would wait on it for ever.
    pub fn committed_at(&mut self, index: u64) {
        self.known_committed = self.known_committed.max(index);
    }

    /// The clock reads `now_ms`; `running` are the executor's live tasks.
    pub fn tick(&mut self, now_ms: u64, running: &BTreeSet<AllocId>) -> Vec<Action> {
        let silent_ms = match self.contact.tick(now_ms) {
            Some(ContactChange::Lost { silent_ms }) => silent_ms,
            Some(ContactChange::Regained) => {
                return vec![Action::Notice(Notice::ContactRegained)];
            }
            None => return Vec::new(),
        };
        let mut actions = vec![Action::Notice(Notice::ContactLost {
            silent_ms,
            stopping: running.len(),
        })];
        for alloc in running {
            self.stopping.insert(*alloc);
            actions.push(Action::Stop { alloc: *alloc });
        }
        actions
    }

    /// A running task is to end as failed, saying `reason` (its checks
    /// asked for a restart): it is stopped, its exit reported failed, and
    /// the control plane replaces it. Nothing if it is not running or is
    /// being stopped already.
    pub fn fail(
        &mut self,
        alloc: AllocId,
        reason: String,
        running: &BTreeSet<AllocId>,
    ) -> Option<Action> {
        if !running.contains(&alloc)
            || self.stopping.contains(&alloc)
            || self.failing.contains_key(&alloc)
        {
            return None;
        }
        self.failing.insert(alloc, reason);
        Some(Action::Stop { alloc })
    }

    /// A task ended; returns the report owed for it.
    pub fn exited(&mut self, alloc: AllocId, exit: &Exit) -> &Report {
        let asked_to_stop = self.stopping.remove(&alloc);
        let mut report = exit_report(alloc, exit, asked_to_stop);
        if let Some(reason) = self.failing.remove(&alloc)
            && !asked_to_stop
        {
            report.status = AllocStatus::Failed;
            report.message = reason;
        }
        self.unreported.insert(alloc, report);
        &self.unreported[&alloc]
    }

    /// Exits still to be committed, to send (again).
    pub fn unreported(&self) -> Vec<Report> {
        self.unreported.values().cloned().collect()
    }

    /// Whether `report` committed (its outcome refused or not).
    pub fn reported(&mut self, report: &Report, committed: bool) {
        if !committed {
            return;
        }
        self.reported.insert(report.alloc, report.status);
        if self
            .unreported
            .get(&report.alloc)
            .is_some_and(|r| r == report)
        {
            self.unreported.remove(&report.alloc);
        }
    }

    /// A replica answered a poll. While contact is lost nothing starts:
    /// the answer may come from a replica cut off with this node, whose
    /// view the majority has long moved past.
    pub fn answered(
        &mut self,
        now_ms: u64,
        reply: &PollReply,
        running: &BTreeSet<AllocId>,
    ) -> Vec<Action> {
        let behind = self.after_index.max(self.known_committed);
        if reply.index < behind {
            return vec![Action::Notice(Notice::StaleAnswer {
                index: reply.index,
                after: behind,
            })];
        }
        self.after_index = reply.index;
        let mut actions = Vec::new();
        if planted::active(Bug::StaleContact) {
            self.committed(now_ms);
        }
        // Past the deadline counts as lost even before the tick says so.
        let may_start = self.contact.may_start(now_ms);
        actions.extend(self.stop_unowned(reply, running));
        for assignment in &reply.assignments {
            actions.extend(self.handle(assignment, running, may_start));
        }
        actions.extend(self.forget(reply, running));
        self.synced = true;
        actions
    }

    /// Whether what the executor keeps of `alloc` may be asked about for
    /// removal: its task is not running, not being stopped, and its exit
    /// is committed.
    pub fn may_forget(&self, alloc: AllocId, running: &BTreeSet<AllocId>) -> bool {
        !running.contains(&alloc)
            && !self.stopping.contains(&alloc)
            && !self.unreported.contains_key(&alloc)
    }

    /// Allocations the control plane collected: their record here goes,
    /// and the executor's too, unless their task runs after all.
    fn forget(&mut self, reply: &PollReply, running: &BTreeSet<AllocId>) -> Vec<Action> {
        let mut actions = Vec::new();
        for alloc in &reply.gone {
            let vouched = *alloc <= reply.last_alloc;
            if vouched && self.may_forget(*alloc, running) {
                self.reported.remove(alloc);
                actions.push(Action::Forget { alloc: *alloc });
            }
        }
        actions
    }

    /// The executor's answer to [`Action::Start`].
    pub fn started(&mut self, alloc: AllocId, outcome: Result<(), String>) -> Option<Action> {
        let (status, message) = match outcome {
            Ok(()) => (AllocStatus::Running, "running".to_string()),
            Err(e) => (AllocStatus::Failed, e),
        };
        self.report(alloc, status, None, message)
    }

    /// The executor's answer to [`Action::Recover`].
    pub fn recovered(&mut self, alloc: AllocId, exit: Option<Exit>) -> Option<Action> {
        let exit = exit.unwrap_or_else(|| Exit {
            code: None,
            message: "lost when the worker restarted".into(),
        });
        let report = exit_report(alloc, &exit, false);
        let action = self.report(alloc, report.status, report.exit_code, report.message)?;
        if let Action::Report(report) = &action {
            // Owed like any exit: the node vouches for nothing until it
            // is committed.
            self.unreported.insert(alloc, report.clone());
        }
        Some(action)
    }

    /// Stops tasks that no allocation of this node owns any more: left by
    /// an earlier worker process for allocations that have since ended or
    /// moved. Every reply lists all of the node's unfinished allocations,
    /// but only a replica that has issued an allocation can vouch for it.
    fn stop_unowned(&mut self, reply: &PollReply, running: &BTreeSet<AllocId>) -> Vec<Action> {
        let owned: BTreeSet<AllocId> = reply.assignments.iter().map(|a| a.alloc).collect();
        let mut actions = Vec::new();
        for alloc in running {
            let vouched = *alloc <= reply.last_alloc;
            if vouched && !owned.contains(alloc) && self.stopping.insert(*alloc) {
                actions.push(Action::Notice(Notice::Unowned { alloc: *alloc }));
                actions.push(Action::Stop { alloc: *alloc });
            }
        }
        actions
    }

    /// Brings one allocation in line with what the control plane wants.
    fn handle(
        &mut self,
        a: &Assignment,
        running: &BTreeSet<AllocId>,
        may_start: bool,
    ) -> Option<Action> {
        match (a.desired, running.contains(&a.alloc)) {
            (DesiredStatus::Stop, true) => self
                .stopping
                .insert(a.alloc)
                .then_some(Action::Stop { alloc: a.alloc }),
            (DesiredStatus::Stop, false) => {
                self.report(a.alloc, AllocStatus::Stopped, None, "stopped".into())
            }
            // Judged unknown (this node seemed disconnected) after this
            // worker had committed "running": that decision overrode the
            // report, so it is said again, or the allocation stays unknown
            // for good and its replacement runs beside it.
            (DesiredStatus::Run, true) if a.status == AllocStatus::Unknown => {
                Some(Action::Report(running_report(a.alloc)))
            }
            (DesiredStatus::Run, true) if a.status != AllocStatus::Running => {
                let running = running_report(a.alloc);
                self.report(a.alloc, running.status, None, running.message)
            }
            (DesiredStatus::Run, true) => None,
            // Only starting waits for contact: what became of a task a
            // previous process ran is reported whatever replica asks.
            (DesiredStatus::Run, false) if !may_start && a.status == AllocStatus::Pending => None,
            // It ended here and that was committed: a replica still listing
            // it to run has not applied the report yet.
            (DesiredStatus::Run, false)
                if self
                    .reported
                    .get(&a.alloc)
                    .is_some_and(|status| status.is_terminal()) =>
            {
                None
            }
            // Its exit is known here and on its way: a replica that has not
            // heard of it yet must not make it look like a failure.
            (DesiredStatus::Run, false) if self.unreported.contains_key(&a.alloc) => None,
            // It ran here before this worker process: learn how it ended.
            (DesiredStatus::Run, false) if a.status != AllocStatus::Pending => {
                Some(Action::Recover { alloc: a.alloc })
            }
            // Its data is copied once the allocation it replaces has
            // stopped: the next answer comes when that is committed.
            (DesiredStatus::Run, false)
                if matches!(a.data_from, Some(DataFrom::Stopping(_))) && a.task.is_some() =>
            {
                None
            }
            (DesiredStatus::Run, false) => match &a.task {
                Some(task) => match self.with_volume_paths(task, &a.volumes) {
                    Ok(task) => Some(Action::Start {
                        alloc: a.alloc,
                        job: a.job.clone(),
                        task,
                        data: a.data_from.clone(),
                    }),
                    Err(why) => self.report(a.alloc, AllocStatus::Failed, None, why),
                },
                // Said, or it would wait for ever (a rollout halted by a
                // failure never replaces it): the control plane replaces a
                // failed allocation with the current version.
                None => self.report(
                    a.alloc,
                    AllocStatus::Failed,
                    None,
                    "its job moved to another version before it started".into(),
                ),
            },
        }
    }

    /// `task` with the paths of the volumes it asks for in its environment
    /// (`crate::volumes`); an error names a volume this node lacks (it was
    /// offered when the task was placed, and is no longer configured).
    fn with_volume_paths(
        &self,
        task: &crate::job::TaskSpec,
        asks: &[crate::volumes::VolumeAsk],
    ) -> Result<crate::job::TaskSpec, String> {
        if let Some(missing) = asks.iter().find(|a| !self.volumes.contains_key(&a.name)) {
            return Err(format!(
                "host volume {} is not configured on this node ([[volume]] in its node.toml)",
                missing.name
            ));
        }
        let mut task = task.clone();
        // Only what this worker resolves reaches the driver: a spec that
        // slipped past validation (written by an older build) names no
        // host path of its own.
        task.env.retain(|key, _| !crate::volumes::is_ours(key));
        task.env.extend(crate::volumes::environment(asks, |name| {
            self.volumes[name].clone()
        }));
        Ok(task)
    }

    /// A report, unless this status was already committed.
    fn report(
        &self,
        alloc: AllocId,
        status: AllocStatus,
        exit_code: Option<i32>,
        message: String,
    ) -> Option<Action> {
        (self.reported.get(&alloc) != Some(&status)).then_some(Action::Report(Report {
            alloc,
            status,
            exit_code,
            message,
        }))
    }
}

fn running_report(alloc: AllocId) -> Report {
    Report {
        alloc,
        status: AllocStatus::Running,
        exit_code: None,
        message: "running".into(),
    }
}

fn exit_report(alloc: AllocId, exit: &Exit, asked_to_stop: bool) -> Report {
    let status = if asked_to_stop {
        AllocStatus::Stopped
    } else if exit.success() {
        AllocStatus::Complete
    } else {
        AllocStatus::Failed
    };
    Report {
        alloc,
        status,
        exit_code: exit.code,
        message: exit.message.clone(),
    }
}

#[cfg(test)]
mod tests;
