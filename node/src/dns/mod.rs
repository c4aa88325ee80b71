//! Discovery over DNS: a UDP server answering the names of `answer` from
//! this node's replica, so any resolver (or `dig`) finds a service's
//! healthy endpoints — the same ones `drover service show` lists. Reads
//! are local, like Consul's stale DNS reads: a replica a moment behind
//! answers what it has.

pub mod answer;
pub mod wire;

use std::net::SocketAddr;

use tracing::{debug, info, warn};

use crate::raft::SharedState;

/// Listens on `addr` at once (a port in use stops the start), and answers
/// in a task of its own.
pub async fn serve(
    addr: Option<SocketAddr>,
    state: SharedState,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|e| format!("dns = \"{addr}\": cannot listen: {e}"))?;
    info!(%addr, "DNS listening (UDP): <job>.service.{}", answer::DOMAIN);
    Ok(Some(tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let (n, from) = match socket.recv_from(&mut buffer).await {
                Ok(got) => got,
                Err(e) => {
                    warn!("DNS: {e}");
                    continue;
                }
            };
            let reply = respond(&buffer[..n], &state).await;
            if let Some(reply) = reply
                && let Err(e) = socket.send_to(&reply, from).await
            {
                debug!(%from, "DNS: cannot answer: {e}");
            }
        }
    })))
}

/// The answer to one message; `None` for one too short to answer.
async fn respond(message: &[u8], state: &SharedState) -> Option<Vec<u8>> {
    match wire::parse_query(message) {
        Ok(query) => {
            let found = {
                let replica = state.read().await;
                answer::answer(&replica.state, &query)
            };
            Some(wire::answer(
                &query,
                found.rcode(),
                &found.answers,
                &found.additional,
                wire::MAX_UDP,
            ))
        }
        Err(malformed) => {
            debug!("DNS: {}", malformed.why);
            malformed.id.map(|id| wire::refusal(id, malformed.rcode))
        }
    }
}
