//! What a token may do: one policy per token, checked against the one
//! capability each public call needs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A token's policy. `JobWrite` implies `Read`; `Management` implies both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Everything, tokens and membership included.
    Management,
    /// Submit, update, revert, plan and stop jobs in `pools` (every pool
    /// when empty), and read everything.
    JobWrite { pools: Vec<String> },
    /// Read jobs, nodes, logs, events, metrics and cluster status.
    Read,
}

/// What one call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability<'a> {
    Read,
    /// Writing a job that runs in `pool`.
    JobWrite {
        pool: &'a str,
    },
    /// Tokens, draining nodes, cluster membership.
    Manage,
}

impl Policy {
    pub fn allows(&self, need: Capability<'_>) -> bool {
        match (self, need) {
            (Self::Management, _) | (Self::JobWrite { .. } | Self::Read, Capability::Read) => true,
            (Self::JobWrite { pools }, Capability::JobWrite { pool }) => {
                pools.is_empty() || pools.iter().any(|p| p == pool)
            }
            _ => false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Management => "management",
            Self::JobWrite { .. } => "job-write",
            Self::Read => "read",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::JobWrite { pools } if pools.is_empty() => f.write_str("job-write (every pool)"),
            Self::JobWrite { pools } => write!(f, "job-write (pools {})", pools.join(", ")),
            other => f.write_str(other.name()),
        }
    }
}

impl fmt::Display for Capability<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read => f.write_str("read"),
            Self::JobWrite { pool } => write!(f, "job write on pool {pool:?}"),
            Self::Manage => f.write_str("management"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_allows_what_it_says_and_nothing_more() {
        let gpu = Capability::JobWrite { pool: "gpu" };
        let default = Capability::JobWrite { pool: "default" };
        let limited = Policy::JobWrite {
            pools: vec!["gpu".into()],
        };
        let every = Policy::JobWrite { pools: Vec::new() };
        assert!(Policy::Management.allows(Capability::Manage));
        assert!(Policy::Management.allows(gpu));
        assert!(limited.allows(gpu) && limited.allows(Capability::Read));
        assert!(!limited.allows(default) && !limited.allows(Capability::Manage));
        assert!(every.allows(default) && every.allows(gpu));
        assert!(Policy::Read.allows(Capability::Read));
        assert!(!Policy::Read.allows(gpu) && !Policy::Read.allows(Capability::Manage));
    }
}
