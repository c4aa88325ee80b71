//! A node never serves, nor cuts, a log whose durable records were damaged
//! — DESIGN.md §4 (a corrupt file on disk gets a clear error naming the
//! file and offset; nothing already accepted is lost) and Raft's guarantee
//! that an entry a voter acknowledged survives on it: a voter that cut off
//! what it had fsynced could vote for a leader without those entries.
//! Checked against the simulated disk the simulator itself damaged, and
//! against whether the node really refused to start.

use super::Violation;
use crate::reality::Damage;

/// `now`: what the damaged file holds at the end of the run.
pub fn damaged_disk_refused(
    node: u64,
    damage: &Damage,
    now: Option<&[u8]>,
    refused: bool,
) -> Result<(), Violation> {
    let violation = |detail: String| {
        Err(Violation {
            invariant: "damaged logs are refused, never served or cut",
            detail,
        })
    };
    if now != Some(damage.bytes.as_slice()) {
        return violation(format!(
            "node-{node}'s {} was damaged in {} and then changed: {} bytes before, {} after",
            damage.path.display(),
            damage.what,
            damage.bytes.len(),
            now.map_or(0, <[u8]>::len)
        ));
    }
    if !refused {
        return violation(format!(
            "node-{node}'s {} was damaged in {}, yet it did not refuse to start",
            damage.path.display(),
            damage.what
        ));
    }
    Ok(())
}
