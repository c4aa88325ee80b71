//! Discovery over DNS: a server answering the names of `answer` from this
//! node's replica, so any resolver (or `dig`) finds a service's healthy
//! endpoints — the same ones `drover service show` lists. Reads are
//! local, like Consul's stale DNS reads: a replica a moment behind answers
//! what it has; one no longer a voter's (it stopped moving) answers
//! SERVFAIL. UDP answers hold 512 bytes and say when they were cut; the
//! same port answers over TCP, where a resolver then asks.

pub mod answer;
pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tracing::{debug, info, warn};

use crate::raft::{Raft, SharedState};

/// The most a TCP answer holds (its length is two bytes).
const MAX_TCP: usize = 65_535;
/// A TCP connection that sends nothing for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What answers need: the replica, and whether it is still a voter's.
#[derive(Clone)]
struct Source {
    state: SharedState,
    raft: Raft,
}

/// Listens on `addr`, UDP and TCP, at once (a port in use stops the
/// start), and answers in a task of its own.
pub async fn serve(
    addr: Option<SocketAddr>,
    state: SharedState,
    raft: Raft,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let cannot = |e: std::io::Error| format!("dns = \"{addr}\": cannot listen: {e}");
    let udp = UdpSocket::bind(addr).await.map_err(cannot)?;
    let tcp = TcpListener::bind(addr).await.map_err(cannot)?;
    info!(%addr, "DNS listening (UDP and TCP): <job>.service.{}", answer::DOMAIN);
    let source = Source { state, raft };
    Ok(Some(tokio::spawn(async move {
        tokio::join!(over_udp(udp, source.clone()), over_tcp(tcp, source));
    })))
}

async fn over_udp(socket: UdpSocket, source: Source) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let (n, from) = match socket.recv_from(&mut buffer).await {
            Ok(got) => got,
            Err(e) => {
                warn!("DNS over UDP: {e}");
                continue;
            }
        };
        if let Some(reply) = respond(&buffer[..n], &source, wire::MAX_UDP).await
            && let Err(e) = socket.send_to(&reply, from).await
        {
            debug!(%from, "DNS: cannot answer: {e}");
        }
    }
}

async fn over_tcp(listener: TcpListener, source: Source) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                let source = source.clone();
                tokio::spawn(async move {
                    if let Err(e) = converse(stream, &source).await {
                        debug!(%from, "DNS over TCP: {e}");
                    }
                });
            }
            Err(e) => warn!("DNS over TCP: {e}"),
        }
    }
}

/// One TCP connection: messages, each after its two-byte length, until
/// the client closes it or falls silent.
async fn converse(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    loop {
        let mut length = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut length)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut message))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "message cut off"))??;
        let Some(reply) = respond(&message, source, MAX_TCP).await else {
            return Ok(());
        };
        let length = u16::try_from(reply.len()).unwrap_or(u16::MAX);
        stream.write_all(&length.to_be_bytes()).await?;
        stream.write_all(&reply).await?;
    }
}

/// The answer to one message, within `limit` bytes; `None` for one not
/// to be answered.
async fn respond(message: &[u8], source: &Source, limit: usize) -> Option<Vec<u8>> {
    match wire::parse_query(message) {
        Ok(query) => {
            if !crate::membership::is_self_member(&source.raft) {
                return Some(wire::answer(&query, wire::Rcode::ServFail, &[], &[], limit));
            }
            let found = {
                let replica = source.state.read().await;
                answer::answer(&replica.state, &query)
            };
            Some(wire::answer(
                &query,
                found.rcode(),
                &found.answers,
                &found.additional,
                limit,
            ))
        }
        Err(malformed) => {
            debug!("DNS: {}", malformed.why);
            malformed.id.map(|id| wire::refusal(id, malformed.rcode))
        }
    }
}
