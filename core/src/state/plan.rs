//! Applying a plan: optimistic concurrency, as Nomad's plan applier. The
//! scheduler planned against an earlier state; each stop and placement is
//! re-checked here against the committed state, stale parts are refused and
//! reported, and the rest applies. Stops go first, so their room is reusable.

use super::{
    ApplyError, ClusterState, JobStatus, Placement, Plan, PlanRefusal, PlanResult, PlanStop,
    Response, Success,
};
use std::collections::BTreeMap;

use crate::alloc::{AllocStatus, Allocation, DesiredStatus};
use crate::ids::{AllocId, JobId};
use crate::planted::{self, Bug};

impl ClusterState {
    pub(super) fn apply_plan(&mut self, index: u64, now_ms: u64, plan: &Plan) -> Response {
        if plan.stops.is_empty() && plan.placements.is_empty() {
            return Err(ApplyError::EmptyPlan);
        }
        let mut result = PlanResult::default();
        for stop in &plan.stops {
            match self.check_stop(stop) {
                Ok(()) => {
                    self.update_alloc(stop.alloc, |a| {
                        a.desired = DesiredStatus::Stop;
                        a.message.clone_from(&stop.reason);
                        a.modified_ms = now_ms;
                        a.modify_index = index;
                    });
                    result.stopped.push(stop.alloc);
                }
                Err(refusal) => result.stops_refused.push((stop.alloc, refusal)),
            }
        }
        // Freshness per job, decided once: the plan's own placements do
        // not change the answer.
        let mut fresh: BTreeMap<JobId, Result<(), PlanRefusal>> = BTreeMap::new();
        for (position, placement) in plan.placements.iter().enumerate() {
            let freshness = fresh
                .entry(placement.job.clone())
                .or_insert_with(|| self.check_fresh(index, plan.based_on_index, placement))
                .clone();
            let checked = freshness.and_then(|()| self.check_placement(placement));
            match checked {
                Ok(alloc) => {
                    let id = self.place(index, now_ms, alloc);
                    result.placed.push(id);
                }
                Err(refusal) => result.placements_refused.push((position, refusal)),
            }
        }
        Ok(Success::Plan(result))
    }

    /// Refuses a placement for a job that gained allocations (other than
    /// this plan's own) since `based_on`.
    fn check_fresh(
        &self,
        index: u64,
        based_on: Option<u64>,
        p: &Placement,
    ) -> Result<(), PlanRefusal> {
        let Some(based_on) = based_on else {
            return Ok(());
        };
        let newer = self
            .job_allocs(&p.job)
            .any(|a| a.create_index > based_on && a.create_index != index);
        if newer {
            return Err(PlanRefusal::StaleJobAllocations);
        }
        Ok(())
    }

    fn check_stop(&self, stop: &PlanStop) -> Result<(), PlanRefusal> {
        let alloc = self
            .data
            .allocs
            .get(&stop.alloc)
            .ok_or(PlanRefusal::UnknownAlloc)?;
        if alloc.status.is_terminal() {
            return Err(PlanRefusal::AllocTerminal);
        }
        Ok(())
    }

    /// Checks a placement; on success returns the template of the new
    /// allocation (its id is assigned by `place`).
    fn check_placement(&self, p: &Placement) -> Result<Allocation, PlanRefusal> {
        let job = self.data.jobs.get(&p.job).ok_or(PlanRefusal::UnknownJob)?;
        if job.status == JobStatus::Stopped {
            return Err(PlanRefusal::JobStopped);
        }
        if job.spec.version != p.job_version {
            return Err(PlanRefusal::StaleJobVersion {
                planned: p.job_version,
                current: job.spec.version,
            });
        }
        let node = self.node(&p.node).ok_or(PlanRefusal::UnknownNode)?;
        if !node.accepts_work() {
            return Err(PlanRefusal::NodeNotAcceptingWork);
        }
        if !node.drivers.contains(&job.spec.task.driver) {
            return Err(PlanRefusal::NodeLacksDriver);
        }
        if let Some(why) = crate::volumes::missing(node, &job.spec.ext.volumes) {
            return Err(PlanRefusal::Volume(why));
        }
        let ask = job.spec.task.resources;
        let fits = self
            .node_used(&p.node)
            .checked_add(ask)
            .is_some_and(|total| node.capacity.covers(total));
        if !fits && !planted::active(Bug::SkipCapacityCheck) {
            return Err(PlanRefusal::InsufficientCapacity);
        }
        let ports = crate::ports::assign(
            &job.spec.ext.ports,
            &self.node_ports(&p.node),
            crate::ports::dynamic_range(node),
        )
        .map_err(PlanRefusal::Ports)?;
        let attempts = match p.previous {
            None => 0,
            Some(prev) => {
                let prev = self
                    .data
                    .allocs
                    .get(&prev)
                    .ok_or(PlanRefusal::UnknownPrevious)?;
                prev.attempts.saturating_add(1)
            }
        };
        Ok(Allocation {
            id: AllocId(0),
            job: p.job.clone(),
            job_version: p.job_version,
            node: p.node.clone(),
            resources: ask,
            desired: DesiredStatus::Run,
            status: AllocStatus::Pending,
            exit_code: None,
            message: String::new(),
            attempts,
            previous: p.previous,
            created_ms: 0,
            modified_ms: 0,
            create_index: 0,
            modify_index: 0,
            ext: crate::extensions::AllocExtensions {
                ports,
                ..crate::extensions::AllocExtensions::default()
            },
        })
    }

    fn place(&mut self, index: u64, now_ms: u64, mut alloc: Allocation) -> AllocId {
        self.data.next_alloc += 1;
        alloc.id = AllocId(self.data.next_alloc);
        alloc.created_ms = now_ms;
        alloc.modified_ms = now_ms;
        alloc.create_index = index;
        alloc.modify_index = index;
        let id = alloc.id;
        self.insert_alloc(alloc);
        id
    }
}
