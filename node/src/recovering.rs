//! A voter whose log lost its tail at start does not campaign until a
//! leader has brought its log past every index that tail could have held,
//! and until then votes only for a candidate whose log is at least as
//! up to date as the lost tail could have been — Protocol-Aware Recovery
//! (Alagappan et al., FAST '18) reduced to one rule. A write torn by a
//! crash was never acknowledged; but a write the disk acknowledged and
//! then lost reads exactly the same, and a voter that acknowledged an
//! entry, lost it and then elected a candidate without it (itself
//! included) could let a committed entry be overwritten. Once its log
//! reaches past the lost tail, any entry that had committed there is back
//! (Log Matching), and it votes and campaigns as before.
//!
//! The lost entries' terms are at most the highest leader term this voter
//! recorded (it records a leader's term before taking entries of it), so
//! a candidate whose last entry is of a later term, or of that term and
//! at or past the lost tail's last index, holds everything the tail could
//! have held: voting for it is safe at any time, and it lets the voters
//! that kept the entries elect one of themselves.
//!
//! The restriction is written down before it takes effect and removed
//! once it ends, so a voter that restarts meanwhile (its log still short)
//! keeps it, as it would not if it were only remembered in memory.
//!
//! If no leader brings it that far within `PATIENCE` (a majority of the
//! voters lost their tails at once, as a whole-cluster power cut can do),
//! it votes and campaigns again: then an entry a majority had
//! acknowledged and lost could be lost, which nothing local can tell
//! apart from a torn write.
//!
//! And a node never resumes as leader after a restart (`step_down`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use std::path::{Path, PathBuf};

use drover_adapters::disk::{
    DiskError, FileSystem, MIN_RECORD_BYTES, read_small_file, write_small_file,
};
use openraft::Vote;
use openraft::storage::RaftLogStorage;
use tracing::{info, warn};

use crate::raft::{LogStore, Raft, RaftId};

/// How long a recovering voter waits for a leader before voting again.
const PATIENCE: Duration = Duration::from_secs(10);
const CHECK_EVERY: Duration = Duration::from_millis(100);

const RECORD_MAGIC: &[u8; 8] = b"DRVRLOST";
const RECORD_VERSION: u32 = 1;

/// What a lost tail could have held: entries up to `up_to`, of terms up
/// to `term_at_most`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostTail {
    pub up_to: u64,
    pub term_at_most: u64,
}

impl LostTail {
    /// Both lost tails at once: the later bounds.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self {
            up_to: self.up_to.max(other.up_to),
            term_at_most: self.term_at_most.max(other.term_at_most),
        }
    }
}

/// The restriction as written in the data directory while it lasts.
#[derive(Clone)]
pub struct Record<F> {
    fs: F,
    path: PathBuf,
}

impl<F: FileSystem + Clone> Record<F> {
    pub fn new(fs: F, raft_dir: &Path) -> Self {
        Self {
            fs,
            path: raft_dir.join("raft.lost_tail"),
        }
    }

    pub fn read(&self) -> Result<Option<LostTail>, DiskError> {
        let Some(body) = read_small_file(&self.fs, &self.path, RECORD_MAGIC, RECORD_VERSION)?
        else {
            return Ok(None);
        };
        let field = |at: usize| {
            body.get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| {
                    DiskError::corrupt(&self.path, 24, format!("{} bytes, not 16", body.len()))
                })
        };
        Ok(Some(LostTail {
            up_to: field(0)?,
            term_at_most: field(8)?,
        }))
    }

    pub fn write(&self, lost: LostTail) -> Result<(), DiskError> {
        let mut body = lost.up_to.to_le_bytes().to_vec();
        body.extend_from_slice(&lost.term_at_most.to_le_bytes());
        write_small_file(&self.fs, &self.path, RECORD_MAGIC, RECORD_VERSION, &body)
    }

    fn clear(&self) {
        if let Err(e) = self.fs.remove(&self.path) {
            warn!("{}: could not remove: {e}", self.path.display());
        }
    }
}

/// Whether this voter currently restricts its vote, and to whom it may
/// still give it.
#[derive(Clone, Default)]
pub struct Abstention(Arc<Restriction>);

#[derive(Default)]
struct Restriction {
    active: AtomicBool,
    /// The last index the lost tail could have held.
    lost_up_to: AtomicU64,
    /// The highest term the lost tail's entries could be of.
    lost_term_at_most: AtomicU64,
}

impl Abstention {
    pub fn is_abstaining(&self) -> bool {
        self.0.active.load(Ordering::SeqCst)
    }

    /// Whether a candidate whose last entry is `(term, index)` holds
    /// every entry the lost tail could have held, so that this voter may
    /// vote for it even now.
    pub fn admits(&self, candidate_last: Option<(u64, u64)>) -> bool {
        if !self.is_abstaining() {
            return true;
        }
        let (term, index) = candidate_last.unwrap_or((0, 0));
        let lost_term = self.0.lost_term_at_most.load(Ordering::SeqCst);
        term > lost_term || (term == lost_term && index >= self.0.lost_up_to.load(Ordering::SeqCst))
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

/// Withholds `raft`'s candidacy, and its vote from candidates that may
/// lack the `lost` tail, until its log reaches past it or `PATIENCE` has
/// passed, then removes `record`; returns the switch the vote handler
/// reads. `record` must already hold `lost`.
pub fn abstain_until<F: FileSystem + Clone>(
    raft: &Raft,
    lost: LostTail,
    record: Record<F>,
) -> Abstention {
    let LostTail {
        up_to: target,
        term_at_most,
    } = lost;
    let abstention = Abstention(Arc::new(Restriction {
        active: AtomicBool::new(true),
        lost_up_to: AtomicU64::new(target),
        lost_term_at_most: AtomicU64::new(term_at_most),
    }));
    raft.runtime_config().elect(false);
    warn!(
        "the log lost its tail at start: not campaigning, and voting only for candidates holding entries of term {term_at_most} up to index {target} or a later term, until a leader brings it to index {target} (at most {PATIENCE:?})"
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
        record.clear();
        switch.0.active.store(false, Ordering::SeqCst);
        raft.runtime_config().elect(true);
    });
    abstention
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricted(lost_up_to: u64, lost_term_at_most: u64) -> Abstention {
        Abstention(Arc::new(Restriction {
            active: AtomicBool::new(true),
            lost_up_to: AtomicU64::new(lost_up_to),
            lost_term_at_most: AtomicU64::new(lost_term_at_most),
        }))
    }

    #[test]
    fn a_vote_goes_only_to_candidates_holding_whatever_the_lost_tail_held() {
        let abstention = restricted(15, 3);
        assert!(abstention.admits(Some((3, 21))), "same term, past the tail");
        assert!(
            abstention.admits(Some((3, 15))),
            "same term, up to the tail"
        );
        assert!(abstention.admits(Some((4, 2))), "a later term holds more");
        assert!(!abstention.admits(Some((3, 14))), "may lack index 15");
        assert!(!abstention.admits(Some((2, 99))), "an earlier term");
        assert!(!abstention.admits(None), "an empty log");
        assert!(Abstention::default().admits(None), "no restriction");
    }

    #[test]
    fn every_index_the_cut_bytes_could_have_held_must_come_back() {
        assert_eq!(must_reach(10, 0), 10);
        assert_eq!(must_reach(10, 1), 11);
        assert_eq!(must_reach(10, MIN_RECORD_BYTES), 11);
        assert_eq!(must_reach(10, MIN_RECORD_BYTES + 1), 12);
    }
}
