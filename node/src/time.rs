//! The one place the node reads the wall clock: to stamp commands it
//! proposes. The core never reads a clock; under the simulator this clock
//! is virtual.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
