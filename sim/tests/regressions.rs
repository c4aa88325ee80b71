//! Seeds that once failed, kept passing. The fault schedule, topology and
//! workload are drawn from the seed before anything runs, so a seed keeps
//! its shape from build to build even where its interleavings change.
//! Each runs in its own process, as the swarm runs them.

#![cfg(madsim)]

use drover_sim::isolated::Runner;
use drover_sim::knobs::Knobs;

fn passes(seed: u64) {
    let runner = Runner::with_binary(env!("CARGO_BIN_EXE_drover-sim"));
    let verdict = runner.run(&Knobs::from_seed(seed));
    assert_eq!(verdict.failure, None, "seed {seed}");
}

/// A leader paused while committing its own plan was elected again after
/// the heal; Raft never answered that proposal, and the leader's loop,
/// waiting on it without a bound, placed nothing for the rest of the run.
#[test]
fn a_leader_whose_plan_was_never_answered_keeps_planning() {
    passes(110);
}

/// A node list read from a lagging replica showed a node ready after the
/// leader had judged it disconnected and replaced its work; the observer
/// dated that list by its arrival and called the replacements surplus.
#[test]
fn node_lists_are_dated_from_when_they_were_asked_for() {
    passes(261_708_638);
}

/// An update's old instance was stopped by a worker out of touch 4.5 s
/// after the control plane had decided it, once the new instance ran; the
/// new one's machine had died meanwhile, and the invariant, which looked
/// only at the instant of the stop, called the stop a gap.
#[test]
fn a_stop_carried_out_late_is_judged_by_what_ran_before_it() {
    passes(197);
}

/// A seed whose leader kept changing answered the observer no
/// linearizable node list for its first 30 s, while a worker was judged
/// disconnected and ready again; the first list showed it ready, and the
/// replacements placed meanwhile were called surplus. A node first seen
/// with a status changed since it registered now counts as judged not
/// ready at some instant before.
#[test]
fn a_status_change_before_the_first_node_list_is_not_missed() {
    passes(207_137_139);
}

/// A client stopped a service and submitted it again; the new version was
/// placed at once, as a new job is, while the stopped version's three
/// instances, placed before the stop and started just after it, were
/// still being stopped by their worker; the instance bound counted both
/// versions against one version's bound (docs/decisions/0014).
#[test]
fn a_stopped_service_winds_down_beside_its_resubmission() {
    passes(129_893_454);
}

/// A worker cut off past `max_disconnect` stopped its tasks; when the
/// network healed, its node's heartbeat committed before the reports of
/// those stops, and no liveness decision had been taken meanwhile (the
/// leader kept changing). The control plane, taking the stopped instance
/// for running, kept it as the original of a reconnect pair and stopped
/// the replacement that did run. Heartbeats now wait while the worker
/// owes reports.
#[test]
fn a_heartbeat_never_goes_before_the_reports_a_worker_owes() {
    passes(244_909_497);
}

/// A node's log write failed (EIO) and its Raft stopped for good. In
/// production the agent exits and its supervisor starts it again; the
/// simulator kept the node up instead, its worker polling a replica that
/// no longer moved while its heartbeats, forwarded to the leader, kept it
/// ready — a batch job placed there stayed pending for ever. The node now
/// looks at Raft on a timer, the same code in both, and exits.
#[test]
fn a_node_whose_raft_stopped_exits_in_the_simulator_too() {
    passes(196_868_065);
}

/// A node cut off from every quorum had its log write fail; its agent
/// exited and started again while still cut off, and the new worker
/// counted its own start as contact: the machine's tasks, adopted, ran
/// 6 s past `max_disconnect`. The last contact is now recorded in the
/// data directory and the deadline carries over a restart.
#[test]
fn an_agent_restarted_while_cut_off_keeps_the_contact_deadline() {
    passes(161_811_385);
}

/// A voter's fsync failed (EIO); its agent exited and started again, and
/// the new process read the failed bytes back from the page cache, took
/// them for durable and wrote after them. At the next power cycle those
/// bytes were gone under durable records: the node refused to start for
/// good, and the service pinned to its region (it was the region's only
/// node) could never run again. The failure now records how much of the
/// log was durable, and the next start cuts the rest.
#[test]
fn a_restart_after_a_failed_fsync_does_not_build_on_the_failed_bytes() {
    for seed in [173_870_788, 173_870_871, 17_912_699] {
        passes(seed);
    }
}

/// A voter removed while cut off never hears of its removal: its replica
/// stops moving, it knows no leader, and it still answers. Every worker
/// asked it first: its polls, answered from where the replica stopped,
/// kept the workers waiting, and its "no leader" answer to their forwarded
/// reports was taken as final. Now a poll answer behind the index this
/// node's own commands committed at is stale and the next poll goes to
/// another control node, and a forward answered "not applied" by a node
/// that knows no leader is tried on the next.
#[test]
fn a_worker_given_a_stale_answer_polls_another_control_node() {
    passes(17_912_709);
}

/// Found once failed fsyncs were recorded: the record of one licensed a
/// start to cut the log before reading it, and a log damaged below the
/// recorded point was cut and then refused — changed. The cut now waits
/// until the rest is found sound.
#[test]
fn a_damaged_log_is_refused_untouched_after_a_failed_fsync() {
    for seed in [2_131_105, 2_131_190, 2_131_508] {
        passes(seed);
    }
}

/// A rollout halted by a failed allocation of the new version left an
/// allocation of the old version placed and pending; polls give workers
/// only the current version's task, so it never started and the service
/// ran one short for good. The worker now reports such an allocation
/// failed, and the reconciler places the current version in its slot.
/// (Starting it with its own version's task instead ran one instance more
/// than a rollout counts: seed 118198263.)
#[test]
fn an_old_version_allocation_that_cannot_start_is_replaced() {
    for seed in [2_131_195, 118_198_263] {
        passes(seed);
    }
}

/// The simulated disk let a torn crash keep bytes a failed fsync had
/// dropped, so "damage to a durable record" struck a record that was never
/// acknowledged — which the node, knowing its fsync failed, rightly cut.
/// A crash now keeps nothing past what a failed fsync dropped.
#[test]
fn damage_strikes_only_bytes_that_reached_the_disk() {
    passes(94_922_960);
}

/// The leader of two voters was asked to remove itself, appended its
/// removal, and then had its messages dropped; the other voter, which had
/// only the joint membership, campaigned for 26 s and took the leader's
/// vote away. The old leader, holding the longest log and a membership
/// without itself, refused every candidate and could stand for none
/// (openraft 0.9): no leader for the rest of the run. A leader now hands
/// leadership over before it is removed (`node/src/handover.rs`).
#[test]
fn a_leader_asked_to_remove_itself_hands_leadership_over_first() {
    passes(111_733_587);
}

/// A leader removing a voter committed the joint step and crashed; the
/// voter being removed was then elected under the joint membership, and
/// the next `cluster add` it served first moved to a membership without
/// itself and then, no longer a voter, proposed the second step: openraft
/// 0.9 panicked ("Only leader is allowed to call
/// update_effective_membership()"). Such a leader now finishes its own
/// removal and refuses the change (`node/src/membership.rs`).
#[test]
fn a_leader_elected_during_its_own_removal_finishes_it_first() {
    passes(220_194_399);
}

/// A worker cut off past max_disconnect stopped its task, and its node
/// crashed before the exit was committed; restarted, the node registered
/// at once, and the leader, trusting the "running" it still held for the
/// node, kept that allocation of a reconnect pair and stopped the
/// replacement, the service's only running instance. A restarted worker
/// now reports what became of its predecessor's tasks before the node
/// registers or heartbeats (`WorkerMachine::owes_reports`; the unit test
/// `a_restarted_worker_owes_what_its_predecessor_ran_until_it_is_committed`
/// pins the mechanism, which this seed's trace no longer reaches the same
/// way).
#[test]
fn a_restarted_node_reports_before_it_registers() {
    passes(400_533);
}
