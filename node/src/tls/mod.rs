//! Mutual TLS between nodes and from clients: a private CA per cluster and
//! the certificates it signs (`ca`), who a certificate says is connecting
//! (`identity`), configurations read from PEM files and reloaded when they
//! change (`config`), and both ends of a connection (`accept`). A process
//! has at most one identity, installed at start: every channel it opens
//! then uses it (`crate::channel`).

pub mod accept;
pub mod ca;
pub mod config;
pub mod identity;

use std::sync::OnceLock;

pub use accept::{Peer, TlsListener, connector};
pub use config::{Tls, TlsFiles};
pub use identity::Identity;

static INSTALLED: OnceLock<Tls> = OnceLock::new();

/// Makes `tls` this process's identity for every connection it opens.
/// Only the first call counts: a process has one identity.
pub fn install(tls: Tls) {
    let _ = INSTALLED.set(tls);
}

pub fn installed() -> Option<&'static Tls> {
    INSTALLED.get()
}
