//! `reconcile` time for 10k services (30k running allocations on 1k nodes)
//! in the steady state, where a leader spends most of its passes.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use drover_benches::{NOW_MS, steady_cluster};
use drover_core::reconcile::{Leadership, ReconcileConfig, reconcile};

fn steady_state(c: &mut Criterion) {
    let state = steady_cluster(1_000, 10_000, 3);
    let config = ReconcileConfig::default();
    let pass = reconcile(&state, NOW_MS + 1, &config, Leadership::default());
    assert!(pass.is_empty(), "the fixture is converged: {pass:?}");
    let mut group = c.benchmark_group("reconcile");
    group.sample_size(20);
    group.bench_function("10k_jobs_30k_allocs_1k_nodes", |b| {
        b.iter(|| {
            reconcile(
                black_box(&state),
                NOW_MS + 1,
                &config,
                Leadership::default(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, steady_state);
criterion_main!(benches);
