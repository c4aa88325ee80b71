//! The safety phase's fault schedule, carried out on the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use drover_adapters::disk::WriteFault;

use madsim::runtime::NodeHandle;

use super::operator::Operator;
use crate::cluster::SimCluster;
use crate::fault::group_members;
use crate::knobs::{Fault, FaultKind, Knobs, LEADER, SLOW_DISK_MS};
use crate::network::{Cuts, Way};
use crate::reality::Reality;
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
    damaged: BTreeSet<u64>,
    /// Nodes whose disk was told to commit a write fault, not yet
    /// power-cycled.
    write_faulted: BTreeSet<u64>,
    /// Splits in force by (kind, target as written), with the nodes each
    /// cut off (the leader resolved when it struck).
    splits: BTreeMap<(FaultKind, u64), Vec<u64>>,
}

impl Faults {
    /// The network the faults in force make.
    fn cuts(&self, cluster: &SimCluster) -> Cuts {
        let mut cuts = Cuts::default();
        for node in &self.cut {
            cuts.groups.insert((vec![*node], Way::Both));
        }
        for node in &self.deaf {
            cuts.groups.insert((vec![*node], Way::Deaf));
        }
        for region in &self.regions {
            cuts.groups
                .insert((cluster.in_region(*region).collect(), Way::Both));
        }
        for ((kind, _), group) in &self.splits {
            let way = match kind {
                FaultKind::SplitDeaf => Way::Deaf,
                FaultKind::SplitMute => Way::Mute,
                _ => Way::Both,
            };
            cuts.groups.insert((group.clone(), way));
        }
        cuts
    }

    fn toggle(
        &mut self,
        cluster: &SimCluster,
        fault: Fault,
        leader: u64,
        seed: u64,
    ) -> &'static str {
        let target = fault.target;
        match fault.kind {
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
            FaultKind::Partition if self.cut.insert(target) => "partition",
            FaultKind::Partition => {
                self.cut.remove(&target);
                "heal"
            }
            FaultKind::Deafen if self.deaf.insert(target) => "deafen",
            FaultKind::Deafen => {
                self.deaf.remove(&target);
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
            FaultKind::Damage if self.damaged.insert(target) => {
                let running = self.down.insert(target);
                self.paused.remove(&target);
                match cluster.damage(target, seed, running) {
                    Some(_) => "disk damaged",
                    None => "nothing on disk to damage",
                }
            }
            FaultKind::Damage => "damaged already",
            FaultKind::LostWrite | FaultKind::FsyncError if self.write_faulted.remove(&target) => {
                match self.power_cycle(cluster, target) {
                    Some(_) => "power cycle after a write fault",
                    None => "power cycle",
                }
            }
            FaultKind::LostWrite | FaultKind::FsyncError => {
                let fault = match fault.kind {
                    FaultKind::FsyncError => WriteFault::FsyncError,
                    _ if seed % 2 == 1 => WriteFault::Misdirected(64 + seed % 512),
                    _ => WriteFault::Lost,
                };
                if cluster.arm_write_fault(target, fault) {
                    self.write_faulted.insert(target);
                    "write fault armed"
                } else {
                    "no log to fault yet"
                }
            }
            FaultKind::Region if self.regions.insert(target) => "region lost",
            FaultKind::Region => {
                self.regions.remove(&target);
                "region healed"
            }
            kind => {
                if self.splits.remove(&(kind, target)).is_some() {
                    return "split healed";
                }
                let (mut nodes, with_leader) = group_members(target);
                if with_leader && leader != LEADER {
                    nodes.push(leader);
                }
                nodes.retain(|n| (1..=cluster.nodes.len() as u64).contains(n));
                nodes.sort_unstable();
                nodes.dedup();
                if nodes.is_empty() {
                    return "split of nobody";
                }
                self.splits.insert((kind, target), nodes);
                "split"
            }
        }
    }

    /// Off and on again (a node refused for damage stays down); what the
    /// armed write fault did, if it struck.
    fn power_cycle(&mut self, cluster: &SimCluster, target: u64) -> Option<String> {
        if self.damaged.contains(&target) || cluster.reality.has_damage(target) {
            return None;
        }
        self.down.remove(&target);
        self.paused.remove(&target);
        cluster.power_cycle(target)
    }

    fn heal_all(mut self, cluster: &SimCluster, reality: &Reality, trace: &Trace) {
        for node in std::mem::take(&mut self.write_faulted) {
            let struck = self.power_cycle(cluster, node);
            trace.event(
                &format!("node-{node}"),
                "power cycle",
                &json!({ "write fault": struck }),
            );
        }
        for node in std::mem::take(&mut self.slow) {
            cluster.slow_disk(node, Duration::ZERO);
            trace.event(&format!("node-{node}"), "disk back to speed", &json!({}));
        }
        for node in std::mem::take(&mut self.down) {
            cluster.restart(node);
            trace.event(&format!("node-{node}"), "restart", &json!({}));
        }
        for node in std::mem::take(&mut self.paused) {
            cluster.resume(node);
            trace.event(&format!("node-{node}"), "resume", &json!({}));
        }
        if self.cuts(cluster) != Cuts::default() {
            trace.event("sim", "network healed", &json!({}));
        }
        cluster.set_cuts(&Cuts::default());
        reality.network(&Cuts::default(), &BTreeSet::new());
    }
}

/// The operator's hands: who changes the voters, and the machine it
/// works from.
pub(super) struct Hands<'a> {
    pub(super) operator: &'a Operator,
    pub(super) machine: &'a NodeHandle,
}

pub(super) async fn inject_faults(
    cluster: &SimCluster,
    knobs: &Knobs,
    leader: &AtomicU64,
    hands: &Hands<'_>,
    trace: &Trace,
) {
    let reality = &cluster.reality;
    let phase_ms = knobs.safety_phase_s * 1000;
    let mut now_ms = 0;
    let mut faults = Faults::default();
    // Voters an operator removed (as intended: the call may be refused),
    // and the calls under way.
    let mut removed = BTreeSet::new();
    let mut changes = Vec::new();
    for (i, fault) in knobs.faults.iter().enumerate() {
        let mut fault = *fault;
        if fault.kind == FaultKind::Member {
            if fault.at_ms >= phase_ms || !(1..=knobs.control_nodes).contains(&fault.target) {
                continue;
            }
            tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
            now_ms = now_ms.max(fault.at_ms);
            let remove = removed.insert(fault.target);
            if !remove {
                removed.remove(&fault.target);
            }
            let asked = if remove { "remove" } else { "add back" };
            trace.event(&format!("node-{}", fault.target), asked, &json!({}));
            changes.push(hands.operator.change(hands.machine, fault.target, remove));
            continue;
        }
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
            kind if kind.is_split() => fault.target != 0,
            _ => (1..=knobs.nodes()).contains(&fault.target),
        };
        if !valid || fault.at_ms >= phase_ms {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(fault.at_ms);
        let event = faults.toggle(
            cluster,
            fault,
            leader.load(Ordering::SeqCst),
            knobs.seed ^ (i as u64),
        );
        cluster.set_cuts(&faults.cuts(cluster));
        let stopped: BTreeSet<u64> = faults.down.union(&faults.paused).copied().collect();
        reality.network(&faults.cuts(cluster), &stopped);
        let who = match fault.kind {
            FaultKind::Region => format!("region-{}", fault.target),
            kind if kind.is_split() => "network".to_string(),
            _ => format!("node-{}", fault.target),
        };
        let detail = match faults.splits.get(&(fault.kind, fault.target)) {
            Some(group) => json!({ "group": group }),
            None => json!({}),
        };
        trace.event(&who, event, &detail);
    }
    tokio::time::sleep(Duration::from_millis(phase_ms.saturating_sub(now_ms))).await;
    SimCluster::weather(None);
    faults.heal_all(cluster, reality, trace);
    for change in changes {
        let _ = change.await;
    }
    if knobs.faults.iter().any(|f| f.kind == FaultKind::Member) {
        let operator = hands.operator.clone();
        let _ = hands
            .machine
            .spawn(async move {
                operator
                    .restore_voters(Duration::from_secs(RESTORE_VOTERS_S))
                    .await;
            })
            .await;
    }
}

/// How long the voters an operator removed have to be added back after
/// healing, before the liveness phase starts anyway.
const RESTORE_VOTERS_S: u64 = 30;
