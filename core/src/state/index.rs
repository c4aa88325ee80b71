//! Secondary indexes, derived from the replicated data and rebuilt after a
//! restore: node slots by id, allocations by job and by node, and resource
//! use per node kept as a running sum, so that a plan check costs
//! O(placements) and the scheduler reads a node's use by slot in O(1).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::alloc::Allocation;
use crate::ids::{AllocId, JobId, NodeId};
use crate::job::Driver;
use crate::node::Node;
use crate::resources::Resources;

#[derive(Debug, Clone, Default)]
pub(super) struct Indexes {
    slots: BTreeMap<NodeId, u32>,
    by_job: BTreeMap<JobId, BTreeSet<AllocId>>,
    by_node: BTreeMap<NodeId, BTreeSet<AllocId>>,
    /// By node slot.
    info: Vec<SlotInfo>,
}

/// What the scheduler reads about a node for every candidate, packed
/// densely by slot so that a candidate costs one cache line, not a walk
/// through the node's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotInfo {
    pub capacity: Resources,
    /// Held by unfinished allocations that are wanted running.
    pub used: Resources,
    /// Ready, not draining, of a role that runs work.
    pub accepts_work: bool,
    pub drivers: DriverSet,
}

/// A node's drivers as bits, so the scheduler's per-candidate check does
/// not touch the node record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverSet(u8);

impl DriverSet {
    fn bit(driver: Driver) -> u8 {
        match driver {
            Driver::Docker => 1,
            Driver::Exec => 2,
        }
    }

    pub fn of<'a>(drivers: impl IntoIterator<Item = &'a Driver>) -> Self {
        Self(drivers.into_iter().fold(0, |bits, d| bits | Self::bit(*d)))
    }

    pub fn contains(self, driver: Driver) -> bool {
        self.0 & Self::bit(driver) != 0
    }
}

impl Indexes {
    pub fn rebuild<'a>(nodes: &[Node], allocs: impl Iterator<Item = &'a Allocation>) -> Self {
        let mut indexes = Self::default();
        for node in nodes {
            indexes.add_node(node);
        }
        for alloc in allocs {
            indexes.insert(alloc);
        }
        indexes
    }

    /// Gives a new node the next slot.
    pub fn add_node(&mut self, node: &Node) -> u32 {
        let slot = u32::try_from(self.info.len()).expect("fewer than 2^32 nodes");
        self.slots.insert(node.id.clone(), slot);
        self.info.push(SlotInfo::default());
        self.refresh(slot, node);
        slot
    }

    /// Re-reads what the summary keeps of a node after it changed.
    pub fn refresh(&mut self, slot: u32, node: &Node) {
        if let Some(info) = self.info.get_mut(slot as usize) {
            info.capacity = node.capacity;
            info.accepts_work = node.accepts_work();
            info.drivers = DriverSet::of(&node.drivers);
        }
    }

    pub fn slot(&self, id: &NodeId) -> Option<u32> {
        self.slots.get(id).copied()
    }

    /// Slots in node-id order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.values().copied()
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
        if let Some(used) = self.used_mut(alloc) {
            // Saturating: capacity checks keep real sums far below u64::MAX.
            used.cpu_millis = used.cpu_millis.saturating_add(alloc.resources.cpu_millis);
            used.memory_mb = used.memory_mb.saturating_add(alloc.resources.memory_mb);
            used.gpus = used.gpus.saturating_add(alloc.resources.gpus);
        }
    }

    pub fn remove(&mut self, alloc: &Allocation) {
        remove_from(&mut self.by_job, &alloc.job, alloc.id);
        remove_from(&mut self.by_node, &alloc.node, alloc.id);
        if let Some(used) = self.used_mut(alloc) {
            *used = used.saturating_sub(alloc.resources);
        }
    }

    fn used_mut(&mut self, alloc: &Allocation) -> Option<&mut Resources> {
        if !alloc.holds_resources() {
            return None;
        }
        let slot = self.slot(&alloc.node)?;
        self.info.get_mut(slot as usize).map(|info| &mut info.used)
    }

    pub fn by_job(&self, job: &JobId) -> impl Iterator<Item = AllocId> + '_ {
        self.by_job.get(job).into_iter().flatten().copied()
    }

    pub fn by_job_after(
        &self,
        job: &JobId,
        after: Option<AllocId>,
    ) -> impl Iterator<Item = AllocId> + '_ {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_job
            .get(job)
            .into_iter()
            .flat_map(move |ids| ids.range((start, Bound::Unbounded)))
            .copied()
    }

    /// Slots of the nodes from `start` on, in id order.
    pub fn slots_from<'a>(&'a self, start: Bound<&'a str>) -> impl Iterator<Item = u32> + 'a {
        self.slots
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, slot)| *slot)
    }

    pub fn by_node(&self, node: &NodeId) -> impl Iterator<Item = AllocId> + '_ {
        self.by_node.get(node).into_iter().flatten().copied()
    }

    pub fn info(&self, slot: u32) -> SlotInfo {
        self.info.get(slot as usize).copied().unwrap_or_default()
    }
}

/// Drops `id` from `key`'s set, and the set once empty: the index holds no
/// entry for a job or node with no allocations.
fn remove_from<K: Ord>(index: &mut BTreeMap<K, BTreeSet<AllocId>>, key: &K, id: AllocId) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(&id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}
