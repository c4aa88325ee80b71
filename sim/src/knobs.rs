//! Everything a simulation varies, drawn from its seed ("swarm" testing:
//! some faults off entirely, others at very different rates). Printed
//! first, so a failure's report says exactly what ran.

use std::fmt;

use serde_json::{Value, json};

/// SplitMix64 steps: a stream of numbers from the seed, independent of
/// the simulator's own random source.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Power loss (torn disk); the node restarts at its next crash event or
    /// when the safety phase ends.
    Crash,
    /// Cut off both ways until its next partition event or the phase's end.
    Partition,
}

/// One scheduled fault: `crash@1200:n2` is a crash of node 2 at 1.2 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fault {
    pub at_ms: u64,
    pub kind: FaultKind,
    pub node: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
        };
        write!(f, "{kind}@{}:n{}", self.at_ms, self.node)
    }
}

/// Parses a comma-separated schedule like `crash@1200:n2,partition@3000:n1`.
pub fn parse_faults(text: &str) -> Result<Vec<Fault>, String> {
    let mut faults = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || format!("{item:?} is not a fault like \"crash@1200:n2\"");
        let (kind, rest) = item.split_once('@').ok_or_else(bad)?;
        let (at, node) = rest.split_once(":n").ok_or_else(bad)?;
        let kind = match kind {
            "crash" => FaultKind::Crash,
            "partition" => FaultKind::Partition,
            _ => return Err(bad()),
        };
        faults.push(Fault {
            at_ms: at.parse().map_err(|_| bad())?,
            kind,
            node: node.parse().map_err(|_| bad())?,
        });
    }
    faults.sort_unstable();
    Ok(faults)
}

/// Bugs the simulator's own tests plant, to prove the invariants bite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// The disk claims fsync without doing it.
    pub lying_fsync: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knobs {
    pub seed: u64,
    pub control_nodes: u64,
    pub jobs: u64,
    /// The fault schedule of the safety phase, in time order.
    pub faults: Vec<Fault>,
    /// Virtual seconds of faults before everything is healed.
    pub safety_phase_s: u64,
    /// Virtual seconds the healed cluster gets to converge.
    pub liveness_bound_s: u64,
    pub bugs: PlantedBugs,
}

impl Knobs {
    pub fn from_seed(seed: u64) -> Self {
        let mut draw = Draw(seed);
        let control_nodes = if draw.below(2) == 0 { 3 } else { 5 };
        // Swarm: each fault kind is off in about a third of the runs.
        let crashes = if draw.below(3) == 0 {
            0
        } else {
            1 + draw.below(4)
        };
        let partitions = if draw.below(3) == 0 {
            0
        } else {
            1 + draw.below(4)
        };
        let jobs = 5 + draw.below(20);
        let safety_phase_s = 30;
        let mut faults = Vec::new();
        for (kind, count) in [
            (FaultKind::Crash, crashes),
            (FaultKind::Partition, partitions),
        ] {
            for _ in 0..count {
                faults.push(Fault {
                    at_ms: 1000 + draw.below(safety_phase_s * 1000 - 1000),
                    kind,
                    node: 1 + draw.below(control_nodes),
                });
            }
        }
        faults.sort_unstable();
        Self {
            seed,
            control_nodes,
            jobs,
            faults,
            safety_phase_s,
            liveness_bound_s: 60,
            bugs: PlantedBugs::default(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "control_nodes": self.control_nodes,
            "jobs": self.jobs,
            "faults": self.faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "safety_phase_s": self.safety_phase_s,
            "liveness_bound_s": self.liveness_bound_s,
        })
    }
}

impl fmt::Display for Knobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<String> = self.faults.iter().map(ToString::to_string).collect();
        write!(
            f,
            "SEED={} control_nodes={} jobs={} faults={} safety_phase_s={} liveness_bound_s={}",
            self.seed,
            self.control_nodes,
            self.jobs,
            if faults.is_empty() {
                "none".into()
            } else {
                faults.join(",")
            },
            self.safety_phase_s,
            self.liveness_bound_s
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_decides_every_knob() {
        assert_eq!(Knobs::from_seed(42), Knobs::from_seed(42));
        let distinct: std::collections::BTreeSet<String> = (0..50)
            .map(|s| Knobs::from_seed(s).to_json().to_string())
            .collect();
        assert!(distinct.len() > 20, "seeds vary the knobs");
        let crashless = (0..200).any(|s| {
            Knobs::from_seed(s)
                .faults
                .iter()
                .all(|f| f.kind != FaultKind::Crash)
        });
        assert!(crashless, "swarm: some runs without crashes");
    }

    #[test]
    fn fault_schedules_print_and_parse_back() {
        for seed in 0..50 {
            let knobs = Knobs::from_seed(seed);
            let text: Vec<String> = knobs.faults.iter().map(ToString::to_string).collect();
            assert_eq!(parse_faults(&text.join(",")), Ok(knobs.faults));
        }
        assert!(parse_faults("explode@1:n1").is_err());
    }
}
