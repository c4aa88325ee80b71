//! After healing, every batch job is terminal — DESIGN.md §5's liveness
//! phase: "heal everything and require convergence within a bound". Batch
//! jobs run at least once (§4), so each acknowledged one must finish.

use super::Violation;

pub fn every_batch_job_finishes(
    acknowledged: &[String],
    finished: &[String],
    bound_s: u64,
) -> Result<(), Violation> {
    let waiting: Vec<&String> = acknowledged
        .iter()
        .filter(|j| !finished.contains(j))
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(Violation {
            invariant: "batch jobs finish after healing",
            detail: format!(
                "{} jobs unfinished {bound_s}s after healing, e.g. {}",
                waiting.len(),
                waiting[0]
            ),
        })
    }
}
