//! Proof that the simulator bites: with a bug planted, a seed in a small
//! block must fail the invariant meant to catch it (a failure of any other
//! kind, a panic included, does not count), and shrinking must keep that
//! failure; without bugs, the same block passes. Each seed runs in its own
//! process, as the swarm runs them.

#![cfg(madsim)]

use drover_sim::isolated::Runner;
use drover_sim::knobs::{Knobs, PlantedBugs};
use drover_sim::shrink::shrink_knobs;

const SEEDS: std::ops::Range<u64> = 0..50;

fn runner() -> Runner {
    Runner::with_binary(env!("CARGO_BIN_EXE_drover-sim"))
}

fn planted(seed: u64, bug: &str) -> Knobs {
    let mut knobs = Knobs::from_seed(seed);
    knobs.bugs = PlantedBugs::parse(bug).unwrap();
    knobs
}

/// The first seed in `SEEDS` that fails with `bug` planted one of
/// `invariants`, and how.
fn first_caught(bug: &str, invariants: &[&str]) -> (u64, String) {
    first_caught_in(SEEDS, bug, invariants)
}

/// The first seed in `seeds` that fails with `bug` planted one of
/// `invariants`, and how.
fn first_caught_in(seeds: std::ops::Range<u64>, bug: &str, invariants: &[&str]) -> (u64, String) {
    let runner = runner();
    seeds
        .clone()
        .into_iter()
        .find_map(|seed| {
            let failure = runner.run(&planted(seed, bug)).failure?;
            invariants
                .iter()
                .any(|i| failure.starts_with(i))
                .then_some((seed, failure))
        })
        .unwrap_or_else(|| panic!("no seed in {seeds:?} caught {bug} by one of {invariants:?}"))
}

fn caught_by(bug: &str, invariants: &[&str]) {
    let (seed, failure) = first_caught(bug, invariants);
    eprintln!("{bug}: caught by seed {seed}: {failure}");
}

#[test]
fn a_disk_that_lies_about_fsync_is_caught_within_50_seeds() {
    // Lost writes show as a forgotten vote (two leaders in a term), logs or
    // replicas that disagree, a lost acknowledgement, or Raft itself
    // refusing a log that went backwards.
    caught_by(
        "lying-fsync",
        &[
            "one leader per term",
            "committed log prefixes agree",
            "replica digests agree",
            "no acknowledged submission lost",
        ],
    );
}

#[test]
fn acknowledging_before_commit_is_caught_within_50_seeds() {
    caught_by("ack-before-commit", &["no acknowledged submission lost"]);
}

#[test]
fn skipping_the_capacity_check_is_caught_within_50_seeds() {
    caught_by("skip-capacity-check", &["no node over capacity"]);
}

#[test]
fn ignoring_constraints_is_caught_within_50_seeds() {
    caught_by("ignore-constraints", &["placements satisfy constraints"]);
}

#[test]
fn unpaced_liveness_decisions_are_caught_within_50_seeds() {
    caught_by("unpaced-liveness", &["no mass eviction"]);
}

#[test]
fn a_worker_that_takes_poll_answers_for_contact_is_caught_within_50_seeds() {
    caught_by(
        "stale-contact",
        &["nothing runs on a node cut off from every quorum"],
    );
}

#[test]
fn a_log_that_takes_a_damaged_length_for_a_torn_write_is_caught_within_50_seeds() {
    caught_by(
        "length-as-torn",
        &["damaged logs are refused, never served or cut"],
    );
}

#[test]
fn reads_served_from_a_cut_off_replica_are_caught_within_50_seeds() {
    caught_by("stale-reads", &["the clients' history is linearizable"]);
}

/// Rarer than the others: the gap opens only when the old instance's
/// worker carries out its stop before the new one's worker starts the
/// replacement, a race between two polls, and only seeds with an update
/// have one (6 of seeds 0..200 on the build this was written for, the
/// first at 69). A block of 50 missed it by chance whenever the
/// interleavings shifted, so it gets 200.
#[test]
fn an_update_that_stops_before_its_replacement_runs_is_caught_within_200_seeds() {
    let (seed, failure) = first_caught_in(
        0..200,
        "destroy-before-create",
        &["a stop never leaves a service fewer instances than before"],
    );
    eprintln!("destroy-before-create: caught by seed {seed}: {failure}");
}

#[test]
fn shrinking_keeps_the_failure_and_drops_what_does_not_matter() {
    let (seed, _) = first_caught("unpaced-liveness", &["no mass eviction"]);
    let original = planted(seed, "unpaced-liveness");
    let (failure, smallest) = shrink_knobs(&runner(), original.clone()).expect("it fails");
    assert!(failure.starts_with("no mass eviction"), "{failure}");
    assert!(
        smallest.faults.len() < original.faults.len()
            || smallest.jobs < original.jobs
            || smallest.workers < original.workers
            || smallest.services < original.services,
        "nothing was removed from {original}"
    );
    let again = runner().run(&smallest);
    assert_eq!(
        again.failure,
        Some(failure),
        "the reproducer fails the same way"
    );
}

#[test]
fn the_same_seeds_pass_without_bugs() {
    let runner = runner();
    let failures: Vec<(u64, String)> = SEEDS
        .filter_map(|seed| {
            runner
                .run(&Knobs::from_seed(seed))
                .failure
                .map(|f| (seed, f))
        })
        .collect();
    assert_eq!(failures, Vec::<(u64, String)>::new());
}

/// Federated regions (`--set federated=2`): a node that serves a request
/// itself when it names another region runs that region's work.
#[test]
fn a_node_that_ignores_the_region_named_is_caught_within_10_federated_seeds() {
    let runner = runner();
    let (seed, failure) = (0..10)
        .find_map(|seed| {
            let mut knobs = planted(seed, "ignore-region");
            knobs.federated = 2;
            let failure = runner.run(&knobs).failure?;
            failure
                .starts_with("work stays in its region")
                .then_some((seed, failure))
        })
        .expect("no seed in 0..10 caught ignore-region by \"work stays in its region\"");
    eprintln!("ignore-region: caught by seed {seed}: {failure}");
}

#[test]
fn placements_that_ignore_held_ports_are_caught_within_50_seeds() {
    caught_by("ignore-held-ports", &["no port held twice on a node"]);
}
