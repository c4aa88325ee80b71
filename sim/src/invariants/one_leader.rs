//! At most one leader per term — Raft's Election Safety property (Ongaro &
//! Ousterhout, "In Search of an Understandable Consensus Algorithm", §5.2,
//! Figure 3).

use std::collections::BTreeMap;

use super::Violation;

#[derive(Default)]
pub struct OneLeaderPerTerm {
    leaders: BTreeMap<u64, u64>,
}

impl OneLeaderPerTerm {
    /// `node` says it is leader in `term`.
    pub fn observe(&mut self, node: u64, term: u64) -> Result<(), Violation> {
        let first = *self.leaders.entry(term).or_insert(node);
        if first == node {
            Ok(())
        } else {
            Err(Violation {
                invariant: "one leader per term",
                detail: format!("nodes {first} and {node} both led term {term}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        let mut check = OneLeaderPerTerm::default();
        assert!(check.observe(1, 3).is_ok());
        assert!(check.observe(1, 3).is_ok());
        assert!(check.observe(2, 4).is_ok());
        assert!(check.observe(2, 3).is_err());
    }
}
