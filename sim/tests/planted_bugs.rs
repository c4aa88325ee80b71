//! Proof that the simulator bites: with a bug planted, some seed in a
//! small block must fail an invariant; without it, the same block passes.

#![cfg(madsim)]

use drover_sim::cli::run_knobs;
use drover_sim::knobs::Knobs;

const SEEDS: std::ops::Range<u64> = 0..40;

fn failures(lying_fsync: bool) -> Vec<(u64, String)> {
    SEEDS
        .filter_map(|seed| {
            let mut knobs = Knobs::from_seed(seed);
            knobs.bugs.lying_fsync = lying_fsync;
            run_knobs(knobs).failure.map(|f| (seed, f))
        })
        .collect()
}

#[test]
fn a_disk_that_lies_about_fsync_is_caught_within_40_seeds() {
    let caught = failures(true);
    assert!(
        !caught.is_empty(),
        "no seed in {SEEDS:?} noticed a disk that never fsyncs"
    );
    eprintln!(
        "caught by {} of {} seeds, first: {:?}",
        caught.len(),
        SEEDS.end,
        caught[0]
    );
}

#[test]
fn the_same_seeds_pass_on_an_honest_disk() {
    assert_eq!(failures(false), Vec::<(u64, String)>::new());
}
