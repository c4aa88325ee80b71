//! `apply` throughput for plan commands: a plan of 100 placements applied to
//! a 10k-node cluster, each placement re-checked against committed state.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use drover_benches::{Log, NOW_MS, cluster, service};
use drover_core::scheduler::{Scheduler, SchedulerConfig, seed_for};
use drover_core::state::{Placement, Plan};
use drover_core::{Command, CommandKind};

const PLAN_SIZE: u32 = 100;

fn apply_plan(c: &mut Criterion) {
    let mut log = Log::new(cluster(10_000, 4));
    let job = service("web", PLAN_SIZE, false);
    log.apply(CommandKind::SubmitJob(job.clone()));
    let state = log.state;
    let placed = Scheduler::new(&state, SchedulerConfig::default()).place(
        &job,
        PLAN_SIZE,
        seed_for(&job.id, state.index()),
    );
    let plan = Plan {
        based_on_index: Some(state.index()),
        stops: Vec::new(),
        placements: placed
            .nodes
            .into_iter()
            .map(|node| Placement {
                job: job.id.clone(),
                job_version: 1,
                node,
                previous: None,
            })
            .collect(),
    };
    let next = state.index() + 1;
    let mut group = c.benchmark_group("apply_plan");
    group.throughput(Throughput::Elements(u64::from(PLAN_SIZE)));
    group.bench_function("100_placements_10k_nodes", |b| {
        b.iter_batched(
            || {
                (
                    state.clone(),
                    Command::new(NOW_MS, CommandKind::ApplyPlan(plan.clone())),
                )
            },
            |(mut state, command)| {
                let response = state.apply(next, command);
                assert!(response.is_ok());
                state
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, apply_plan);
criterion_main!(benches);
