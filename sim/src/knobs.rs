//! Everything a simulation varies, drawn from its seed ("swarm" testing:
//! some faults off entirely, others at very different rates). Printed
//! first, so a failure's report says exactly what ran.

use std::fmt;

use serde_json::{Value, json};

pub use crate::fault::{Fault, FaultKind, LEADER, SLOW_DISK_MS, group_mask, parse_faults};
pub use crate::planted::PlantedBugs;

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

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Liveness settings for the simulation: short, so that disconnections,
/// replacements and reconnections all happen within a run.
pub const HEARTBEAT_TTL_MS: u64 = 5_000;
pub const DECISION_INTERVAL_MS: u64 = 2_000;
pub const MAX_DISCONNECT_MS: u64 = 10_000;

/// What a service replica and the system job's task ask for.
pub const SERVICE_CPU_MILLIS: u64 = 250;
pub const SYSTEM_CPU_MILLIS: u64 = 100;

/// Network conditions during the safety phase: latency per message and
/// message loss (a lost message is resent, as TCP does, so loss is delay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weather {
    pub latency_ms: (u64, u64),
    pub loss_per_mille: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knobs {
    pub seed: u64,
    /// Raft voters, ids 1..=control_nodes.
    pub control_nodes: u64,
    /// Whether the voters also run work (`hybrid`) or only control.
    pub control_runs_work: bool,
    /// Worker-only nodes, after the voters.
    pub workers: u64,
    /// Node `i` is in region `(i - 1) % regions`.
    pub regions: u64,
    /// Batch jobs, submitted over the safety phase — evenly spaced, or in
    /// one burst per client.
    pub jobs: u64,
    pub burst: bool,
    /// What each batch job asks for, and how long it runs.
    pub batch_cpu_millis: u64,
    pub batch_run_ms: u64,
    /// Services of `replicas` each; the first is pinned to one region when
    /// there are several.
    pub services: u64,
    pub replicas: u64,
    pub system_job: bool,
    /// Clients submitting concurrently.
    pub clients: u64,
    /// When the last service is stopped, if it is.
    pub stop_service_at_ms: Option<u64>,
    /// When the first service is updated to a new version, if it is.
    pub update_service_at_ms: Option<u64>,
    /// When a node that runs work is drained, and which.
    pub drain: Option<(u64, u64)>,
    pub weather: Option<Weather>,
    /// Machines whose wall clock runs ahead (+) or behind (-), in ms.
    pub clock_skew_ms: Vec<(u64, i64)>,
    /// The fault schedule of the safety phase, in time order.
    pub faults: Vec<Fault>,
    /// Virtual seconds of faults before everything is healed.
    pub safety_phase_s: u64,
    /// Virtual seconds the healed cluster gets to converge.
    pub liveness_bound_s: u64,
    pub bugs: PlantedBugs,
    /// Whether the node's fault points (`drover_node::buggify`) fire.
    pub buggify: bool,
    /// Raft log entries between snapshots: production's default in a
    /// quarter of the runs, few enough in the others that a run builds snapshots,
    /// compacts its log, restores from them and sends them to followers.
    pub snapshot_every: u64,
    /// Regions of their own, each a cluster of `control_nodes` voters,
    /// federated (0: one cluster, the run of every other knob; 2 to 4:
    /// `scenario::federated`). Set, never drawn: a seed keeps its shape.
    pub federated: u64,
}

impl Knobs {
    pub fn from_seed(seed: u64) -> Self {
        let mut draw = Draw(seed);
        let control_nodes = if draw.one_in(2) { 3 } else { 5 };
        let workers = match draw.below(8) {
            0..=2 => 0,
            3..=6 => 1 + draw.below(8),
            _ => 10 + draw.below(41),
        };
        let control_runs_work = workers == 0 || !draw.one_in(3);
        let regions = 1 + draw.below(4);
        let nodes = control_nodes + workers;
        let safety_phase_s = 30;
        let phase_ms = safety_phase_s * 1000;
        let jobs = 5 + draw.below(20);
        let burst = draw.one_in(2);
        let batch_cpu_millis = 100 * (1 + draw.below(30));
        let batch_run_ms = 300 + draw.below(8000);
        let services = draw.below(3);
        let replicas = 1 + draw.below(4);
        let system_job = draw.one_in(3);
        let clients = 1 + draw.below(3);
        let stop_service_at_ms =
            (services > 0 && draw.one_in(3)).then(|| 1000 + draw.below(phase_ms - 1000));
        let update_service_at_ms =
            (services > 0 && draw.one_in(3)).then(|| 1000 + draw.below(phase_ms - 1000));
        let first_worker = if control_runs_work {
            1
        } else {
            control_nodes + 1
        };
        let drain_at = 1000 + draw.below(phase_ms - 1000);
        let drain_target = first_worker + draw.below(nodes - first_worker + 1);
        let drain = draw.one_in(4).then_some((drain_at, drain_target));
        let weather = draw.one_in(3).then(|| {
            let low = 1 + draw.below(20);
            Weather {
                latency_ms: (low, low + 1 + draw.below(200)),
                loss_per_mille: draw.below(100),
            }
        });
        let clock_skew_ms = draw_skews(&mut draw, nodes);
        let faults = draw_faults(&mut draw, control_nodes, nodes, regions, phase_ms);
        let buggify = draw.one_in(2);
        let snapshot_every = if draw.one_in(4) {
            drover_node::agent::SNAPSHOT_EVERY
        } else {
            10 + draw.below(50)
        };
        // Drawn last, so every other knob of a seed is what it was before
        // membership changes were drawn.
        let mut faults = faults;
        faults.extend(draw_membership_changes(
            &mut draw,
            control_nodes,
            phase_ms,
            &faults,
        ));
        faults.sort_unstable();
        let mut knobs = Self {
            seed,
            control_nodes,
            control_runs_work,
            workers,
            regions,
            jobs,
            burst,
            batch_cpu_millis,
            batch_run_ms,
            services,
            replicas,
            system_job,
            clients,
            stop_service_at_ms,
            update_service_at_ms,
            drain,
            weather,
            clock_skew_ms,
            faults,
            safety_phase_s,
            liveness_bound_s: 60,
            bugs: PlantedBugs::default(),
            buggify,
            snapshot_every,
            federated: 0,
        };
        knobs.keep_feasible();
        knobs
    }

    /// Trims the drawn workload to what a healthy cluster can finish
    /// within the liveness bound, so that a failure means a bug, not an
    /// impossible ask: batch jobs fit a node beside the long-running
    /// work, and run in a third of the bound at full use; a drain never
    /// takes the last node a job could use.
    pub fn keep_feasible(&mut self) {
        if self.workers == 0 {
            self.control_runs_work = true;
        }
        // Every long-running allocation might land on the same node.
        let reserved_millis =
            self.services * self.replicas * SERVICE_CPU_MILLIS + SYSTEM_CPU_MILLIS;
        // A voter whose disk is damaged refuses to start and stays down:
        // the work must fit without it.
        let damaged = self.damaged();
        let pinned = self.services > 0 && self.regions > 1;
        let remains = |knobs: &Self, n: u64| knobs.runs_work(n) && !damaged.contains(&n);
        let pinned_left = (1..=self.nodes())
            .any(|n| remains(self, n) && self.region_of(n) == self.pinned_region());
        if !(1..=self.nodes()).any(|n| remains(self, n)) || (pinned && !pinned_left) {
            self.faults.retain(|f| !f.kind.may_keep_down());
        }
        let damaged = self.damaged();
        let work_nodes: Vec<u64> = (1..=self.nodes())
            .filter(|n| self.runs_work(*n) && !damaged.contains(n))
            .collect();
        let rooms: Vec<u64> = work_nodes
            .iter()
            .map(|n| self.cpu_millis(*n).saturating_sub(reserved_millis))
            .collect();
        let smallest = rooms.iter().copied().min().unwrap_or(0);
        self.batch_cpu_millis = self.batch_cpu_millis.clamp(100, smallest.max(100));
        let slots: u64 = rooms
            .iter()
            .map(|room| room / self.batch_cpu_millis)
            .sum::<u64>()
            .max(1);
        let waves = self.jobs.div_ceil(slots).max(1);
        let budget_ms = self.liveness_bound_s * 1000 / 3;
        self.batch_run_ms = self.batch_run_ms.min((budget_ms / waves).max(300));
        if let Some((_, drained)) = self.drain {
            let others: Vec<u64> = work_nodes.into_iter().filter(|n| *n != drained).collect();
            let pinned_kept = !pinned
                || others
                    .iter()
                    .any(|n| self.region_of(*n) == self.pinned_region());
            if others.is_empty() || !pinned_kept {
                self.drain = None;
            }
        }
    }

    /// Voters whose disk the fault schedule damages (they may stay down).
    pub fn damaged(&self) -> Vec<u64> {
        self.faults
            .iter()
            .filter(|f| f.kind.may_keep_down())
            .map(|f| f.target)
            .collect()
    }

    pub fn cpu_millis(&self, node: u64) -> u64 {
        if node > self.control_nodes {
            4000
        } else {
            8000
        }
    }

    pub fn nodes(&self) -> u64 {
        self.control_nodes + self.workers
    }

    pub fn region_of(&self, node: u64) -> u64 {
        (node - 1) % self.regions
    }

    pub fn runs_work(&self, node: u64) -> bool {
        node > self.control_nodes || self.control_runs_work
    }

    /// The region a pinned service asks for: one where work can run.
    pub fn pinned_region(&self) -> u64 {
        let first = (1..=self.nodes()).find(|n| self.runs_work(*n)).unwrap_or(1);
        self.region_of(first)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "control_nodes": self.control_nodes,
            "control_runs_work": self.control_runs_work,
            "workers": self.workers,
            "regions": self.regions,
            "jobs": self.jobs,
            "burst": self.burst,
            "batch_cpu_millis": self.batch_cpu_millis,
            "batch_run_ms": self.batch_run_ms,
            "services": self.services,
            "replicas": self.replicas,
            "system_job": self.system_job,
            "clients": self.clients,
            "stop_service_at_ms": self.stop_service_at_ms,
            "update_service_at_ms": self.update_service_at_ms,
            "drain": self.drain.map(|(at, node)| format!("n{node}@{at}")),
            "weather": self.weather.map(|w| format!(
                "latency {}-{}ms, loss {}/1000", w.latency_ms.0, w.latency_ms.1, w.loss_per_mille
            )),
            "clock_skew": (!self.clock_skew_ms.is_empty()).then(|| {
                self.clock_skew_ms
                    .iter()
                    .map(|(node, skew)| format!("n{node}:{skew:+}ms"))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            "faults": self.faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "safety_phase_s": self.safety_phase_s,
            "liveness_bound_s": self.liveness_bound_s,
            "planted": self.bugs.name(),
            "buggify": self.buggify,
            "snapshot_every": self.snapshot_every,
            "federated": (self.federated > 0).then_some(self.federated),
        })
    }
}

impl fmt::Display for Knobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Value::Object(fields) = self.to_json() else {
            return Ok(());
        };
        write!(f, "SEED={}", self.seed)?;
        for (key, value) in fields {
            match value {
                Value::Null => {}
                Value::Array(items) if items.is_empty() => write!(f, " {key}=none")?,
                Value::Array(items) => {
                    let items: Vec<String> = items
                        .iter()
                        .map(|i| i.as_str().unwrap_or("").to_string())
                        .collect();
                    write!(f, " {key}={}", items.join(","))?;
                }
                Value::String(text) => write!(f, " {key}=\"{text}\"")?,
                other => write!(f, " {key}={other}")?,
            }
        }
        Ok(())
    }
}

/// Some machines' clocks off by up to ±5 s, in a third of runs.
fn draw_skews(draw: &mut Draw, nodes: u64) -> Vec<(u64, i64)> {
    let mut skews = Vec::new();
    if draw.one_in(3) {
        for node in 1..=nodes {
            let skew_ms = i64::try_from(draw.below(10_001)).unwrap_or(0) - 5_000;
            if draw.one_in(2) {
                skews.push((node, skew_ms));
            }
        }
    }
    skews
}

/// The safety phase's fault schedule. Swarm: each fault kind is off in a
/// good share of the runs, and 1–5 times in the others.
fn draw_faults(
    draw: &mut Draw,
    control_nodes: u64,
    nodes: u64,
    regions: u64,
    phase_ms: u64,
) -> Vec<Fault> {
    let mut faults = Vec::new();
    for (kind, off_one_in) in [
        (FaultKind::Crash, 3),
        (FaultKind::Partition, 3),
        (FaultKind::Deafen, 2),
        (FaultKind::Pause, 2),
        (FaultKind::Region, 2),
        (FaultKind::SlowDisk, 2),
        (FaultKind::Split, 2),
        (FaultKind::SplitDeaf, 4),
        (FaultKind::SplitMute, 4),
        (FaultKind::Damage, 2),
        (FaultKind::LostWrite, 2),
        (FaultKind::FsyncError, 2),
    ] {
        if draw.one_in(off_one_in) {
            continue;
        }
        for _ in 0..=draw.below(4) {
            // Crashes and slow disks favour the voters, whose disks hold
            // the log, and a third of crashes hit whichever node leads.
            let target = match kind {
                kind if kind.is_split() => draw_group(draw, control_nodes, nodes),
                FaultKind::Region => draw.below(regions),
                kind if kind == FaultKind::SlowDisk || kind.is_storage() => {
                    1 + draw.below(control_nodes)
                }
                FaultKind::Crash if draw.one_in(3) => LEADER,
                FaultKind::Crash if !draw.one_in(3) => 1 + draw.below(control_nodes),
                _ => 1 + draw.below(nodes),
            };
            faults.push(Fault {
                at_ms: 1000 + draw.below(phase_ms - 1000),
                kind,
                target,
            });
        }
    }
    // One voter with a faulty disk at most (a minority, whatever the
    // cluster's size): a damaged one stays down for good, and two silent
    // nodes in a region are a partial disruption, paced at Kubernetes'
    // slow rate (longer than the liveness bound).
    let damaged = faults
        .iter()
        .find(|f| f.kind.is_storage())
        .map(|f| f.target);
    for fault in faults.iter_mut().filter(|f| f.kind.is_storage()) {
        fault.target = damaged.unwrap_or(fault.target);
    }
    faults.sort_unstable();
    faults
}

/// Voters removed and added back by an operator during the safety phase,
/// in half the runs: 1–4 changes. Not in runs where a voter may stay down
/// for good (a damaged disk): the one-voter-lost bound those runs rely on
/// holds for the voters they start with, and a cluster shrunk to two
/// voters that then loses one for good can commit nothing again — Raft's
/// bound, not a fault of the system.
fn draw_membership_changes(
    draw: &mut Draw,
    control_nodes: u64,
    phase_ms: u64,
    faults: &[Fault],
) -> Vec<Fault> {
    let changes = draw.below(8);
    if changes >= 4 || faults.iter().any(|f| f.kind.may_keep_down()) {
        return Vec::new();
    }
    (0..=changes)
        .map(|_| Fault {
            at_ms: 1000 + draw.below(phase_ms - 1000),
            kind: FaultKind::Member,
            target: 1 + draw.below(control_nodes),
        })
        .collect()
}

/// A side of a split: a minority of the voters (the leader of the moment
/// among them in half the draws), and any share of the workers, so that
/// both sides hold voters, hybrid nodes and workers.
fn draw_group(draw: &mut Draw, control_nodes: u64, nodes: u64) -> u64 {
    let mut members = Vec::new();
    let with_leader = draw.one_in(2);
    let voters = 1 + draw.below(control_nodes / 2) - u64::from(with_leader);
    for _ in 0..voters {
        members.push(1 + draw.below(control_nodes));
    }
    let share = draw.below(3);
    for worker in control_nodes + 1..=nodes {
        if draw.below(3) < share {
            members.push(worker);
        }
    }
    let mask = group_mask(members);
    if with_leader { mask | 1 } else { mask }
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
        let knobs: Vec<Knobs> = (0..300).map(Knobs::from_seed).collect();
        for kind in FaultKind::ALL.map(|(k, _)| k) {
            assert!(
                knobs
                    .iter()
                    .any(|k| k.faults.iter().all(|f| f.kind != kind)),
                "swarm: some runs without {kind:?}"
            );
            assert!(
                knobs
                    .iter()
                    .any(|k| k.faults.iter().any(|f| f.kind == kind)),
                "some runs with {kind:?}"
            );
        }
        assert!(
            knobs.iter().any(|k| k.workers >= 40),
            "large clusters drawn"
        );
        assert!(knobs.iter().any(|k| k.regions == 4));
        assert!(knobs.iter().any(|k| !k.control_runs_work));
    }

    #[test]
    fn fault_schedules_print_and_parse_back() {
        for seed in 0..50 {
            let knobs = Knobs::from_seed(seed);
            let text: Vec<String> = knobs.faults.iter().map(ToString::to_string).collect();
            assert_eq!(parse_faults(&text.join(",")), Ok(knobs.faults));
        }
        assert!(parse_faults("explode@1:n1").is_err());
        assert!(
            parse_faults("region@1:n1").is_err(),
            "regions are named r<k>"
        );
    }

    #[test]
    fn targets_exist() {
        for seed in 0..200 {
            let k = Knobs::from_seed(seed);
            for fault in &k.faults {
                match fault.kind {
                    kind if kind.is_split() => {
                        let (nodes, _) = crate::fault::group_members(fault.target);
                        assert!(fault.target != 0);
                        assert!(nodes.iter().all(|n| (1..=k.nodes()).contains(n)));
                        let voters = nodes.iter().filter(|n| **n <= k.control_nodes).count();
                        assert!(voters as u64 <= (k.control_nodes - 1) / 2 + 1);
                    }
                    FaultKind::Region => assert!(fault.target < k.regions),
                    FaultKind::Crash if fault.target == LEADER => {}
                    _ => assert!((1..=k.nodes()).contains(&fault.target)),
                }
            }
            if let Some((_, node)) = k.drain {
                assert!(
                    k.runs_work(node),
                    "seed {seed} drains a node that runs no work"
                );
            }
        }
    }
}
