//! A listener that holds at most so many connections at once (see the
//! parent module); the gRPC server and the REST API each serve one.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

/// Pause after an accept that failed (out of file descriptors, say), so
/// the failure is not retried in a busy loop.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// A listener that holds at most `limit` connections at once.
pub struct LimitedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limit: usize,
    what: &'static str,
    refused: u64,
}

impl LimitedListener {
    pub fn new(listener: TcpListener, limit: usize, what: &'static str) -> Self {
        assert!(limit > 0, "a listener that takes no connection");
        Self {
            listener,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            what,
            refused: 0,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection there is room for; one that arrives while the
    /// node holds `limit` is closed at once.
    pub async fn accept(&mut self) -> (Held, SocketAddr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("{}: accepting a connection failed: {e}", self.what);
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                self.refused += 1;
                // Powers of two: a flood is reported, not logged per line.
                if self.refused.is_power_of_two() {
                    warn!(
                        "{}: {} connections are open, the limit; closed {} more so far (latest from {addr})",
                        self.what, self.limit, self.refused
                    );
                }
                drop(stream);
                continue;
            };
            // Small requests and answers go out at once, as tonic's own
            // listener does.
            let _ = stream.set_nodelay(true);
            return (
                Held {
                    stream,
                    _slot: slot,
                },
                addr,
            );
        }
    }

    /// The connections as a stream, for tonic's server.
    pub fn incoming(self) -> impl futures_util::Stream<Item = io::Result<Held>> {
        futures_util::stream::unfold(self, |mut listener| async move {
            let (held, _) = listener.accept().await;
            Some((Ok(held), listener))
        })
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = Held;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Held, SocketAddr) {
        LimitedListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        LimitedListener::local_addr(self)
    }
}

/// A connection holding one of its listener's slots until it closes.
pub struct Held {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for Held {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

/// Reads and writes of a connection type go to its `stream` field: for
/// the plain connections here and the TLS ones of `crate::tls`.
macro_rules! forward_io {
    ($connection:ty) => {
        impl tokio::io::AsyncRead for $connection {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
            }
        }

        impl tokio::io::AsyncWrite for $connection {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.stream).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.stream.is_write_vectored()
            }
        }
    };
}
pub(crate) use forward_io;

forward_io!(Held);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;

    async fn closed_at_once(stream: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await {
            Ok(read) => matches!(read, Ok(0) | Err(_)),
            Err(_) => false,
        }
    }

    #[test]
    fn connections_past_the_limit_are_closed_and_a_freed_slot_is_reused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut limited = LimitedListener::new(listener, 2, "test");
            let (release, mut releases) = tokio::sync::mpsc::channel::<()>(1);
            let server = tokio::spawn(async move {
                let mut held = Vec::new();
                loop {
                    tokio::select! {
                        (connection, _) = limited.accept() => held.push(connection),
                        Some(()) = releases.recv() => drop(held.remove(0)),
                    }
                }
            });
            let mut first = TcpStream::connect(addr).await.unwrap();
            let mut second = TcpStream::connect(addr).await.unwrap();
            let mut third = TcpStream::connect(addr).await.unwrap();
            assert!(!closed_at_once(&mut first).await, "within the limit");
            assert!(!closed_at_once(&mut second).await, "within the limit");
            assert!(closed_at_once(&mut third).await, "past the limit");
            release.send(()).await.unwrap();
            assert!(closed_at_once(&mut first).await, "released by the server");
            let mut fourth = TcpStream::connect(addr).await.unwrap();
            assert!(
                !closed_at_once(&mut fourth).await,
                "the freed slot takes it"
            );
            server.abort();
        });
    }
}
