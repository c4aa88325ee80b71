//! A replica fingerprint: SHA-256 over the canonical encoding of the
//! replicated data. Two replicas at the same applied index must agree.

use std::fmt;

use sha2::{Digest, Sha256};

use super::ClusterState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateDigest(pub [u8; 32]);

impl fmt::Display for StateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl ClusterState {
    /// Postcard encodes ordered maps in key order and has no padding or
    /// alignment choices, so equal states encode to equal bytes.
    pub fn digest(&self) -> StateDigest {
        let body = super::snapshot::body(&self.data, &self.records, &self.access, &self.deploys);
        StateDigest(Sha256::digest(&body).into())
    }
}
