//! Getting a command committed from any node: proposed locally on the
//! leader, forwarded to the leader otherwise — or, from a node outside the
//! Raft group (a worker or edge node), to a control node, which forwards it
//! on. The leader stamps the time. A caller is answered only after the
//! command committed on a quorum.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use drover_core::{Command, CommandKind, Response};
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};

use crate::raft::{Raft, RaftId, Rpc, call_internal, connect};
use crate::time::now_ms;

/// A committed command: its log index and what applying it said.
pub type Committed = (u64, Response);

/// How long a leader waits for a quorum before telling the caller it does
/// not know: a leader cut off from its followers answers instead of
/// hanging. Shorter than a forwarder's patience, so the answer gets back.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(8);
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough to go edge → control → leader; more means leadership is moving.
pub(crate) const MAX_HOPS: u8 = 2;

/// A command travelling towards the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    pub kind: CommandKind,
    pub hops: u8,
}

#[derive(Clone)]
pub struct Proposer {
    raft: Raft,
    /// Control nodes to hand commands to when this node knows no leader.
    control: Vec<String>,
    /// When the newest of this node's own commands that committed was
    /// sent: proof that a quorum heard this node at or after that instant.
    quorum_heard: Arc<Mutex<Option<Instant>>>,
}

impl Proposer {
    pub fn new(raft: Raft, control: Vec<String>) -> Self {
        Self {
            raft,
            control,
            quorum_heard: Arc::default(),
        }
    }

    /// When a quorum last committed a command this node sent (the send
    /// instant), if ever. Workers judge their contact by it.
    pub fn quorum_heard(&self) -> Option<Instant> {
        *self
            .quorum_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn heard_since(&self, sent: Instant) {
        let mut heard = self
            .quorum_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *heard = Some(heard.map_or(sent, |h| h.max(sent)));
    }

    /// Commits only if this node leads: for the leader's own control loop,
    /// whose decisions are not to be carried out by a later leader.
    pub async fn propose_here(&self, kind: CommandKind) -> Result<Committed, String> {
        let sent = Instant::now();
        match self.raft.client_write(Command::new(now_ms(), kind)).await {
            Ok(reply) => {
                self.heard_since(sent);
                Ok((reply.log_id.index, reply.data))
            }
            Err(e) => Err(describe(&e)),
        }
    }

    /// Commits from any node, forwarding towards the leader when needed.
    pub async fn propose(&self, kind: CommandKind) -> Result<Committed, String> {
        let sent = Instant::now();
        let committed = self.propose_forwarded(Forwarded { kind, hops: 0 }).await;
        if committed.is_ok() {
            self.heard_since(sent);
        }
        committed
    }

    /// What the internal `Propose` RPC serves: commit here if leading,
    /// otherwise pass the command on, at most `MAX_HOPS` times in all.
    pub async fn propose_forwarded(&self, forwarded: Forwarded) -> Result<Committed, String> {
        let command = Command::new(now_ms(), forwarded.kind.clone());
        let Ok(written) =
            tokio::time::timeout(COMMIT_TIMEOUT, self.raft.client_write(command)).await
        else {
            return Err(format!(
                "not committed within {}s: this node cannot reach a quorum; the outcome is unknown (it may still commit)",
                COMMIT_TIMEOUT.as_secs()
            ));
        };
        let leader = match written {
            Ok(reply) => return Ok((reply.log_id.index, reply.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                f.leader_node.map(|n| n.addr)
            }
            Err(e) => return Err(describe(&e)),
        };
        if forwarded.hops >= MAX_HOPS {
            return Err("no leader reachable (leadership is changing); retry shortly".into());
        }
        let next = Forwarded {
            kind: forwarded.kind,
            hops: forwarded.hops + 1,
        };
        let targets: Vec<&String> = match &leader {
            Some(addr) => vec![addr],
            None => self.control.iter().collect(),
        };
        let mut last_error = String::from("no leader is known yet; retry shortly");
        for addr in targets {
            match forward(addr, &next).await {
                Ok(answer) => return answer,
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }
}

async fn forward(addr: &str, command: &Forwarded) -> Result<Result<Committed, String>, String> {
    crate::buggify::delay(crate::buggify::Point::SlowForward).await;
    let mut client = connect(addr)
        .await
        .map_err(|e| format!("cannot reach {addr}: {e}"))?;
    call_internal(&mut client, Rpc::Propose, command, FORWARD_TIMEOUT)
        .await
        .map_err(|e| format!("forwarding to {addr}: {e}"))
}

fn describe(e: &RaftError<RaftId, ClientWriteError<RaftId, openraft::BasicNode>>) -> String {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => match f.leader_id {
            Some(id) => format!("not the leader; node {id} is"),
            None => "no leader is known yet; retry shortly".into(),
        },
        other => other.to_string(),
    }
}
