//! What really happens on the simulated machines: every task the simulated
//! executors start and end, with its virtual times, and which nodes the
//! faults have cut off from every quorum or halted, and how many instances
//! of each service ran around every stop. The reality invariants
//! (`invariants::capacity`, `invariants::cut_off_nodes_stop`,
//! `invariants::service_instances`, `invariants::no_gap_on_replace`) read this,
//! never the control plane's records: a check that reads the system's own
//! bookkeeping cannot catch the system's bugs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use drover_adapters::disk::{FileSystem, SimFs};
use drover_core::{AllocId, JobId, Resources};
use serde_json::json;

use crate::history::Call;
use crate::invariants::{
    Violation, cut_off_node_ran_nothing, damaged_disk_refused, no_port_held_twice,
    node_within_capacity, service_within_bound,
};
use crate::network::{Cuts, reaches_a_quorum};
use crate::trace::Trace;

/// One task as it really ran.
#[derive(Debug, Clone)]
pub struct TaskRun {
    pub node: u64,
    pub alloc: AllocId,
    pub job: JobId,
    pub resources: Resources,
    pub started_ms: u64,
    /// When it ended or will end: its natural end, or earlier if it was
    /// stopped or its machine died.
    pub ends_ms: u64,
    /// When it ends by itself, and with what exit code.
    pub natural_end_ms: u64,
    pub exit_code: i32,
    /// The ports the task was given (`DROVER_PORT_*`), which it holds
    /// while it runs.
    pub ports: Vec<u16>,
}

impl TaskRun {
    pub fn runs_at(&self, ms: u64) -> bool {
        self.started_ms <= ms && ms < self.ends_ms
    }

    /// Whether it ran at any instant of `from..to`.
    pub fn runs_within(&self, from: u64, to: u64) -> bool {
        self.started_ms < to && from < self.ends_ms
    }

    /// A task of `job` on `node` that ran from `from` to `to`, ending by
    /// itself with exit code 0: for the invariants' own tests.
    pub fn example(node: u64, job: &str, from: u64, to: u64) -> Self {
        Self {
            node,
            alloc: AllocId(1),
            job: JobId::new(job).expect("a valid job name"),
            resources: Resources::default(),
            started_ms: from,
            ends_ms: to,
            natural_end_ms: to,
            exit_code: 0,
            ports: Vec::new(),
        }
    }

    /// Whether it ended by itself (not stopped, its machine alive) by `at_ms`.
    pub fn exited_by_itself(&self, at_ms: u64) -> bool {
        self.ends_ms == self.natural_end_ms && self.ends_ms <= at_ms
    }
}

/// A service as submitted: what bounds its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub replicas: u64,
    /// The update policy's `max_parallel`: how many instances a rollout
    /// or a drain may run beside the old ones.
    pub max_parallel: u64,
}

/// A worker stopped one of a service's tasks: how many of the service's
/// tasks ran just before the stop and just after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStop {
    pub node: u64,
    pub alloc: AllocId,
    pub job: JobId,
    pub at_ms: u64,
    pub before: u64,
    pub after: u64,
    pub replicas: u64,
}

/// A node as a node list shows it: ready or not, and when its status
/// last changed and when it registered (the leader's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub changed_ms: u64,
    pub registered_ms: u64,
}

/// What a simulated task is asked to do.
#[derive(Debug, Clone)]
pub struct Started {
    pub resources: Resources,
    pub runs_for: Duration,
    pub exit_code: i32,
    pub ports: Vec<u16>,
}

/// What the cluster is: who votes, who runs work with what capacity, and
/// how long a node cut off may keep its tasks.
#[derive(Debug, Clone)]
pub struct Topology {
    pub voters: Vec<u64>,
    pub capacity: BTreeMap<u64, Resources>,
    pub max_disconnect_ms: u64,
}

/// A disk the simulator damaged: what it holds since, and what was hit.
pub struct Damage {
    pub disk: SimFs,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub what: String,
}

struct Inner {
    origin: Instant,
    damaged: BTreeMap<u64, Damage>,
    /// Nodes that refused to start, with what they said.
    refused: BTreeMap<u64, String>,
    topology: Topology,
    services: BTreeMap<JobId, Service>,
    /// Every start of a service's task: (job, when), checked at the end.
    service_starts: Vec<(JobId, u64)>,
    runs: Vec<TaskRun>,
    /// Index into `runs` of each live task.
    live: BTreeMap<(u64, AllocId), usize>,
    /// Every voter set that may be in force: the initial one, and, while
    /// an operator's membership change is under way (or its outcome is
    /// unknown), the sets it may have made. A node reaching a quorum of
    /// any of them is not cut off.
    voter_sets: BTreeSet<Vec<u64>>,
    /// The network and the stopped nodes as last set.
    last_network: (Cuts, BTreeSet<u64>),
    /// Nodes running work, up, and cut off from every quorum: since when.
    cut_off_since: BTreeMap<u64, u64>,
    /// The (node, from, to) windows of being cut off that ended.
    cut_offs: Vec<(u64, u64, u64)>,
    /// Nodes down or paused: since when; and the intervals that ended.
    halted_since: BTreeMap<u64, u64>,
    halted: Vec<(u64, u64, u64)>,
    /// Nodes the control plane judged not ready (as the observer last read
    /// a replica's node list): since when; and the windows that ended.
    unready_since: BTreeMap<u64, u64>,
    unready: Vec<(u64, u64, u64)>,
    /// The last node list taken, and when it was asked for.
    last_node_list: Option<(u64, BTreeMap<u64, Readiness>)>,
    service_stops: Vec<ServiceStop>,
    violation: Option<Violation>,
    trace: Trace,
}

#[derive(Clone)]
pub struct Reality(Arc<Mutex<Inner>>);

impl Reality {
    pub fn new(topology: Topology, trace: Trace) -> Self {
        let voters = topology.voters.clone();
        Self(Arc::new(Mutex::new(Inner {
            origin: Instant::now(),
            damaged: BTreeMap::new(),
            refused: BTreeMap::new(),
            topology,
            services: BTreeMap::new(),
            service_starts: Vec::new(),
            runs: Vec::new(),
            live: BTreeMap::new(),
            voter_sets: BTreeSet::from([voters]),
            last_network: (Cuts::default(), BTreeSet::new()),
            cut_off_since: BTreeMap::new(),
            cut_offs: Vec::new(),
            halted_since: BTreeMap::new(),
            halted: Vec::new(),
            unready_since: BTreeMap::new(),
            unready: Vec::new(),
            last_node_list: None,
            service_stops: Vec::new(),
            violation: None,
            trace,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A task started on `node`; it ends by itself after `runs_for`,
    /// exiting with `exit_code`.
    pub fn started(&self, node: u64, alloc: AllocId, job: &JobId, task: Started) {
        let mut inner = self.lock();
        let now = inner.now_ms();
        let natural_end_ms =
            now.saturating_add(u64::try_from(task.runs_for.as_millis()).unwrap_or(u64::MAX));
        let run = TaskRun {
            node,
            alloc,
            job: job.clone(),
            resources: task.resources,
            started_ms: now,
            ends_ms: natural_end_ms,
            natural_end_ms,
            exit_code: task.exit_code,
            ports: task.ports,
        };
        let index = inner.runs.len();
        inner.runs.push(run);
        inner.live.insert((node, alloc), index);
        let capacity = inner
            .topology
            .capacity
            .get(&node)
            .copied()
            .unwrap_or_default();
        let checked = node_within_capacity(node, capacity, &inner.runs, now);
        inner.record(checked);
        let checked = no_port_held_twice(node, &inner.runs, now);
        inner.record(checked);
        if let Some(since) = inner.cut_off_since.get(&node).copied() {
            let max = inner.topology.max_disconnect_ms;
            let checked = cut_off_node_ran_nothing(node, since, now + 1, max, &inner.runs);
            inner.record(checked);
        }
        // Judged at the end: that a node was judged disconnected may be
        // seen only after its work was replaced.
        if inner.services.contains_key(job) {
            inner.service_starts.push((job.clone(), now));
        }
    }

    /// `job` is a service the clients submit (its shape never changes on
    /// update).
    pub fn service(&self, job: &JobId, service: Service) {
        self.lock().services.insert(job.clone(), service);
    }

    /// A task on `node` was stopped now (or had ended by itself before).
    pub fn stopped(&self, node: u64, alloc: AllocId) {
        let mut inner = self.lock();
        let now = inner.now_ms();
        let stopping = inner
            .live
            .get(&(node, alloc))
            .map(|index| &inner.runs[*index])
            .filter(|run| run.runs_at(now))
            .map(|run| run.job.clone());
        inner.end(node, alloc, now);
        let Some(job) = stopping else { return };
        let Some(service) = inner.services.get(&job).copied() else {
            return;
        };
        let after = inner.running(&job, now);
        inner.service_stops.push(ServiceStop {
            node,
            alloc,
            job,
            at_ms: now,
            before: after + 1,
            after,
            replicas: service.replicas,
        });
    }

    /// `node`'s machine died: every task on it is gone.
    pub fn machine_lost(&self, node: u64) {
        let mut inner = self.lock();
        let now = inner.now_ms();
        let on_node: Vec<AllocId> = inner
            .live
            .keys()
            .filter(|(n, _)| *n == node)
            .map(|(_, a)| *a)
            .collect();
        for alloc in on_node {
            inner.end(node, alloc, now);
        }
    }

    /// An operator asked to remove voter `node` (or add it back): until
    /// the answer, either set may be in force.
    pub fn voters_may_change(&self, node: u64, remove: bool) {
        self.change_voters(node, remove, true);
    }

    /// The change was acknowledged: every set that may be in force now
    /// has it made.
    pub fn voters_changed(&self, node: u64, remove: bool) {
        self.change_voters(node, remove, false);
    }

    fn change_voters(&self, node: u64, remove: bool, keep_old: bool) {
        let (cuts, stopped) = {
            let mut inner = self.lock();
            let changed: BTreeSet<Vec<u64>> = inner
                .voter_sets
                .iter()
                .map(|set| {
                    let mut set: BTreeSet<u64> = set.iter().copied().collect();
                    if remove {
                        set.remove(&node);
                    } else {
                        set.insert(node);
                    }
                    set.into_iter().collect()
                })
                .collect();
            if keep_old {
                inner.voter_sets.extend(changed);
            } else {
                inner.voter_sets = changed;
            }
            inner.last_network.clone()
        };
        self.network(&cuts, &stopped);
    }

    /// The network and the stopped (crashed or paused) nodes changed.
    pub fn network(&self, cuts: &Cuts, stopped: &BTreeSet<u64>) {
        let mut inner = self.lock();
        inner.last_network = (cuts.clone(), stopped.clone());
        let now = inner.now_ms();
        let up = |n: u64| !stopped.contains(&n);
        let reaches = |node: u64| {
            inner
                .voter_sets
                .iter()
                .any(|voters| !voters.is_empty() && reaches_a_quorum(cuts, voters, &up, node))
        };
        let cut_off: BTreeSet<u64> = inner
            .topology
            .capacity
            .keys()
            .copied()
            .filter(|n| up(*n) && !reaches(*n))
            .collect();
        for (node, since) in take_ended(&mut inner.cut_off_since, |n| cut_off.contains(&n)) {
            inner.close_window(node, since, now);
        }
        for node in cut_off {
            inner.cut_off_since.entry(node).or_insert(now);
        }
        for (node, since) in take_ended(&mut inner.halted_since, |n| stopped.contains(&n)) {
            inner.halted.push((node, since, now));
        }
        for node in stopped {
            inner.halted_since.entry(*node).or_insert(now);
        }
    }

    /// A linearizable node list asked for at `asked_ms`: whether each
    /// node is ready, when its status last changed and when it registered
    /// (by the leader's clock; compared only with themselves). The list
    /// reflects the state at some instant after `asked_ms` (its read index
    /// was taken then or later). A node not ready (disconnected or down)
    /// may have its work replaced while it still runs (DESIGN.md §4), from
    /// some instant after the previous list was asked for (or the start,
    /// when there was none): the window opens there. A node ready now whose
    /// status changed since the previous list — or, absent from it, ever
    /// since it registered — was judged not ready at some instant the
    /// lists missed: the whole interval counts. (A stale list cannot be
    /// dated: a lagging replica's list read late showed a node ready after
    /// the leader had already judged it disconnected and replaced its
    /// work. And a seed whose leader kept changing answered no
    /// linearizable list for its first 30 s, while a node went
    /// disconnected and back.)
    pub fn node_list(&self, nodes: &BTreeMap<u64, Readiness>, asked_ms: u64) {
        let mut inner = self.lock();
        let now = inner.now_ms();
        assert!(asked_ms <= now, "a list is asked for before it arrives");
        let unready = |n: u64| nodes.get(&n).is_some_and(|r| !r.ready);
        for (node, since) in take_ended(&mut inner.unready_since, unready) {
            inner.unready.push((node, since, now));
        }
        let (since, previous) = inner.last_node_list.take().unwrap_or_default();
        for (node, now_seen) in nodes {
            if !now_seen.ready {
                inner.unready_since.entry(*node).or_insert(since);
                continue;
            }
            let changed_unseen = match previous.get(node) {
                Some(before) => before.ready && before.changed_ms != now_seen.changed_ms,
                None => now_seen.changed_ms != now_seen.registered_ms,
            };
            if changed_unseen {
                inner.unready.push((*node, since, now));
            }
        }
        inner.last_node_list = Some((asked_ms, nodes.clone()));
    }

    /// Every task run so far, and the (node, from, to) intervals in which
    /// a node was down or paused (its tasks, if paused, left running with
    /// no one to stop them).
    pub fn runs_and_halts(&self) -> (Vec<TaskRun>, Vec<(u64, u64, u64)>) {
        let inner = self.lock();
        (inner.runs.clone(), inner.halted.clone())
    }

    /// Every stop of a service's task.
    pub fn service_stops(&self) -> Vec<ServiceStop> {
        self.lock().service_stops.clone()
    }

    pub fn now_ms(&self) -> u64 {
        self.lock().now_ms()
    }

    /// The simulator damaged `node`'s durable `path`, which now holds
    /// `bytes`.
    pub fn damaged(&self, node: u64, disk: SimFs, path: &Path, bytes: Vec<u8>, what: &str) {
        let mut inner = self.lock();
        inner.trace.event(
            &format!("node-{node}"),
            "disk damaged",
            &json!({ "path": path.display().to_string(), "what": what }),
        );
        let damage = Damage {
            disk,
            path: path.to_path_buf(),
            bytes,
            what: what.to_string(),
        };
        inner.damaged.insert(node, damage);
    }

    /// Whether the simulator damaged `node`'s disk (it must stay down).
    pub fn has_damage(&self, node: u64) -> bool {
        self.lock().damaged.contains_key(&node)
    }

    /// `node` refused to start on its disk.
    pub fn refused(&self, node: u64, message: &str) {
        let mut inner = self.lock();
        let first_line = message.lines().next().unwrap_or_default();
        inner.trace.event(
            &format!("node-{node}"),
            "refused to start",
            &json!({ "error": first_line }),
        );
        inner.refused.insert(node, message.to_string());
    }

    /// Whether every node with a damaged disk has refused to start.
    pub fn damaged_all_refused(&self) -> bool {
        let inner = self.lock();
        inner.damaged.keys().all(|n| inner.refused.contains_key(n))
    }

    /// Ends every window, checks every damaged disk and every service's
    /// instances against the clients' `calls`, and returns the first
    /// violation seen, if any.
    pub fn finish(&self, calls: &[Call]) -> Result<(), Violation> {
        self.network(&Cuts::default(), &BTreeSet::new());
        let mut inner = self.lock();
        let damaged: Vec<(u64, Result<(), Violation>)> = inner
            .damaged
            .iter()
            .map(|(node, damage)| {
                let now = damage.disk.read(&damage.path).ok().flatten();
                let refused = inner.refused.contains_key(node);
                (
                    *node,
                    damaged_disk_refused(*node, damage, now.as_deref(), refused),
                )
            })
            .collect();
        for (_, checked) in damaged {
            inner.record(checked);
        }
        let now = inner.now_ms();
        let windows = inner.excused_windows(now);
        let checked = inner.service_starts.iter().find_map(|(job, at)| {
            let service = inner.services.get(job).copied()?;
            service_within_bound(job, service, &inner.runs, &windows, calls, *at).err()
        });
        inner.record(checked.map_or(Ok(()), Err));
        inner.violation.clone().map_or(Ok(()), Err)
    }
}

/// Removes and returns the (node, since) windows whose node no longer
/// `holds`.
fn take_ended(since: &mut BTreeMap<u64, u64>, holds: impl Fn(u64) -> bool) -> Vec<(u64, u64)> {
    let ended: Vec<(u64, u64)> = since
        .iter()
        .filter(|(n, _)| !holds(**n))
        .map(|(n, from)| (*n, *from))
        .collect();
    for (node, _) in &ended {
        since.remove(node);
    }
    ended
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn end(&mut self, node: u64, alloc: AllocId, at: u64) {
        if let Some(index) = self.live.remove(&(node, alloc)) {
            let run = &mut self.runs[index];
            run.ends_ms = run.ends_ms.min(at);
        }
    }

    fn close_window(&mut self, node: u64, since: u64, until: u64) {
        self.cut_offs.push((node, since, until));
        let max = self.topology.max_disconnect_ms;
        let checked = cut_off_node_ran_nothing(node, since, until, max, &self.runs);
        self.record(checked);
    }

    /// How many of `job`'s tasks run at `at_ms`.
    fn running(&self, job: &JobId, at_ms: u64) -> u64 {
        self.runs
            .iter()
            .filter(|r| &r.job == job && r.runs_at(at_ms))
            .count() as u64
    }

    /// The (node, from, to) windows of being cut off, halted or judged not
    /// ready, ended or still open (until `now`).
    fn excused_windows(&self, now: u64) -> Vec<(u64, u64, u64)> {
        let open = self
            .cut_off_since
            .iter()
            .chain(&self.halted_since)
            .chain(&self.unready_since)
            .map(|(node, since)| (*node, *since, now));
        self.cut_offs
            .iter()
            .chain(&self.halted)
            .chain(&self.unready)
            .copied()
            .chain(open)
            .collect()
    }

    fn record(&mut self, checked: Result<(), Violation>) {
        if let Err(violation) = checked
            && self.violation.is_none()
        {
            self.trace.event(
                "reality",
                "violation",
                &json!({ "invariant": violation.invariant, "detail": violation.detail }),
            );
            self.violation = Some(violation);
        }
    }
}
