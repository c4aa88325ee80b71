//! A node cut off from every quorum runs nothing once `max_disconnect`
//! (plus a stated bound) has passed — DESIGN.md §4: a worker that loses
//! its control nodes keeps what it has for `max_disconnect`, then stops
//! it, because by then the majority has placed replacements and two copies
//! must not run on (nomad #10953, #18077). Checked against what the
//! simulated executors really ran while the faults left the node with no
//! quorum it could reach (`network::reaches_a_quorum`).

use super::Violation;
use crate::reality::TaskRun;

/// Beyond `max_disconnect`: a restarted node boots for up to a second,
/// and a worker's round ends at most a poll's timeout after its deadline.
pub const STOP_BOUND_MS: u64 = 3_000;

/// Nothing ran on `node` from `since + max_disconnect + STOP_BOUND_MS`
/// until `until`, the window in which it could reach no quorum.
pub fn cut_off_node_ran_nothing(
    node: u64,
    since: u64,
    until: u64,
    max_disconnect_ms: u64,
    runs: &[TaskRun],
) -> Result<(), Violation> {
    let from = since + max_disconnect_ms + STOP_BOUND_MS;
    if from >= until {
        return Ok(());
    }
    match runs
        .iter()
        .find(|r| r.node == node && r.runs_within(from, until))
    {
        None => Ok(()),
        Some(run) => Err(Violation {
            invariant: "nothing runs on a node cut off from every quorum",
            detail: format!(
                "node-{node} could reach no quorum from {since} ms to {until} ms, yet {} ({}) ran there from {} ms to {} ms (bound: max_disconnect {max_disconnect_ms} ms + {STOP_BOUND_MS} ms)",
                run.alloc,
                run.job,
                run.started_ms,
                run.ends_ms.min(until)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(from: u64, to: u64) -> TaskRun {
        TaskRun::example(2, "svc", from, to)
    }

    #[test]
    fn a_task_kept_past_the_bound_is_caught() {
        let max = 10_000;
        assert!(cut_off_node_ran_nothing(2, 1_000, 30_000, max, &[run(0, 13_999)]).is_ok());
        assert!(cut_off_node_ran_nothing(2, 1_000, 30_000, max, &[run(0, 14_001)]).is_err());
        assert!(cut_off_node_ran_nothing(2, 1_000, 12_000, max, &[run(0, 99_000)]).is_ok());
        assert!(cut_off_node_ran_nothing(3, 1_000, 30_000, max, &[run(0, 99_000)]).is_ok());
    }
}
