//! Breaks split votes that openraft 0.9 does not: it draws each node's
//! election timeout once, when the node starts, so two voters whose
//! timeouts fell within a network delay of each other split every vote
//! once their elections coincide — seen in the simulator as two surviving
//! voters of three running 95 terms without a leader. While no leader is
//! known and the term keeps rising, this voter sits out a random share of
//! an election timeout, drawn anew each time, and then campaigns at once;
//! it still grants votes meanwhile, so whichever voter's sit-out ends
//! first wins. Campaigning at the end of the sit-out, not at the next
//! timeout, is what breaks the tie: openraft's election timers fire on
//! each node's tick, and two nodes whose ticks are a few milliseconds
//! apart still campaigned together after sitting out different times.

use std::time::Duration;

use tracing::info;

use crate::raft::Raft;
use crate::recovering::Abstention;

/// Runs for as long as the node does, looking every `look_every`: the
/// longest a follower waits before campaigning (the leader lease plus the
/// longest election timeout), so a rising term over one look means at
/// least one election that elected nobody.
pub async fn break_split_votes(raft: Raft, abstention: Abstention, look_every: Duration) {
    let mut last_term = 0;
    loop {
        tokio::time::sleep(look_every).await;
        let (term, leaderless) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            (metrics.current_term, metrics.current_leader.is_none())
        };
        let failed_elections = leaderless && term > last_term && last_term > 0;
        last_term = term;
        if !failed_elections || abstention.is_abstaining() {
            continue;
        }
        let sit_out = Duration::from_millis(jitter_ms(look_every));
        info!(
            term,
            "no leader elected since the last look: not campaigning for {sit_out:?}"
        );
        raft.runtime_config().elect(false);
        tokio::time::sleep(sit_out).await;
        if abstention.is_abstaining() {
            continue;
        }
        let still_leaderless = raft.metrics().borrow().current_leader.is_none();
        if still_leaderless {
            let _ = raft.trigger().elect().await;
        }
        raft.runtime_config().elect(true);
    }
}

/// A random share of `of`, from the simulator's seeded source in
/// simulator builds.
fn jitter_ms(of: Duration) -> u64 {
    let max = u64::try_from(of.as_millis()).unwrap_or(u64::MAX).max(1);
    #[cfg(madsim)]
    {
        use madsim::rand::Rng;
        madsim::rand::thread_rng().gen_range(0..max)
    }
    #[cfg(not(madsim))]
    {
        use rand::Rng;
        rand::thread_rng().gen_range(0..max)
    }
}
