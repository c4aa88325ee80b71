//! Both ends of a mutual-TLS connection: the server's handshakes, run
//! beside each other so that a client that stalls in its handshake holds
//! up no one (it is dropped after [`HANDSHAKE_TIMEOUT`]), and the client's
//! connector for tonic's channels. A server connection knows who is at the
//! other end (`Peer`), for the services that admit nodes only.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::debug;

use super::config::Tls;
use super::identity::Identity;
use crate::limits::{Held, LimitedListener};

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes finished but not yet taken by the server.
const READY: usize = 256;

/// Who is at the other end of a server connection, by its certificate.
#[derive(Debug, Clone)]
pub struct Peer {
    pub identity: Option<Identity>,
    pub addr: SocketAddr,
}

/// A server connection after its handshake.
pub struct TlsConnection {
    stream: tokio_rustls::server::TlsStream<Held>,
    peer: Peer,
}

/// Connections that finished their handshake, in the order they did.
pub struct TlsListener {
    ready: mpsc::Receiver<TlsConnection>,
    local: SocketAddr,
}

impl TlsListener {
    /// Takes `listener`'s connections through the handshake of the
    /// configuration current when each arrives.
    pub fn new(mut listener: LimitedListener, tls: Tls, what: &'static str) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (done, ready) = mpsc::channel(READY);
        tokio::spawn(async move {
            loop {
                // The server gone, the port is let go at once, not at the
                // next connection.
                let (held, addr) = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = done.closed() => return,
                };
                let acceptor = TlsAcceptor::from(tls.server());
                let finished = done.clone();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(held),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            return debug!("{what}: TLS handshake with {addr} failed: {e}");
                        }
                        Err(_) => return debug!("{what}: TLS handshake with {addr} timed out"),
                    };
                    let identity = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|cert| Identity::of_certificate(cert));
                    let peer = Peer { identity, addr };
                    let _ = finished.send(TlsConnection { stream, peer }).await;
                });
            }
        });
        Ok(Self { ready, local })
    }

    /// The connections as a stream, for tonic's server.
    pub fn incoming(self) -> impl futures_util::Stream<Item = io::Result<TlsConnection>> {
        futures_util::stream::unfold(self, |mut listener| async move {
            let connection = listener.ready.recv().await?;
            Some((Ok(connection), listener))
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TlsConnection, SocketAddr) {
        match self.ready.recv().await {
            Some(connection) => {
                let addr = connection.peer.addr;
                (connection, addr)
            }
            // The accepting task ended with the runtime: nothing comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

crate::limits::forward_io!(TlsConnection);

/// Opens client connections for tonic's channels over mutual TLS,
/// checking that the server's certificate names the address dialled.
pub fn connector(
    tls: Tls,
) -> impl tower::Service<
    http::Uri,
    Response = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Error = io::Error,
    Future = impl Future<
        Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>,
    > + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |uri: http::Uri| {
        let tls = tls.clone();
        async move {
            let invalid =
                |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: {what}"));
            let host = uri.host().ok_or_else(|| invalid("no host"))?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().ok_or_else(|| invalid("no port"))?;
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let name = ServerName::try_from(host.clone())
                .map_err(|e| invalid(&format!("not a name a certificate can carry: {e}")))?;
            let stream = TlsConnector::from(tls.client()).connect(name, tcp).await?;
            Ok(TokioIo::new(stream))
        }
    })
}
