//! A service never runs more than `replicas + max_parallel` instances,
//! not counting copies on nodes cut off, halted or judged disconnected —
//! DESIGN.md §4: services keep `replicas` instances running; a rollout or
//! a drain runs at most `max_parallel` new instances beside the old ones
//! (docs/decisions/0008); and while a node is only disconnected its
//! allocations are replaced, and when it returns the surplus is stopped
//! once the kept ones run — so copies on a node the faults cut off or
//! halted, or that the control plane judged disconnected (its heartbeats
//! late, though the network let them through), are allowed until shortly
//! after it returns. A client that stops a service and submits it again
//! gets the new version placed at once while the stopped instances wind
//! down (docs/decisions/0014, as Nomad and Kubernetes do): from the stop
//! until the stop bound after the resubmission, the stopped version and
//! the new one may each run that many, so the bound doubles. Extra copies
//! anywhere else are two instances doing one instance's work, the double
//! running nomad #10953 and #18077 are about. Checked against what the simulated
//! executors really run, at every start of one of the service's tasks.

use drover_core::JobId;

use super::{STOP_BOUND_MS, Violation};
use crate::history::{Call, Op};
use crate::knobs::DECISION_INTERVAL_MS;
use crate::reality::{Service, TaskRun};

/// How long after a node's cut, halt or judged disconnection ends its
/// copies still do not count: a decision interval for the leader to mark
/// it ready again, another for the kept instance of each pair to run
/// (DESIGN.md §4 stops the surplus only then), and the stop bound for the
/// worker to hear of the stop and carry it out.
pub const REJOIN_GRACE_MS: u64 = STOP_BOUND_MS + 2 * DECISION_INTERVAL_MS;

/// At `at_ms`, `job` runs at most `replicas + max_parallel` tasks on
/// nodes outside every (node, from, to) window of `excused` — cut off
/// from every quorum, halted, or judged not ready by the control plane —
/// and its `REJOIN_GRACE_MS` after; twice that while a client's stop in
/// `calls` winds the job down beside its resubmission (`winding_down`).
pub fn service_within_bound(
    job: &JobId,
    service: Service,
    runs: &[TaskRun],
    excused: &[(u64, u64, u64)],
    calls: &[Call],
    at_ms: u64,
) -> Result<(), Violation> {
    let excused_now = |node: u64| {
        excused.iter().any(|(n, from, to)| {
            *n == node && *from <= at_ms && at_ms < to.saturating_add(REJOIN_GRACE_MS)
        })
    };
    let (aside, counted): (Vec<&TaskRun>, Vec<&TaskRun>) = runs
        .iter()
        .filter(|r| &r.job == job && r.runs_at(at_ms))
        .partition(|r| excused_now(r.node));
    let versions = if winding_down(job, calls, at_ms) {
        2
    } else {
        1
    };
    let bound = versions * (service.replicas + service.max_parallel);
    if counted.len() as u64 <= bound {
        return Ok(());
    }
    let instances: Vec<String> = counted
        .iter()
        .map(|r| format!("{} on node-{} since {} ms", r.alloc, r.node, r.started_ms))
        .collect();
    Err(Violation {
        invariant: "a service runs at most replicas + max_parallel instances",
        detail: format!(
            "{job} runs {} instances at {at_ms} ms ({}; {} more on nodes cut off, halted or judged disconnected within {REJOIN_GRACE_MS} ms), bound: {versions} × (replicas {} + max_parallel {})",
            counted.len(),
            instances.join(", "),
            aside.len(),
            service.replicas,
            service.max_parallel
        ),
    })
}

/// Whether `at_ms` falls between a client's call to stop `job` and
/// `REJOIN_GRACE_MS` after the later of that stop's return and the return
/// of the first submission of the job called after it: the stop's
/// instances, placed before it, may still be starting and stopping while
/// the resubmission places the new version (decision 0014). How long a
/// stop may take is `stopped_jobs_stop`'s to judge.
fn winding_down(job: &JobId, calls: &[Call], at_ms: u64) -> bool {
    let of_job = |c: &&Call| c.target == job.as_str();
    calls
        .iter()
        .filter(of_job)
        .filter(|c| c.op == Op::Stop && c.invoked_ms <= at_ms)
        .any(|stop| {
            let resubmitted = calls
                .iter()
                .filter(of_job)
                .filter(|c| matches!(c.op, Op::Submit { .. }) && c.invoked_ms >= stop.invoked_ms)
                .map(|c| c.returned_ms)
                .min()
                .unwrap_or(0);
            at_ms
                < stop
                    .returned_ms
                    .max(resubmitted)
                    .saturating_add(REJOIN_GRACE_MS)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(node: u64, from: u64, to: u64) -> TaskRun {
        TaskRun::example(node, "svc", from, to)
    }

    #[test]
    fn a_copy_beyond_the_surge_is_caught_unless_its_node_was_cut_off() {
        let job = JobId::new("svc").unwrap();
        let service = Service {
            replicas: 2,
            max_parallel: 1,
        };
        let runs = [run(1, 0, 90_000), run(2, 0, 90_000), run(3, 100, 90_000)];
        assert!(service_within_bound(&job, service, &runs, &[], &[], 10_000).is_ok());
        let four = [runs.as_slice(), &[run(4, 10_000, 90_000)]].concat();
        assert!(service_within_bound(&job, service, &four, &[], &[], 10_000).is_err());
        let lately = [(2, 0, 10_000 - REJOIN_GRACE_MS + 1)];
        assert!(service_within_bound(&job, service, &four, &lately, &[], 10_000).is_ok());
        let long_ago = [(2, 0, 10_000 - REJOIN_GRACE_MS)];
        assert!(service_within_bound(&job, service, &four, &long_ago, &[], 10_000).is_err());
        let other = [
            runs.as_slice(),
            &[TaskRun::example(4, "web", 10_000, 90_000)],
        ]
        .concat();
        assert!(service_within_bound(&job, service, &other, &[], &[], 10_000).is_ok());
    }

    fn call(op: Op, invoked_ms: u64, returned_ms: u64) -> Call {
        Call::example(op, invoked_ms, returned_ms)
    }

    #[test]
    fn a_stopped_version_winds_down_beside_its_resubmission() {
        let job = JobId::new("svc").unwrap();
        let service = Service {
            replicas: 2,
            max_parallel: 1,
        };
        // Version 1 is stopped (called at 1,000 ms, done at 2,000 ms) and
        // version 2 submitted (1,200–2,700 ms); version 1's instances,
        // placed before the stop, start late on nodes 1 and 2 and version
        // 2's on nodes 3 and 4.
        let runs: Vec<TaskRun> = [1, 2, 3, 4]
            .into_iter()
            .map(|node| run(node, 2_400 + node, 90_000))
            .collect();
        let stopped_and_resubmitted = [
            call(Op::Stop, 1_000, 2_000),
            call(Op::Submit { revision: 1 }, 1_200, 2_700),
        ];
        let judged =
            |at| service_within_bound(&job, service, &runs, &[], &stopped_and_resubmitted, at);
        assert!(service_within_bound(&job, service, &runs, &[], &[], 2_500).is_err());
        assert!(judged(2_500).is_ok());
        assert!(judged(2_700 + REJOIN_GRACE_MS - 1).is_ok());
        // Past the stop bound, an old instance still running is one too many.
        assert!(judged(2_700 + REJOIN_GRACE_MS).is_err());
        // Even while it winds down, each version stays within its bound.
        let seven: Vec<TaskRun> = (1..=7).map(|node| run(node, 2_400, 90_000)).collect();
        let seven_judged =
            service_within_bound(&job, service, &seven, &[], &stopped_and_resubmitted, 2_500);
        assert!(seven_judged.is_err());
    }
}
