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
    /// chains existed) starts a fresh chain. The id comes from a peer's
    /// InstallSnapshot or from a file on disk, so anything else in its
    /// place is refused, never trusted or sliced blindly.
    pub fn from_snapshot_id(id: &str) -> Result<Self, BadSnapshotId> {
        let Some(hex) = id.splitn(3, '-').nth(2) else {
            return Ok(Self::default());
        };
        let bad = || BadSnapshotId(id.to_owned());
        let digits = hex.as_bytes();
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// A snapshot id whose chain part is not 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSnapshotId(pub String);

impl fmt::Display for BadSnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "snapshot id {:?} is not <term>-<index>-<64 hex digits of log chain>",
            self.0
        )
    }
}

impl std::error::Error for BadSnapshotId {}

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
        assert_eq!(LogChain::from_snapshot_id(&id), Ok(chain));
        assert_eq!(LogChain::from_snapshot_id("3-42"), Ok(LogChain::default()));
    }

    #[test]
    fn a_chain_that_is_not_hex_is_refused_without_panicking() {
        // 64 bytes but 22 characters: slicing two bytes at a time used to
        // cut the first three-byte character in half, and panic.
        let multibyte = format!("3-42-a{}", "€".repeat(21));
        assert_eq!(multibyte.len() - 5, 64);
        for id in [
            multibyte,
            format!("3-42-{}", "g".repeat(64)),
            format!("3-42-{}", "a".repeat(63)),
            format!("3-42-+{}", "a".repeat(63)),
            "3-42-".to_owned(),
        ] {
            let error = LogChain::from_snapshot_id(&id).unwrap_err();
            assert!(error.to_string().contains("64 hex digits"), "{error}");
        }
    }

    #[test]
    fn order_and_content_matter() {
        let a = LogChain::default().extend(b"one").extend(b"two");
        let b = LogChain::default().extend(b"two").extend(b"one");
        assert_ne!(a, b);
        assert_ne!(a, LogChain::default().extend(b"one").extend(b"tw0"));
    }
}
