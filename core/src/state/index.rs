//! Secondary indexes over allocations, derived from the replicated data and
//! rebuilt after a restore. Resource use is kept as a running sum so that a
//! plan check costs O(placements), not O(allocations).

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::Allocation;
use crate::ids::{AllocId, JobId, NodeId};
use crate::resources::Resources;

#[derive(Debug, Clone, Default)]
pub(super) struct Indexes {
    by_job: BTreeMap<JobId, BTreeSet<AllocId>>,
    by_node: BTreeMap<NodeId, BTreeSet<AllocId>>,
    used: BTreeMap<NodeId, Resources>,
}

impl Indexes {
    pub fn rebuild<'a>(allocs: impl Iterator<Item = &'a Allocation>) -> Self {
        let mut indexes = Self::default();
        for alloc in allocs {
            indexes.insert(alloc);
        }
        indexes
    }

    pub fn insert(&mut self, alloc: &Allocation) {
        self.by_job
            .entry(alloc.job.clone())
            .or_default()
            .insert(alloc.id);
        self.by_node
            .entry(alloc.node.clone())
            .or_default()
            .insert(alloc.id);
        if alloc.holds_resources() {
            let used = self.used.entry(alloc.node.clone()).or_default();
            // Saturating: capacity checks keep real sums far below u64::MAX.
            used.cpu_millis = used.cpu_millis.saturating_add(alloc.resources.cpu_millis);
            used.memory_mb = used.memory_mb.saturating_add(alloc.resources.memory_mb);
            used.gpus = used.gpus.saturating_add(alloc.resources.gpus);
        }
    }

    pub fn remove(&mut self, alloc: &Allocation) {
        if let Some(ids) = self.by_job.get_mut(&alloc.job) {
            ids.remove(&alloc.id);
        }
        if let Some(ids) = self.by_node.get_mut(&alloc.node) {
            ids.remove(&alloc.id);
        }
        if let Some(used) = self
            .used
            .get_mut(&alloc.node)
            .filter(|_| alloc.holds_resources())
        {
            *used = used.saturating_sub(alloc.resources);
        }
    }

    pub fn by_job(&self, job: &JobId) -> impl Iterator<Item = AllocId> + '_ {
        self.by_job.get(job).into_iter().flatten().copied()
    }

    pub fn by_node(&self, node: &NodeId) -> impl Iterator<Item = AllocId> + '_ {
        self.by_node.get(node).into_iter().flatten().copied()
    }

    pub fn used(&self, node: &NodeId) -> Resources {
        self.used.get(node).copied().unwrap_or_default()
    }
}
