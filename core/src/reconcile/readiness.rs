//! Whether a new-version instance of a rolling update has proven itself
//! (`[update]`'s health gate): it runs, is healthy where its task has
//! checks, and has been so for `min_healthy_time`. Until then the old
//! instance it replaces keeps running; one that is not ready within
//! `healthy_deadline` of starting (or of being placed, if it never
//! started) halts the rollout.

use crate::alloc::{AllocStatus, Allocation};
use crate::extensions::UpdateGate;
use crate::health::{self, HealthStatus};
use crate::state::ClusterState;
use crate::units::format_duration_ms;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Proven since `since_ms`.
    Ready { since_ms: u64 },
    /// Not yet; `due_ms` is when it next may change by the clock alone.
    Waiting { due_ms: u64, why: String },
    /// Past the deadline: the rollout halts, saying why.
    Failed(String),
}

pub fn readiness(
    state: &ClusterState,
    alloc: &Allocation,
    gate: UpdateGate,
    now_ms: u64,
) -> Readiness {
    let id = alloc.id;
    if alloc.status != AllocStatus::Running {
        if alloc.status.is_terminal() {
            return Readiness::Failed(format!("{id} ended {} before it was ready", alloc.status));
        }
        return deadline(
            alloc.created_ms,
            gate,
            now_ms,
            || format!("{id} to start"),
            || {
                format!(
                    "{id} did not start within healthy_deadline {}",
                    format_duration_ms(gate.healthy_deadline_ms)
                )
            },
        );
    }
    let started = alloc.ext.running_since_ms.unwrap_or(alloc.modified_ms);
    let healthy_since = match health::of(state, alloc) {
        None => started,
        Some(HealthStatus::Healthy) => alloc
            .ext
            .health
            .as_ref()
            .map_or(started, |h| h.since_ms.max(started)),
        Some(status) => {
            let said = alloc
                .ext
                .health
                .as_ref()
                .map(|h| format!(": {} said {}", h.check, h.output))
                .unwrap_or_default();
            if alloc.ext.proven {
                return Readiness::Waiting {
                    due_ms: now_ms.saturating_add(gate.healthy_deadline_ms),
                    why: format!(
                        "{id}, ready before, to pass its checks again (now {status}{said})"
                    ),
                };
            }
            return deadline(
                started,
                gate,
                now_ms,
                || format!("{id} to pass its checks (now {status}{said})"),
                || {
                    format!(
                        "{id} not healthy within healthy_deadline {} ({status}{said})",
                        format_duration_ms(gate.healthy_deadline_ms)
                    )
                },
            );
        }
    };
    let proven = healthy_since.saturating_add(gate.min_healthy_time_ms);
    if now_ms >= proven {
        Readiness::Ready { since_ms: proven }
    } else {
        Readiness::Waiting {
            due_ms: proven,
            why: format!(
                "{id} to stay healthy for min_healthy_time {}",
                format_duration_ms(gate.min_healthy_time_ms)
            ),
        }
    }
}

fn deadline(
    from_ms: u64,
    gate: UpdateGate,
    now_ms: u64,
    waiting: impl FnOnce() -> String,
    failed: impl FnOnce() -> String,
) -> Readiness {
    let due_ms = from_ms.saturating_add(gate.healthy_deadline_ms);
    if now_ms >= due_ms {
        Readiness::Failed(failed())
    } else {
        Readiness::Waiting {
            due_ms,
            why: waiting(),
        }
    }
}
