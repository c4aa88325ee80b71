//! Bugs the simulator plants on purpose, to prove that its invariants
//! catch them. Only a simulator build (`--cfg madsim`) can switch one on;
//! in every other build `active` is constant `false` and the checks that
//! ask it compile away.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The API answers a submission before it has committed.
    AckBeforeCommit,
    /// Neither the scheduler nor `apply` checks free capacity.
    SkipCapacityCheck,
    /// The scheduler ignores job constraints.
    IgnoreConstraints,
    /// Liveness decisions are neither paced, nor suspended under mass
    /// unreachability, nor held after a leader change.
    UnpacedLiveness,
    /// A worker counts any poll answer as contact with the control plane,
    /// so a node cut off with a minority keeps its tasks forever.
    StaleContact,
    /// The Raft log takes a record whose length points past the end of the
    /// file for a torn write without checking the header, and cuts it and
    /// everything after it.
    LengthAsTorn,
    /// Reads are answered from the local replica as it is, without asking
    /// the leader for a read index: a lagging or cut-off replica shows an
    /// older state than writes already acknowledged.
    StaleReads,
    /// A rolling update stops each old allocation in the plan that places
    /// its replacement, instead of once the replacement runs.
    DestroyBeforeCreate,
    /// A node serves every request itself, whatever region it names.
    IgnoreRegion,
    /// Placements take no account of the ports a node's allocations hold.
    IgnoreHeldPorts,
}

#[cfg(madsim)]
mod switch {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::Bug;

    /// One simulation runs at a time in a process, and every node of it
    /// carries the same bug: a process-wide switch is what is wanted.
    static ACTIVE: AtomicU8 = AtomicU8::new(0);

    fn code(bug: Bug) -> u8 {
        match bug {
            Bug::AckBeforeCommit => 1,
            Bug::SkipCapacityCheck => 2,
            Bug::IgnoreConstraints => 3,
            Bug::UnpacedLiveness => 4,
            Bug::StaleContact => 5,
            Bug::LengthAsTorn => 6,
            Bug::StaleReads => 7,
            Bug::DestroyBeforeCreate => 8,
            Bug::IgnoreRegion => 9,
            Bug::IgnoreHeldPorts => 10,
        }
    }

    pub fn plant(bug: Option<Bug>) {
        ACTIVE.store(bug.map_or(0, code), Ordering::SeqCst);
    }

    pub fn active(bug: Bug) -> bool {
        ACTIVE.load(Ordering::SeqCst) == code(bug)
    }
}

/// Switches `bug` on (or every bug off) for the simulations that follow.
#[cfg(madsim)]
pub use switch::plant;

#[cfg(madsim)]
pub fn active(bug: Bug) -> bool {
    switch::active(bug)
}

#[cfg(not(madsim))]
#[inline]
pub const fn active(_bug: Bug) -> bool {
    false
}
