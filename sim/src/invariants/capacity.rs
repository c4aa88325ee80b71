//! No node runs more than its capacity — DESIGN.md §5's invariant list;
//! `apply` re-checks every placement against the node's free resources
//! (docs/state-machine.md), so no plan, however stale, may overfill a node.
//! Checked against what the simulated executors really run, at every start.

use drover_core::Resources;

use super::Violation;
use crate::reality::TaskRun;

/// The tasks running on `node` at `at_ms` fit its `capacity`.
pub fn node_within_capacity(
    node: u64,
    capacity: Resources,
    runs: &[TaskRun],
    at_ms: u64,
) -> Result<(), Violation> {
    let running: Vec<&TaskRun> = runs
        .iter()
        .filter(|r| r.node == node && r.runs_at(at_ms))
        .collect();
    let cpu: u64 = running.iter().map(|r| r.resources.cpu_millis).sum();
    let memory: u64 = running.iter().map(|r| r.resources.memory_mb).sum();
    if cpu <= capacity.cpu_millis && memory <= capacity.memory_mb {
        return Ok(());
    }
    Err(Violation {
        invariant: "no node over capacity",
        detail: format!(
            "node-{node} runs {} tasks using {cpu} cpu_millis and {memory} MiB of {} and {} at {at_ms} ms",
            running.len(),
            capacity.cpu_millis,
            capacity.memory_mb
        ),
    })
}

#[cfg(test)]
mod tests {
    use drover_core::AllocId;

    use super::*;

    fn run(alloc: u64, cpu: u64, from: u64, to: u64) -> TaskRun {
        let mut run = TaskRun::example(1, "j", from, to);
        run.alloc = AllocId(alloc);
        run.resources.cpu_millis = cpu;
        run
    }

    #[test]
    fn an_overfull_node_is_caught_and_ended_tasks_do_not_count() {
        let capacity = Resources {
            cpu_millis: 1000,
            memory_mb: 512,
            gpus: 0,
        };
        let runs = [
            run(1, 600, 0, 100),
            run(2, 400, 50, 200),
            run(3, 700, 100, 300),
        ];
        assert!(node_within_capacity(1, capacity, &runs, 60).is_ok());
        assert!(node_within_capacity(1, capacity, &runs, 100).is_err());
        assert!(node_within_capacity(1, capacity, &runs, 250).is_ok());
    }
}
