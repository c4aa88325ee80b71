//! Workers' reports on their allocations and on their health. The first
//! terminal status is the one recorded: later reports about a finished
//! allocation are refused.

use super::{AllocReport, ApplyError, ClusterState, Response, Success};
use crate::Allocation;
use crate::health::{Health, HealthReport, clip};
use crate::ids::{AllocId, NodeId};

impl ClusterState {
    /// `alloc`, if it exists, is `node`'s, and has not ended: what a
    /// worker may report on.
    fn live_alloc_of(&self, alloc: AllocId, node: &NodeId) -> Result<&Allocation, ApplyError> {
        let found = self
            .data
            .allocs
            .get(&alloc)
            .ok_or(ApplyError::UnknownAlloc(alloc))?;
        if &found.node != node {
            return Err(ApplyError::WrongNode {
                alloc,
                owner: found.node.clone(),
                reporter: node.clone(),
            });
        }
        if found.status.is_terminal() {
            return Err(ApplyError::AlreadyTerminal {
                alloc,
                status: found.status,
            });
        }
        Ok(found)
    }

    pub(super) fn alloc_update(
        &mut self,
        index: u64,
        now_ms: u64,
        report: AllocReport,
    ) -> Response {
        self.live_alloc_of(report.alloc, &report.node)?;
        if !report.status.reportable_by_worker() {
            return Err(ApplyError::NotReportable {
                alloc: report.alloc,
                status: report.status,
            });
        }
        self.update_alloc(report.alloc, |a| {
            if report.status == crate::AllocStatus::Running {
                a.ext.running_since_ms.get_or_insert(now_ms);
            }
            a.status = report.status;
            a.exit_code = report.exit_code;
            a.message = report.message;
            a.modified_ms = now_ms;
            a.modify_index = index;
        });
        Ok(Success::AllocUpdated {
            alloc: report.alloc,
            status: report.status,
        })
    }

    /// A worker's health report: recorded on a live allocation of its own.
    pub(super) fn alloc_health(
        &mut self,
        index: u64,
        now_ms: u64,
        report: HealthReport,
    ) -> Response {
        let alloc = self.live_alloc_of(report.alloc, &report.node)?;
        let status = alloc.status;
        let min_healthy_ms = self
            .job(&alloc.job)
            .map_or(0, |j| j.spec.ext.update.min_healthy_time_ms);
        self.update_alloc(report.alloc, |a| {
            if let Some(h) = a.ext.health.as_ref().filter(|h| {
                h.status == crate::health::HealthStatus::Healthy && h.status != report.status
            }) {
                let healthy_from = h.since_ms.max(a.ext.running_since_ms.unwrap_or(0));
                a.ext.proven |= now_ms.saturating_sub(healthy_from) >= min_healthy_ms;
            }
            // A new output under the same status is no change of health:
            // "healthy since" must not move, or a rollout's
            // min_healthy_time would never run out.
            let since_ms = match &a.ext.health {
                Some(h) if h.status == report.status => h.since_ms,
                _ => now_ms,
            };
            a.ext.health = Some(Health {
                status: report.status,
                check: report.check,
                output: clip(&report.output),
                since_ms,
            });
            a.modified_ms = now_ms;
            a.modify_index = index;
        });
        Ok(Success::AllocUpdated {
            alloc: report.alloc,
            status,
        })
    }
}
