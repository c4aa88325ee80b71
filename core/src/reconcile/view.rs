//! One job's allocations, sorted into what the reconciler asks about them.

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::{AllocStatus, Allocation, DesiredStatus};
use crate::ids::AllocId;
use crate::job::ReschedulePolicy;
use crate::state::ClusterState;

use super::backoff;

pub(super) struct JobView<'s> {
    pub allocs: Vec<&'s Allocation>,
    /// Allocations some other allocation names as `previous`.
    replaced: BTreeSet<AllocId>,
}

/// What becomes of an allocation that wants to run but cannot.
pub(super) enum Fate {
    ReplaceNow,
    ReplaceAt(u64),
    /// Out of reschedule attempts: the slot stays empty.
    GiveUp,
}

impl<'s> JobView<'s> {
    pub fn new(state: &'s ClusterState, job: &crate::ids::JobId) -> Self {
        let allocs: Vec<&Allocation> = state.job_allocs(job).collect();
        let replaced = allocs.iter().filter_map(|a| a.previous).collect();
        Self { allocs, replaced }
    }

    pub fn is_replaced(&self, alloc: &Allocation) -> bool {
        self.replaced.contains(&alloc.id)
    }

    /// Wanted and (as far as anyone knows) starting or running.
    pub fn live(&self) -> impl Iterator<Item = &'s Allocation> + '_ {
        self.allocs.iter().copied().filter(|a| {
            a.desired == DesiredStatus::Run
                && matches!(a.status, AllocStatus::Pending | AllocStatus::Running)
        })
    }

    /// Wanted, on a disconnected node, and not yet replaced.
    pub fn unknown_unreplaced(&self) -> impl Iterator<Item = &'s Allocation> + '_ {
        self.allocs.iter().copied().filter(|a| {
            a.desired == DesiredStatus::Run
                && a.status == AllocStatus::Unknown
                && !self.is_replaced(a)
        })
    }

    /// Wanted, finished, and not yet replaced. `complete_counts` says
    /// whether a clean exit ends the slot (batch) or needs a replacement
    /// like a failure (service, system).
    pub fn ended_unreplaced(
        &self,
        complete_counts: bool,
    ) -> impl Iterator<Item = &'s Allocation> + '_ {
        self.allocs.iter().copied().filter(move |a| {
            a.desired == DesiredStatus::Run
                && a.status.is_terminal()
                && !(complete_counts && a.status == AllocStatus::Complete)
                && !self.is_replaced(a)
        })
    }

    /// A batch job is done once an allocation of its current version
    /// exits cleanly.
    pub fn batch_done(&self, version: u64) -> bool {
        self.allocs
            .iter()
            .any(|a| a.job_version == version && a.status == AllocStatus::Complete)
    }

    /// Live (original, replacement) pairs: a node came back, or a migration
    /// or update is waiting for its replacement to run.
    pub fn live_pairs(&self) -> Vec<(&'s Allocation, &'s Allocation)> {
        let live: BTreeMap<AllocId, &Allocation> = self.live().map(|a| (a.id, a)).collect();
        live.values()
            .filter_map(|y| {
                let x = live.get(&y.previous?)?;
                Some((*x, *y))
            })
            .collect()
    }
}

/// Lost and worker-stopped allocations are replaced at once, and so are
/// failures of a version since replaced (the new version deserves a fresh
/// try); other failures (and for services, clean exits) after an
/// exponential backoff, while attempts last.
pub(super) fn fate(
    alloc: &Allocation,
    policy: &ReschedulePolicy,
    version: u64,
    now_ms: u64,
) -> Fate {
    match alloc.status {
        AllocStatus::Lost | AllocStatus::Stopped => Fate::ReplaceNow,
        _ if alloc.job_version < version => Fate::ReplaceNow,
        _ if alloc.attempts >= policy.attempts => Fate::GiveUp,
        _ => {
            let due = alloc
                .modified_ms
                .saturating_add(backoff::delay_ms(policy, alloc.attempts));
            if now_ms >= due {
                Fate::ReplaceNow
            } else {
                Fate::ReplaceAt(due)
            }
        }
    }
}
