//! Which jobs and nodes changed at which log index, and when capacity last
//! grew: what lets the leader reconcile what changed instead of every job
//! on every pass (as Nomad's blocked evaluations wait for capacity).
//! Derived, never replicated: a restored state knows nothing before its
//! snapshot, and says so (`floor`).

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{JobId, NodeId};
use crate::node::Node;

/// The last index each key changed at, and the keys grouped by it, so that
/// "changed since" costs O(changes) and the record stays one entry per key.
#[derive(Debug, Clone)]
struct LastChange<K: Ord + Clone> {
    at: BTreeMap<K, u64>,
    by_index: BTreeMap<u64, BTreeSet<K>>,
}

impl<K: Ord + Clone> Default for LastChange<K> {
    fn default() -> Self {
        Self {
            at: BTreeMap::new(),
            by_index: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> LastChange<K> {
    fn touch(&mut self, key: &K, index: u64) {
        if let Some(old) = self.at.insert(key.clone(), index) {
            if old == index {
                return;
            }
            if let Some(keys) = self.by_index.get_mut(&old) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_index.remove(&old);
                }
            }
        }
        self.by_index.entry(index).or_default().insert(key.clone());
    }

    fn forget(&mut self, key: &K) {
        let Some(at) = self.at.remove(key) else {
            return;
        };
        if let Some(keys) = self.by_index.get_mut(&at) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_index.remove(&at);
            }
        }
    }

    fn since(&self, index: u64) -> impl Iterator<Item = &K> {
        self.by_index
            .range(index.saturating_add(1)..)
            .flat_map(|(_, keys)| keys)
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Changes {
    /// No change at or below this index is known (the state was restored
    /// from a snapshot taken there).
    floor: u64,
    /// The index of the command being applied.
    applying: u64,
    jobs: LastChange<JobId>,
    nodes: LastChange<NodeId>,
    heartbeats: LastChange<NodeId>,
    /// Nodes whose allocations changed: what their workers' polls wait on.
    assigned: LastChange<NodeId>,
    capacity_grew_at: u64,
}

/// What changed after some index, as the leader's loop asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedSince {
    pub jobs: Vec<JobId>,
    /// Nodes whose status, drain, pools, capacity or drivers changed (a
    /// heartbeat that changes none of these is not a change).
    pub nodes: Vec<NodeId>,
    /// Nodes that heartbeated.
    pub heard_from: Vec<NodeId>,
}

impl Changes {
    pub fn restored_at(index: u64) -> Self {
        Self {
            floor: index,
            applying: index,
            capacity_grew_at: index,
            ..Self::default()
        }
    }

    pub fn applying(&mut self, index: u64) {
        self.applying = index;
    }

    pub fn job(&mut self, job: &JobId) {
        self.jobs.touch(job, self.applying);
    }

    /// A job that no longer exists: nothing needs to look at it again, and
    /// the record stays one entry per job that exists.
    pub fn forget_job(&mut self, job: &JobId) {
        self.jobs.forget(job);
    }

    pub fn node(&mut self, node: &NodeId) {
        self.nodes.touch(node, self.applying);
    }

    /// One of `node`'s allocations was placed or changed.
    pub fn assigned(&mut self, node: &NodeId) {
        self.assigned.touch(node, self.applying);
    }

    /// The nodes whose allocations changed after `index`; `None` when
    /// changes after `index` are not all known.
    pub fn assigned_since(&self, index: u64) -> Option<impl Iterator<Item = &NodeId>> {
        (index >= self.floor).then(|| self.assigned.since(index))
    }

    /// Records a node change that matters to placement or to its
    /// allocations' jobs; a heartbeat that only refreshes the node's
    /// timestamps does not.
    pub fn node_changed(&mut self, before: &Node, after: &Node) {
        if before.last_heartbeat_ms != after.last_heartbeat_ms {
            self.heartbeats.touch(&after.id, self.applying);
        }
        let timestamps_only = Node {
            last_heartbeat_ms: after.last_heartbeat_ms,
            modify_index: after.modify_index,
            ..before.clone()
        } == *after;
        if !timestamps_only {
            self.node(&after.id);
            self.capacity_grew();
        }
    }

    pub fn capacity_grew(&mut self) {
        self.capacity_grew_at = self.applying;
    }

    pub fn capacity_grew_at(&self) -> u64 {
        self.capacity_grew_at
    }

    /// `None` when changes after `index` are not all known.
    pub fn since(&self, index: u64) -> Option<ChangedSince> {
        if index < self.floor {
            return None;
        }
        Some(ChangedSince {
            jobs: self.jobs.since(index).cloned().collect(),
            nodes: self.nodes.since(index).cloned().collect(),
            heard_from: self.heartbeats.since(index).cloned().collect(),
        })
    }
}
