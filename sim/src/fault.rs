//! Faults the simulator injects, as data: a schedule that prints, parses
//! back, and can be edited on the command line (`--faults`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Power loss (torn disk); the node restarts at its next crash event or
    /// when the safety phase ends.
    Crash,
    /// Cut off both ways until its next partition event or the phase's end.
    Partition,
    /// One way: the node sends but hears nothing (a half-broken link).
    Deafen,
    /// The process stops being scheduled (a long GC pause, SIGSTOP, a VM
    /// migration), then carries on as if nothing happened.
    Pause,
    /// A whole region cut off from the rest, both ways (target: region).
    Region,
    /// The node's disk takes `SLOW_DISK_MS` longer for every durable write.
    SlowDisk,
    /// A group of nodes (target: a set, `n1+n4`, `leader` for whoever
    /// leads when it strikes) split from everyone else, both ways: each
    /// side still talks within itself.
    Split,
    /// One way: the group hears nothing from the rest; its sends arrive.
    SplitDeaf,
    /// One way: the group's sends are lost; it still hears the rest.
    SplitMute,
    /// Power loss on a voter, then a bit flipped in a record its disk had
    /// made durable (a length field, or the last record); the next
    /// occurrence restarts it, and it must refuse to start.
    Damage,
    /// A voter's disk silently loses its next log write (in odd seeds:
    /// writes it some sectors early, over durable records); the next
    /// occurrence, or the end of the phase, power-cycles it. If durable
    /// writes followed the lost one, it must refuse to start.
    LostWrite,
    /// A voter's next log fsync fails with EIO and the pages it covered
    /// are dropped (Linux); the node must take no more writes on that log.
    /// The next occurrence, or the end of the phase, power-cycles it.
    FsyncError,
    /// An operator removes a voter from the Raft membership (`drover
    /// cluster remove`), whether it runs or not; the next occurrence, or
    /// the end of the phase, adds it back (`drover cluster add`: a learner,
    /// caught up, then a voter) with the data it kept.
    Member,
}

/// How much longer a slow disk takes per durable write (log append, vote).
pub const SLOW_DISK_MS: u64 = 250;

impl FaultKind {
    pub const ALL: [(Self, &'static str); 13] = [
        (Self::Crash, "crash"),
        (Self::Partition, "partition"),
        (Self::Deafen, "deafen"),
        (Self::Pause, "pause"),
        (Self::Region, "region"),
        (Self::SlowDisk, "slow"),
        (Self::Split, "split"),
        (Self::SplitDeaf, "split-deaf"),
        (Self::SplitMute, "split-mute"),
        (Self::Damage, "damage"),
        (Self::LostWrite, "lost-write"),
        (Self::FsyncError, "eio"),
        (Self::Member, "member"),
    ];

    /// Faults of a voter's disk: drawn on one voter per seed (a minority).
    pub fn is_storage(self) -> bool {
        matches!(self, Self::Damage | Self::LostWrite | Self::FsyncError)
    }

    /// Faults after which the node may refuse to start, and stay down.
    pub fn may_keep_down(self) -> bool {
        matches!(self, Self::Damage | Self::LostWrite)
    }

    /// Whether the target is a set of nodes (`Fault::group`).
    pub fn is_split(self) -> bool {
        matches!(self, Self::Split | Self::SplitDeaf | Self::SplitMute)
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("?", |(_, n)| n)
    }

    /// Region faults name a region (`r1`), the others a node (`n2`).
    fn target_prefix(self) -> char {
        if self == Self::Region { 'r' } else { 'n' }
    }
}

/// The target of a crash of whichever node leads when it strikes; in a
/// split's set of nodes, bit 0 stands for that node.
pub const LEADER: u64 = 0;

/// A split's set of nodes as its target: bit `n` for node `n`, bit 0 for
/// the leader when it strikes.
pub fn group_mask(nodes: impl IntoIterator<Item = u64>) -> u64 {
    nodes.into_iter().fold(0, |mask, n| mask | (1 << n.min(63)))
}

/// The nodes of a split's target, and whether it names the leader.
pub fn group_members(mask: u64) -> (Vec<u64>, bool) {
    let nodes = (1..64).filter(|n| mask & (1 << n) != 0).collect();
    (nodes, mask & 1 != 0)
}

/// One scheduled fault: `crash@1200:n2` is a crash of node 2 at 1.2 s,
/// `crash@1200:leader` of the leader at the time, `split@3000:leader+n4`
/// splits the leader of the moment and node 4 from the rest; the same
/// fault on the same target again ends it (restart, heal, resume).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fault {
    pub at_ms: u64,
    pub kind: FaultKind,
    /// A node id, a region index for region faults, a set of nodes
    /// (`group_mask`) for splits.
    pub target: u64,
}

impl Fault {
    /// The nodes the fault names (none for regions and the leader).
    pub fn nodes(&self) -> Vec<u64> {
        match self.kind {
            FaultKind::Region => Vec::new(),
            kind if kind.is_split() => group_members(self.target).0,
            _ if self.target == LEADER => Vec::new(),
            _ => vec![self.target],
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == FaultKind::Crash && self.target == LEADER {
            return write!(f, "crash@{}:leader", self.at_ms);
        }
        if self.kind.is_split() {
            let (nodes, leader) = group_members(self.target);
            let names: Vec<String> = leader
                .then(|| "leader".to_string())
                .into_iter()
                .chain(nodes.iter().map(|n| format!("n{n}")))
                .collect();
            return write!(f, "{}@{}:{}", self.kind.name(), self.at_ms, names.join("+"));
        }
        write!(
            f,
            "{}@{}:{}{}",
            self.kind.name(),
            self.at_ms,
            self.kind.target_prefix(),
            self.target
        )
    }
}

/// Parses a comma-separated schedule like `crash@1200:n2,region@3000:r1`.
pub fn parse_faults(text: &str) -> Result<Vec<Fault>, String> {
    let mut faults = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || {
            let kinds: Vec<&str> = FaultKind::ALL.iter().map(|(_, n)| *n).collect();
            format!(
                "{item:?} is not a fault like \"crash@1200:n2\", \"region@3000:r1\" or \"split@2000:leader+n4\" (kinds: {})",
                kinds.join(", ")
            )
        };
        let (name, rest) = item.split_once('@').ok_or_else(bad)?;
        let (at, target) = rest.split_once(':').ok_or_else(bad)?;
        let kind = FaultKind::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(k, _)| *k)
            .ok_or_else(bad)?;
        let target = if kind == FaultKind::Crash && target == "leader" {
            LEADER
        } else if kind.is_split() {
            let mut mask = 0;
            for member in target.split('+') {
                mask |= match member {
                    "leader" => 1,
                    _ => member
                        .strip_prefix('n')
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|n| (1..64).contains(n))
                        .map(|n| 1 << n)
                        .ok_or_else(bad)?,
                };
            }
            mask
        } else {
            target
                .strip_prefix(kind.target_prefix())
                .and_then(|t| t.parse().ok())
                .filter(|t| kind == FaultKind::Region || *t != LEADER)
                .ok_or_else(bad)?
        };
        faults.push(Fault {
            at_ms: at.parse().map_err(|_| bad())?,
            kind,
            target,
        });
    }
    faults.sort_unstable();
    Ok(faults)
}
