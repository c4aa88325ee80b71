//! A pure, in-memory cluster for tests: one state machine, a leader loop
//! made of `plan_cycle`, and workers that start what they are given. No
//! clock: tests move `now_ms` themselves.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use drover_core::job::Driver;
use drover_core::reconcile::{Attention, Cycle, Leadership, ReconcileConfig, plan_cycle_in};
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::{AllocReport, Response, Success};
use drover_core::{
    AllocId, AllocStatus, ClusterState, Command, CommandKind, JobId, JobSpec, NodeId,
    NodeRegistration, NodeRole, NodeStatus, Resources,
};

pub struct Cluster {
    pub state: ClusterState,
    pub index: u64,
    pub now_ms: u64,
    pub config: ReconcileConfig,
    pub leadership: Leadership,
    pub scheduler: SchedulerConfig,
    /// Nodes whose heartbeats do not reach the leader.
    pub silent: BTreeSet<NodeId>,
    pub last_cycle: Cycle,
    /// The leader's memory between turns: which jobs the next looks at.
    pub attention: Attention,
}

pub fn node_id(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

pub fn job_id(name: &str) -> JobId {
    JobId::new(name).unwrap()
}

pub fn registration(name: &str, region: &str, cpu_millis: u64, memory_mb: u64) -> NodeRegistration {
    NodeRegistration {
        id: node_id(name),
        address: format!("{name}:7401"),
        region: region.into(),
        labels: BTreeMap::new(),
        role: NodeRole::Hybrid,
        capacity: Resources::new(cpu_millis, memory_mb, 0),
        pools: BTreeSet::from(["default".to_string()]),
        drivers: BTreeSet::from([Driver::Exec, Driver::Docker]),
    }
}

pub fn service(name: &str, replicas: u32, cpu_millis: u64, memory_mb: u64) -> JobSpec {
    let mut spec = batch(name, cpu_millis, memory_mb);
    spec.kind = drover_core::JobKind::Service { replicas };
    spec
}

pub fn batch(name: &str, cpu_millis: u64, memory_mb: u64) -> JobSpec {
    JobSpec::batch(
        job_id(name),
        vec!["true".into()],
        Resources::new(cpu_millis, memory_mb, 0),
    )
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    pub fn new() -> Self {
        Self {
            state: ClusterState::new(),
            index: 0,
            now_ms: 1_000_000,
            config: ReconcileConfig::default(),
            leadership: Leadership { since_ms: 0 },
            scheduler: SchedulerConfig::default(),
            silent: BTreeSet::new(),
            last_cycle: Cycle::default(),
            attention: Attention::default(),
        }
    }

    pub fn apply(&mut self, kind: CommandKind) -> Response {
        self.index += 1;
        self.state
            .apply(self.index, Command::new(self.now_ms, kind))
    }

    pub fn add(&mut self, reg: NodeRegistration) {
        self.apply(CommandKind::RegisterNode(reg))
            .expect("node registers");
    }

    pub fn add_nodes(&mut self, count: usize, region: &str, cpu_millis: u64, memory_mb: u64) {
        for i in 0..count {
            self.add(registration(
                &format!("{region}-{i}"),
                region,
                cpu_millis,
                memory_mb,
            ));
        }
    }

    pub fn submit(&mut self, spec: JobSpec) {
        self.apply(CommandKind::SubmitJob(spec))
            .expect("job accepted");
    }

    /// One leader turn: reconcile the jobs the leader's attention picks,
    /// schedule, apply what it proposes. Every turn also checks that a
    /// turn over the jobs it skipped would have acted on none of them.
    pub fn cycle(&mut self) -> usize {
        let pass = self.attention.next_pass(&self.state, self.now_ms);
        let cycle = plan_cycle_in(
            &self.state,
            &pass.scope,
            self.now_ms,
            &self.config,
            self.leadership,
            self.scheduler,
        );
        let missed = plan_cycle_in(
            &self.state,
            &pass.scope.skipped(&self.state),
            self.now_ms,
            &self.config,
            self.leadership,
            self.scheduler,
        )
        .acted_on;
        assert!(
            missed.is_empty(),
            "the turn skipped jobs it had to act on: {missed:?}"
        );
        let n = cycle.commands.len();
        let mut landed = true;
        for command in cycle.commands.clone() {
            match self.apply(command) {
                Ok(Success::Plan(result)) if !result.fully_applied() => landed = false,
                Ok(_) => {}
                Err(_) => landed = false,
            }
        }
        if landed {
            self.attention.landed(&pass, &cycle);
        }
        self.last_cycle = cycle;
        n
    }

    /// Every reachable node heartbeats.
    pub fn heartbeat(&mut self) {
        let reachable: Vec<NodeId> = self
            .state
            .nodes()
            .map(|n| n.id.clone())
            .filter(|id| !self.silent.contains(id))
            .collect();
        for node in reachable {
            self.apply(CommandKind::Heartbeat { node }).unwrap();
        }
    }

    /// Reachable workers report on their allocations: pending ones start,
    /// unknown ones are found still running, and ones asked to stop stop.
    pub fn workers(&mut self) {
        let reports: Vec<(AllocId, NodeId, AllocStatus)> = self
            .state
            .allocs()
            .filter(|a| !self.silent.contains(&a.node))
            .filter(|a| {
                self.state
                    .node(&a.node)
                    .is_some_and(|n| n.status == NodeStatus::Ready)
            })
            .filter_map(|a| {
                let next = match (a.desired, a.status) {
                    (drover_core::DesiredStatus::Stop, s) if !s.is_terminal() => {
                        AllocStatus::Stopped
                    }
                    (_, AllocStatus::Pending | AllocStatus::Unknown) => AllocStatus::Running,
                    _ => return None,
                };
                Some((a.id, a.node.clone(), next))
            })
            .collect();
        for (alloc, node, status) in reports {
            self.report(alloc, &node, status, None)
                .expect("a worker report about its own allocation applies");
        }
    }

    pub fn report(
        &mut self,
        alloc: AllocId,
        node: &NodeId,
        status: AllocStatus,
        exit_code: Option<i32>,
    ) -> Response {
        self.apply(CommandKind::AllocUpdate(AllocReport {
            alloc,
            node: node.clone(),
            status,
            exit_code,
            message: String::new(),
        }))
    }

    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Heartbeats, leader turns and worker reports until nothing changes
    /// (at most `rounds` times).
    pub fn settle(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.heartbeat();
            let proposed = self.cycle();
            self.workers();
            if proposed == 0 {
                return;
            }
        }
    }

    pub fn live(&self, job: &str) -> Vec<&drover_core::Allocation> {
        self.state
            .job_allocs(&job_id(job))
            .filter(|a| a.desired == drover_core::DesiredStatus::Run && !a.status.is_terminal())
            .collect()
    }

    pub fn phase(&self, job: &str) -> drover_core::reconcile::JobPhase {
        let job = self.state.job(&job_id(job)).expect("the job exists");
        drover_core::reconcile::job_phase(&self.state, job)
    }

    pub fn running(&self, job: &str) -> usize {
        self.live(job)
            .iter()
            .filter(|a| a.status == AllocStatus::Running)
            .count()
    }
}
