//! Fault points inside the node, as FoundationDB's BUGGIFY: simulator-only
//! hooks that widen timing windows where the code is most likely to be
//! wrong. A simulation switches them on from its seed; each then fires at
//! random (madsim's seeded source, so a seed replays exactly). Outside
//! simulator builds `fires` is constant `false` and the hooks compile away.
//! docs/simulation.md lists every point.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A replica holds a worker's poll answer back (a slow or overloaded
    /// control node), close to the worker's timeout.
    SlowPollReply,
    /// A poll answer is lost on the way back to the worker.
    DropPollAnswer,
    /// A command forwarded towards the leader waits before it is sent,
    /// so leadership may move while it is in flight.
    SlowForward,
    /// A snapshot takes seconds to reach a lagging follower.
    SlowSnapshot,
}

impl Point {
    /// How often the point fires when switched on, and how long a delay
    /// point holds things up.
    fn odds(self) -> (f64, Duration) {
        match self {
            Self::SlowPollReply => (0.05, Duration::from_millis(1800)),
            Self::DropPollAnswer => (0.05, Duration::ZERO),
            Self::SlowForward => (0.05, Duration::from_millis(1500)),
            Self::SlowSnapshot => (0.5, Duration::from_millis(3000)),
        }
    }
}

/// Whether the node's fault points may fire. Not madsim's own switch:
/// that one also delays a tenth of all network sends by 1–5 s, longer
/// than an election timeout, which is a different fault altogether.
#[cfg(madsim)]
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Switches the fault points on or off for the simulations that follow.
#[cfg(madsim)]
pub fn enable(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Whether the point fires now.
#[cfg(madsim)]
pub fn fires(point: Point) -> bool {
    use madsim::rand::Rng;
    ENABLED.load(std::sync::atomic::Ordering::SeqCst)
        && madsim::rand::thread_rng().gen_bool(point.odds().0)
}

#[cfg(not(madsim))]
#[inline]
pub const fn fires(_point: Point) -> bool {
    false
}

/// Waits the point's delay if it fires.
pub async fn delay(point: Point) {
    if fires(point) {
        tokio::time::sleep(point.odds().1).await;
    }
}
