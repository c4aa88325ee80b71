//! Linearizable reads, by read index (Raft thesis §6.4; etcd's ReadIndex):
//! the leader confirms with a quorum that it still leads and names the
//! index a read must see; any replica answers once it has applied that
//! index. Without this a replica that lags, or one cut off from the
//! leader, answers from an older state: a client could be told that a job
//! it has just updated is still at its earlier version.

use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use serde::{Deserialize, Serialize};

use crate::propose::MAX_HOPS;
use crate::raft::{Peers, Raft, Rpc, call_internal};

/// How long a read waits for the leader's confirmation and for this
/// replica to catch up, before saying it cannot answer.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A read-index request travelling towards the leader.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReadIndexRequest {
    pub hops: u8,
}

/// What a failed consistent read tells the caller to do.
const NEXT_STEP: &str =
    "retry, or read stale (`--stale`: this node's replica as it is, which may lag)";

/// Waits until this replica reflects every write acknowledged before the
/// call: after it returns `Ok`, reading the local state is linearizable.
pub async fn catch_up(raft: &Raft, peers: &Peers) -> Result<(), String> {
    let index = read_index(raft, peers, ReadIndexRequest { hops: 0 })
        .await
        .map_err(|e| format!("consistent read: {e}; {NEXT_STEP}"))?;
    raft.wait(Some(READ_TIMEOUT))
        .applied_index_at_least(Some(index), "read index")
        .await
        .map(|_| ())
        .map_err(|e| {
            format!("consistent read: this replica did not apply index {index} within {READ_TIMEOUT:?} ({e}); {NEXT_STEP}")
        })
}

/// The index a read must see: confirmed here if this node leads, asked of
/// the leader otherwise (what the internal `ReadIndex` RPC serves).
pub async fn read_index(
    raft: &Raft,
    peers: &Peers,
    request: ReadIndexRequest,
) -> Result<u64, String> {
    let confirmed = tokio::time::timeout(READ_TIMEOUT, raft.get_read_log_id()).await;
    let leader = match confirmed {
        Err(_) => {
            return Err(format!(
                "leadership not confirmed by a quorum within {READ_TIMEOUT:?}"
            ));
        }
        Ok(Ok((read_log_id, _applied))) => return Ok(read_log_id.map_or(0, |id| id.index)),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => f.leader_node,
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_)))) => {
            return Err("this node leads but cannot reach a quorum".into());
        }
        Ok(Err(e)) => return Err(e.to_string()),
    };
    let Some(leader) = leader else {
        return Err("no leader is known yet".into());
    };
    if request.hops >= MAX_HOPS {
        return Err("no leader reachable (leadership is changing)".into());
    }
    let next = ReadIndexRequest {
        hops: request.hops + 1,
    };
    let addr = leader.addr;
    let mut client = peers
        .client(&addr)
        .await
        .map_err(|e| format!("cannot reach the leader at {addr}: {e}"))?;
    call_internal(&mut client, Rpc::ReadIndex, &next, READ_TIMEOUT)
        .await
        .map_err(|e| {
            peers.forget(&addr);
            format!("asking the leader at {addr} for a read index: {e}")
        })?
}
