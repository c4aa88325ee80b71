//! The safety phase's fault schedule, carried out on the cluster.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::cluster::SimCluster;
use crate::knobs::{FaultKind, Knobs, LEADER, SLOW_DISK_MS};
use crate::trace::Trace;

/// The safety phase's faults, each toggled by its next occurrence; at the
/// end everything is restarted, resumed and healed.
#[derive(Default)]
struct Faults {
    down: BTreeSet<u64>,
    cut: BTreeSet<u64>,
    deaf: BTreeSet<u64>,
    paused: BTreeSet<u64>,
    regions: BTreeSet<u64>,
    slow: BTreeSet<u64>,
}

impl Faults {
    fn isolated(&self, cluster: &SimCluster, node: u64) -> bool {
        self.cut.contains(&node)
            || self.deaf.contains(&node)
            || self
                .regions
                .iter()
                .any(|r| cluster.in_region(*r).any(|n| n == node))
    }

    /// Reconnects `node` unless another fault still holds it apart.
    fn reconnect(&self, cluster: &SimCluster, node: u64) {
        if !self.isolated(cluster, node) {
            cluster.heal(node);
        }
    }

    fn toggle(
        &mut self,
        cluster: &SimCluster,
        kind: FaultKind,
        target: u64,
        seed: u64,
    ) -> &'static str {
        match kind {
            FaultKind::Crash if self.down.insert(target) => {
                self.paused.remove(&target);
                cluster.crash(target, seed);
                "crash"
            }
            FaultKind::Crash => {
                self.down.remove(&target);
                cluster.restart(target);
                "restart"
            }
            FaultKind::Partition if self.cut.insert(target) => {
                cluster.partition(target);
                "partition"
            }
            FaultKind::Partition => {
                self.cut.remove(&target);
                self.reconnect(cluster, target);
                "heal"
            }
            FaultKind::Deafen if !self.isolated(cluster, target) && self.deaf.insert(target) => {
                cluster.deafen(target);
                "deafen"
            }
            FaultKind::Deafen => {
                if self.deaf.remove(&target) {
                    self.reconnect(cluster, target);
                }
                "hear"
            }
            FaultKind::Pause if !self.down.contains(&target) && self.paused.insert(target) => {
                cluster.pause(target);
                "pause"
            }
            FaultKind::Pause => {
                if self.paused.remove(&target) {
                    cluster.resume(target);
                }
                "resume"
            }
            FaultKind::SlowDisk if self.slow.insert(target) => {
                cluster.slow_disk(target, Duration::from_millis(SLOW_DISK_MS));
                "slow disk"
            }
            FaultKind::SlowDisk => {
                self.slow.remove(&target);
                cluster.slow_disk(target, Duration::ZERO);
                "disk back to speed"
            }
            FaultKind::Region if self.regions.insert(target) => {
                for node in cluster.in_region(target) {
                    cluster.partition(node);
                }
                "region lost"
            }
            FaultKind::Region => {
                self.regions.remove(&target);
                for node in cluster.in_region(target) {
                    self.reconnect(cluster, node);
                }
                "region healed"
            }
        }
    }

    fn heal_all(self, cluster: &SimCluster, trace: &Trace) {
        for node in self.slow {
            cluster.slow_disk(node, Duration::ZERO);
            trace.event(&format!("node-{node}"), "disk back to speed", &json!({}));
        }
        for node in self.down {
            cluster.restart(node);
            trace.event(&format!("node-{node}"), "restart", &json!({}));
        }
        for node in self.paused {
            cluster.resume(node);
            trace.event(&format!("node-{node}"), "resume", &json!({}));
        }
        let isolated: BTreeSet<u64> = self
            .cut
            .iter()
            .chain(&self.deaf)
            .copied()
            .chain(self.regions.iter().flat_map(|r| cluster.in_region(*r)))
            .collect();
        for node in isolated {
            cluster.heal(node);
            trace.event(&format!("node-{node}"), "heal", &json!({}));
        }
    }
}

pub(super) async fn inject_faults(
    cluster: &SimCluster,
    knobs: &Knobs,
    leader: &AtomicU64,
    trace: &Trace,
) {
    let phase_ms = knobs.safety_phase_s * 1000;
    let mut now_ms = 0;
    let mut faults = Faults::default();
    for (i, fault) in knobs.faults.iter().enumerate() {
        let mut fault = *fault;
        if fault.kind == FaultKind::Crash && fault.target == LEADER {
            // Whoever the observer last saw leading, when the fault strikes
            // (unless that node is down already: then there is no one).
            tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
            now_ms = now_ms.max(fault.at_ms);
            fault.target = leader.load(Ordering::SeqCst);
            if faults.down.contains(&fault.target) {
                continue;
            }
        }
        let valid = match fault.kind {
            FaultKind::Region => fault.target < knobs.regions,
            _ => (1..=knobs.nodes()).contains(&fault.target),
        };
        if !valid || fault.at_ms >= phase_ms {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(fault.at_ms);
        let event = faults.toggle(cluster, fault.kind, fault.target, knobs.seed ^ (i as u64));
        let who = match fault.kind {
            FaultKind::Region => format!("region-{}", fault.target),
            _ => format!("node-{}", fault.target),
        };
        trace.event(&who, event, &json!({}));
    }
    tokio::time::sleep(Duration::from_millis(phase_ms.saturating_sub(now_ms))).await;
    SimCluster::weather(None);
    faults.heal_all(cluster, trace);
}
