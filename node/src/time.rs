//! The one place the node reads the wall clock: to stamp commands it
//! proposes. The core never reads a clock; under the simulator this clock
//! is virtual, and each simulated machine's may run ahead or behind.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    #[cfg(madsim)]
    let now = now.saturating_add_signed(skew::of_this_machine());
    now
}

/// Simulated clock skew: how far each simulated machine's wall clock is
/// off, set by the simulator. Only simulator builds have it.
#[cfg(madsim)]
pub mod skew {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, PoisonError};

    use madsim::task::NodeId;

    static SKEWS_MS: Mutex<BTreeMap<NodeId, i64>> = Mutex::new(BTreeMap::new());

    pub fn set(machine: NodeId, skew_ms: i64) {
        SKEWS_MS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(machine, skew_ms);
    }

    pub fn clear() {
        SKEWS_MS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(super) fn of_this_machine() -> i64 {
        let machine = madsim::plugin::node();
        SKEWS_MS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&machine)
            .copied()
            .unwrap_or(0)
    }
}
