//! Placements per second: one job of 1,000 allocations on clusters of 1k,
//! 10k and 100k nodes, bin-pack and spread, against round-robin (node
//! `i % n`) in the same run, and against ranking every node (`exhaustive`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use drover_benches::{cluster, round_robin, service};
use drover_core::scheduler::{CandidateLimit, Scheduler, SchedulerConfig, seed_for};

const PLACEMENTS: u32 = 1_000;

fn placements(c: &mut Criterion) {
    let mut group = c.benchmark_group("place_1000");
    group.throughput(Throughput::Elements(u64::from(PLACEMENTS)));
    group.sample_size(20);
    for nodes in [1_000, 10_000, 100_000] {
        let state = cluster(nodes, 4);
        let plain = service("web", PLACEMENTS, false);
        let spread = service("web", PLACEMENTS, true);
        let seed = seed_for(&plain.id, state.index());
        let sampled = SchedulerConfig::default();
        group.bench_with_input(BenchmarkId::new("binpack", nodes), &nodes, |b, _| {
            b.iter(|| {
                let placed =
                    Scheduler::new(&state, sampled).place(black_box(&plain), PLACEMENTS, seed);
                assert_eq!(placed.nodes.len(), PLACEMENTS as usize);
                placed
            });
        });
        group.bench_with_input(BenchmarkId::new("spread", nodes), &nodes, |b, _| {
            b.iter(|| {
                let placed =
                    Scheduler::new(&state, sampled).place(black_box(&spread), PLACEMENTS, seed);
                assert_eq!(placed.nodes.len(), PLACEMENTS as usize);
                placed
            });
        });
        group.bench_with_input(BenchmarkId::new("round_robin", nodes), &nodes, |b, _| {
            b.iter(|| {
                let placed = round_robin(&state, black_box(&plain), PLACEMENTS);
                assert_eq!(placed.len(), PLACEMENTS as usize);
                placed
            });
        });
        if nodes <= 10_000 {
            let exhaustive = SchedulerConfig {
                limit: CandidateLimit::Exhaustive,
                ..SchedulerConfig::default()
            };
            group.bench_with_input(
                BenchmarkId::new("binpack_exhaustive", nodes),
                &nodes,
                |b, _| {
                    b.iter(|| {
                        Scheduler::new(&state, exhaustive).place(
                            black_box(&plain),
                            PLACEMENTS,
                            seed,
                        )
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, placements);
criterion_main!(benches);
