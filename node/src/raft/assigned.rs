//! Per-node wake-ups for workers' long polls. A poll waits until its own
//! node's allocations change, not for any change to the state: with
//! thousands of workers, waking every poll on every applied entry to look
//! at its node's allocations cost more than the work itself (Nomad's
//! clients, too, block on their own allocations).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use drover_core::NodeId;
use tokio::sync::watch;

/// The index at which each polled node's allocations last changed, for
/// the polls waiting on it. Clones share it.
#[derive(Clone, Default)]
pub struct Assigned(Arc<Mutex<BTreeMap<NodeId, watch::Sender<u64>>>>);

impl Assigned {
    /// Follows `node`'s changes from now on. Subscribe before reading the
    /// state, so that a change applied in between still wakes the poll.
    pub fn watch(&self, node: &NodeId) -> watch::Receiver<u64> {
        self.lock()
            .entry(node.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// `nodes`' allocations changed at or before `index`.
    pub fn changed(&self, nodes: &[NodeId], index: u64) {
        let watched = self.lock();
        for node in nodes {
            if let Some(sender) = watched.get(node) {
                sender.send_replace(index);
            }
        }
    }

    /// Anything may have changed (a snapshot replaced the state, or the
    /// state cannot tell what changed): every poll looks again.
    pub fn all_changed(&self, index: u64) {
        for sender in self.lock().values() {
            sender.send_replace(index);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, watch::Sender<u64>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_nodes_that_changed_are_woken() {
        let assigned = Assigned::default();
        let a = NodeId::new("a").unwrap();
        let b = NodeId::new("b").unwrap();
        let mut on_a = assigned.watch(&a);
        let on_b = assigned.watch(&b);
        assigned.changed(std::slice::from_ref(&a), 7);
        assert!(on_a.has_changed().unwrap());
        assert_eq!(*on_a.borrow_and_update(), 7);
        assert!(!on_b.has_changed().unwrap());
        assigned.all_changed(9);
        assert!(on_a.has_changed().unwrap());
        assert!(on_b.has_changed().unwrap());
    }
}
