//! Raft traffic between nodes over the internal gRPC service. Requests and
//! responses are postcard-encoded openraft types; both ends run the same
//! build, and the service package carries the version.

use std::time::Duration;

use drover_proto::v1::Blob;
use drover_proto::v1::internal_client::InternalClient;
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use super::{RaftId, TypeConfig, io_error};

/// The most one internal message may carry, either way. tonic enforces it
/// on real connections; [`call_internal`] checks it itself, so that the
/// simulator, whose transport has no limit, behaves the same.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// tonic's limit on the gRPC message around a payload: the payload's own
/// limit plus room for its framing.
pub const WIRE_LIMIT: usize = MAX_MESSAGE_BYTES + 1024;
/// Log entries sent to a follower in one call, in encoded bytes, at most
/// (unless one entry alone is larger): a follower that was away is sent
/// what it missed in calls of this size, never in one that exceeds
/// [`MAX_MESSAGE_BYTES`].
pub const MAX_APPEND_BYTES: usize = 4 * 1024 * 1024;

/// Opens connections to peers on demand.
#[derive(Clone, Default)]
pub struct Connections;

pub struct Connection {
    target: RaftId,
    addr: String,
    client: Option<InternalClient<Channel>>,
}

impl RaftNetworkFactory<TypeConfig> for Connections {
    type Network = Connection;

    async fn new_client(&mut self, target: RaftId, node: &BasicNode) -> Connection {
        Connection {
            target,
            addr: node.addr.clone(),
            client: None,
        }
    }
}

/// Which internal RPC a call is.
#[derive(Clone, Copy)]
pub enum Rpc {
    Append,
    Vote,
    Snapshot,
    Propose,
    ReadIndex,
    Poll,
    FetchOutput,
    FetchData,
    Announce,
    Ping,
    Campaign,
}

/// One internal call to `addr`, with a deadline. A call that failed
/// while connecting never reached the peer: its error is of kind
/// [`std::io::ErrorKind::NotConnected`] (see [`never_sent`]).
pub async fn call_internal<Req: Serialize, Resp: DeserializeOwned>(
    client: &mut InternalClient<Channel>,
    rpc: Rpc,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, std::io::Error> {
    let payload = postcard::to_stdvec(request).map_err(io_error)?;
    call_encoded(client, rpc, payload, timeout).await
}

/// As [`call_internal`], with the request already encoded.
async fn call_encoded<Resp: DeserializeOwned>(
    client: &mut InternalClient<Channel>,
    rpc: Rpc,
    payload: Vec<u8>,
    timeout: Duration,
) -> Result<Resp, std::io::Error> {
    within_limit(payload.len(), "request")?;
    let blob = Blob { payload };
    let call = async {
        match rpc {
            Rpc::Append => client.raft_append(blob).await,
            Rpc::Vote => client.raft_vote(blob).await,
            Rpc::Snapshot => client.raft_snapshot(blob).await,
            Rpc::Propose => client.propose(blob).await,
            Rpc::ReadIndex => client.read_index(blob).await,
            Rpc::Poll => client.poll(blob).await,
            Rpc::FetchOutput => client.fetch_output(blob).await,
            Rpc::FetchData => client.fetch_data(blob).await,
            Rpc::Announce => client.announce(blob).await,
            Rpc::Ping => client.ping(blob).await,
            Rpc::Campaign => client.campaign(blob).await,
        }
    };
    let reply = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "internal RPC timed out"))?
        .map_err(|status| {
            let kind = if failed_to_connect(&status) {
                std::io::ErrorKind::NotConnected
            } else {
                std::io::ErrorKind::Other
            };
            std::io::Error::new(kind, status.to_string())
        })?;
    let payload = reply.into_inner().payload;
    within_limit(payload.len(), "reply")?;
    postcard::from_bytes(&payload).map_err(io_error)
}

fn within_limit(bytes: usize, what: &str) -> Result<(), std::io::Error> {
    if bytes > MAX_MESSAGE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("internal {what} of {bytes} bytes is over the limit of {MAX_MESSAGE_BYTES}"),
        ));
    }
    Ok(())
}

/// An internal client whose message limit is the internal service's.
fn client_of(channel: Channel) -> InternalClient<Channel> {
    InternalClient::new(channel)
        .max_decoding_message_size(WIRE_LIMIT)
        .max_encoding_message_size(WIRE_LIMIT)
}

/// Whether a failed internal call certainly never reached its peer: a
/// pooled channel reconnects on the call, and a refused connection means
/// nothing was written, so a forwarded command is safe to send elsewhere.
pub fn never_sent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotConnected
}

fn failed_to_connect(status: &tonic::Status) -> bool {
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable,
    };
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

pub async fn connect(addr: &str) -> Result<InternalClient<Channel>, std::io::Error> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(io_error)?
        .connect_timeout(Duration::from_secs(2));
    let channel = crate::channel::connect(&endpoint).await.map_err(io_error)?;
    Ok(client_of(channel))
}

/// A channel that connects on its own task: openraft bounds each call by
/// the heartbeat interval, and a connection made inside the call would be
/// cancelled with it, again and again, on any link whose handshake takes
/// longer.
fn connect_in_background(addr: &str) -> Result<InternalClient<Channel>, std::io::Error> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(io_error)?
        .connect_timeout(Duration::from_secs(2));
    Ok(client_of(crate::channel::connect_lazy(&endpoint)))
}

impl Connection {
    async fn send<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<RaftId, BasicNode, RaftError<RaftId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = postcard::to_stdvec(request)
            .map_err(|e| RPCError::Network(NetworkError::new(&io_error(e))))?;
        self.send_encoded(rpc, payload, option).await
    }

    async fn send_encoded<Resp, E>(
        &mut self,
        rpc: Rpc,
        payload: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<RaftId, BasicNode, RaftError<RaftId, E>>>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        if self.client.is_none() {
            let client = connect_in_background(&self.addr)
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected above");
        let result: Result<Resp, RaftError<RaftId, E>> =
            match call_encoded(client, rpc, payload, option.hard_ttl()).await {
                Ok(result) => result,
                Err(e) => {
                    // A call that only ran out of time leaves the channel
                    // as it was: on a link slower than the heartbeat, a
                    // fresh connection per timeout never finishes its own
                    // handshake, and the follower would hear nothing at
                    // all and campaign. Anything else may be a dead
                    // channel: reconnect next time.
                    if e.kind() != std::io::ErrorKind::TimedOut {
                        self.client = None;
                    }
                    return Err(RPCError::Network(NetworkError::new(&e)));
                }
            };
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<RaftId>, RPCError<RaftId, BasicNode, RaftError<RaftId>>> {
        let entries = rpc.entries.len();
        let payload = postcard::to_stdvec(&rpc)
            .map_err(|e| RPCError::Network(NetworkError::new(&io_error(e))))?;
        if payload.len() > MAX_APPEND_BYTES && entries > 1 {
            // openraft sends these entries again at once, fewer per call.
            let fitting = (entries * MAX_APPEND_BYTES / payload.len()).max(1);
            return Err(PayloadTooLarge::new_entries_hint(fitting as u64).into());
        }
        self.send_encoded(Rpc::Append, payload, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftId>,
        RPCError<RaftId, BasicNode, RaftError<RaftId, InstallSnapshotError>>,
    > {
        crate::buggify::delay(crate::buggify::Point::SlowSnapshot).await;
        self.send(Rpc::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftId>,
        option: RPCOption,
    ) -> Result<VoteResponse<RaftId>, RPCError<RaftId, BasicNode, RaftError<RaftId>>> {
        let sent = self.send(Rpc::Vote, &rpc, &option).await;
        // Raft logs this at ERROR and retries; an unreachable voter during
        // an election (one starting up, one down) is routine, so the
        // agent's log filter drops that line and this one says it.
        if let Err(e) = &sent {
            tracing::debug!(vote = %rpc.vote, "vote request not answered: {e}");
        }
        sent
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_call_to_a_port_nobody_listens_on_was_never_sent() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = runtime().block_on(async {
            let mut client = connect_in_background(&format!("127.0.0.1:{port}")).unwrap();
            call_internal::<_, ()>(&mut client, Rpc::Propose, &(), Duration::from_secs(5))
                .await
                .unwrap_err()
        });
        assert!(never_sent(&error), "{error:?}");
    }

    #[test]
    fn a_call_that_reached_a_peer_that_never_answered_may_have_been_sent() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let error = runtime().block_on(async {
            let mut client = connect_in_background(&addr.to_string()).unwrap();
            call_internal::<_, ()>(&mut client, Rpc::Propose, &(), Duration::from_millis(300))
                .await
                .unwrap_err()
        });
        assert!(!never_sent(&error), "{error:?}");
        drop(listener);
    }
}
