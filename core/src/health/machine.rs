//! One allocation's checks as a pure state machine: the driver asks which
//! checks are due, runs them, and hands each result back; out come the
//! health changes to commit and, when a check has failed `restart_after`
//! times in a row past the grace, one restart. Only changes are reported —
//! a change of status at once, a new output of a failing check at most
//! every [`OUTPUT_REFRESH_MS`] — so a steady task costs the log nothing
//! however often it is checked.

use super::{CheckSpec, HealthStatus, clip};

/// How often, at most, a new check output under an unchanged status is
/// committed: what `job status` shows stays current without a log entry
/// for every check whose output has a clock in it.
pub const OUTPUT_REFRESH_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthAction {
    /// Commit the allocation's new health.
    Report {
        status: HealthStatus,
        check: String,
        output: String,
    },
    /// Stop the task as failed, saying `reason`: the control plane then
    /// replaces it. Asked once; no check runs after it.
    Restart { reason: String },
}

#[derive(Debug, Clone)]
struct Run {
    /// When the check is next due; `None` while it runs.
    due_ms: Option<u64>,
    /// When its current run began.
    began_ms: u64,
    last_passed: Option<bool>,
    /// Failures in a row past the grace.
    failures: u32,
    output: String,
}

#[derive(Debug, Clone)]
pub struct HealthMachine {
    checks: Vec<CheckSpec>,
    runs: Vec<Run>,
    started_ms: u64,
    /// The health last asked to be committed; an allocation starts pending.
    reported: HealthStatus,
    /// What that report said, and when it was made.
    reported_output: String,
    reported_ms: u64,
    restarting: bool,
}

impl HealthMachine {
    /// The checks of a task that started at `started_ms`: each is due at once.
    pub fn new(checks: Vec<CheckSpec>, started_ms: u64) -> Self {
        let runs = checks
            .iter()
            .map(|_| Run {
                due_ms: Some(started_ms),
                began_ms: started_ms,
                last_passed: None,
                failures: 0,
                output: String::new(),
            })
            .collect();
        Self {
            checks,
            runs,
            started_ms,
            reported: HealthStatus::Pending,
            reported_output: String::new(),
            reported_ms: started_ms,
            restarting: false,
        }
    }

    pub fn check(&self, i: usize) -> &CheckSpec {
        &self.checks[i]
    }

    /// The checks due at `now_ms`, each marked running until its result
    /// comes back through [`Self::finished`].
    pub fn due(&mut self, now_ms: u64) -> Vec<usize> {
        if self.restarting {
            return Vec::new();
        }
        let mut due = Vec::new();
        for (i, run) in self.runs.iter_mut().enumerate() {
            if run.due_ms.is_some_and(|at| at <= now_ms) {
                run.due_ms = None;
                run.began_ms = now_ms;
                due.push(i);
            }
        }
        due
    }

    /// When a check is next due; `None` while every check runs, or once a
    /// restart was asked.
    pub fn deadline_ms(&self) -> Option<u64> {
        if self.restarting {
            return None;
        }
        self.runs.iter().filter_map(|r| r.due_ms).min()
    }

    /// Check `i`, begun at the last [`Self::due`] that named it, ended at
    /// `now_ms`.
    pub fn finished(
        &mut self,
        i: usize,
        passed: bool,
        output: &str,
        now_ms: u64,
    ) -> Vec<HealthAction> {
        assert!(
            self.runs[i].due_ms.is_none(),
            "check {i} finished without having been due"
        );
        let in_grace = now_ms < self.started_ms.saturating_add(self.checks[i].grace_ms);
        let run = &mut self.runs[i];
        run.due_ms = Some(
            run.began_ms
                .saturating_add(self.checks[i].interval_ms)
                .max(now_ms),
        );
        run.last_passed = Some(passed);
        run.output = clip(output);
        if passed {
            run.failures = 0;
        } else if !in_grace {
            run.failures += 1;
        }
        if self.restarting {
            return Vec::new();
        }
        let mut actions = Vec::new();
        let status = self.status(now_ms);
        let decided = self.deciding(status, i);
        let output = &self.runs[decided].output;
        // Only a failing check's output is worth refreshing: while healthy,
        // checks take turns deciding and would each look new.
        let stale = status == HealthStatus::Unhealthy
            && *output != self.reported_output
            && now_ms >= self.reported_ms.saturating_add(OUTPUT_REFRESH_MS);
        if status != self.reported || stale {
            self.reported = status;
            self.reported_output.clone_from(output);
            self.reported_ms = now_ms;
            actions.push(HealthAction::Report {
                status,
                check: self.checks[decided].describe(),
                output: output.clone(),
            });
        }
        let run = &self.runs[i];
        if let Some(limit) = self.checks[i].restart_after
            && run.failures >= limit
        {
            self.restarting = true;
            actions.push(HealthAction::Restart {
                reason: format!(
                    "restarted: check {} failed {} times in a row: {}",
                    self.checks[i].describe(),
                    run.failures,
                    run.output
                ),
            });
        }
        actions
    }

    fn status(&self, now_ms: u64) -> HealthStatus {
        let past_grace =
            |i: usize| now_ms >= self.started_ms.saturating_add(self.checks[i].grace_ms);
        let failing =
            (0..self.runs.len()).any(|i| self.runs[i].last_passed == Some(false) && past_grace(i));
        if failing {
            HealthStatus::Unhealthy
        } else if self.runs.iter().all(|r| r.last_passed == Some(true)) {
            HealthStatus::Healthy
        } else {
            HealthStatus::Pending
        }
    }

    /// Which check's output explains `status`: the first failing one for
    /// unhealthy, else the one that just finished.
    fn deciding(&self, status: HealthStatus, finished: usize) -> usize {
        if status == HealthStatus::Unhealthy {
            (0..self.runs.len())
                .find(|&i| self.runs[i].last_passed == Some(false))
                .unwrap_or(finished)
        } else {
            finished
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::CheckKind;

    fn tcp(grace_ms: u64, restart_after: Option<u32>) -> CheckSpec {
        CheckSpec {
            kind: CheckKind::Tcp { port: "db".into() },
            interval_ms: 1000,
            timeout_ms: 500,
            grace_ms,
            restart_after,
        }
    }

    fn run(m: &mut HealthMachine, now_ms: u64, passed: bool) -> Vec<HealthAction> {
        let due = m.due(now_ms);
        assert_eq!(due, vec![0], "the check is due at {now_ms}");
        m.finished(
            0,
            passed,
            if passed { "ok" } else { "refused" },
            now_ms + 10,
        )
    }

    fn statuses(actions: &[HealthAction]) -> Vec<HealthStatus> {
        actions
            .iter()
            .filter_map(|a| match a {
                HealthAction::Report { status, .. } => Some(*status),
                HealthAction::Restart { .. } => None,
            })
            .collect()
    }

    #[test]
    fn only_changes_are_reported() {
        let mut m = HealthMachine::new(vec![tcp(0, None)], 0);
        assert_eq!(m.deadline_ms(), Some(0));
        assert_eq!(statuses(&run(&mut m, 0, true)), vec![HealthStatus::Healthy]);
        assert_eq!(
            m.deadline_ms(),
            Some(1000),
            "next due an interval after the start"
        );
        assert!(run(&mut m, 1000, true).is_empty());
        assert_eq!(
            statuses(&run(&mut m, 2000, false)),
            vec![HealthStatus::Unhealthy]
        );
        assert!(run(&mut m, 3000, false).is_empty());
        assert_eq!(
            statuses(&run(&mut m, 4000, true)),
            vec![HealthStatus::Healthy]
        );
    }

    #[test]
    fn failures_within_the_grace_leave_it_pending_and_count_for_nothing() {
        let mut m = HealthMachine::new(vec![tcp(2500, Some(2))], 0);
        assert!(run(&mut m, 0, false).is_empty());
        assert!(run(&mut m, 1000, false).is_empty());
        assert!(
            run(&mut m, 2000, false).is_empty(),
            "still within the grace"
        );
        let past = run(&mut m, 3000, false);
        assert_eq!(statuses(&past), vec![HealthStatus::Unhealthy]);
        assert!(
            !past
                .iter()
                .any(|a| matches!(a, HealthAction::Restart { .. }))
        );
        let restart = run(&mut m, 4000, false);
        assert!(
            matches!(&restart[..], [HealthAction::Restart { reason }] if reason.contains("failed 2 times in a row: refused")),
            "{restart:?}"
        );
        assert_eq!(
            m.deadline_ms(),
            None,
            "nothing runs after a restart was asked"
        );
        assert!(m.due(10_000).is_empty());
    }

    #[test]
    fn a_new_output_under_the_same_status_is_reported_at_most_every_refresh() {
        let mut m = HealthMachine::new(vec![tcp(0, None)], 0);
        m.due(0);
        assert_eq!(
            statuses(&m.finished(0, false, "refused", 5)),
            vec![HealthStatus::Unhealthy]
        );
        m.due(1000);
        assert!(
            m.finished(0, false, "HTTP 404", 1005).is_empty(),
            "too soon"
        );
        m.due(OUTPUT_REFRESH_MS + 5);
        let actions = m.finished(0, false, "HTTP 404", OUTPUT_REFRESH_MS + 10);
        assert!(
            matches!(&actions[..], [HealthAction::Report { status: HealthStatus::Unhealthy, output, .. }] if output == "HTTP 404"),
            "{actions:?}"
        );
        m.due(3 * OUTPUT_REFRESH_MS);
        assert!(
            m.finished(0, false, "HTTP 404", 3 * OUTPUT_REFRESH_MS)
                .is_empty(),
            "unchanged"
        );
    }

    /// Two passing checks take turns deciding; their outputs differ, and
    /// still nothing is reported while the task stays healthy.
    #[test]
    fn a_healthy_task_with_several_checks_reports_once() {
        let mut http = tcp(0, None);
        http.kind = CheckKind::Http {
            port: "web".into(),
            path: "/".into(),
            status: None,
        };
        let mut m = HealthMachine::new(vec![tcp(0, None), http], 0);
        let mut reports = 0;
        for round in 0..10 {
            let now = round * OUTPUT_REFRESH_MS;
            for i in m.due(now) {
                reports += m
                    .finished(i, true, &format!("ok {i} at {now}"), now + 1)
                    .len();
            }
        }
        assert_eq!(reports, 1, "healthy once, then nothing");
    }

    #[test]
    fn a_pass_resets_the_count() {
        let mut m = HealthMachine::new(vec![tcp(0, Some(2))], 0);
        run(&mut m, 0, false);
        run(&mut m, 1000, true);
        let once = run(&mut m, 2000, false);
        assert!(
            !once
                .iter()
                .any(|a| matches!(a, HealthAction::Restart { .. }))
        );
    }

    #[test]
    fn healthy_needs_every_check_and_unhealthy_names_the_failing_one() {
        let mut http = tcp(0, None);
        http.kind = CheckKind::Http {
            port: "web".into(),
            path: "/ready".into(),
            status: None,
        };
        let mut m = HealthMachine::new(vec![tcp(0, None), http], 0);
        assert_eq!(m.due(0), vec![0, 1]);
        assert!(m.finished(0, true, "ok", 5).is_empty(), "one of two passed");
        let actions = m.finished(1, false, "HTTP 503", 6);
        assert_eq!(
            actions,
            vec![HealthAction::Report {
                status: HealthStatus::Unhealthy,
                check: "http /ready on web".into(),
                output: "HTTP 503".into(),
            }]
        );
        assert_eq!(m.due(1000), vec![0, 1]);
        m.finished(0, true, "ok", 1005);
        let actions = m.finished(1, true, "HTTP 200", 1006);
        assert_eq!(statuses(&actions), vec![HealthStatus::Healthy]);
    }

    #[test]
    fn a_slow_check_is_due_again_when_it_ends_not_before() {
        let mut m = HealthMachine::new(vec![tcp(0, None)], 0);
        m.due(0);
        assert_eq!(m.deadline_ms(), None, "running");
        m.finished(0, true, "ok", 1500);
        assert_eq!(m.deadline_ms(), Some(1500));
    }
}
