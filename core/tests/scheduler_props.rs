//! Scheduler and reconciler properties on random clusters and workloads:
//! no node over capacity, every placement satisfies its job, and the same
//! state gives the same plan.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Cluster, job_id, node_id};
use drover_core::job::{
    Attribute, Constraint, ConstraintOp, Driver, JobKind, Spread, SpreadTarget,
};
use drover_core::reconcile::plan_cycle;
use drover_core::scheduler::{Algorithm, Checker, SchedulerConfig};
use drover_core::state::Success;
use drover_core::{
    AllocStatus, ClusterState, CommandKind, DesiredStatus, JobSpec, NodeRegistration, NodeRole,
    Resources,
};
use proptest::prelude::*;

fn node(i: usize) -> impl Strategy<Value = NodeRegistration> {
    (
        prop::sample::select(vec!["eu", "us", "ap"]),
        prop::sample::select(vec!["amd64", "arm64"]),
        prop::sample::select(vec!["5.10.0", "6.1.0-13-amd64", "6.8"]),
        prop_oneof![6 => Just(NodeRole::Hybrid), 3 => Just(NodeRole::Worker), 1 => Just(NodeRole::Control)],
        (500..8000u64, 256..16_384u64),
        prop_oneof![4 => Just(vec!["default"]), 1 => Just(vec!["default", "gpu"]), 1 => Just(vec!["gpu"])],
        prop_oneof![
            4 => Just(vec![Driver::Exec, Driver::Docker]),
            1 => Just(vec![Driver::Exec]),
            1 => Just(vec![Driver::Docker]),
        ],
    )
        .prop_map(move |(region, arch, kernel, role, (cpu, mem), pools, drivers)| NodeRegistration {
            id: node_id(&format!("n{i}")),
            address: format!("127.0.0.1:{}", 7000 + i),
            region: region.into(),
            labels: BTreeMap::from([("arch".into(), arch.into()), ("kernel".into(), kernel.into())]),
            role,
            capacity: Resources::new(cpu, mem, 0),
            pools: pools.into_iter().map(String::from).collect::<BTreeSet<_>>(),
            drivers: drivers.into_iter().collect(),
        })
}

fn constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        Just(Constraint {
            attribute: Attribute::Region,
            op: ConstraintOp::Eq("eu".into())
        }),
        Just(Constraint {
            attribute: Attribute::Region,
            op: ConstraintOp::NotIn(vec!["ap".into()])
        }),
        Just(Constraint {
            attribute: Attribute::Label("arch".into()),
            op: ConstraintOp::In(vec!["amd64".into()])
        }),
        Just(Constraint {
            attribute: Attribute::Label("kernel".into()),
            op: ConstraintOp::Version(">= 6.0".into())
        }),
        Just(Constraint {
            attribute: Attribute::Label("kernel".into()),
            op: ConstraintOp::Regex("amd64$".into())
        }),
        Just(Constraint {
            attribute: Attribute::Label("gpu".into()),
            op: ConstraintOp::Exists
        }),
    ]
}

fn job(i: usize) -> impl Strategy<Value = JobSpec> {
    (
        prop_oneof![
            2 => Just(JobKind::Batch),
            4 => (1..6u32).prop_map(|replicas| JobKind::Service { replicas }),
            1 => Just(JobKind::System),
        ],
        (50..3000u64, 16..4096u64),
        prop::collection::vec(constraint(), 0..2),
        prop::option::of(1..3u32),
        any::<bool>(),
        prop_oneof![4 => Just("default"), 1 => Just("gpu")],
        prop_oneof![3 => Just(Driver::Exec), 1 => Just(Driver::Docker)],
    )
        .prop_map(
            move |(kind, (cpu, mem), constraints, max_per_node, spread, pool, driver)| {
                let mut spec = common::batch(&format!("j{i}"), cpu, mem);
                spec.kind = kind;
                spec.task.driver = driver;
                if driver == Driver::Docker {
                    spec.task.image = Some("busybox:latest".into());
                }
                spec.constraints = constraints;
                spec.max_per_node = max_per_node;
                spec.pool = pool.into();
                if spread {
                    spec.spread.push(Spread {
                        attribute: Attribute::Region,
                        weight: 80,
                        targets: vec![SpreadTarget {
                            value: "eu".into(),
                            percent: 60,
                        }],
                    });
                }
                spec
            },
        )
}

#[derive(Debug, Clone)]
enum Event {
    Silence(usize),
    Revive(usize),
    Advance(u64),
    Finish(prop::sample::Index, bool),
    Drain(usize),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => (0..30usize).prop_map(Event::Silence),
        1 => (0..30usize).prop_map(Event::Revive),
        3 => (1_000..60_000u64).prop_map(Event::Advance),
        3 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, ok)| Event::Finish(i, ok)),
        1 => (0..30usize).prop_map(Event::Drain),
    ]
}

fn world() -> impl Strategy<Value = (Vec<NodeRegistration>, Vec<JobSpec>, Vec<Event>, bool)> {
    (1..30usize, 1..8usize).prop_flat_map(|(nodes, jobs)| {
        (
            (0..nodes).map(node).collect::<Vec<_>>(),
            (0..jobs).map(job).collect::<Vec<_>>(),
            prop::collection::vec(event(), 0..40),
            any::<bool>(),
        )
    })
}

fn check_invariants(state: &ClusterState) -> Result<(), TestCaseError> {
    for node in state.nodes() {
        let used = state.node_used(&node.id);
        prop_assert!(
            node.capacity.covers(used),
            "{} holds {used} of {}",
            node.id,
            node.capacity
        );
    }
    for job in state.jobs() {
        let mut per_node: BTreeMap<_, u32> = BTreeMap::new();
        for alloc in state.job_allocs(&job.spec.id) {
            if alloc.desired == DesiredStatus::Run && !alloc.status.is_terminal() {
                *per_node.entry(alloc.node.clone()).or_default() += 1;
            }
        }
        if let Some(max) = job.spec.max_per_node {
            prop_assert!(
                per_node.values().all(|n| *n <= max),
                "{}: {per_node:?}",
                job.spec.id
            );
        }
    }
    Ok(())
}

/// Every placement the plan made lands on a node that satisfies the job's
/// pool, role and constraints (checked at placement: nodes change later).
fn check_placements(
    state: &ClusterState,
    placed: &[drover_core::AllocId],
) -> Result<(), TestCaseError> {
    for id in placed {
        let alloc = state.alloc(*id).unwrap();
        let job = &state.job(&alloc.job).unwrap().spec;
        let node = state.node(&alloc.node).unwrap();
        let verdict = Checker::new(job).static_check(node);
        prop_assert!(verdict.is_ok(), "{} on {}: {verdict:?}", alloc.job, node.id);
        prop_assert!(
            node.drivers.contains(&job.task.driver),
            "{} ({}) on {}, which offers {:?}",
            alloc.job,
            job.task.driver,
            node.id,
            node.drivers
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn placements_respect_capacity_and_constraints((nodes, jobs, events, least_loaded) in world()) {
        let mut c = Cluster::new();
        c.config.decision_interval_ms = 1_000;
        if least_loaded {
            c.scheduler.algorithm = Algorithm::LeastLoaded;
        }
        for reg in nodes {
            c.add(reg);
        }
        for spec in jobs {
            c.submit(spec);
        }
        for event in events {
            match event {
                Event::Silence(i) => { c.silent.insert(node_id(&format!("n{i}"))); }
                Event::Revive(i) => { c.silent.remove(&node_id(&format!("n{i}"))); }
                Event::Advance(ms) => c.advance(ms),
                Event::Drain(i) => { let _ = c.apply(CommandKind::DrainNode { node: node_id(&format!("n{i}")), enable: true }); }
                Event::Finish(pick, ok) => {
                    let running: Vec<_> = c.state.allocs().filter(|a| a.status == AllocStatus::Running).map(|a| (a.id, a.node.clone())).collect();
                    if !running.is_empty() {
                        let (id, node) = &running[pick.index(running.len())];
                        let status = if ok { AllocStatus::Complete } else { AllocStatus::Failed };
                        let _ = c.report(*id, node, status, Some(i32::from(!ok)));
                    }
                }
            }
            c.heartbeat();
            let cycle = plan_cycle(&c.state, c.now_ms, &c.config, c.leadership, c.scheduler);
            for command in cycle.commands {
                if let Ok(Success::Plan(result)) = c.apply(command) {
                    check_placements(&c.state, &result.placed)?;
                }
                check_invariants(&c.state)?;
            }
            c.workers();
        }
    }

    /// The leader looks only at jobs something happened to; `cycle` checks
    /// on every turn that a turn over the skipped jobs would act on none.
    /// Random silences, revivals, drains, exits, job updates and time.
    #[test]
    fn turns_skip_only_jobs_with_nothing_to_do((nodes, jobs, events, _) in world()) {
        let mut c = Cluster::new();
        c.config.decision_interval_ms = 1_000;
        for reg in nodes {
            c.add(reg);
        }
        let specs = jobs.clone();
        for spec in jobs {
            c.submit(spec);
        }
        for (step, event) in events.into_iter().enumerate() {
            match event {
                Event::Silence(i) => { c.silent.insert(node_id(&format!("n{i}"))); }
                Event::Revive(i) => { c.silent.remove(&node_id(&format!("n{i}"))); }
                Event::Advance(ms) => c.advance(ms),
                Event::Drain(i) => { let _ = c.apply(CommandKind::DrainNode { node: node_id(&format!("n{i}")), enable: step % 2 == 0 }); }
                Event::Finish(pick, ok) => {
                    let running: Vec<_> = c.state.allocs().filter(|a| a.status == AllocStatus::Running).map(|a| (a.id, a.node.clone())).collect();
                    if running.is_empty() {
                        if let Some(spec) = specs.get(pick.index(specs.len().max(1))) {
                            let mut changed = spec.clone();
                            changed.task.resources.memory_mb += 1;
                            let _ = c.apply(CommandKind::UpdateJob { spec: changed, expected_version: None });
                        }
                    } else {
                        let (id, node) = &running[pick.index(running.len())];
                        let status = if ok { AllocStatus::Complete } else { AllocStatus::Failed };
                        let _ = c.report(*id, node, status, Some(i32::from(!ok)));
                    }
                }
            }
            c.heartbeat();
            c.cycle();
            c.workers();
            c.cycle();
        }
    }

    #[test]
    fn the_same_state_gives_the_same_plan((nodes, jobs, events, _) in world()) {
        let mut c = Cluster::new();
        for reg in nodes {
            c.add(reg);
        }
        for spec in jobs {
            c.submit(spec);
        }
        for event in events.into_iter().take(10) {
            if let Event::Advance(ms) = event {
                c.advance(ms);
            }
            c.settle(1);
            let first = plan_cycle(&c.state, c.now_ms, &c.config, c.leadership, c.scheduler);
            let again = plan_cycle(&c.state, c.now_ms, &c.config, c.leadership, c.scheduler);
            let restored = ClusterState::restore(&c.state.snapshot()).unwrap();
            let replica = plan_cycle(&restored, c.now_ms, &c.config, c.leadership, c.scheduler);
            prop_assert_eq!(&first.commands, &again.commands);
            prop_assert_eq!(&first.commands, &replica.commands);
            prop_assert_eq!(&first.pending, &replica.pending);
        }
    }
}

#[test]
fn exhaustive_and_sampled_candidates_both_fill_a_cluster() {
    for limit in [
        drover_core::scheduler::CandidateLimit::Sampled,
        drover_core::scheduler::CandidateLimit::Exhaustive,
    ] {
        let mut c = Cluster::new();
        c.scheduler = SchedulerConfig {
            algorithm: Algorithm::BinPack,
            limit,
        };
        c.add_nodes(10, "eu", 1000, 1024);
        c.submit(common::service("fill", 20, 500, 512));
        c.settle(5);
        assert_eq!(
            c.running("fill"),
            20,
            "{limit:?}: exactly fills 10 nodes of 2 slots"
        );
        assert!(c.last_cycle.pending.is_empty());
        let _ = job_id("fill");
    }
}
