//! Replicas that applied the same log prefix hold the same state — Raft's
//! State Machine Safety (Raft paper §5.4.3), checked through
//! `ClusterState::digest()` at equal applied indexes (DESIGN.md §2).

use super::Violation;
use super::agreement::AgreementAtIndex;

pub struct ReplicaDigests(AgreementAtIndex);

impl Default for ReplicaDigests {
    fn default() -> Self {
        Self(AgreementAtIndex::new("replica digests agree"))
    }
}

impl ReplicaDigests {
    pub fn observe(
        &mut self,
        node: u64,
        applied_index: u64,
        digest: &str,
    ) -> Result<(), Violation> {
        self.0.observe(node, applied_index, digest)
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
