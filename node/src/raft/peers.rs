//! Connections to other nodes' internal service, kept and shared: one
//! HTTP/2 connection carries any number of calls, where a connection per
//! forwarded command overflowed the leader's accept queue under load.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use drover_proto::v1::internal_client::InternalClient;
use tonic::transport::Channel;

use super::connect;

/// One node's connections, by address. Clones share them.
#[derive(Clone, Default)]
pub struct Peers(Arc<Mutex<BTreeMap<String, InternalClient<Channel>>>>);

impl Peers {
    /// A client for `addr`, connecting only if there is none yet.
    pub async fn client(&self, addr: &str) -> Result<InternalClient<Channel>, std::io::Error> {
        if let Some(client) = self.lock().get(addr) {
            return Ok(client.clone());
        }
        let client = connect(addr).await?;
        self.lock().insert(addr.to_string(), client.clone());
        Ok(client)
    }

    /// Drops the connection to `addr` after a failed call: it may be dead.
    pub fn forget(&self, addr: &str) {
        self.lock().remove(addr);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, InternalClient<Channel>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
