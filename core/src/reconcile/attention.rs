//! Which jobs a leader's pass looks at: the work of a pass follows what
//! changed, not the size of the backlog. A job is looked at again when
//! its spec or one of its allocations changed, when a node it has work on
//! (or, for system jobs, any node) changed, when capacity grew since it
//! last could not be placed (Nomad's blocked evaluations), when a time it
//! waits for comes (a reschedule backoff), when a node it waits to hear
//! from heartbeats. A pass counts only once everything it proposed
//! landed, and what lands changes the jobs it acted on, so they are
//! looked at again. Everything else would be decided exactly as last
//! time — which `Scope::skipped` lets debug builds check.

use std::collections::{BTreeMap, BTreeSet};

use super::Cycle;
use crate::ids::{JobId, NodeId};
use crate::job::JobKind;
use crate::state::ClusterState;

/// The jobs a pass reconciles (nodes are always all looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Jobs(BTreeSet<JobId>),
}

impl Scope {
    /// Every job of `state` outside this scope: a pass over them should
    /// act on none, if the rules above miss nothing.
    #[must_use]
    pub fn skipped(&self, state: &ClusterState) -> Self {
        match self {
            Self::All => Self::Jobs(BTreeSet::new()),
            Self::Jobs(jobs) => Self::Jobs(
                state
                    .jobs()
                    .map(|j| &j.spec.id)
                    .filter(|id| !jobs.contains(*id))
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// How many jobs the pass looks at (`None`: all of them).
    pub fn looks_at(&self) -> Option<usize> {
        match self {
            Self::All => None,
            Self::Jobs(jobs) => Some(jobs.len()),
        }
    }
}

/// One pass, as chosen from the state it plans on.
#[derive(Debug, Clone)]
pub struct Pass {
    pub scope: Scope,
    /// The state's index when the pass was chosen.
    seen: u64,
    /// When capacity had last grown, as of that state.
    capacity_grew_at: u64,
}

/// What a leader remembers between passes. A new leader starts empty, so
/// its first pass looks at every job.
#[derive(Debug, Clone, Default)]
pub struct Attention {
    /// The state index the last landed pass saw.
    seen: Option<u64>,
    /// Jobs left with allocations no node could take, by when capacity
    /// had last grown as of that pass: finding those capacity grew for
    /// since costs what it finds, however many are blocked.
    blocked: Keyed,
    /// Jobs to look at again, by the time.
    due: Keyed,
    /// Jobs waiting for a node's heartbeat, and the node.
    awaiting: BTreeMap<JobId, BTreeSet<NodeId>>,
}

impl Attention {
    /// The pass to make over `state` at `now_ms`.
    pub fn next_pass(&self, state: &ClusterState, now_ms: u64) -> Pass {
        let capacity_grew_at = state.capacity_grew_at();
        let changed = self.seen.and_then(|seen| state.changed_since(seen));
        let scope = match changed {
            None => Scope::All,
            Some(changed) => {
                let mut jobs: BTreeSet<JobId> = changed.jobs.into_iter().collect();
                if !changed.nodes.is_empty() {
                    for node in &changed.nodes {
                        jobs.extend(state.node_allocs(node).map(|a| a.job.clone()));
                    }
                    jobs.extend(
                        state
                            .jobs()
                            .filter(|j| j.spec.kind == JobKind::System)
                            .map(|j| j.spec.id.clone()),
                    );
                }
                let heard: BTreeSet<&NodeId> = changed.heard_from.iter().collect();
                jobs.extend(
                    self.awaiting
                        .iter()
                        .filter(|(_, nodes)| nodes.iter().any(|n| heard.contains(n)))
                        .map(|(job, _)| job.clone()),
                );
                jobs.extend(self.due.up_to(now_ms).cloned());
                if let Some(before_growth) = capacity_grew_at.checked_sub(1) {
                    jobs.extend(self.blocked.up_to(before_growth).cloned());
                }
                Scope::Jobs(jobs)
            }
        };
        Pass {
            scope,
            seen: state.index(),
            capacity_grew_at,
        }
    }

    /// Remembers what `pass` left, once everything it proposed landed
    /// (committed and applied without refusal). A pass that did not land
    /// is forgotten, so the next one looks at the same jobs again.
    pub fn landed(&mut self, pass: &Pass, cycle: &Cycle) {
        match &pass.scope {
            Scope::All => {
                self.blocked = Keyed::default();
                self.due = Keyed::default();
                self.awaiting.clear();
            }
            Scope::Jobs(jobs) => {
                for job in jobs {
                    self.blocked.remove(job);
                    self.due.remove(job);
                    self.awaiting.remove(job);
                }
            }
        }
        for job in cycle.pending.keys() {
            self.blocked.insert(job, pass.capacity_grew_at);
        }
        for (job, at) in &cycle.reconciliation.job_wakes {
            self.due.insert(job, *at);
        }
        for (job, node) in &cycle.reconciliation.awaiting_heartbeat {
            self.awaiting
                .entry(job.clone())
                .or_default()
                .insert(node.clone());
        }
        self.seen = Some(pass.seen);
    }

    /// How many jobs wait for capacity.
    pub fn blocked(&self) -> usize {
        self.blocked.by_job.len()
    }
}

/// Jobs each under one number (a capacity mark, a time), found by number
/// range in the time it takes to list them.
#[derive(Debug, Clone, Default)]
struct Keyed {
    by_job: BTreeMap<JobId, u64>,
    by_key: BTreeMap<u64, BTreeSet<JobId>>,
}

impl Keyed {
    fn insert(&mut self, job: &JobId, key: u64) {
        self.remove(job);
        self.by_job.insert(job.clone(), key);
        self.by_key.entry(key).or_default().insert(job.clone());
    }

    fn remove(&mut self, job: &JobId) {
        let Some(key) = self.by_job.remove(job) else {
            return;
        };
        if let Some(jobs) = self.by_key.get_mut(&key) {
            jobs.remove(job);
            if jobs.is_empty() {
                self.by_key.remove(&key);
            }
        }
    }

    /// Jobs whose number is at most `key`.
    fn up_to(&self, key: u64) -> impl Iterator<Item = &JobId> {
        self.by_key.range(..=key).flat_map(|(_, jobs)| jobs)
    }
}
