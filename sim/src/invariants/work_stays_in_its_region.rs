//! Every acknowledged submission runs to completion in the region it
//! named, and no region runs work submitted for another — issue 16: "a
//! job targets one region … each region places and keeps its part"; "a
//! worker is only ever told what to run by its own region"; and the
//! global oracle, no acknowledged submission lost in any region. Checked
//! against what each region's simulated executors really ran, not against
//! any region's own records.

use std::collections::BTreeMap;

use super::Violation;
use crate::reality::TaskRun;

/// `named`: every job a client submitted (acknowledged or not), with the
/// region it named. `acknowledged`: the ones a region acknowledged.
/// `runs`: per region, what its executors ran, read at `now_ms`.
pub fn work_stays_in_its_region(
    named: &BTreeMap<String, String>,
    acknowledged: &[String],
    runs: &BTreeMap<String, Vec<TaskRun>>,
    now_ms: u64,
) -> Result<(), Violation> {
    for (region, ran) in runs {
        if let Some(stray) = ran
            .iter()
            .find(|r| named.get(r.job.as_str()).is_some_and(|n| n != region))
        {
            return Err(Violation {
                invariant: "work stays in its region",
                detail: format!(
                    "node {} of region {region} ran {}, which was submitted for region {}",
                    stray.node,
                    stray.job,
                    named[stray.job.as_str()]
                ),
            });
        }
    }
    let unfinished: Vec<String> = acknowledged
        .iter()
        .filter(|job| {
            let region = named.get(job.as_str()).map_or("?", String::as_str);
            !runs.get(region).is_some_and(|ran| {
                ran.iter().any(|r| {
                    r.job.as_str() == job.as_str() && r.exited_by_itself(now_ms) && r.exit_code == 0
                })
            })
        })
        .map(|job| {
            format!(
                "{job} (region {})",
                named.get(job.as_str()).map_or("?", String::as_str)
            )
        })
        .collect();
    if unfinished.is_empty() {
        return Ok(());
    }
    Err(Violation {
        invariant: "no acknowledged submission lost in any region",
        detail: format!(
            "{} acknowledged job(s) never ran to completion in the region they named: {}",
            unfinished.len(),
            unfinished
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("job-a".to_string(), "r0".to_string()),
            ("job-b".to_string(), "r1".to_string()),
        ])
    }

    #[test]
    fn acknowledged_work_must_finish_where_it_was_sent() {
        let acknowledged = vec!["job-a".to_string(), "job-b".to_string()];
        let mut runs = BTreeMap::from([
            ("r0".to_string(), vec![TaskRun::example(1, "job-a", 0, 100)]),
            ("r1".to_string(), vec![TaskRun::example(2, "job-b", 0, 100)]),
        ]);
        assert!(work_stays_in_its_region(&named(), &acknowledged, &runs, 200).is_ok());
        // Not finished yet at 50 ms.
        let early = work_stays_in_its_region(&named(), &acknowledged, &runs, 50).unwrap_err();
        assert!(early.detail.contains("job-a"), "{}", early.detail);
        // A run that was stopped (its end before its natural end) is no completion.
        let mut stopped = TaskRun::example(2, "job-b", 0, 100);
        stopped.ends_ms = 40;
        runs.insert("r1".to_string(), vec![stopped]);
        let lost = work_stays_in_its_region(&named(), &acknowledged, &runs, 200).unwrap_err();
        assert!(lost.detail.contains("job-b (region r1)"), "{}", lost.detail);
    }

    #[test]
    fn a_region_running_another_regions_work_is_caught() {
        let runs = BTreeMap::from([
            ("r0".to_string(), vec![TaskRun::example(3, "job-b", 0, 100)]),
            ("r1".to_string(), vec![TaskRun::example(2, "job-b", 0, 100)]),
        ]);
        let stray = work_stays_in_its_region(&named(), &[], &runs, 200).unwrap_err();
        assert_eq!(stray.invariant, "work stays in its region");
        assert!(
            stray.detail.contains("region r0 ran job-b"),
            "{}",
            stray.detail
        );
    }
}
