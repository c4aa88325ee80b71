//! Workers' reports on their allocations. The first terminal status is the
//! one recorded: later reports about a finished allocation are refused.

use super::{AllocReport, ApplyError, ClusterState, Response, Success};

impl ClusterState {
    pub(super) fn alloc_update(
        &mut self,
        index: u64,
        now_ms: u64,
        report: AllocReport,
    ) -> Response {
        let alloc = self
            .data
            .allocs
            .get(&report.alloc)
            .ok_or(ApplyError::UnknownAlloc(report.alloc))?;
        if alloc.node != report.node {
            return Err(ApplyError::WrongNode {
                alloc: report.alloc,
                owner: alloc.node.clone(),
                reporter: report.node,
            });
        }
        if alloc.status.is_terminal() {
            return Err(ApplyError::AlreadyTerminal {
                alloc: report.alloc,
                status: alloc.status,
            });
        }
        if !report.status.reportable_by_worker() {
            return Err(ApplyError::NotReportable {
                alloc: report.alloc,
                status: report.status,
            });
        }
        self.update_alloc(report.alloc, |a| {
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
}
