//! The clients' history is linearizable (Herlihy & Wing): for every job,
//! some order of its calls, each taking effect at one instant between its
//! invocation and its return, explains every answer the clients got, by a
//! sequential model of a job (submit, stop, read). A call that timed out
//! or failed is *unknown*: it may take effect at any instant after its
//! invocation, or never. A read that shows an older version than a change
//! acknowledged before the read began cannot be explained, and is caught.
//!
//! Jobs are independent objects, so each job's sub-history is checked on
//! its own (P-compositionality, as Porcupine does); the search is Wing &
//! Gong's with Lowe's memo of (calls taken, model state) already tried.

use std::collections::{BTreeMap, BTreeSet};

use super::Violation;
use crate::history::{Call, Op, Outcome, Seen};

/// A job as the sequential model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Model {
    Missing,
    Job {
        version: u64,
        stopped: bool,
        revision: u64,
    },
}

impl Model {
    /// The state after `op`, or `None` if `op` is a read this state
    /// cannot have answered. Mirrors `core/src/state/jobs.rs` as the API
    /// drives it: a submission of an existing job is an update.
    fn step(self, op: Op) -> Option<Self> {
        match (op, self) {
            (Op::Submit { revision }, Self::Missing) => Some(Self::Job {
                version: 1,
                stopped: false,
                revision,
            }),
            (
                Op::Submit { revision },
                Self::Job {
                    version,
                    stopped,
                    revision: was,
                },
            ) => {
                if !stopped && was == revision {
                    Some(self)
                } else {
                    Some(Self::Job {
                        version: version + 1,
                        stopped: false,
                        revision,
                    })
                }
            }
            // Stopping a missing job fails and changes nothing; drains
            // change no job.
            (Op::Stop, Self::Missing) | (Op::Drain, _) => Some(self),
            (
                Op::Stop,
                Self::Job {
                    version, revision, ..
                },
            ) => Some(Self::Job {
                version,
                stopped: true,
                revision,
            }),
            (Op::Read(seen), _) => (seen == self.seen()).then_some(self),
        }
    }

    fn seen(self) -> Seen {
        match self {
            Self::Missing => Seen::Missing,
            Self::Job {
                version, stopped, ..
            } => Seen::Job { version, stopped },
        }
    }
}

/// One call as the search sees it: an unknown one never returns.
#[derive(Debug, Clone, Copy)]
struct Event {
    op: Op,
    invoked: u64,
    returned: u64,
}

/// More calls on one job than this are not searched (none of the
/// workload's jobs comes near: a client gives up after 40 attempts).
const MAX_CALLS: usize = 128;

/// Checks every job's calls in `history`; drains target nodes, not jobs,
/// and are left out.
pub fn history_is_linearizable(history: &[Call]) -> Result<(), Violation> {
    let mut by_job: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    for call in history.iter().filter(|c| c.op != Op::Drain) {
        by_job.entry(&call.target).or_default().push(call);
    }
    for (job, calls) in by_job {
        if calls.len() > MAX_CALLS {
            continue;
        }
        if !explained(&events(&calls)) {
            return Err(Violation {
                invariant: "the clients' history is linearizable",
                detail: format!(
                    "no order of {job}'s calls explains what the clients saw: {}",
                    describe(&calls)
                ),
            });
        }
    }
    Ok(())
}

fn events(calls: &[&Call]) -> Vec<Event> {
    let mut events: Vec<Event> = calls
        .iter()
        .map(|c| Event {
            op: c.op,
            invoked: c.invoked_ms,
            returned: match c.outcome {
                Outcome::Acknowledged => c.returned_ms,
                Outcome::Unknown => u64::MAX,
            },
        })
        .collect();
    events.sort_by_key(|e| (e.invoked, e.returned, e.op));
    events
}

/// Whether some linearization of `events` takes every call that returned
/// and is consistent with the model.
fn explained(events: &[Event]) -> bool {
    assert!(events.len() <= MAX_CALLS, "the taken-set is a u128");
    let must_take: u128 = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.returned != u64::MAX)
        .fold(0, |set, (i, _)| set | 1 << i);
    let mut tried: BTreeSet<(u128, Model)> = BTreeSet::new();
    let mut stack = vec![(0u128, Model::Missing)];
    while let Some((taken, model)) = stack.pop() {
        if taken & must_take == must_take {
            return true;
        }
        if !tried.insert((taken, model)) {
            continue;
        }
        for i in candidates(events, taken) {
            if let Some(next) = model.step(events[i].op) {
                stack.push((taken | 1 << i, next));
            }
        }
    }
    false
}

/// The calls that may take effect next: invoked before every call not yet
/// taken has returned. Of identical unknown calls only the earliest is
/// offered — taking a later one first explains nothing more — which keeps
/// a client's many retries from multiplying the search.
fn candidates(events: &[Event], taken: u128) -> Vec<usize> {
    let open = |i: &usize| taken & (1 << i) == 0;
    let first_return = (0..events.len())
        .filter(open)
        .map(|i| events[i].returned)
        .min()
        .unwrap_or(u64::MAX);
    let mut offered_unknown: BTreeSet<Op> = BTreeSet::new();
    (0..events.len())
        .filter(open)
        .filter(|i| events[*i].invoked <= first_return)
        .filter(|i| events[*i].returned != u64::MAX || offered_unknown.insert(events[*i].op))
        .collect()
}

/// The job's calls, the last dozen, one per line.
fn describe(calls: &[&Call]) -> String {
    let skip = calls.len().saturating_sub(12);
    let lines: Vec<String> = calls
        .iter()
        .skip(skip)
        .map(|c| {
            let outcome = match c.outcome {
                Outcome::Acknowledged => "answered",
                Outcome::Unknown => "unknown",
            };
            format!(
                "client {} {:?} {}..{} ms {outcome}",
                c.client, c.op, c.invoked_ms, c.returned_ms
            )
        })
        .collect();
    let earlier = if skip > 0 {
        format!("({skip} earlier calls) ")
    } else {
        String::new()
    };
    format!("{earlier}{}", lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(op: Op, invoked_ms: u64, returned_ms: u64, outcome: Outcome) -> Call {
        Call {
            client: 0,
            op,
            target: "job-1".into(),
            invoked_ms,
            returned_ms,
            outcome,
        }
    }

    const SUBMIT: Op = Op::Submit { revision: 1 };
    const UPDATE: Op = Op::Submit { revision: 2 };

    fn read(version: u64, stopped: bool) -> Op {
        Op::Read(Seen::Job { version, stopped })
    }

    fn ok(op: Op, from: u64, to: u64) -> Call {
        call(op, from, to, Outcome::Acknowledged)
    }

    #[test]
    fn a_read_that_misses_an_acknowledged_submission_is_caught() {
        let stale = [ok(SUBMIT, 0, 10), ok(Op::Read(Seen::Missing), 20, 30)];
        assert!(history_is_linearizable(&stale).is_err());
        let fresh = [ok(SUBMIT, 0, 10), ok(read(1, false), 20, 30)];
        assert!(history_is_linearizable(&fresh).is_ok());
    }

    #[test]
    fn a_read_concurrent_with_a_change_may_see_either_side() {
        let before = [ok(UPDATE, 0, 50), ok(Op::Read(Seen::Missing), 20, 30)];
        assert!(history_is_linearizable(&before).is_ok());
        let after = [ok(SUBMIT, 0, 50), ok(read(1, false), 20, 30)];
        assert!(history_is_linearizable(&after).is_ok());
    }

    #[test]
    fn an_older_version_after_an_acknowledged_update_is_caught() {
        let history = [
            ok(SUBMIT, 0, 10),
            ok(UPDATE, 20, 30),
            ok(read(1, false), 40, 50),
        ];
        assert!(history_is_linearizable(&history).is_err());
    }

    #[test]
    fn an_unknown_call_may_take_effect_late_or_never() {
        let late = [
            call(SUBMIT, 0, 5, Outcome::Unknown),
            ok(Op::Read(Seen::Missing), 10, 20),
            ok(read(1, false), 30, 40),
        ];
        assert!(history_is_linearizable(&late).is_ok());
        let never = [
            call(SUBMIT, 0, 5, Outcome::Unknown),
            ok(Op::Read(Seen::Missing), 10, 20),
        ];
        assert!(history_is_linearizable(&never).is_ok());
        let not_before_invoked = [
            ok(Op::Read(Seen::Missing), 0, 5),
            ok(read(1, false), 6, 8),
            call(SUBMIT, 10, 20, Outcome::Unknown),
        ];
        assert!(history_is_linearizable(&not_before_invoked).is_err());
    }

    #[test]
    fn retries_and_stops_follow_the_job_rules() {
        let mut history: Vec<Call> = (0..40)
            .map(|i| call(SUBMIT, i * 10, i * 10 + 5, Outcome::Unknown))
            .collect();
        history.push(ok(SUBMIT, 400, 410));
        history.push(ok(read(1, false), 420, 430));
        history.push(ok(Op::Stop, 440, 450));
        history.push(ok(read(1, true), 460, 470));
        history.push(ok(SUBMIT, 480, 490));
        history.push(ok(read(2, false), 500, 510));
        assert!(history_is_linearizable(&history).is_ok());
        history.push(ok(read(1, true), 520, 530));
        assert!(history_is_linearizable(&history).is_err());
    }
}
