//! Clusters and workloads for the benchmarks, built through the state
//! machine itself so that they are exactly what a real leader would hold.

use std::collections::{BTreeMap, BTreeSet};

use drover_core::job::{Attribute, Driver, JobKind, Spread};
use drover_core::reconcile::{Leadership, ReconcileConfig, plan_cycle};
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::AllocReport;
use drover_core::{
    AllocStatus, ClusterState, Command, CommandKind, JobId, JobSpec, NodeId, NodeRegistration,
    NodeRole, Resources,
};

pub const NOW_MS: u64 = 1_700_000_000_000;

/// Applies commands at consecutive indexes.
pub struct Log {
    pub state: ClusterState,
    index: u64,
}

impl Log {
    pub fn new(state: ClusterState) -> Self {
        let index = state.index();
        Self { state, index }
    }

    pub fn apply(&mut self, kind: CommandKind) {
        self.apply_at(NOW_MS, kind);
    }

    /// Applies `kind` stamped `now_ms`.
    pub fn apply_at(&mut self, now_ms: u64, kind: CommandKind) {
        self.index += 1;
        self.state
            .apply(self.index, Command::new(now_ms, kind))
            .expect("fixture command applies");
    }
}

/// `nodes` workers of 4 cores and 16 GiB over `regions` regions.
pub fn cluster(nodes: usize, regions: usize) -> ClusterState {
    let mut log = Log::new(ClusterState::new());
    for i in 0..nodes {
        log.apply(CommandKind::RegisterNode(NodeRegistration {
            id: NodeId::new(format!("n{i:06}")).expect("valid name"),
            address: format!("10.0.{}.{}:7401", i / 256, i % 256),
            region: format!("r{}", i % regions.max(1)),
            labels: BTreeMap::from([("rack".into(), format!("k{}", i % 40))]),
            role: NodeRole::Worker,
            capacity: Resources::new(4000, 16_384, 0),
            pools: BTreeSet::from(["default".to_string()]),
            drivers: BTreeSet::from([Driver::Exec, Driver::Docker]),
        }));
    }
    log.state
}

/// A service of `replicas` small instances, optionally spread over regions.
pub fn service(name: &str, replicas: u32, spread: bool) -> JobSpec {
    let mut spec = JobSpec::batch(
        JobId::new(name).expect("valid name"),
        vec!["serve".into()],
        Resources::new(100, 128, 0),
    );
    spec.kind = JobKind::Service { replicas };
    spec.version = 1;
    if spread {
        spec.spread.push(Spread {
            attribute: Attribute::Region,
            weight: 50,
            targets: Vec::new(),
        });
    }
    spec
}

/// `jobs` services of `replicas` each, all placed and running: the steady
/// state a reconciler spends most of its life in.
pub fn steady_cluster(nodes: usize, jobs: usize, replicas: u32) -> ClusterState {
    let mut log = Log::new(cluster(nodes, 4));
    for j in 0..jobs {
        log.apply(CommandKind::SubmitJob(service(
            &format!("svc{j:05}"),
            replicas,
            false,
        )));
    }
    let cycle = plan_cycle(
        &log.state,
        NOW_MS,
        &ReconcileConfig::default(),
        Leadership::default(),
        SchedulerConfig::default(),
    );
    for command in cycle.commands {
        log.apply(command);
    }
    let reports: Vec<_> = log.state.allocs().map(|a| (a.id, a.node.clone())).collect();
    for (alloc, node) in reports {
        log.apply(CommandKind::AllocUpdate(AllocReport {
            alloc,
            node,
            status: AllocStatus::Running,
            exit_code: None,
            message: String::new(),
        }));
    }
    for node in log.state.nodes().map(|n| n.id.clone()).collect::<Vec<_>>() {
        log.apply(CommandKind::Heartbeat { node });
    }
    log.state
}

/// The allocator of a simple design: allocation `i` goes to node `i % n`
/// if it fits there. The baseline the scheduler is measured against.
pub fn round_robin(state: &ClusterState, job: &JobSpec, count: u32) -> Vec<NodeId> {
    let members = state.pool_members(&job.pool);
    let mut added: BTreeMap<u32, Resources> = BTreeMap::new();
    let mut placed = Vec::new();
    if members.is_empty() {
        return placed;
    }
    for i in 0..count as usize {
        let slot = members[i % members.len()];
        let node = state.node_at(slot);
        let extra = added.entry(slot).or_default();
        let free = node
            .capacity
            .saturating_sub(state.used_at(slot))
            .saturating_sub(*extra);
        if free.covers(job.task.resources) {
            *extra = extra.checked_add(job.task.resources).unwrap_or(*extra);
            placed.push(node.id.clone());
        }
    }
    placed
}

/// A batch job running `true`.
pub fn batch(name: &str, cpu_millis: u64, memory_mb: u64) -> JobSpec {
    JobSpec::batch(
        JobId::new(name).expect("valid job name"),
        vec!["true".into()],
        Resources::new(cpu_millis, memory_mb, 0),
    )
}
