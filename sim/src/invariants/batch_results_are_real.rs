//! A batch job's recorded result is one an executor really produced —
//! DESIGN.md §4 ("the first terminal result is the one recorded"): an
//! allocation recorded complete or failed with an exit code must be a task
//! that really ran on that node and exited by itself with that code, not
//! one that was stopped, died with its machine, or never ran. Checked
//! against what the simulated executors really ran.

use serde_json::Value;

use super::Violation;
use crate::reality::TaskRun;

/// `allocations`: a finished batch job's allocations as the cluster
/// records them (`JobStatus`), read at `read_ms`.
pub fn batch_results_are_real(
    job: &str,
    allocations: &Value,
    runs: &[TaskRun],
    read_ms: u64,
) -> Result<(), Violation> {
    for alloc in allocations.as_array().into_iter().flatten() {
        let terminal = matches!(alloc["status"].as_str(), Some("complete" | "failed"));
        let (Some(code), true) = (alloc["exit_code"].as_i64(), terminal) else {
            continue;
        };
        let id = alloc["id"].as_str().unwrap_or("?");
        let node = alloc["node"].as_str().unwrap_or("?");
        let real = runs.iter().any(|r| {
            r.alloc.to_string() == id
                && format!("node-{}", r.node) == node
                && r.exited_by_itself(read_ms)
                && i64::from(r.exit_code) == code
        });
        if !real {
            return Err(Violation {
                invariant: "batch results are real",
                detail: format!(
                    "{job}'s {id} is recorded {} with exit code {code} on {node}, but no task there exited so by itself",
                    alloc["status"].as_str().unwrap_or("?")
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use drover_core::AllocId;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_result_no_task_produced_is_caught() {
        let mut run = TaskRun::example(3, "job-1", 100, 900);
        run.alloc = AllocId(5);
        let recorded = |code: i64, node: &str| json!([{ "id": AllocId(5).to_string(), "node": node, "status": "complete", "exit_code": code }]);
        let real = |code, node, run: &TaskRun| {
            batch_results_are_real(
                "job-1",
                &recorded(code, node),
                std::slice::from_ref(run),
                1000,
            )
            .is_ok()
        };
        assert!(real(0, "node-3", &run));
        assert!(!real(1, "node-3", &run), "another exit code");
        assert!(!real(0, "node-2", &run), "another node");
        let stopped = TaskRun {
            ends_ms: 500,
            ..run
        };
        assert!(
            !real(0, "node-3", &stopped),
            "stopped, not exited by itself"
        );
    }
}
