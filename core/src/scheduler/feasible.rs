//! Feasibility: can this node take one more allocation of this job? Checks
//! run cheapest first and stop at the first failure, which is recorded.

use std::collections::BTreeSet;

use regex::Regex;

use super::metrics::Rejection;
use crate::job::{Attribute, ConstraintOp, JobSpec};
use crate::node::{Node, NodeStatus};
use crate::planted::{self, Bug};
use crate::resources::Resources;
use crate::state::DriverSet;
use crate::version::{Version, VersionReq};

/// A node attribute's first value, without allocating: what spread counts.
pub fn first_value<'n>(node: &'n Node, attribute: &Attribute) -> Option<&'n str> {
    match attribute {
        Attribute::NodeId => Some(node.id.as_str()),
        Attribute::Region => Some(node.region.as_str()),
        Attribute::Pool => node.pools.iter().next().map(String::as_str),
        Attribute::Label(key) => node.labels.get(key).map(String::as_str),
    }
}

/// A node attribute's values: one for most, every pool for `node.pool`.
pub fn attribute_values<'n>(node: &'n Node, attribute: &Attribute) -> Vec<&'n str> {
    match attribute {
        Attribute::NodeId => vec![node.id.as_str()],
        Attribute::Region => vec![node.region.as_str()],
        Attribute::Pool => node.pools.iter().map(String::as_str).collect(),
        Attribute::Label(key) => node
            .labels
            .get(key)
            .map(String::as_str)
            .into_iter()
            .collect(),
    }
}

/// A constraint with its pattern or range compiled once per job.
enum Compiled<'j> {
    Eq(&'j str),
    NotEq(&'j str),
    In(BTreeSet<&'j str>),
    NotIn(BTreeSet<&'j str>),
    Exists,
    Version(Option<VersionReq>),
    Regex(Option<Regex>),
}

impl Compiled<'_> {
    fn holds(&self, values: &[&str]) -> bool {
        match self {
            Self::Eq(want) => values.contains(want),
            Self::NotEq(want) => !values.contains(want),
            Self::In(set) => values.iter().any(|v| set.contains(v)),
            Self::NotIn(set) => !values.iter().any(|v| set.contains(v)),
            Self::Exists => !values.is_empty(),
            Self::Version(req) => req.as_ref().is_some_and(|req| {
                values
                    .iter()
                    .any(|v| Version::parse(v).is_ok_and(|v| req.matches(&v)))
            }),
            Self::Regex(re) => re
                .as_ref()
                .is_some_and(|re| values.iter().any(|v| re.is_match(v))),
        }
    }
}

pub struct Checker<'j> {
    pub job: &'j JobSpec,
    constraints: Vec<(&'j Attribute, Compiled<'j>)>,
}

impl<'j> Checker<'j> {
    /// Compiles the job's constraints. A pattern or range that does not
    /// compile (validation refuses those) matches no node.
    pub fn new(job: &'j JobSpec) -> Self {
        let constraints = job
            .constraints
            .iter()
            .map(|c| {
                let compiled = match &c.op {
                    ConstraintOp::Eq(v) => Compiled::Eq(v),
                    ConstraintOp::NotEq(v) => Compiled::NotEq(v),
                    ConstraintOp::In(vs) => Compiled::In(vs.iter().map(String::as_str).collect()),
                    ConstraintOp::NotIn(vs) => {
                        Compiled::NotIn(vs.iter().map(String::as_str).collect())
                    }
                    ConstraintOp::Exists => Compiled::Exists,
                    ConstraintOp::Version(range) => {
                        Compiled::Version(VersionReq::parse(range).ok())
                    }
                    ConstraintOp::Regex(pattern) => Compiled::Regex(Regex::new(pattern).ok()),
                };
                (&c.attribute, compiled)
            })
            .collect();
        Self { job, constraints }
    }

    /// Checks everything about the node except its free resources and how
    /// many of the job's allocations it holds: what cannot change while a
    /// plan is being built.
    pub fn static_check(&self, node: &Node) -> Result<(), Rejection> {
        if !node.pools.contains(&self.job.pool) {
            return Err(Rejection::NotInPool);
        }
        readiness_check(node)?;
        self.driver_check(DriverSet::of(&node.drivers))?;
        self.volume_check(node)?;
        self.constraint_check(node)
    }

    /// Every host volume the job asks for is offered, writable if it
    /// writes (`crate::volumes`).
    pub fn volume_check(&self, node: &Node) -> Result<(), Rejection> {
        match crate::volumes::missing(node, &self.job.ext.volumes) {
            None => Ok(()),
            Some(_) => Err(Rejection::Volume),
        }
    }

    pub fn has_volumes(&self) -> bool {
        !self.job.ext.volumes.is_empty()
    }

    pub fn driver_check(&self, drivers: DriverSet) -> Result<(), Rejection> {
        if drivers.contains(self.job.task.driver) {
            Ok(())
        } else {
            Err(Rejection::NoDriver)
        }
    }

    pub fn has_constraints(&self) -> bool {
        !self.constraints.is_empty()
    }

    pub fn constraint_check(&self, node: &Node) -> Result<(), Rejection> {
        if planted::active(Bug::IgnoreConstraints) {
            return Ok(());
        }
        for (i, (attribute, compiled)) in self.constraints.iter().enumerate() {
            if !compiled.holds(&attribute_values(node, attribute)) {
                return Err(Rejection::Constraint(u16::try_from(i).unwrap_or(u16::MAX)));
            }
        }
        Ok(())
    }

    pub fn count_check(&self, on_node: u32) -> Result<(), Rejection> {
        match self.job.max_per_node {
            Some(max) if on_node >= max => Err(Rejection::MaxPerNode),
            _ => Ok(()),
        }
    }

    /// A task with static ports fits a node where none of them is held,
    /// and where the job has no allocation yet (`on_node`): it would hold
    /// the same ports. One with dynamic ports fits where the node's range
    /// has that many free. `held` is asked for only when it matters.
    pub fn port_check(
        &self,
        on_node: u32,
        node: &Node,
        held: impl FnOnce() -> std::collections::BTreeSet<u16>,
    ) -> Result<(), Rejection> {
        let asks = &self.job.ext.ports;
        let has_fixed = crate::ports::fixed(asks).next().is_some();
        let dynamic = asks.iter().filter(|a| a.fixed.is_none()).count();
        if !has_fixed && dynamic == 0 {
            return Ok(());
        }
        if has_fixed && on_node > 0 {
            return Err(Rejection::Port);
        }
        let held = held();
        if crate::ports::fixed_free(asks, &held).is_err() {
            return Err(Rejection::Port);
        }
        let range = crate::ports::dynamic_range(node);
        let taken: BTreeSet<u16> = held
            .iter()
            .copied()
            .chain(crate::ports::fixed(asks))
            .filter(|p| range.contains(p))
            .collect();
        let size = usize::from(*range.end() - *range.start()) + 1;
        if size.saturating_sub(taken.len()) < dynamic {
            return Err(Rejection::PortRange);
        }
        Ok(())
    }

    pub fn fit_check(&self, free: Resources) -> Result<(), Rejection> {
        let need = self.job.task.resources;
        if planted::active(Bug::SkipCapacityCheck) {
            Ok(())
        } else if need.cpu_millis > free.cpu_millis {
            Err(Rejection::Cpu)
        } else if need.memory_mb > free.memory_mb {
            Err(Rejection::Memory)
        } else if need.gpus > free.gpus {
            Err(Rejection::Gpus)
        } else {
            Ok(())
        }
    }
}

/// Ready, not draining, and of a role that runs work; the reason if not.
pub fn readiness_check(node: &Node) -> Result<(), Rejection> {
    if node.status != NodeStatus::Ready {
        Err(Rejection::NotReady)
    } else if node.draining {
        Err(Rejection::Draining)
    } else if !node.role.runs_work() {
        Err(Rejection::RunsNoWork)
    } else {
        Ok(())
    }
}
