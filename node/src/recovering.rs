//! A voter whose log lost its tail at start neither votes nor campaigns
//! until a leader has brought its log past every index that tail could
//! have held — Protocol-Aware Recovery (Alagappan et al., FAST '18)
//! reduced to one rule. A write torn by a crash was never acknowledged;
//! but a write the disk acknowledged and then lost reads exactly the same,
//! and a voter that acknowledged an entry, lost it and then voted for a
//! candidate without it could let a committed entry be overwritten. Once
//! its log reaches past the lost tail, any entry that had committed there
//! is back (Log Matching), and voting is safe again.
//!
//! If no leader brings it that far within `PATIENCE` (a majority of the
//! voters lost their tails at once, as a whole-cluster power cut can do),
//! it votes again: then an entry a majority had acknowledged and lost
//! could be lost, which nothing local can tell apart from a torn write.
//!
//! And a node never resumes as leader after a restart (`step_down`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use drover_adapters::disk::{FileSystem, MIN_RECORD_BYTES};
use openraft::Vote;
use openraft::storage::RaftLogStorage;
use tracing::{info, warn};

use crate::raft::{LogStore, Raft, RaftId};

/// How long a recovering voter waits for a leader before voting again.
const PATIENCE: Duration = Duration::from_secs(10);
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Whether this voter currently withholds its vote.
#[derive(Clone, Default)]
pub struct Abstention(Arc<AtomicBool>);

impl Abstention {
    pub fn is_abstaining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Turns a committed vote for this node into an uncommitted one before
/// Raft starts. openraft 0.9 resumes leadership at start when its vote is
/// a committed one for itself, but a leader sends entries to followers
/// before its own fsync of them ends: a crash can keep from its disk
/// entries that followers hold under this term, and the resumed leader
/// would write other entries at the same indexes in the same term, which
/// breaks Log Matching (found by the simulator: a leader restarted after
/// its last write was lost, and two replicas diverged). As a follower, it
/// leaves the next entries to a leader of a new term.
pub async fn step_down<F: FileSystem + Clone>(
    log: &mut LogStore<F>,
    id: RaftId,
) -> Result<(), String> {
    let vote = log
        .read_vote()
        .await
        .map_err(|e| format!("reading the vote: {e}"))?;
    let Some(vote) = vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(id))
    else {
        return Ok(());
    };
    let term = vote.leader_id().get_term();
    info!(
        term,
        "led term {term} before this start: starting as a follower"
    );
    log.save_vote(&Vote::new(term, id))
        .await
        .map_err(|e| format!("writing the vote: {e}"))
}

/// The log index a voter's log must reach before it votes again, after a
/// start that cut `cut_bytes` off a log now ending at `last_index`.
pub fn must_reach(last_index: u64, cut_bytes: u64) -> u64 {
    last_index + cut_bytes.div_ceil(MIN_RECORD_BYTES)
}

/// Withholds `raft`'s vote and candidacy until its log reaches `target`
/// or `PATIENCE` has passed; returns the switch the vote handler reads.
pub fn abstain_until(raft: &Raft, target: u64) -> Abstention {
    let abstention = Abstention(Arc::new(AtomicBool::new(true)));
    raft.runtime_config().elect(false);
    warn!(
        "the log lost its tail at start: not voting or campaigning until a leader brings it to index {target} (at most {PATIENCE:?})"
    );
    let raft = raft.clone();
    let switch = abstention.clone();
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        loop {
            let reached = raft.metrics().borrow().last_log_index.unwrap_or(0);
            if reached >= target {
                info!("log caught up to index {reached}: voting again");
                break;
            }
            if started.elapsed() >= PATIENCE {
                warn!(
                    "no leader brought the log past index {reached} (wanted {target}) within {PATIENCE:?}: voting again"
                );
                break;
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
        switch.0.store(false, Ordering::SeqCst);
        raft.runtime_config().elect(true);
    });
    abstention
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_the_cut_bytes_could_have_held_must_come_back() {
        assert_eq!(must_reach(10, 0), 10);
        assert_eq!(must_reach(10, 1), 11);
        assert_eq!(must_reach(10, MIN_RECORD_BYTES), 11);
        assert_eq!(must_reach(10, MIN_RECORD_BYTES + 1), 12);
    }
}
