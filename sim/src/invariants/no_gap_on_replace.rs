//! A stop never leaves a service with fewer instances running than it had
//! before, up to its replicas — DESIGN.md §4: a returning node's surplus
//! is stopped only *after* the kept ones run, and the same holds for an
//! update or a drain: the instance kept in the stopped one's place runs
//! first (nomad #10953, where a reconnecting client's healthy allocations
//! were stopped before their replacements ran; docs/decisions/0008).
//! Counted from what the simulated executors really ran around every stop
//! a worker made; a task that ended by itself or died with its machine was
//! not stopped and is not checked. Judged at the end, against the clients'
//! whole history: a client's stop may take effect before its call returns.
//!
//! A stop is *covered* when the instance paired with the stopped one ran
//! before it: its replacement (an update's, a drain's), or the original
//! it had replaced (a returning node's copy), started on an executor and
//! either runs at that instant or ended without a stop — died with its
//! machine or exited by itself after the control plane had seen it run.
//! A worker out of touch may carry out a stop seconds after the control
//! plane decided it, and the partner's machine may die meanwhile; the
//! decision was right when made. A partner that never ran, or that was
//! itself stopped before, leaves the stop uncovered. Which allocation is
//! paired with which is the control plane's record (`previous`); whether
//! and how it ran is what the executors did. A covered stop may leave the
//! count below the replicas when another slot is empty for its own
//! reasons: the pair it resolved was whole.

use std::collections::BTreeSet;

use super::Violation;
use crate::history::{Call, Op};
use crate::reality::{ServiceStop, TaskRun};

/// Every stop in `stops` left its service at least `min(replicas, count
/// before the stop)` running — unless it was covered (`pairs`: every
/// (replacement, previous) allocation the control plane recorded), a
/// client had asked to stop the job by then (`calls`), or the stop was one
/// of a worker's that lost contact.
pub fn no_gap_on_replace(
    stops: &[ServiceStop],
    runs: &[TaskRun],
    pairs: &BTreeSet<(String, String)>,
    calls: &[Call],
) -> Result<(), Violation> {
    let job_stopped = |stop: &ServiceStop| {
        calls.iter().any(|c| {
            c.op == Op::Stop && c.target == stop.job.as_str() && c.invoked_ms <= stop.at_ms
        })
    };
    let gap = stops.iter().find(|s| {
        s.after < s.replicas.min(s.before)
            && !covered(s, stops, runs, pairs)
            && !job_stopped(s)
            && !node_emptied(s, runs)
    });
    match gap {
        None => Ok(()),
        Some(stop) => Err(Violation {
            invariant: "a stop never leaves a service fewer instances than before",
            detail: format!(
                "{} ({}) was stopped on node-{} at {} ms: {} of its instances ran before, {} after (bound: at least min(replicas {}, before)); the allocation paired with it was not running, no client had stopped the job and the node kept running other work",
                stop.alloc, stop.job, stop.node, stop.at_ms, stop.before, stop.after, stop.replicas
            ),
        }),
    }
}

/// Whether the allocation paired with the stopped one ran before it was
/// stopped, and was not stopped itself before.
fn covered(
    stop: &ServiceStop,
    stops: &[ServiceStop],
    runs: &[TaskRun],
    pairs: &BTreeSet<(String, String)>,
) -> bool {
    let stopped = stop.alloc.to_string();
    let partners: Vec<&String> = pairs
        .iter()
        .filter_map(|(replacement, previous)| {
            if *replacement == stopped {
                Some(previous)
            } else if *previous == stopped {
                Some(replacement)
            } else {
                None
            }
        })
        .collect();
    let was_stopped = |r: &TaskRun| {
        stops
            .iter()
            .any(|s| s.node == r.node && s.alloc == r.alloc && s.at_ms == r.ends_ms)
    };
    runs.iter().any(|r| {
        r.job == stop.job
            && partners.contains(&&r.alloc.to_string())
            && r.started_ms <= stop.at_ms
            && (r.runs_at(stop.at_ms) || !was_stopped(r))
    })
}

/// Whether `stop` emptied its node: what a worker that lost contact does
/// (DESIGN.md §4, docs/decisions/0007) — it stops every task at once,
/// whether the faults cut it off, halted it, or left the control plane
/// unable to commit its heartbeats, which no view of the network shows.
/// The control plane's stops move one allocation at a time, so a stop
/// that leaves the node running something (a replacement started there
/// included) is the control plane's. A stop of a node's only task cannot
/// be told apart and is not checked.
fn node_emptied(stop: &ServiceStop, runs: &[TaskRun]) -> bool {
    !runs
        .iter()
        .any(|r| r.node == stop.node && r.runs_at(stop.at_ms))
}

#[cfg(test)]
mod tests {
    use drover_core::{AllocId, JobId};

    use super::*;
    use crate::history::Outcome;

    fn stop(node: u64, at_ms: u64, before: u64) -> ServiceStop {
        ServiceStop {
            node,
            alloc: AllocId(1),
            job: JobId::new("svc").unwrap(),
            at_ms,
            before,
            after: before - 1,
            replicas: 3,
        }
    }

    #[test]
    fn a_stop_below_the_count_before_is_caught_unless_the_node_emptied_or_the_job_stopped() {
        let other_work = [TaskRun::example(2, "job-1", 0, 90_000)];
        let check = |stops: &[ServiceStop], runs: &[TaskRun], calls: &[Call]| {
            no_gap_on_replace(stops, runs, &BTreeSet::new(), calls).is_ok()
        };
        assert!(check(&[stop(2, 20_000, 4)], &other_work, &[]));
        let gap = [stop(2, 20_000, 3)];
        assert!(!check(&gap, &other_work, &[]));
        assert!(!check(&[stop(2, 20_000, 2)], &other_work, &[]));
        assert!(check(&gap, &[], &[]), "the worker stopped everything");
        let elsewhere = [TaskRun::example(3, "job-1", 0, 90_000)];
        assert!(check(&gap, &elsewhere, &[]));
        let stop_call = |invoked_ms| Call {
            client: 0,
            op: Op::Stop,
            target: "svc".into(),
            invoked_ms,
            returned_ms: 30_000,
            outcome: Outcome::Unknown,
        };
        assert!(check(&gap, &other_work, &[stop_call(19_000)]));
        assert!(!check(&gap, &other_work, &[stop_call(21_000)]));
    }

    fn instance(alloc: u64, node: u64, from: u64, to: u64) -> TaskRun {
        TaskRun {
            alloc: AllocId(alloc),
            ..TaskRun::example(node, "svc", from, to)
        }
    }

    /// A service of 3 short of one slot (its third instance is elsewhere
    /// and not running): old instance 1 is stopped for an update, on a
    /// node that runs other work too; instance 3 replaces it.
    #[test]
    fn a_stop_whose_partner_already_runs_is_covered_and_one_before_it_runs_is_not() {
        let stopped_at = |replacement_from: u64| {
            [
                instance(1, 2, 0, 20_000),
                instance(2, 3, 0, 90_000),
                instance(3, 3, replacement_from, 90_000),
                TaskRun::example(2, "job-1", 0, 90_000),
            ]
        };
        let the_stop = ServiceStop {
            alloc: AllocId(1),
            ..stop(2, 20_000, 3)
        };
        let paired = |replacement: u64| {
            BTreeSet::from([(AllocId(replacement).to_string(), AllocId(1).to_string())])
        };
        let check = |runs: &[TaskRun], pairs: &BTreeSet<(String, String)>| {
            no_gap_on_replace(std::slice::from_ref(&the_stop), runs, pairs, &[]).is_ok()
        };
        assert!(
            check(&stopped_at(19_000), &paired(3)),
            "create before destroy"
        );
        assert!(
            !check(&stopped_at(21_000), &paired(3)),
            "destroy before create"
        );
        assert!(
            !check(&stopped_at(19_000), &paired(4)),
            "its partner never ran"
        );
        // The partner ran, then died with its machine before the stop
        // was carried out: the stop was decided while it ran.
        let died = [
            instance(1, 2, 0, 20_000),
            instance(2, 3, 0, 90_000),
            instance(3, 4, 15_000, 18_000),
            TaskRun::example(2, "job-1", 0, 90_000),
        ];
        assert!(check(&died, &paired(3)), "the partner died after it ran");
        // The same partner stopped by the control plane at 18 s: two
        // stops of one pair leave the slot empty.
        let both_stopped = [
            ServiceStop {
                alloc: AllocId(3),
                ..stop(4, 18_000, 3)
            },
            the_stop.clone(),
        ];
        assert!(
            no_gap_on_replace(&both_stopped, &died, &paired(3), &[]).is_err(),
            "the partner was stopped first"
        );
    }
}
