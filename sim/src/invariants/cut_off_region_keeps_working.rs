//! A region cut off from the others keeps working alone — issue 16: "it
//! keeps accepting work for itself, keeps its services at their
//! replicas, replaces the work of its failed nodes"; seed 000: a node
//! failure is a normal operation, and replacing its work "doesn't need"
//! the other regions. Checked while the cut lasts, against what the
//! region's simulated executors really ran.

use super::Violation;
use crate::reality::TaskRun;

/// What happened in one region while it was cut off from the others.
pub struct Cut<'a> {
    pub region: &'a str,
    /// The service the region's users keep there, and its replicas.
    pub service: &'a str,
    pub replicas: u64,
    /// When a node of the region was lost, and when the link returned.
    pub node_lost_ms: u64,
    pub healed_ms: u64,
    /// Submissions the region's own users made for it meanwhile, and how
    /// many the region acknowledged.
    pub asked: usize,
    pub acknowledged: usize,
}

/// By the end of the cut, the service runs its replicas again on the
/// region's nodes still up, and the region acknowledged some of the work
/// its own users asked of it.
pub fn cut_off_region_keeps_working(cut: &Cut<'_>, runs: &[TaskRun]) -> Result<(), Violation> {
    let at = cut.healed_ms.saturating_sub(1);
    let running = runs
        .iter()
        .filter(|r| r.job.as_str() == cut.service && r.runs_at(at))
        .count() as u64;
    if running < cut.replicas {
        return Err(Violation {
            invariant: "a region cut off keeps working",
            detail: format!(
                "region {} lost a node at {} ms while cut off from the other regions; its service {} ran {running} of {} instances when the link returned at {} ms",
                cut.region, cut.node_lost_ms, cut.service, cut.replicas, cut.healed_ms
            ),
        });
    }
    if cut.asked > 0 && cut.acknowledged == 0 {
        return Err(Violation {
            invariant: "a region cut off keeps working",
            detail: format!(
                "region {} acknowledged none of the {} submissions its own users made while it was cut off from the other regions",
                cut.region, cut.asked
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(acknowledged: usize) -> Cut<'static> {
        Cut {
            region: "r1",
            service: "svc-r1",
            replicas: 2,
            node_lost_ms: 5_000,
            healed_ms: 25_000,
            asked: 3,
            acknowledged,
        }
    }

    #[test]
    fn the_service_must_be_back_at_its_replicas_before_the_link_returns() {
        // One instance died with the lost node at 5 s; a replacement
        // started at 12 s.
        let mut lost = TaskRun::example(2, "svc-r1", 1_000, 3_600_000);
        lost.ends_ms = 5_000;
        let kept = TaskRun::example(1, "svc-r1", 1_000, 3_600_000);
        let replacement = TaskRun::example(3, "svc-r1", 12_000, 3_600_000);
        let runs = vec![lost.clone(), kept.clone(), replacement];
        assert!(cut_off_region_keeps_working(&cut(1), &runs).is_ok());
        let never_replaced = cut_off_region_keeps_working(&cut(1), &[lost, kept]).unwrap_err();
        assert!(
            never_replaced.detail.contains("ran 1 of 2"),
            "{}",
            never_replaced.detail
        );
    }

    #[test]
    fn a_region_cut_off_must_still_take_its_own_work() {
        let runs = vec![
            TaskRun::example(1, "svc-r1", 0, 3_600_000),
            TaskRun::example(3, "svc-r1", 0, 3_600_000),
        ];
        let refused = cut_off_region_keeps_working(&cut(0), &runs).unwrap_err();
        assert!(
            refused.detail.contains("none of the 3"),
            "{}",
            refused.detail
        );
    }
}
