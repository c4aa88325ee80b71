//! Regions of their own, federated (`scenario::federated`): 2, 3 and 4
//! regions, one cut off from the others while it loses a node, another
//! lost whole in some seeds. Each seed runs in its own process, as the
//! swarm runs them; CI's swarm runs many more.

#![cfg(madsim)]

use drover_sim::isolated::Runner;
use drover_sim::knobs::Knobs;

fn federated_seeds_pass(regions: u64) {
    let runner = Runner::with_binary(env!("CARGO_BIN_EXE_drover-sim"));
    for seed in 0..15 {
        let mut knobs = Knobs::from_seed(seed);
        knobs.federated = regions;
        let verdict = runner.run(&knobs);
        assert_eq!(verdict.failure, None, "seed {seed}, {regions} regions");
        // The whole safety phase ran: the cut, the lost node and the heal.
        assert!(
            verdict.virtual_time.as_secs() >= knobs.safety_phase_s,
            "seed {seed}: ended at {:?}",
            verdict.virtual_time
        );
    }
}

#[test]
fn two_regions_keep_working_alone() {
    federated_seeds_pass(2);
}

#[test]
fn three_regions_keep_working_alone() {
    federated_seeds_pass(3);
}

#[test]
fn four_regions_keep_working_alone() {
    federated_seeds_pass(4);
}
