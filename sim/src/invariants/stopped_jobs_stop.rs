//! A stopped job has nothing running once a stated bound has passed —
//! DESIGN.md §4: a stop is a committed change like any other, and every
//! worker carries it out when it hears of it; a worker that cannot hear
//! stops everything at `max_disconnect`. Checked against what the
//! simulated executors really ran after the client was told the stop was
//! done.

use super::{STOP_BOUND_MS, Violation};
use crate::history::{Call, Op, Outcome};
use crate::reality::TaskRun;

/// For every stop a client was told was done: from its return plus
/// `max_disconnect` + `STOP_BOUND_MS` until the job is next submitted (or
/// `end_ms`), no task of the job runs — except on a node that was down or
/// paused meanwhile (`halts`: node, from, to), whose tasks nothing could
/// stop.
pub fn stopped_jobs_run_nothing(
    calls: &[Call],
    runs: &[TaskRun],
    halts: &[(u64, u64, u64)],
    max_disconnect_ms: u64,
    end_ms: u64,
) -> Result<(), Violation> {
    let stops = calls
        .iter()
        .filter(|c| c.op == Op::Stop && c.outcome == Outcome::Acknowledged);
    for stop in stops {
        let from = stop.returned_ms + max_disconnect_ms + STOP_BOUND_MS;
        let until = calls
            .iter()
            .filter(|c| {
                matches!(c.op, Op::Submit { .. })
                    && c.target == stop.target
                    && c.invoked_ms > stop.invoked_ms
            })
            .map(|c| c.invoked_ms)
            .min()
            .unwrap_or(end_ms);
        if from >= until {
            continue;
        }
        let halted = |node: u64| {
            halts
                .iter()
                .any(|(n, h_from, h_to)| *n == node && *h_from < until && stop.invoked_ms < *h_to)
        };
        let still = runs.iter().find(|r| {
            r.job.as_str() == stop.target && r.runs_within(from, until) && !halted(r.node)
        });
        if let Some(run) = still {
            return Err(Violation {
                invariant: "a stopped job runs nothing",
                detail: format!(
                    "{} was stopped (done at {} ms), yet {} ran on node-{} from {} ms to {} ms (bound: max_disconnect {max_disconnect_ms} ms + {STOP_BOUND_MS} ms)",
                    stop.target,
                    stop.returned_ms,
                    run.alloc,
                    run.node,
                    run.started_ms,
                    run.ends_ms.min(until)
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(node: u64, from: u64, to: u64) -> TaskRun {
        TaskRun::example(node, "svc", from, to)
    }

    fn call(op: Op, invoked_ms: u64, returned_ms: u64) -> Call {
        Call::example(op, invoked_ms, returned_ms)
    }

    #[test]
    fn a_task_running_past_the_bound_is_caught_unless_its_node_was_halted_or_resubmitted() {
        let stop = [call(Op::Stop, 1_000, 2_000)];
        let late = [run(2, 0, 20_000)];
        assert!(stopped_jobs_run_nothing(&stop, &[run(2, 0, 14_000)], &[], 10_000, 60_000).is_ok());
        assert!(stopped_jobs_run_nothing(&stop, &late, &[], 10_000, 60_000).is_err());
        assert!(
            stopped_jobs_run_nothing(&stop, &late, &[(2, 1_500, 9_000)], 10_000, 60_000).is_ok()
        );
        let resubmitted = [
            stop[0].clone(),
            call(Op::Submit { revision: 1 }, 5_000, 5_100),
        ];
        assert!(stopped_jobs_run_nothing(&resubmitted, &late, &[], 10_000, 60_000).is_ok());
        let forever = [run(2, 0, u64::MAX)];
        assert!(stopped_jobs_run_nothing(&resubmitted, &forever, &[], 10_000, 60_000).is_ok());
    }
}
