//! Health checks: what a task asks to have checked (`[[task.check]]`: an
//! HTTP request, a TCP connection or a command, every `interval`), what an
//! allocation's health is (`pending`, `healthy`, `unhealthy`, with the
//! output of the check that decided it), and — in [`machine`] — the
//! worker's decisions from check results: when each check is due, when the
//! health changed and must be committed, and when a task failing its
//! checks is to be restarted (`check_restart`).

pub mod machine;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use machine::{HealthAction, HealthMachine};

/// The longest check output kept: the start of what a check printed, or
/// of the answer it got, is what tells an operator why.
pub const MAX_OUTPUT: usize = 512;

/// One check a task asks for. Plain serde (no flattening or internal
/// tags): it crosses the internal wire in postcard, which has neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub kind: CheckKind,
    /// Time from one check's start to the next's.
    pub interval_ms: u64,
    /// A check not answered in this long failed.
    pub timeout_ms: u64,
    /// Time after the task starts during which a failing check leaves the
    /// allocation pending and counts towards no restart.
    pub grace_ms: u64,
    /// Restart the task after this many failures in a row, past the grace.
    #[serde(default)]
    pub restart_after: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A `GET` of `path` on the task's port `port` (a label); passes when
    /// the answer's status is `status`, or any 2xx without one.
    Http {
        port: String,
        path: String,
        #[serde(default)]
        status: Option<u16>,
    },
    /// A TCP connection to the task's port `port` (a label).
    Tcp { port: String },
    /// A command run beside the task, with its environment; passes when
    /// it exits 0.
    Exec { command: Vec<String> },
}

impl CheckSpec {
    /// How the check is named in job status and in what a failure says:
    /// `http /health on http`, `tcp on db`, `exec curl`.
    pub fn describe(&self) -> String {
        match &self.kind {
            CheckKind::Http { port, path, .. } => format!("http {path} on {port}"),
            CheckKind::Tcp { port } => format!("tcp on {port}"),
            CheckKind::Exec { command } => {
                format!("exec {}", command.first().map_or("", String::as_str))
            }
        }
    }

    /// The port label the check reaches, if it reaches one.
    pub fn port(&self) -> Option<&str> {
        match &self.kind {
            CheckKind::Http { port, .. } | CheckKind::Tcp { port } => Some(port),
            CheckKind::Exec { .. } => None,
        }
    }
}

/// An allocation's health, as its checks found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// No check has decided yet: none answered, or only failures within
    /// the grace after start.
    Pending,
    /// Every check passed its last time.
    Healthy,
    /// A check failed its last time, past the grace.
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the state records of an allocation's health: the last change its
/// worker committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// The check that decided it (`CheckSpec::describe`) and what it said.
    pub check: String,
    pub output: String,
    /// When the change was committed (the entry's time).
    pub since_ms: u64,
}

/// A worker's word that one of its allocations changed health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub alloc: crate::AllocId,
    /// The reporting node; must own the allocation.
    pub node: crate::NodeId,
    pub status: HealthStatus,
    pub check: String,
    pub output: String,
}

/// An allocation's health as shown: `None` when the version it runs asks
/// for no checks; pending until its worker committed a first change.
pub fn of(state: &crate::ClusterState, alloc: &crate::Allocation) -> Option<HealthStatus> {
    // A version gone from the job's history is still known checked by
    // the health its worker recorded.
    let checked = alloc.ext.health.is_some()
        || state
            .job_version(&alloc.job, alloc.job_version)
            .is_some_and(|spec| !spec.ext.checks.is_empty());
    checked.then(|| {
        alloc
            .ext
            .health
            .as_ref()
            .map_or(HealthStatus::Pending, |h| h.status)
    })
}

/// Whether an allocation is to be sent traffic: it runs, is meant to, and
/// its checks, if it has any, last passed.
pub fn serves(state: &crate::ClusterState, alloc: &crate::Allocation) -> bool {
    alloc.desired == crate::DesiredStatus::Run
        && alloc.status == crate::AllocStatus::Running
        && of(state, alloc).is_none_or(|h| h == HealthStatus::Healthy)
}

/// `output` cut to at most [`MAX_OUTPUT`] bytes on a character boundary.
pub fn clip(output: &str) -> String {
    let trimmed = output.trim();
    if trimmed.len() <= MAX_OUTPUT {
        return trimmed.to_string();
    }
    let mut end = MAX_OUTPUT;
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &trimmed[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_OUTPUT);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_OUTPUT + '…'.len_utf8());
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("  ok\n"), "ok");
    }

    #[test]
    fn a_check_reads_as_json_by_its_type() {
        let check = CheckSpec {
            kind: CheckKind::Http {
                port: "http".into(),
                path: "/".into(),
                status: None,
            },
            interval_ms: 1000,
            timeout_ms: 1000,
            grace_ms: 0,
            restart_after: Some(3),
        };
        let json = serde_json::to_string(&check).unwrap();
        assert!(json.contains(r#""kind":{"http":"#), "{json}");
        assert_eq!(serde_json::from_str::<CheckSpec>(&json).unwrap(), check);
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn checks_cross_the_wire_in_postcard() {
        let check = CheckSpec {
            kind: CheckKind::Tcp { port: "db".into() },
            interval_ms: 1,
            timeout_ms: 1,
            grace_ms: 0,
            restart_after: None,
        };
        let bytes = postcard::to_stdvec(&vec![check.clone()]).unwrap();
        assert_eq!(
            postcard::from_bytes::<Vec<CheckSpec>>(&bytes).unwrap(),
            vec![check]
        );
    }
}
