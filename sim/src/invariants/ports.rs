//! No port is held twice on a node — issue 17: "ports are a scheduled
//! resource … two allocations never hold one port on one node, whatever
//! the timing" (Nomad #25413: one static port on four allocations across
//! three nodes after a node loss). Checked against the ports the
//! simulated executors' tasks were given, at every start, among the tasks
//! that really run on the node then (each simulated node is a host of its
//! own).

use super::Violation;
use crate::reality::TaskRun;

/// No two tasks running on `node` at `at_ms` hold one port.
pub fn no_port_held_twice(node: u64, runs: &[TaskRun], at_ms: u64) -> Result<(), Violation> {
    let running: Vec<&TaskRun> = runs
        .iter()
        .filter(|r| r.node == node && r.runs_at(at_ms) && !r.ports.is_empty())
        .collect();
    for (i, a) in running.iter().enumerate() {
        for b in &running[i + 1..] {
            if let Some(port) = a.ports.iter().find(|p| b.ports.contains(p)) {
                return Err(Violation {
                    invariant: "no port held twice on a node",
                    detail: format!(
                        "node-{node} runs {} ({}) and {} ({}) both holding port {port} at {at_ms} ms",
                        a.alloc, a.job, b.alloc, b.job
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use drover_core::AllocId;

    use super::*;

    fn run(alloc: u64, node: u64, ports: &[u16], from: u64, to: u64) -> TaskRun {
        let mut run = TaskRun::example(node, "j", from, to);
        run.alloc = AllocId(alloc);
        run.ports = ports.to_vec();
        run
    }

    #[test]
    fn one_port_on_two_running_tasks_of_a_node_is_caught() {
        let runs = [
            run(1, 1, &[20_000, 9100], 0, 100),
            run(2, 1, &[20_001, 9100], 50, 200),
        ];
        let caught = no_port_held_twice(1, &runs, 60).unwrap_err();
        assert!(caught.detail.contains("port 9100"), "{}", caught.detail);
        // Before the second started, after the first ended, or on
        // another node: nothing held twice.
        assert!(no_port_held_twice(1, &runs, 10).is_ok());
        assert!(no_port_held_twice(1, &runs, 150).is_ok());
        let elsewhere = [run(1, 1, &[9100], 0, 100), run(2, 2, &[9100], 0, 100)];
        assert!(no_port_held_twice(1, &elsewhere, 50).is_ok());
    }
}
