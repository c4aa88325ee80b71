//! The internal gRPC service: Raft RPCs from peers, and commands forwarded
//! to this node as leader.

use drover_core::CommandKind;
use drover_proto::v1::Blob;
use drover_proto::v1::internal_server::Internal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use crate::propose::Proposer;
use crate::raft::Raft;

pub struct InternalService {
    pub raft: Raft,
    pub proposer: Proposer,
}

fn decode<T: DeserializeOwned>(request: Request<Blob>) -> Result<T, Status> {
    postcard::from_bytes(&request.into_inner().payload)
        .map_err(|e| Status::invalid_argument(format!("undecodable internal request: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<Blob>, Status> {
    postcard::to_stdvec(value)
        .map(|payload| Response::new(Blob { payload }))
        .map_err(|e| Status::internal(format!("unencodable internal reply: {e}")))
}

#[tonic::async_trait]
impl Internal for InternalService {
    async fn raft_append(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let result = self.raft.append_entries(decode(request)?).await;
        encode(&result)
    }

    async fn raft_vote(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let result = self.raft.vote(decode(request)?).await;
        encode(&result)
    }

    async fn raft_snapshot(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let result = self.raft.install_snapshot(decode(request)?).await;
        encode(&result)
    }

    async fn propose(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let kind: CommandKind = decode(request)?;
        encode(&self.proposer.propose_here(kind).await)
    }
}
