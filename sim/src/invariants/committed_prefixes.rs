//! Committed log prefixes agree — Raft's Log Matching and State Machine
//! Safety (Raft paper §5.3, §5.4.3): replicas apply only committed entries,
//! so two that have applied up to the same index must have applied the
//! same entries. Each node reports a hash chain over every entry it applied
//! (`log_chain` in `drover cluster status`), which differs as soon as one
//! entry does — even one whose effect on the state happens to be the same.

use super::Violation;
use super::agreement::AgreementAtIndex;

pub struct CommittedPrefixes(AgreementAtIndex);

impl Default for CommittedPrefixes {
    fn default() -> Self {
        Self(AgreementAtIndex::new("committed log prefixes agree"))
    }
}

impl CommittedPrefixes {
    pub fn observe(&mut self, node: u64, applied_index: u64, chain: &str) -> Result<(), Violation> {
        self.0.observe(node, applied_index, chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_logs_are_caught() {
        let mut check = CommittedPrefixes::default();
        assert!(check.observe(1, 7, "c1").is_ok());
        assert!(check.observe(2, 7, "c1").is_ok());
        let violation = check.observe(3, 7, "c2").unwrap_err();
        assert_eq!(violation.invariant, "committed log prefixes agree");
    }
}
