//! A voter that refuses a candidate because its own log is longer
//! campaigns at once, in a term above the candidate's, when it too has
//! lost the leader. openraft 0.9 refuses such a candidate without taking
//! up its term, so when the longer-log voter's own timer fires it
//! campaigns in the very term the candidate already voted itself in, is
//! refused in turn, and the two alternate until one happens to campaign
//! first with the longer log: after a leader's kill -9 under load, the
//! survivors ran three terms and took 2–4 s to elect (docs/benchmarks.md,
//! "Failover under load"). Standard Raft has the voter take up the higher
//! term on sight; this does the same, from outside openraft, with one or
//! two elections in quick succession.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::ServerState;
use openraft::raft::{AppendEntriesResponse, VoteRequest, VoteResponse};
use tokio::time::Instant;
use tracing::info;

use crate::raft::{Raft, RaftId};
use crate::recovering::Abstention;

/// Elections at most per takeover: enough to pass a candidate one or two
/// terms ahead; beyond that openraft's own timers go on as before.
const MAX_ELECTIONS: u64 = 3;

/// When this voter last accepted entries or a heartbeat from a leader,
/// and whether it is taking over already.
#[derive(Clone, Default)]
pub struct LeaderContact(Arc<Contact>);

#[derive(Default)]
struct Contact {
    heard: Mutex<Option<Instant>>,
    taking_over: AtomicBool,
}

impl LeaderContact {
    /// Notes what this voter answered an AppendEntries: anything but a
    /// higher vote means the sender leads the current term.
    pub fn answered<T>(&self, answer: &Result<AppendEntriesResponse<RaftId>, T>) {
        if matches!(answer, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
            *self.lock() = Some(Instant::now());
        }
    }

    /// Whether no leader was heard from for `lease` (or ever).
    fn silent_for(&self, lease: Duration) -> bool {
        self.lock().is_none_or(|heard| heard.elapsed() >= lease)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.0.heard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a refused vote request tells this voter.
pub struct Refusal {
    candidate_term: u64,
}

impl Refusal {
    /// `Some` when this voter refused `request` because its own log is
    /// longer: the candidate can never get this vote, so one of the two
    /// must be this voter.
    pub fn by_log(
        request: &VoteRequest<RaftId>,
        response: &VoteResponse<RaftId>,
    ) -> Option<Refusal> {
        (!response.vote_granted && response.last_log_id > request.last_log_id).then_some(Refusal {
            candidate_term: request.vote.leader_id.term,
        })
    }
}

/// Campaigns in a term above the refused candidate's, if this voter has
/// not heard a leader for `lease` either, does not lead, and is not
/// sitting out (a voter that lost its log's tail). At most
/// `MAX_ELECTIONS`: a candidate further ahead answers the first with its
/// own term, which this voter takes up, and its next campaign on
/// openraft's timer goes above it. Returns once the elections are
/// started; Raft decides them.
pub async fn take_over(
    raft: Raft,
    contact: LeaderContact,
    abstention: Abstention,
    refusal: Refusal,
    lease: Duration,
) {
    if !contact.silent_for(lease) || abstention.is_abstaining() {
        return;
    }
    let (term, leading) = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        (metrics.current_term, metrics.state == ServerState::Leader)
    };
    // A leader refuses by its lease and hears no AppendEntries itself; at
    // a higher term, this voter campaigned since or heard of a newer
    // leader. Either way this refusal is old news.
    if leading || term > refusal.candidate_term {
        return;
    }
    if contact.0.taking_over.swap(true, Ordering::SeqCst) {
        return;
    }
    // Every election in a term up to the candidate's is refused by the
    // candidate (it voted for itself there); the last one is above it.
    let elections = (refusal.candidate_term + 1 - term).min(MAX_ELECTIONS);
    info!(
        term,
        candidate_term = refusal.candidate_term,
        "refused a candidate with a shorter log and no leader heard for {lease:?}: campaigning"
    );
    for _ in 0..elections {
        if raft.trigger().elect().await.is_err() {
            break;
        }
    }
    contact.0.taking_over.store(false, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId, Vote};

    use super::*;

    fn log_id(term: u64, index: u64) -> LogId<RaftId> {
        LogId::new(CommittedLeaderId::new(term, 0), index)
    }

    #[test]
    fn only_a_refusal_by_a_longer_log_calls_for_a_takeover() {
        let request = VoteRequest::new(Vote::new(6, 2), Some(log_id(5, 5811)));
        let longer = VoteResponse::new(Vote::new_committed(5, 3), Some(log_id(5, 5812)), false);
        let refusal = Refusal::by_log(&request, &longer).expect("refused by a longer log");
        assert_eq!(refusal.candidate_term, 6);
        // The same log, or a shorter one, refuses for another reason
        // (a lease, a vote already given): the candidate may still win.
        let same = VoteResponse::new(Vote::new_committed(5, 3), Some(log_id(5, 5811)), false);
        assert!(Refusal::by_log(&request, &same).is_none());
        let granted = VoteResponse::new(Vote::new(6, 2), Some(log_id(5, 5812)), true);
        assert!(Refusal::by_log(&request, &granted).is_none());
        let from_a_newer_term = VoteResponse::new(Vote::new(6, 1), Some(log_id(6, 1)), false);
        assert!(Refusal::by_log(&request, &from_a_newer_term).is_some());
    }

    #[tokio::test]
    async fn a_leader_heard_within_the_lease_is_not_silent() {
        let contact = LeaderContact::default();
        assert!(
            contact.silent_for(Duration::from_millis(400)),
            "never heard"
        );
        contact.answered::<()>(&Ok(AppendEntriesResponse::Success));
        assert!(!contact.silent_for(Duration::from_secs(60)));
        assert!(contact.silent_for(Duration::ZERO));
        // A stale leader refused with a higher vote is no contact.
        let fresh = LeaderContact::default();
        fresh.answered::<()>(&Ok(AppendEntriesResponse::HigherVote(Vote::new(7, 1))));
        assert!(fresh.silent_for(Duration::from_millis(400)));
    }
}
