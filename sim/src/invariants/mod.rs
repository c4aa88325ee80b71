//! The properties every simulation checks, one per file, each with its
//! source. A violation names the invariant and what was seen.

mod acknowledged;
mod convergence;
mod one_leader;
mod replica_digests;

use std::fmt;

pub use acknowledged::no_acknowledged_submission_lost;
pub use convergence::every_batch_job_finishes;
pub use one_leader::OneLeaderPerTerm;
pub use replica_digests::ReplicaDigests;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}
