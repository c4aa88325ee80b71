//! Same seed, same build: the same trace, byte for byte.

#![cfg(madsim)]

use drover_sim::cli::run_seed;

#[test]
fn a_seed_replays_to_the_same_trace_bytes() {
    for seed in [3, 42] {
        let first = run_seed(seed);
        let second = run_seed(seed);
        assert!(first.failure.is_none(), "seed {seed}: {:?}", first.failure);
        assert!(first.trace.lines().count() > 5, "a trace with events");
        assert_eq!(first.trace, second.trace, "seed {seed} diverged");
    }
}
