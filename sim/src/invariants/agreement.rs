//! What two invariants share: replicas that have applied up to the same
//! index must report the same value of something.

use std::collections::BTreeMap;

use super::Violation;

pub struct AgreementAtIndex {
    invariant: &'static str,
    /// Applied index → (first node seen there, its value).
    seen: BTreeMap<u64, (u64, String)>,
}

impl AgreementAtIndex {
    pub fn new(invariant: &'static str) -> Self {
        Self {
            invariant,
            seen: BTreeMap::new(),
        }
    }

    pub fn observe(&mut self, node: u64, applied_index: u64, value: &str) -> Result<(), Violation> {
        let (first, expected) = self
            .seen
            .entry(applied_index)
            .or_insert_with(|| (node, value.to_string()));
        if expected == value {
            Ok(())
        } else {
            Err(Violation {
                invariant: self.invariant,
                detail: format!(
                    "at applied index {applied_index}: node {first} has {expected}, node {node} has {value}"
                ),
            })
        }
    }
}
