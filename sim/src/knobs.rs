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
    pub crashes: u64,
    pub partitions: u64,
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
        Self {
            seed,
            control_nodes,
            jobs: 5 + draw.below(20),
            crashes,
            partitions,
            safety_phase_s: 30,
            liveness_bound_s: 60,
            bugs: PlantedBugs::default(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "control_nodes": self.control_nodes,
            "jobs": self.jobs,
            "crashes": self.crashes,
            "partitions": self.partitions,
            "safety_phase_s": self.safety_phase_s,
            "liveness_bound_s": self.liveness_bound_s,
        })
    }
}

impl fmt::Display for Knobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SEED={} control_nodes={} jobs={} crashes={} partitions={} safety_phase_s={} liveness_bound_s={}",
            self.seed,
            self.control_nodes,
            self.jobs,
            self.crashes,
            self.partitions,
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
        assert!(
            (0..200).any(|s| Knobs::from_seed(s).crashes == 0),
            "swarm: some runs without crashes"
        );
    }
}
