//! Replicas that applied the same log prefix hold the same state — Raft's
//! State Machine Safety (Raft paper §5.4.3), checked through
//! `ClusterState::digest()` at equal applied indexes (DESIGN.md §2).

use std::collections::BTreeMap;

use super::Violation;

#[derive(Default)]
pub struct ReplicaDigests {
    /// Applied index → (first node seen there, its digest).
    seen: BTreeMap<u64, (u64, String)>,
}

impl ReplicaDigests {
    pub fn observe(
        &mut self,
        node: u64,
        applied_index: u64,
        digest: &str,
    ) -> Result<(), Violation> {
        let (first, expected) = self
            .seen
            .entry(applied_index)
            .or_insert_with(|| (node, digest.to_string()));
        if expected == digest {
            Ok(())
        } else {
            Err(Violation {
                invariant: "replica digests agree",
                detail: format!(
                    "at applied index {applied_index}: node {first} has {expected}, node {node} has {digest}"
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_replicas_are_caught() {
        let mut check = ReplicaDigests::default();
        assert!(check.observe(1, 10, "aa").is_ok());
        assert!(check.observe(2, 10, "aa").is_ok());
        assert!(check.observe(3, 11, "bb").is_ok());
        assert!(check.observe(3, 10, "cc").is_err());
    }
}
