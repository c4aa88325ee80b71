//! Garbage collection applied: each part of a [`Collection`] is checked
//! again by the rules of [`crate::gc`] at the command's own time, and only
//! what still qualifies is forgotten.

use std::collections::{BTreeMap, BTreeSet};

use super::{ClusterState, Collection, Success};
use crate::gc;
use crate::ids::{AllocId, JobId, NodeId};
use crate::node::Node;

impl ClusterState {
    pub(super) fn collect_garbage(&mut self, now_ms: u64, collection: Collection) -> Success {
        let policy = collection.policy;
        let jobs: Vec<JobId> = collection
            .jobs
            .into_iter()
            .filter(|id| {
                self.job(id)
                    .is_some_and(|job| gc::job_collectable(self, job, now_ms, &policy))
            })
            .collect();
        let mut allocs = 0;
        for job in &jobs {
            let ids: Vec<AllocId> = self.indexes.by_job(job).collect();
            allocs += ids.len();
            self.forget_allocs(&ids);
            self.data.jobs.remove(job);
            self.forget_history(job);
            self.forget_deployments(job);
            self.changes.forget_job(job);
        }
        let mut asked: BTreeMap<JobId, BTreeSet<AllocId>> = BTreeMap::new();
        for id in collection.allocs {
            if let Some(alloc) = self.alloc(id) {
                asked.entry(alloc.job.clone()).or_default().insert(id);
            }
        }
        for (job, asked) in asked {
            let ids: Vec<AllocId> = gc::collectable_allocs(self, &job, now_ms, &policy)
                .into_iter()
                .filter(|id| asked.contains(id))
                .collect();
            allocs += ids.len();
            self.forget_allocs(&ids);
            self.changes.job(&job);
        }
        let nodes: BTreeSet<NodeId> = collection
            .nodes
            .into_iter()
            .filter(|id| {
                self.node(id)
                    .is_some_and(|node| gc::node_collectable(self, node, now_ms, &policy))
            })
            .collect();
        self.forget_nodes(&nodes);
        let mut keys = 0;
        for key in &collection.keys {
            let expired = self
                .records
                .keys
                .get(key)
                .is_some_and(|write| gc::key_expired(write.at_ms, now_ms, &policy));
            if expired {
                self.records.keys.remove(key);
                keys += 1;
            }
        }
        if jobs.is_empty() && allocs == 0 && nodes.is_empty() && keys == 0 {
            return Success::Unchanged;
        }
        Success::Collected {
            jobs: jobs.len(),
            allocs,
            nodes: nodes.len(),
            keys,
        }
    }

    fn forget_allocs(&mut self, ids: &[AllocId]) {
        for id in ids {
            if let Some(alloc) = self.data.allocs.remove(id) {
                debug_assert!(alloc.status.is_terminal(), "{id} forgotten unfinished");
                self.indexes.remove(&alloc);
                self.changes.assigned(&alloc.node);
            }
        }
    }

    /// Removes nodes and closes the gaps in the slot numbering: slots stay
    /// dense and in registration order, the same on every replica.
    fn forget_nodes(&mut self, gone: &BTreeSet<NodeId>) {
        if gone.is_empty() {
            return;
        }
        let mut new_slot: Vec<Option<u32>> = Vec::with_capacity(self.data.nodes.len());
        let mut kept: Vec<Node> = Vec::with_capacity(self.data.nodes.len());
        for node in std::mem::take(&mut self.data.nodes) {
            if gone.contains(&node.id) {
                new_slot.push(None);
                continue;
            }
            new_slot.push(Some(
                u32::try_from(kept.len()).expect("fewer than 2^32 nodes"),
            ));
            kept.push(node);
        }
        self.data.nodes = kept;
        for members in self.data.pool_members.values_mut() {
            *members = members
                .iter()
                .filter_map(|slot| new_slot[*slot as usize])
                .collect();
        }
        self.data
            .pool_members
            .retain(|_, members| !members.is_empty());
        self.indexes = super::Indexes::rebuild(&self.data.nodes, self.data.allocs.values());
        for node in gone {
            self.changes.node(node);
        }
    }
}
