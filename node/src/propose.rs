//! Getting a command committed from any node: proposed locally on the
//! leader, forwarded to the leader otherwise. The leader stamps the time.
//! A caller is answered only after the command committed on a quorum.

use std::time::Duration;

use drover_core::{Command, CommandKind, Response};
use openraft::error::{ClientWriteError, RaftError};

use crate::raft::{Raft, Rpc, call_internal, connect};
use crate::time::now_ms;

/// A committed command: its log index and what applying it said.
pub type Committed = (u64, Response);

const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Proposer {
    raft: Raft,
}

impl Proposer {
    pub fn new(raft: Raft) -> Self {
        Self { raft }
    }

    /// Commits on this node if it leads; errors otherwise (no forwarding:
    /// what the internal `Propose` RPC serves).
    pub async fn propose_here(&self, kind: CommandKind) -> Result<Committed, String> {
        let command = Command::new(now_ms(), kind);
        match self.raft.client_write(command).await {
            Ok(reply) => Ok((reply.log_id.index, reply.data)),
            Err(e) => Err(describe(&e)),
        }
    }

    /// Commits from any node, forwarding to the leader when needed.
    pub async fn propose(&self, kind: CommandKind) -> Result<Committed, String> {
        let command = Command::new(now_ms(), kind.clone());
        let forward = match self.raft.client_write(command).await {
            Ok(reply) => return Ok((reply.log_id.index, reply.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f,
            Err(e) => return Err(describe(&e)),
        };
        let Some(leader) = forward.leader_node else {
            return Err("no leader is known yet; retry shortly".into());
        };
        let mut client = connect(&leader.addr)
            .await
            .map_err(|e| format!("cannot reach the leader at {}: {e}", leader.addr))?;
        let answer: Result<Committed, String> =
            call_internal(&mut client, Rpc::Propose, &kind, FORWARD_TIMEOUT)
                .await
                .map_err(|e| format!("forwarding to the leader at {}: {e}", leader.addr))?;
        answer
    }
}

fn describe(
    e: &RaftError<crate::raft::RaftId, ClientWriteError<crate::raft::RaftId, openraft::BasicNode>>,
) -> String {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => match f.leader_id {
            Some(id) => format!("not the leader; node {id} is"),
            None => "no leader is known yet; retry shortly".into(),
        },
        other => other.to_string(),
    }
}
