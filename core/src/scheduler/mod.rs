//! The scheduler: where should each new allocation run? Pure functions over
//! a read-only [`ClusterState`], split as Nomad splits them: feasibility
//! (checkers, each rejection recorded) → ranking (bin-pack or least-loaded,
//! spread, job anti-affinity) → selection (best score; ties broken by a hash
//! seeded from replicated data).
//!
//! Cost: a batch of placements does not scan every node per placement.
//! Candidates are a pool's members, visited in a seeded pseudo-random order
//! (a Feistel permutation, O(1) per step, no shuffle); each placement ranks
//! only the first `limit` feasible nodes it meets (Nomad's limit iterator:
//! 2 for batch jobs, ⌈log₂ n⌉ otherwise, doubled with spread) and the walk
//! carries on where the last placement stopped. Only a placement that finds
//! nothing visits the whole pool — and it also ends the batch, since within
//! one plan nodes only fill up. See docs/scheduler.md.

mod feasible;
mod metrics;
mod permute;
mod rank;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use feasible::{Checker, attribute_values};
pub use metrics::{PlacementMetrics, Rejection};
pub use permute::{Permutation, hash_str, mix64};
pub use rank::Algorithm;

use crate::alloc::Allocation;
use crate::ids::{AllocId, JobId, NodeId};
use crate::job::{JobKind, JobSpec};
use crate::node::Node;
use crate::resources::Resources;
use crate::state::ClusterState;
use rank::{SpreadCounts, anti_affinity, fit_score};

/// How many feasible candidates each placement ranks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateLimit {
    /// Nomad's bounded sample (see the module docs).
    #[default]
    Sampled,
    /// Rank every feasible node: best quality, O(nodes) per placement.
    Exhaustive,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    pub algorithm: Algorithm,
    pub limit: CandidateLimit,
}

/// The tie-break seed for one job's placements at one log index: derived
/// from replicated data only, so any leader makes the same choices.
pub fn seed_for(job: &JobId, index: u64) -> u64 {
    mix64(hash_str(job.as_str()) ^ mix64(index))
}

/// Where a batch of one job's allocations went, and why the rest did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPlacement {
    pub nodes: Vec<NodeId>,
    pub metrics: PlacementMetrics,
}

/// Places allocations for one plan. Remembers what the plan already placed
/// and released, so later jobs in the same plan see the capacity left.
/// Works on node slots (positions, O(1) to look up) rather than names.
pub struct Scheduler<'s> {
    state: &'s ClusterState,
    config: SchedulerConfig,
    added: BTreeMap<u32, Resources>,
    released: BTreeMap<u32, Resources>,
    released_allocs: BTreeSet<AllocId>,
    /// The ports each host holds, gathered once the first job with ports
    /// asks: a feasibility check per candidate node must not walk every
    /// node again.
    held_ports: std::cell::OnceCell<BTreeMap<&'s str, BTreeSet<u16>>>,
}

impl<'s> Scheduler<'s> {
    pub fn new(state: &'s ClusterState, config: SchedulerConfig) -> Self {
        Self {
            state,
            config,
            added: BTreeMap::new(),
            released: BTreeMap::new(),
            released_allocs: BTreeSet::new(),
            held_ports: std::cell::OnceCell::new(),
        }
    }

    /// The ports held on `node`'s host.
    fn held_on(&self, node: &Node) -> BTreeSet<u16> {
        self.held_ports
            .get_or_init(|| self.state.ports_by_host())
            .get(crate::ports::host_of(&node.address))
            .cloned()
            .unwrap_or_default()
    }

    /// The plan stops `alloc`: its room is free for later placements.
    pub fn release(&mut self, alloc: &Allocation) {
        let Some(slot) = self.state.slot_of(&alloc.node) else {
            return;
        };
        if alloc.holds_resources() && self.released_allocs.insert(alloc.id) {
            let freed = self.released.entry(slot).or_default();
            *freed = freed.checked_add(alloc.resources).unwrap_or(*freed);
        }
    }

    /// Free capacity on `node` given the committed state and this plan.
    pub fn free(&self, node: &Node) -> Resources {
        self.state
            .slot_of(&node.id)
            .map_or(Resources::ZERO, |slot| self.free_at(slot))
    }

    fn free_at(&self, slot: u32) -> Resources {
        let info = self.state.slot_info(slot);
        let added = self.added.get(&slot).copied().unwrap_or_default();
        let released = self.released.get(&slot).copied().unwrap_or_default();
        info.capacity
            .checked_add(released)
            .unwrap_or(info.capacity)
            .saturating_sub(info.used)
            .saturating_sub(added)
    }

    fn commit(&mut self, slot: u32, need: Resources) {
        let added = self.added.entry(slot).or_default();
        *added = added.checked_add(need).unwrap_or(*added);
    }

    /// The job's live allocations per node slot, not counting those this plan stops.
    fn job_counts(&self, job: &JobId) -> BTreeMap<u32, u32> {
        let mut counts = BTreeMap::new();
        for alloc in self.state.job_allocs(job) {
            let counted = alloc.holds_resources() && !self.released_allocs.contains(&alloc.id);
            if let Some(slot) = self.state.slot_of(&alloc.node).filter(|_| counted) {
                *counts.entry(slot).or_default() += 1;
            }
        }
        counts
    }

    /// Chooses nodes for `count` new allocations of `job`.
    pub fn place(&mut self, job: &JobSpec, count: u32, seed: u64) -> JobPlacement {
        let state = self.state;
        let checker = Checker::new(job);
        let members = state.pool_members(&job.pool);
        let mut metrics = PlacementMetrics {
            nodes_total: u32::try_from(state.node_count()).unwrap_or(u32::MAX),
            need: job.task.resources,
            ..PlacementMetrics::default()
        };
        let outside_pool = state.node_count().saturating_sub(members.len());
        if outside_pool > 0 {
            let outside = u32::try_from(outside_pool).unwrap_or(u32::MAX);
            metrics.rejected.insert(Rejection::NotInPool, outside);
        }
        let mut per_node = self.job_counts(&job.id);
        let existing: Vec<&Node> = per_node
            .iter()
            .flat_map(|(slot, n)| std::iter::repeat_n(state.node_at(*slot), *n as usize))
            .collect();
        let mut spread = SpreadCounts::new(job, &existing);
        let job_size = match job.kind {
            JobKind::Service { replicas } => replicas,
            JobKind::Batch | JobKind::System => count,
        };
        let n = members.len();
        let limit = self.limit(job, n, !spread.is_empty());
        let order = Permutation::new(n, seed);
        let mut cursor = 0usize;
        let mut placed = Vec::new();
        for _ in 0..count {
            let mut attempt = PlacementMetrics::default();
            let mut best: Option<(i64, u64, u32)> = None;
            let mut feasible = 0usize;
            let mut visited = 0usize;
            while visited < n && feasible < limit {
                let slot = members[order.at(cursor % n)];
                cursor = cursor.wrapping_add(1);
                visited += 1;
                // The dense slot summary answers most candidates; the full
                // node record is read only for constraints, spread, or to
                // name why a node is not ready.
                let info = state.slot_info(slot);
                let on_node = per_node.get(&slot).copied().unwrap_or(0);
                let free = self.free_at(slot);
                let verdict = self.feasible(&checker, slot, on_node).and_then(|()| {
                    attempt.saw_free(free);
                    checker.fit_check(free)
                });
                if let Err(why) = verdict {
                    attempt.reject(why);
                    continue;
                }
                feasible += 1;
                let used_after = info
                    .capacity
                    .saturating_sub(free)
                    .checked_add(job.task.resources)
                    .unwrap_or(info.capacity);
                let mut score = fit_score(info.capacity, used_after, self.config.algorithm)
                    + anti_affinity(on_node, job_size);
                if !spread.is_empty() {
                    score += spread.score(state.node_at(slot));
                }
                let tie = mix64(seed ^ u64::from(slot));
                if best.is_none_or(|(s, t, _)| (score, tie) > (s, t)) {
                    best = Some((score, tie, slot));
                }
            }
            metrics.nodes_evaluated = metrics
                .nodes_evaluated
                .saturating_add(u32::try_from(visited).unwrap_or(u32::MAX));
            let Some((_, _, slot)) = best else {
                for (why, n) in attempt.rejected {
                    *metrics.rejected.entry(why).or_default() += n;
                }
                metrics.best_free = attempt.best_free;
                metrics.unplaced = count - u32::try_from(placed.len()).unwrap_or(u32::MAX);
                break;
            };
            self.commit(slot, job.task.resources);
            *per_node.entry(slot).or_default() += 1;
            let node = state.node_at(slot);
            spread.record(node);
            placed.push(node.id.clone());
        }
        JobPlacement {
            nodes: placed,
            metrics,
        }
    }

    /// Whether the node in `slot`, holding `on_node` of the job's
    /// allocations, may take one more, capacity aside.
    fn feasible(&self, checker: &Checker, slot: u32, on_node: u32) -> Result<(), Rejection> {
        let state = self.state;
        let info = state.slot_info(slot);
        if !info.accepts_work {
            feasible::readiness_check(state.node_at(slot))?;
            return Err(Rejection::NotReady);
        }
        checker.driver_check(info.drivers)?;
        if checker.has_volumes() {
            checker.volume_check(state.node_at(slot))?;
        }
        if checker.has_constraints() {
            checker.constraint_check(state.node_at(slot))?;
        }
        checker.count_check(on_node)?;
        let node = state.node_at(slot);
        checker.port_check(on_node, node, || self.held_on(node))
    }

    /// Checks one specific node (system jobs run one instance per node);
    /// reserves its room on success.
    pub fn place_on(&mut self, job: &JobSpec, node: &Node) -> Result<(), Rejection> {
        let checker = Checker::new(job);
        let Some(slot) = self.state.slot_of(&node.id) else {
            return Err(Rejection::NotReady);
        };
        let on_node = self.job_counts(&job.id).get(&slot).copied().unwrap_or(0);
        checker.static_check(node)?;
        checker.count_check(on_node)?;
        checker.port_check(on_node, node, || self.held_on(node))?;
        checker.fit_check(self.free_at(slot))?;
        self.commit(slot, job.task.resources);
        Ok(())
    }

    fn limit(&self, job: &JobSpec, n: usize, spread: bool) -> usize {
        if self.config.limit == CandidateLimit::Exhaustive {
            return n.max(1);
        }
        let log2 = usize::try_from(usize::BITS - n.leading_zeros()).unwrap_or(1);
        let base = match job.kind {
            JobKind::Batch => 2,
            JobKind::Service { .. } | JobKind::System => log2.max(2),
        };
        if spread { base * 2 } else { base }
    }
}
