//! A running hash over the applied log: `chain(i) = SHA-256(chain(i-1) ||
//! postcard(entry i))`. Entries are applied only once committed, so two
//! replicas with equal applied index have equal chains exactly when their
//! committed log prefixes agree — Raft's Log Matching property, made
//! observable from outside (`drover cluster status`, the simulator).
//!
//! A snapshot carries the chain at its last entry in its id
//! (`<term>-<index>-<chain>`), so a replica restored from one continues it.

use std::fmt;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogChain([u8; 32]);

impl LogChain {
    /// The chain extended by one entry's encoding.
    pub fn extend(self, entry: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(entry);
        Self(hasher.finalize().into())
    }

    /// The snapshot id for a snapshot whose last entry is `term`/`index`.
    pub fn snapshot_id(self, term: u64, index: u64) -> String {
        format!("{term}-{index}-{self}")
    }

    /// The chain a snapshot id carries; an id without one (written before
    /// chains existed) starts a fresh chain.
    pub fn from_snapshot_id(id: &str) -> Self {
        let Some(hex) = id.splitn(3, '-').nth(2).filter(|h| h.len() == 64) else {
            return Self::default();
        };
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
                Ok(b) => *byte = b,
                Err(_) => return Self::default(),
            }
        }
        Self(bytes)
    }
}

impl fmt::Display for LogChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_survives_its_snapshot_id() {
        let chain = LogChain::default().extend(b"one").extend(b"two");
        let id = chain.snapshot_id(3, 42);
        assert!(id.starts_with("3-42-"));
        assert_eq!(LogChain::from_snapshot_id(&id), chain);
        assert_eq!(LogChain::from_snapshot_id("3-42"), LogChain::default());
    }

    #[test]
    fn order_and_content_matter() {
        let a = LogChain::default().extend(b"one").extend(b"two");
        let b = LogChain::default().extend(b"two").extend(b"one");
        assert_ne!(a, b);
        assert_ne!(a, LogChain::default().extend(b"one").extend(b"tw0"));
    }
}
