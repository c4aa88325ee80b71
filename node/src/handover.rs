//! A leader asked to remove itself first hands leadership to another
//! voter, which then makes the change. openraft 0.9 holds a membership in
//! force once it is appended, and a node that is no voter in the
//! membership it holds never campaigns, even while that membership is not
//! committed (the Raft thesis, §4.2.2, has it campaign until it is). A
//! leader that appended its own removal and then lost leadership before
//! the others had that entry holds the longest log: it refuses every
//! candidate, and stands for none. From two voters to one, the cluster
//! never elected again (the simulator found it: a leader removing itself
//! while its messages were dropped). A leader that stays a voter in every
//! membership it appends cannot be caught so.

use std::time::Duration;

use openraft::ServerState;
use serde::{Deserialize, Serialize};
use tonic::Status;
use tracing::info;

use crate::membership::Acknowledged;
use crate::propose::NotCommitted;
use crate::raft::{Peers, Raft, RaftId, Rpc, call_internal};

/// How long one voter asked to campaign has to become leader: an
/// election takes a round trip or two, and the old leader's voters may
/// hold its lease a little longer.
const ELECTION_WAIT: Duration = Duration::from_secs(3);

/// The leader's request to a voter: campaign, if `leader` still leads
/// `term` as far as you know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRequest {
    pub leader: RaftId,
    pub term: u64,
}

/// Whether `id` is this node while it leads: removing it needs a
/// hand-over first.
pub fn removes_the_leader(raft: &Raft, id: RaftId) -> bool {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    metrics.id == id && metrics.state == ServerState::Leader
}

/// On the leader: asks the other voters, the most caught-up first, to
/// campaign, one at a time, until one leads. Returns the new leader.
pub async fn hand_over(raft: &Raft, peers: &Peers) -> Result<RaftId, Status> {
    let (own, term, successors) = successors(raft);
    let mut tried = Vec::new();
    for (id, addr) in successors {
        let asked = CampaignRequest { leader: own, term };
        let started = match peers.client(&addr).await {
            Ok(mut client) => {
                call_internal::<_, Acknowledged>(&mut client, Rpc::Campaign, &asked, ELECTION_WAIT)
                    .await
                    .is_ok_and(|a| a.member)
            }
            Err(_) => false,
        };
        if started {
            let led = raft
                .wait(Some(ELECTION_WAIT))
                .metrics(
                    |m| m.current_leader.is_some_and(|l| l != own),
                    "another voter leads",
                )
                .await;
            if let Ok(metrics) = led {
                let leader = metrics.current_leader.unwrap_or(id);
                info!(leader, "handed leadership over before removing this node");
                return Ok(leader);
            }
        }
        tried.push(id.to_string());
    }
    Err(NotCommitted::NotApplied(format!(
        "node {own} leads and must hand leadership over before it is removed, but no other voter took it (asked: {}); try again",
        if tried.is_empty() {
            "none: there is no other voter".to_string()
        } else {
            tried.join(", ")
        }
    ))
    .into_status())
}

/// This leader's id and term, and the other voters with their addresses,
/// those that hold the most of its log first.
fn successors(raft: &Raft) -> (RaftId, u64, Vec<(RaftId, String)>) {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    let membership = metrics.membership_config.membership();
    let matched = |id: &RaftId| {
        metrics
            .replication
            .as_ref()
            .and_then(|r| r.get(id).copied().flatten())
            .map_or(0, |log_id| log_id.index)
    };
    let mut voters: Vec<(RaftId, String)> = membership
        .voter_ids()
        .filter(|v| *v != metrics.id)
        .filter_map(|v| membership.get_node(&v).map(|n| (v, n.addr.clone())))
        .collect();
    voters.sort_by_key(|(id, _)| (std::cmp::Reverse(matched(id)), *id));
    (metrics.id, metrics.current_term, voters)
}

/// On a voter the leader asked: campaigns now if the leader that asked
/// still leads this node's term (an ask delayed past a newer election is
/// ignored) and this node may stand (`may_stand`: it is not sitting out
/// after losing its log's tail). Whether it started.
pub async fn campaign(raft: &Raft, asked: CampaignRequest, may_stand: bool) -> bool {
    let follows = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        let voter = metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == metrics.id);
        voter
            && metrics.state == ServerState::Follower
            && metrics.current_term == asked.term
            && metrics.current_leader == Some(asked.leader)
    };
    if !follows || !may_stand {
        return false;
    }
    info!(
        leader = asked.leader,
        term = asked.term,
        "the leader hands leadership over: campaigning"
    );
    raft.trigger().elect().await.is_ok()
}
