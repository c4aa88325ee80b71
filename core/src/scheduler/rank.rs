//! Ranking feasible nodes. Integer scores only (no float ties): each part is
//! in -1000..=1000 and the parts add up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::feasible::first_value;
use crate::job::{JobSpec, Spread};
use crate::node::Node;
use crate::resources::Resources;

/// How to choose among nodes that fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Fill the fullest nodes first, leaving whole nodes free for big asks
    /// (Nomad's default).
    #[default]
    BinPack,
    /// Prefer the emptiest nodes, spreading load.
    LeastLoaded,
}

fn per_mille(part: u64, whole: u64) -> i64 {
    if whole == 0 {
        return 1000;
    }
    let ratio = u128::from(part) * 1000 / u128::from(whole);
    i64::try_from(ratio.min(1000)).unwrap_or(1000)
}

/// Utilization of CPU and memory after placing, averaged, in per mille;
/// bin-packing prefers it high, least-loaded low.
pub fn fit_score(capacity: Resources, used_after: Resources, algorithm: Algorithm) -> i64 {
    let cpu = per_mille(used_after.cpu_millis, capacity.cpu_millis);
    let memory = per_mille(used_after.memory_mb, capacity.memory_mb);
    let utilization = i64::midpoint(cpu, memory);
    match algorithm {
        Algorithm::BinPack => utilization,
        Algorithm::LeastLoaded => 1000 - utilization,
    }
}

/// Penalty for co-locating instances of one job: each instance already on
/// the node costs a share of the job's size (Nomad's job anti-affinity).
pub fn anti_affinity(already_on_node: u32, job_size: u32) -> i64 {
    let penalty = i64::from(already_on_node) * 1000 / i64::from(job_size.max(1));
    -penalty.min(1000)
}

/// Running counts of a job's instances per attribute value, one table per
/// spread block, kept up to date as the plan places instances.
pub struct SpreadCounts<'j, 'n> {
    blocks: Vec<(&'j Spread, BTreeMap<&'n str, u32>, u32)>,
}

impl<'j, 'n> SpreadCounts<'j, 'n> {
    pub fn new(job: &'j JobSpec, existing: &[&'n Node]) -> Self {
        let blocks = job
            .spread
            .iter()
            .map(|spread| {
                let mut counts = BTreeMap::new();
                let mut total = 0;
                for node in existing {
                    if let Some(value) = first_value(node, &spread.attribute) {
                        *counts.entry(value).or_default() += 1;
                        total += 1;
                    }
                }
                (spread, counts, total)
            })
            .collect();
        Self { blocks }
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn record(&mut self, node: &'n Node) {
        for (spread, counts, total) in &mut self.blocks {
            if let Some(value) = first_value(node, &spread.attribute) {
                *counts.entry(value).or_default() += 1;
                *total += 1;
            }
        }
    }

    /// Sum over spread blocks of (block score × weight / 100).
    pub fn score(&self, node: &Node) -> i64 {
        self.blocks
            .iter()
            .map(|(spread, counts, total)| {
                let value = first_value(node, &spread.attribute);
                let score = match value {
                    None => -1000,
                    Some(v) if spread.targets.is_empty() => even_score(counts, v),
                    Some(v) => target_score(spread, counts, *total, v),
                };
                score * i64::from(spread.weight) / 100
            })
            .sum()
    }
}

/// Without targets: values with the fewest instances score highest.
fn even_score(counts: &BTreeMap<&str, u32>, value: &str) -> i64 {
    let max = counts.values().copied().max().unwrap_or(0);
    if max == 0 {
        return 1000;
    }
    let mine = counts.get(value).copied().unwrap_or(0);
    1000 - i64::from(mine) * 1000 / i64::from(max)
}

/// With targets: how far the value is below its desired share, relative to
/// that share. Values without a target share what the targets leave.
fn target_score(spread: &Spread, counts: &BTreeMap<&str, u32>, total: u32, value: &str) -> i64 {
    let targeted: u32 = spread.targets.iter().map(|t| u32::from(t.percent)).sum();
    let percent = if let Some(target) = spread.targets.iter().find(|t| t.value == value) {
        u32::from(target.percent)
    } else {
        let others = counts
            .keys()
            .filter(|k| **k != value && !spread.targets.iter().any(|t| t.value == **k))
            .count();
        let sharing = u32::try_from(others + 1).unwrap_or(u32::MAX);
        100u32.saturating_sub(targeted) / sharing
    };
    // Shares in thousandths of an instance, for the count after placing.
    let desired = i64::from(percent) * i64::from(total + 1) * 10;
    if desired == 0 {
        return -1000;
    }
    let current = i64::from(counts.get(value).copied().unwrap_or(0)) * 1000;
    ((desired - current) * 1000 / desired).clamp(-1000, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_pack_prefers_fuller_nodes() {
        let cap = Resources::new(1000, 1000, 0);
        let full = fit_score(cap, Resources::new(900, 900, 0), Algorithm::BinPack);
        let empty = fit_score(cap, Resources::new(100, 100, 0), Algorithm::BinPack);
        assert!(full > empty);
        let full = fit_score(cap, Resources::new(900, 900, 0), Algorithm::LeastLoaded);
        let empty = fit_score(cap, Resources::new(100, 100, 0), Algorithm::LeastLoaded);
        assert!(full < empty);
    }

    #[test]
    fn anti_affinity_grows_with_collisions() {
        assert_eq!(anti_affinity(0, 3), 0);
        assert!(anti_affinity(1, 3) > anti_affinity(2, 3));
        assert_eq!(anti_affinity(10, 3), -1000);
    }
}
