//! No acknowledged submission is lost — DESIGN.md §4 ("Acknowledged =
//! committed on a quorum of control nodes, on disk"). The client oracle
//! counts a submission as acknowledged only on a success reply; a timeout
//! is unknown, not failed, and is not held against the cluster.

use super::Violation;

pub fn no_acknowledged_submission_lost(
    acknowledged: &[String],
    present: &[String],
) -> Result<(), Violation> {
    match acknowledged.iter().find(|job| !present.contains(job)) {
        None => Ok(()),
        Some(job) => Err(Violation {
            invariant: "no acknowledged submission lost",
            detail: format!("{job} was acknowledged but is not in the cluster state"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_job_is_caught() {
        let present = vec!["a".to_string(), "b".to_string()];
        assert!(no_acknowledged_submission_lost(&["a".into()], &present).is_ok());
        assert!(no_acknowledged_submission_lost(&["c".into()], &present).is_err());
    }
}
