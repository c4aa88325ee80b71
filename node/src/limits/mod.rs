//! What one client can hold of a node: the size of a message, a share of
//! its connections, and time. A public request is at most a spec and its
//! envelope; an answer at most a page. Connections past the limit are
//! closed as they arrive, so a flood of them costs the node a file
//! descriptor for a moment, never its memory or its other clients' turn;
//! idle and dead connections are found by keepalive pings and closed.

use std::time::Duration;

#[cfg(not(madsim))]
mod listener;
#[cfg(not(madsim))]
pub(crate) use listener::forward_io;
#[cfg(not(madsim))]
pub use listener::{Held, LimitedListener};

/// A public request: a spec (at most [`MAX_SPEC_BYTES`]) and the rest of
/// its message.
///
/// [`MAX_SPEC_BYTES`]: drover_core::spec::MAX_SPEC_BYTES
pub const MAX_REQUEST_BYTES: usize = drover_core::spec::MAX_SPEC_BYTES + 64 * 1024;
/// A public answer: the largest page of a list, or a job's status.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// Connections one listener holds at once: every worker keeps one to a
/// control node, so this bounds the workers a control node serves.
pub const MAX_CONNECTIONS: usize = 8192;
/// A unary call that takes longer is stuck: the longest wait a call makes
/// by design is a worker's long poll (30 s) or a forwarded write (10 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an HTTP/1 client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle HTTP/2 connection is pinged, and how long the answer
/// may take before the connection is closed as dead.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
