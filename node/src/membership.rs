//! Changing who holds the Raft log while the cluster serves: nodes that
//! announce themselves and wait (`join` in node.toml), and the leader's
//! side of `drover cluster members / add / remove`. A node is added as a
//! learner, caught up (from the log, or a snapshot once the log behind it
//! is compacted), and only then made a voter through openraft's joint
//! consensus, so a new voter never counts toward a majority before it
//! holds the log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tonic::Status;
use tracing::{info, warn};

use crate::propose::NotCommitted;
use crate::raft::{Peers, Raft, RaftId, Rpc, call_internal};

/// How long an announcement is shown after the last one arrived.
const ANNOUNCEMENT_SHOWN_FOR: Duration = Duration::from_secs(30);
/// How often a waiting node announces itself.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(2);
/// `AddMember`'s wait for the learner to catch up, unless the caller says:
/// short enough for a client's usual 30-s deadline, which the CLI meets by
/// asking again while its own `--wait` lasts.
pub const DEFAULT_CATCH_UP_WAIT: Duration = Duration::from_secs(20);
/// The longest wait a caller may ask for.
pub const MAX_CATCH_UP_WAIT: Duration = Duration::from_secs(300);

/// What a node started with `join` tells the cluster about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub id: RaftId,
    pub addr: String,
}

/// The answer: whether the node that received it already counts the
/// announcing node as a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub member: bool,
}

/// Nodes that announced themselves to this node, newest announcement
/// kept. In memory only: an announcement is repeated until the node is
/// added, so a new leader hears it within seconds.
#[derive(Clone, Default)]
pub struct Announcements(Arc<Mutex<BTreeMap<RaftId, (String, Instant)>>>);

impl Announcements {
    /// Records one; true the first time this id (at this address) is heard.
    pub fn record(&self, announcement: Announcement) -> bool {
        let mut heard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let new = heard.get(&announcement.id).is_none_or(|(addr, at)| {
            *addr != announcement.addr || at.elapsed() > ANNOUNCEMENT_SHOWN_FOR
        });
        heard.insert(announcement.id, (announcement.addr, now));
        new
    }

    /// Announced recently and not a member: the nodes waiting to be added.
    fn waiting(&self, members: &BTreeSet<RaftId>) -> Vec<Value> {
        let mut heard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        heard.retain(|id, (_, at)| at.elapsed() <= ANNOUNCEMENT_SHOWN_FOR && !members.contains(id));
        heard
            .iter()
            .map(|(id, (addr, at))| {
                json!({
                    "id": id,
                    "addr": addr,
                    "announced_ms_ago": u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX),
                })
            })
            .collect()
    }
}

/// Whether `raft`'s membership (voters or learners) includes `id`.
pub fn is_member(raft: &Raft, id: RaftId) -> bool {
    raft.metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&id)
        .is_some()
}

/// Whether this node itself is a voter or learner: whether the replica it
/// holds still moves.
pub fn is_self_member(raft: &Raft) -> bool {
    let own = raft.metrics().borrow().id;
    is_member(raft, own)
}

/// For a node started with `join`: announces it to every node it was
/// told to join, again and again, until it is a member, saying once what
/// the operator does next.
pub async fn announce_until_added(raft: Raft, peers: Peers, me: Announcement, join: Vec<String>) {
    info!(
        "waiting to be added to the cluster at {}: run `drover cluster add {} {}` against it",
        join.join(", "),
        me.id,
        me.addr
    );
    while !is_member(&raft, me.id) {
        for addr in &join {
            let Ok(mut client) = peers.client(addr).await else {
                continue;
            };
            let sent: Result<Acknowledged, _> =
                call_internal(&mut client, Rpc::Announce, &me, Duration::from_secs(2)).await;
            if sent.is_err() {
                peers.forget(addr);
            }
        }
        tokio::time::sleep(ANNOUNCE_EVERY).await;
    }
    let role = if raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .any(|v| v == me.id)
    {
        "voter"
    } else {
        "learner"
    };
    info!("added to the cluster as a {role}");
}

/// The members as this node, the leader, sees them.
pub fn members(raft: &Raft, announcements: &Announcements) -> Value {
    let metrics = raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    let voters: BTreeSet<RaftId> = membership.voter_ids().collect();
    let last = metrics.last_log_index.unwrap_or(0);
    let matched = |id: RaftId| -> Option<u64> {
        if id == metrics.id {
            return metrics.last_log_index;
        }
        metrics
            .replication
            .as_ref()
            .and_then(|r| r.get(&id).copied().flatten())
            .map(|log_id| log_id.index)
    };
    let all: BTreeSet<RaftId> = membership.nodes().map(|(id, _)| *id).collect();
    let members: Vec<Value> = membership
        .nodes()
        .map(|(id, node)| {
            let voter = voters.contains(id);
            let matched = matched(*id);
            // Nothing matched since this leader took over: it has not
            // answered yet, or is down.
            let state = match (metrics.current_leader == Some(*id), matched, voter) {
                (true, _, _) => "leader",
                (false, None, _) => "no contact",
                (false, Some(_), true) => "follower",
                (false, Some(_), false) => "learner",
            };
            json!({
                "id": id,
                "addr": node.addr,
                "voter": voter,
                "state": state,
                "matched_index": matched,
                "lag": matched.map(|m| last.saturating_sub(m)),
            })
        })
        .collect();
    json!({
        "node": metrics.id,
        "leader": metrics.current_leader,
        "term": metrics.current_term,
        "last_log_index": last,
        // Between the two steps of a change: both configurations must agree.
        "joint": membership.get_joint_config().len() > 1,
        "members": members,
        "waiting": announcements.waiting(&all),
    })
}

type WriteError = RaftError<RaftId, ClientWriteError<RaftId, BasicNode>>;

/// A membership change refused or failed, in the API's terms.
fn change_failed(what: &str, e: &WriteError) -> Status {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            NotCommitted::NotApplied(format!("{what}: leadership moved; try again")).into_status()
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(change)) => match change {
            ChangeMembershipError::InProgress(_) => Status::failed_precondition(format!(
                "{what}: another membership change is still in progress; try again when `drover cluster members` no longer shows joint"
            )),
            ChangeMembershipError::EmptyMembership(_) => Status::failed_precondition(format!(
                "{what}: it would leave the cluster without voters"
            )),
            ChangeMembershipError::LearnerNotFound(l) => Status::failed_precondition(format!(
                "{what}: node {} is not a learner yet; add it first",
                l.node_id
            )),
        },
        RaftError::Fatal(fatal) => Status::unavailable(format!("{what}: raft stopped: {fatal}")),
    }
}

/// One membership change at a time on this node, and only by a leader
/// that is itself a voter. openraft 0.9 lets a leader that committed its
/// own removal go on leading for a while (a "non-member leader"); a change
/// it accepted meanwhile tripped openraft's own assertion that only a
/// leader changes the membership (found by the simulator).
#[derive(Clone, Default)]
pub struct ChangeLock(Arc<tokio::sync::Mutex<()>>);

impl ChangeLock {
    pub async fn hold(&self, raft: &Raft) -> Result<tokio::sync::OwnedMutexGuard<()>, Status> {
        let guard = self.0.clone().lock_owned().await;
        let metrics = raft.metrics().borrow().clone();
        let votes = metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == metrics.id);
        if metrics.state != ServerState::Leader || !votes {
            return Err(NotCommitted::NotApplied(
                "this node no longer leads as a voter (it may be leaving the cluster); ask again"
                    .into(),
            )
            .into_status());
        }
        if let Some(leaving_to) = removal_left_halfway(&metrics) {
            let outcome = if finish_own_removal(raft, leaving_to).await {
                "it has finished that change and steps down"
            } else {
                "finishing that change failed (see its log)"
            };
            return Err(NotCommitted::NotApplied(format!(
                "this node leads under a half-made change that removes it; {outcome}: ask again"
            ))
            .into_status());
        }
        Ok(guard)
    }
}

/// The voters a joint configuration is moving to, when this node is not
/// among them: a leader that removed it committed the first step and was
/// lost before the second, and this node was elected under the joint
/// configuration. Any change it starts now would first move to a
/// configuration without it and then, no longer a voter, propose the
/// second step, which openraft 0.9 asserts only a voting leader does
/// (found by the simulator, seed 220194399).
fn removal_left_halfway(
    metrics: &openraft::RaftMetrics<RaftId, BasicNode>,
) -> Option<BTreeSet<RaftId>> {
    let joint = metrics.membership_config.membership().get_joint_config();
    let target = joint.last()?;
    (joint.len() > 1 && !target.contains(&metrics.id)).then(|| target.clone())
}

/// Completes the change a lost leader began: one step, from the joint
/// configuration to its target, after which openraft has this node stop
/// leading once the change commits.
async fn finish_own_removal(raft: &Raft, target: BTreeSet<RaftId>) -> bool {
    match raft
        .change_membership(ChangeMembers::ReplaceAllVoters(target), false)
        .await
    {
        Ok(done) => {
            info!(
                index = done.log_id.index,
                "finished the change that removes this node from the voters"
            );
            true
        }
        Err(e) => {
            warn!("could not finish the change that removes this node: {e}");
            false
        }
    }
}

/// Adds `id` at `addr` as a learner, waits up to `wait` for it to catch up,
/// then, unless `learner_only`, makes it a voter. Run on the leader.
pub async fn add(
    raft: &Raft,
    id: RaftId,
    addr: &str,
    learner_only: bool,
    wait: Duration,
) -> Result<Value, Status> {
    let (voter, existing, last_index) = {
        let metrics = raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        (
            membership.voter_ids().any(|v| v == id),
            membership.get_node(&id).map(|n| n.addr.clone()),
            metrics.last_log_index.unwrap_or(0),
        )
    };
    let learner_since = match existing {
        Some(existing) if existing != addr => {
            return Err(Status::failed_precondition(format!(
                "node {id} is already a member at {existing}, not {addr}; remove it first to give the id a new address (ids are never reused for another node)"
            )));
        }
        Some(_) if voter => {
            return Ok(json!({ "id": id, "addr": addr, "voter": true, "changed": false }));
        }
        // Added by an earlier call and still catching up: wait until it
        // holds what the log held when this call began.
        Some(_) => last_index,
        None => {
            let added = raft
                .add_learner(id, BasicNode::new(addr), false)
                .await
                .map_err(|e| change_failed(&format!("adding node {id} as a learner"), &e))?;
            info!(id, addr, index = added.log_id.index, "added a learner");
            added.log_id.index
        }
    };
    let caught_up = catch_up(raft, id, learner_since, wait.min(MAX_CATCH_UP_WAIT)).await;
    if !caught_up {
        return Err(Status::failed_precondition(format!(
            "node {id} is a learner but has not caught up within {}s (is it running, reachable at {addr}, with an empty data directory?); it keeps receiving the log: run the same command again to wait more and make it a voter, or `drover cluster remove {id}`",
            wait.min(MAX_CATCH_UP_WAIT).as_secs()
        )));
    }
    if learner_only {
        return Ok(json!({ "id": id, "addr": addr, "voter": false, "changed": true }));
    }
    let promoted = raft
        .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
        .await
        .map_err(|e| change_failed(&format!("making node {id} a voter"), &e))?;
    info!(id, addr, index = promoted.log_id.index, "made a voter");
    Ok(json!({ "id": id, "addr": addr, "voter": true, "changed": true }))
}

/// Waits until the leader has replicated to `id` at least up to `index`.
async fn catch_up(raft: &Raft, id: RaftId, index: u64, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut metrics = raft.metrics();
    loop {
        let (matched, leading) = {
            let m = metrics.borrow_and_update();
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).copied().flatten())
                .map(|log_id| log_id.index);
            (matched, m.state == ServerState::Leader)
        };
        if matched.is_some_and(|m| m >= index) {
            return true;
        }
        if !leading {
            warn!(id, "stopped leading while a learner caught up");
            return false;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, metrics.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return false,
        }
    }
}

/// Removes `id`, a voter or a learner, whether it answers or not. Run on
/// the leader. Unless `force`, a voter is removed only if a majority of
/// the voters that remain answer now: otherwise the cluster could commit
/// nothing more, not even the change that brings a voter back (etcd's
/// strict reconfiguration check).
pub async fn remove(raft: &Raft, peers: &Peers, id: RaftId, force: bool) -> Result<Value, Status> {
    let (voter, present, remaining, own) = {
        let metrics = raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        let voter = membership.voter_ids().any(|v| v == id);
        let remaining: Vec<(RaftId, String)> = membership
            .voter_ids()
            .filter(|v| *v != id)
            .map(|v| {
                (
                    v,
                    membership
                        .get_node(&v)
                        .map(|n| n.addr.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        (
            voter,
            membership.get_node(&id).is_some(),
            remaining,
            metrics.id,
        )
    };
    if !present {
        return Err(Status::not_found(format!("node {id} is not a member")));
    }
    if voter && !force {
        let answering = answering(peers, own, &remaining).await;
        let majority = remaining.len() / 2 + 1;
        if answering.len() < majority {
            let ids: Vec<String> = remaining.iter().map(|(v, _)| v.to_string()).collect();
            return Err(Status::failed_precondition(format!(
                "removing node {id} would leave voters {} of which {} answer now ({}), fewer than the {majority} a majority needs: the cluster could then commit nothing, not even adding a voter back. Bring a voter back first, or pass --force",
                ids.join(", "),
                answering.len(),
                if answering.is_empty() {
                    "none".to_string()
                } else {
                    answering
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
    }
    let ids = BTreeSet::from([id]);
    let change = if voter {
        ChangeMembers::RemoveVoters(ids)
    } else {
        ChangeMembers::RemoveNodes(ids)
    };
    let removed = raft
        .change_membership(change, false)
        .await
        .map_err(|e| change_failed(&format!("removing node {id}"), &e))?;
    info!(id, voter, index = removed.log_id.index, "removed a member");
    Ok(json!({ "id": id, "was_voter": voter, "changed": true }))
}

/// Which of `voters` answer a ping within a second (this node, `own`,
/// always does).
async fn answering(peers: &Peers, own: RaftId, voters: &[(RaftId, String)]) -> Vec<RaftId> {
    let pings = voters.iter().map(|(id, addr)| async move {
        if *id == own {
            return Some(*id);
        }
        let mut client = peers.client(addr).await.ok()?;
        let pong: Result<Acknowledged, _> =
            call_internal(&mut client, Rpc::Ping, &(), Duration::from_secs(1)).await;
        pong.ok().filter(|p| p.member).map(|_| *id)
    });
    futures_util::future::join_all(pings)
        .await
        .into_iter()
        .flatten()
        .collect()
}
