//! Getting a command committed from any node: proposed locally on the
//! leader, forwarded to the leader otherwise — or, from a node outside the
//! Raft group (a worker or edge node), to a control node, which forwards it
//! on. The leader stamps the time. A caller is answered only after the
//! command committed on a quorum; otherwise it is told whether the
//! command certainly never applies (safe to send again) or may still.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use drover_core::state::Success;
use drover_core::{Command, CommandKind, Response};
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};

use crate::batcher::{Batcher, Closed, Group};
use crate::raft::{Peers, Raft, RaftId, Rpc, call_internal, never_sent};
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

/// What Raft answered a write on this node.
type Written = Result<
    openraft::raft::ClientWriteResponse<crate::raft::TypeConfig>,
    RaftError<RaftId, ClientWriteError<RaftId, openraft::BasicNode>>,
>;

/// Why a command was not acknowledged, in the terms a client acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotCommitted {
    /// No leader took it (none known, none reachable, or it was cut from
    /// the log of one that lost leadership): it will never apply, and
    /// sending it again is safe.
    NotApplied(String),
    /// A leader may have appended it: it may still commit.
    Unknown(String),
}

impl std::fmt::Display for NotCommitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotApplied(why) => write!(f, "not applied, safe to retry: {why}"),
            Self::Unknown(why) => write!(f, "outcome unknown, it may still commit: {why}"),
        }
    }
}

/// The metadata key that says which of the two a gRPC error is.
pub const OUTCOME_KEY: &str = "drover-outcome";

impl NotCommitted {
    /// `UNAVAILABLE` for not applied, `UNKNOWN` for outcome unknown, and
    /// the same in `drover-outcome` (`not-applied`, `unknown`) so that a
    /// client can tell this node's answer from its transport's own.
    pub fn into_status(self) -> tonic::Status {
        let (mut status, outcome) = match &self {
            Self::NotApplied(_) => (tonic::Status::unavailable(self.to_string()), "not-applied"),
            Self::Unknown(_) => (tonic::Status::unknown(self.to_string()), "unknown"),
        };
        status.metadata_mut().insert(
            OUTCOME_KEY,
            tonic::metadata::MetadataValue::from_static(outcome),
        );
        status
    }
}

/// Commands travelling towards the leader, together.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    pub kinds: Vec<CommandKind>,
    pub hops: u8,
}

/// What a client is told of one command.
pub type Outcome = Result<Committed, NotCommitted>;

#[derive(Clone)]
pub struct Proposer {
    route: Arc<Route>,
    /// When the newest of this node's own commands that committed was
    /// sent: proof that a quorum heard this node at or after that instant.
    quorum_heard: Arc<Mutex<Option<Instant>>>,
    /// The highest log index a command this node sent committed at.
    committed_at: Arc<std::sync::atomic::AtomicU64>,
    batcher: Batcher<Outcome>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Where a group of commands goes: into this node's log, or to the leader.
struct Route {
    /// `None` for a process outside every Raft group (`drover bench
    /// nodes`' simulated workers): it always hands commands to `control`.
    raft: Option<Raft>,
    /// Control nodes to hand commands to when this node knows no leader.
    control: Vec<String>,
    peers: Peers,
}

impl Proposer {
    pub fn new(raft: Raft, control: Vec<String>) -> Self {
        Self::routed(Route {
            raft: Some(raft),
            control,
            peers: Peers::default(),
        })
    }

    /// A proposer with no Raft of its own, that hands every command to one
    /// of the `control` nodes over `peers`' connections.
    pub fn remote(control: Vec<String>, peers: Peers) -> Self {
        Self::routed(Route {
            raft: None,
            control,
            peers,
        })
    }

    fn routed(route: Route) -> Self {
        let route = Arc::new(route);
        let committer = route.clone();
        let batcher = Batcher::start(move |group| {
            let route = committer.clone();
            async move { route.commit(group).await }
        });
        Self {
            route,
            quorum_heard: Arc::default(),
            committed_at: Arc::default(),
            batcher,
            metrics: None,
        }
    }

    /// Records how long its proposals take in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn took(&self, sent: Instant) {
        if let Some(metrics) = &self.metrics {
            crate::metrics::Metrics::observe(&metrics.proposal_seconds, sent.elapsed());
        }
    }

    /// This node's connections to the others.
    pub fn peers(&self) -> &Peers {
        &self.route.peers
    }

    /// When a quorum last committed a command this node sent (the send
    /// instant), if ever. Workers judge their contact by it.
    pub fn quorum_heard(&self) -> Option<Instant> {
        *self
            .quorum_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The highest log index a command this node sent committed at (0
    /// before any did).
    pub fn committed_at(&self) -> u64 {
        self.committed_at.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn committed_index(&self, index: u64) {
        self.committed_at
            .fetch_max(index, std::sync::atomic::Ordering::SeqCst);
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
    pub async fn propose_here(&self, kind: CommandKind) -> Outcome {
        let sent = Instant::now();
        let written = self.route.write_here(Command::new(now_ms(), kind)).await;
        self.took(sent);
        match written? {
            Ok(reply) => {
                self.heard_since(sent);
                self.committed_index(reply.log_id.index);
                Ok((reply.log_id.index, reply.data))
            }
            Err(e) => Err(describe(&e)),
        }
    }

    /// Commits from any node, forwarding towards the leader when needed.
    pub async fn propose(&self, kind: CommandKind) -> Outcome {
        let sent = Instant::now();
        let committed = self.grouped(kind, 0).await;
        self.took(sent);
        if let Ok((index, _)) = &committed {
            self.heard_since(sent);
            self.committed_index(*index);
        }
        committed
    }

    /// What the internal `Propose` RPC serves: each command committed here
    /// if leading, grouped with whatever else is being written, or passed
    /// on, at most `MAX_HOPS` times in all.
    pub async fn propose_forwarded(&self, forwarded: Forwarded) -> Vec<Outcome> {
        let mut tickets = Vec::with_capacity(forwarded.kinds.len());
        for kind in forwarded.kinds {
            tickets.push(self.batcher.queue(kind, forwarded.hops).await);
        }
        let mut outcomes = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            let answer = match ticket {
                Ok(ticket) => ticket.answer().await,
                Err(closed) => Err(closed),
            };
            outcomes.push(answer.unwrap_or_else(shutting_down));
        }
        outcomes
    }

    async fn grouped(&self, kind: CommandKind, hops: u8) -> Outcome {
        self.batcher
            .write(kind, hops)
            .await
            .unwrap_or_else(shutting_down)
    }
}

fn shutting_down(_: Closed) -> Outcome {
    Err(NotCommitted::Unknown(
        "this node is shutting down; the command may have been appended".into(),
    ))
}

impl Route {
    /// One group: one log entry if this node leads, one forwarded call
    /// if another does. The answers are the commands', in order.
    async fn commit(&self, group: Group) -> Vec<Outcome> {
        let count = group.kinds.len();
        let Some(raft) = &self.raft else {
            return self.forward_group(None, group).await;
        };
        let (own_id, leader) = crate::raft::known_leader(raft);
        // Another node leads, as far as this one knows: pass the group on
        // without asking Raft here first.
        if let Some((id, Some(addr))) = &leader
            && *id != own_id
        {
            return self.forward_group(Some(addr.clone()), group).await;
        }
        // This node leads, so the group is appended here; should leadership
        // move meanwhile, Raft refuses before appending and the commands
        // are not applied. With no leader known, keep a copy to forward.
        let spare = leader.is_none().then(|| group.kinds.clone());
        let command = match group.kinds.len() {
            1 => Command::new(now_ms(), group.kinds.into_iter().next().expect("one")),
            _ => Command::new(now_ms(), CommandKind::Batch(group.kinds)),
        };
        let written = match self.write_here(command).await {
            Ok(written) => written,
            Err(unknown) => return every(count, unknown),
        };
        match written {
            Ok(reply) => answers(count, reply.log_id.index, reply.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match spare {
                Some(kinds) => {
                    let addr = f.leader_node.map(|n| n.addr);
                    self.forward_group(
                        addr,
                        Group {
                            kinds,
                            hops: group.hops,
                        },
                    )
                    .await
                }
                None => every(
                    count,
                    NotCommitted::NotApplied("leadership moved while it was sent".into()),
                ),
            },
            Err(e) => every(count, describe(&e)),
        }
    }

    /// Appends `command` to this node's log and waits for its commit, at
    /// most `COMMIT_TIMEOUT`: an entry a leader appended and then lost
    /// track of (it was cut off, paused, or stepped down and was elected
    /// again) must not hold its caller — the leader's own control loop
    /// among them — for ever.
    async fn write_here(&self, command: Command) -> Result<Written, NotCommitted> {
        let Some(raft) = &self.raft else {
            return Err(NotCommitted::NotApplied(
                "this process holds no Raft log".into(),
            ));
        };
        tokio::time::timeout(COMMIT_TIMEOUT, raft.client_write(command))
            .await
            .map_err(|_| {
                NotCommitted::Unknown(format!(
                    "not committed within {}s: the leader cannot reach a quorum",
                    COMMIT_TIMEOUT.as_secs()
                ))
            })
    }

    async fn forward_group(&self, leader: Option<String>, group: Group) -> Vec<Outcome> {
        let count = group.kinds.len();
        if group.hops >= MAX_HOPS {
            return every(
                count,
                NotCommitted::NotApplied("no leader reachable (leadership is changing)".into()),
            );
        }
        let next = Forwarded {
            kinds: group.kinds,
            hops: group.hops + 1,
        };
        let targets: Vec<&String> = match &leader {
            Some(addr) => vec![addr],
            None => self.control.iter().collect(),
        };
        let mut last_error = String::from("no leader is known yet");
        for addr in targets {
            match forward(&self.peers, addr, &next).await {
                // A control node that knows no leader either (one removed
                // while cut off never learns it was) applied none of it:
                // the next may know, so it is asked too, not taken for the
                // last word.
                Ok(answers)
                    if leader.is_none()
                        && answers
                            .iter()
                            .all(|a| matches!(a, Err(NotCommitted::NotApplied(_)))) =>
                {
                    if let Some(Err(NotCommitted::NotApplied(why))) = answers.first() {
                        last_error = format!("{addr}: {why}");
                    }
                }
                Ok(answers) if answers.len() == count => return answers,
                Ok(answers) => {
                    return every(
                        count,
                        NotCommitted::Unknown(format!(
                            "{addr} answered {} of {count} forwarded commands",
                            answers.len()
                        )),
                    );
                }
                Err(Unsent(e)) => last_error = e,
            }
        }
        every(count, NotCommitted::NotApplied(last_error))
    }
}

/// The same outcome for each of `count` commands.
fn every(count: usize, not: NotCommitted) -> Vec<Outcome> {
    vec![Err(not); count]
}

/// Each command's own response from the entry at `index`.
fn answers(count: usize, index: u64, response: Response) -> Vec<Outcome> {
    match response {
        Ok(Success::Batch(responses)) if count > 1 && responses.len() == count => {
            responses.into_iter().map(|r| Ok((index, r))).collect()
        }
        // One command, or a batch refused whole (a stale index): each
        // member was answered the same.
        whole => vec![Ok((index, whole)); count],
    }
}

/// A forward that never left this node: the target could not be reached.
struct Unsent(String);

async fn forward(peers: &Peers, addr: &str, command: &Forwarded) -> Result<Vec<Outcome>, Unsent> {
    crate::buggify::delay(crate::buggify::Point::SlowForward).await;
    let mut client = peers
        .client(addr)
        .await
        .map_err(|e| Unsent(format!("cannot reach {addr}: {e}")))?;
    // Once sent, a lost answer leaves the outcome unknown.
    match call_internal(&mut client, Rpc::Propose, command, FORWARD_TIMEOUT).await {
        Ok(answers) => Ok(answers),
        Err(e) if never_sent(&e) => {
            peers.forget(addr);
            Err(Unsent(format!("cannot reach {addr}: {e}")))
        }
        Err(e) => {
            peers.forget(addr);
            Ok(every(
                command.kinds.len(),
                NotCommitted::Unknown(format!("forwarded to {addr}: {e}")),
            ))
        }
    }
}

/// openraft answers `ForwardToLeader` before appending, or after cutting
/// the entry from the log of a leader that lost leadership (an entry
/// cut is one a quorum never held): either way it never applies. Any
/// other failure may come after the append.
fn describe(e: &RaftError<RaftId, ClientWriteError<RaftId, openraft::BasicNode>>) -> NotCommitted {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            NotCommitted::NotApplied(match f.leader_id {
                Some(id) => format!("not the leader; node {id} is"),
                None => "no leader is known yet".into(),
            })
        }
        other => NotCommitted::Unknown(other.to_string()),
    }
}
