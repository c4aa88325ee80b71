//! What the clients really saw: every call they made, with the virtual
//! instants it was invoked and returned and its outcome. A call that timed
//! out or failed is *unknown* — it may or may not have taken effect — never
//! "failed". Invariants about what clients were promised read this.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Submitted the workload's spec `revision` of the job (each distinct
    /// spec text the workload writes for a job has its own revision).
    Submit {
        revision: u64,
    },
    Stop,
    Drain,
    /// Read the job's status and saw this.
    Read(Seen),
}

/// What a read of a job showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    Missing,
    Job { version: u64, stopped: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Acknowledged,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub client: u64,
    pub op: Op,
    /// The job, or the node for a drain. A read is recorded only when it
    /// was answered: one that failed had no effect to explain.
    pub target: String,
    pub invoked_ms: u64,
    pub returned_ms: u64,
    pub outcome: Outcome,
}

impl Call {
    /// `op` on job `svc`, acknowledged, by client 0: for the invariants'
    /// own tests.
    pub fn example(op: Op, invoked_ms: u64, returned_ms: u64) -> Self {
        Self {
            client: 0,
            op,
            target: "svc".into(),
            invoked_ms,
            returned_ms,
            outcome: Outcome::Acknowledged,
        }
    }
}

#[derive(Clone)]
pub struct History {
    origin: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl History {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            calls: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Call>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since the run began.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A call invoked at `invoked_ms` returned now.
    pub fn record(&self, client: u64, op: Op, target: &str, invoked_ms: u64, outcome: Outcome) {
        let call = Call {
            client,
            op,
            target: target.to_string(),
            invoked_ms,
            returned_ms: self.now_ms(),
            outcome,
        };
        self.lock().push(call);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().clone()
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}
