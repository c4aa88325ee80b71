//! Raft traffic between nodes over the internal gRPC service. Requests and
//! responses are postcard-encoded openraft types; both ends run the same
//! build, and the service package carries the version.

use std::time::Duration;

use drover_proto::v1::Blob;
use drover_proto::v1::internal_client::InternalClient;
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
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
}

/// One internal call to `addr`, with a deadline.
pub async fn call_internal<Req: Serialize, Resp: DeserializeOwned>(
    client: &mut InternalClient<Channel>,
    rpc: Rpc,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, std::io::Error> {
    let payload = postcard::to_stdvec(request).map_err(io_error)?;
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
        }
    };
    let reply = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "internal RPC timed out"))?
        .map_err(io_error)?;
    postcard::from_bytes(&reply.into_inner().payload).map_err(io_error)
}

pub async fn connect(addr: &str) -> Result<InternalClient<Channel>, std::io::Error> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(io_error)?
        .connect_timeout(Duration::from_secs(2));
    let channel = endpoint.connect().await.map_err(io_error)?;
    Ok(InternalClient::new(channel))
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
        if self.client.is_none() {
            let client = connect(&self.addr)
                .await
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected above");
        let result: Result<Resp, RaftError<RaftId, E>> =
            match call_internal(client, rpc, request, option.hard_ttl()).await {
                Ok(result) => result,
                Err(e) => {
                    // Reconnect next time: the channel may be dead.
                    self.client = None;
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
        self.send(Rpc::Append, &rpc, &option).await
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
        self.send(Rpc::Vote, &rpc, &option).await
    }
}
