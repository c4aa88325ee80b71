//! Node membership and liveness: register, heartbeat, disconnect, down, drain.

use std::collections::BTreeSet;

use super::{ApplyError, ClusterState, Response, Success};
use crate::alloc::{AllocStatus, Allocation};
use crate::ids::{NodeId, check_name};
use crate::node::{Node, NodeRegistration, NodeStatus};

impl ClusterState {
    pub(super) fn register_node(
        &mut self,
        index: u64,
        now_ms: u64,
        reg: NodeRegistration,
    ) -> Response {
        check_registration(&reg)?;
        let mut node = Node::from_registration(reg, now_ms, index);
        let Some(slot) = self.slot_of(&node.id) else {
            let slot = self.indexes.add_node(&node);
            self.update_pool_members(slot, &BTreeSet::new(), &node.pools);
            self.changes.node(&node.id);
            self.changes.capacity_grew();
            self.events.node_registered(&node);
            self.data.nodes.push(node);
            return Ok(Success::NodeRegistered);
        };
        let old = &self.data.nodes[slot as usize];
        node.registered_ms = old.registered_ms;
        node.draining = old.draining;
        if old.status == NodeStatus::Ready {
            node.status_changed_ms = old.status_changed_ms;
        }
        let old_pools = old.pools.clone();
        self.update_pool_members(slot, &old_pools, &node.pools);
        self.indexes.refresh(slot, &node);
        let before = std::mem::replace(&mut self.data.nodes[slot as usize], node);
        let after = &self.data.nodes[slot as usize];
        self.changes.node_changed(&before, after);
        self.events.node_changed(&before, after);
        Ok(Success::NodeUpdated)
    }

    fn update_pool_members(&mut self, slot: u32, old: &BTreeSet<String>, new: &BTreeSet<String>) {
        for left in old.difference(new) {
            if let Some(members) = self.data.pool_members.get_mut(left) {
                members.retain(|m| *m != slot);
            }
        }
        for joined in new.difference(old) {
            self.data
                .pool_members
                .entry(joined.clone())
                .or_default()
                .push(slot);
        }
    }

    /// A heartbeat brings a disconnected or down node back to ready; its
    /// `unknown` allocations stay so until the worker reports on them.
    pub(super) fn heartbeat(&mut self, index: u64, now_ms: u64, id: &NodeId) -> Response {
        self.update_node(id, |node| {
            node.last_heartbeat_ms = now_ms;
            if node.status != NodeStatus::Ready {
                node.status = NodeStatus::Ready;
                node.status_changed_ms = now_ms;
            }
            node.modify_index = index;
        })
        .ok_or_else(|| ApplyError::UnknownNode(id.clone()))?;
        Ok(Success::NodeUpdated)
    }

    pub(super) fn mark_node_disconnected(
        &mut self,
        index: u64,
        now_ms: u64,
        id: &NodeId,
        observed_ms: u64,
    ) -> Response {
        let change = (
            NodeStatus::Disconnected,
            AllocStatus::Unknown,
            "node disconnected",
        );
        self.mark_node(index, now_ms, id, observed_ms, change)
    }

    pub(super) fn mark_node_down(
        &mut self,
        index: u64,
        now_ms: u64,
        id: &NodeId,
        observed_ms: u64,
    ) -> Response {
        let change = (NodeStatus::Down, AllocStatus::Lost, "node down");
        self.mark_node(index, now_ms, id, observed_ms, change)
    }

    /// A liveness decision: the node takes `node_status`, its unfinished
    /// allocations `alloc_status`.
    fn mark_node(
        &mut self,
        index: u64,
        now_ms: u64,
        id: &NodeId,
        observed_ms: u64,
        (node_status, alloc_status, why): (NodeStatus, AllocStatus, &str),
    ) -> Response {
        self.check_liveness_decision(id, observed_ms)?;
        self.set_node_status(index, now_ms, id, node_status);
        self.mark_node_allocs(index, now_ms, id, alloc_status, why);
        Ok(Success::NodeUpdated)
    }

    pub(super) fn drain_node(&mut self, index: u64, id: &NodeId, enable: bool) -> Response {
        let node = self
            .node(id)
            .ok_or_else(|| ApplyError::UnknownNode(id.clone()))?;
        if node.draining == enable {
            return Ok(Success::Unchanged);
        }
        self.update_node(id, |node| {
            node.draining = enable;
            node.modify_index = index;
        });
        Ok(Success::NodeUpdated)
    }

    /// Refuses a liveness decision made before the node's latest heartbeat.
    fn check_liveness_decision(&self, id: &NodeId, observed_ms: u64) -> Result<(), ApplyError> {
        let node = self
            .node(id)
            .ok_or_else(|| ApplyError::UnknownNode(id.clone()))?;
        if node.last_heartbeat_ms > observed_ms {
            return Err(ApplyError::StaleHeartbeat {
                node: id.clone(),
                observed_ms,
                actual_ms: node.last_heartbeat_ms,
            });
        }
        Ok(())
    }

    fn set_node_status(&mut self, index: u64, now_ms: u64, id: &NodeId, status: NodeStatus) {
        self.update_node(id, |node| {
            if node.status != status {
                node.status_changed_ms = now_ms;
            }
            node.status = status;
            node.modify_index = index;
        });
    }

    /// Moves the node's unfinished allocations to `status`.
    fn mark_node_allocs(
        &mut self,
        index: u64,
        now_ms: u64,
        id: &NodeId,
        status: AllocStatus,
        why: &str,
    ) {
        let affected: Vec<_> = self
            .node_allocs(id)
            .filter(|a| !a.status.is_terminal() && a.status != status)
            .map(|a| a.id)
            .collect();
        for alloc in affected {
            self.update_alloc(alloc, |a: &mut Allocation| {
                a.status = status;
                a.message = why.to_string();
                a.modified_ms = now_ms;
                a.modify_index = index;
            });
        }
    }
}

fn check_registration(reg: &NodeRegistration) -> Result<(), ApplyError> {
    let invalid = |reason: String| ApplyError::InvalidNode {
        node: reg.id.clone(),
        reason,
    };
    check_name(&reg.region).map_err(|e| invalid(format!("region {e}")))?;
    if reg.pools.is_empty() {
        return Err(invalid("belongs to no pool".into()));
    }
    for pool in &reg.pools {
        check_name(pool).map_err(|e| invalid(format!("pool {e}")))?;
    }
    for key in reg.labels.keys() {
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(invalid(format!(
                "label key {key:?} is empty or has whitespace"
            )));
        }
    }
    Ok(())
}
