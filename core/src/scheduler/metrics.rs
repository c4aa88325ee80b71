//! Why nodes were passed over: every rejection is counted by reason, as
//! Nomad's `AllocMetric` does, so a pending job can say what stands in its way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::job::JobSpec;
use crate::resources::Resources;

/// Why one node could not take one allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rejection {
    NotReady,
    Draining,
    RunsNoWork,
    NotInPool,
    /// The node does not offer the task's driver.
    NoDriver,
    /// The job's constraint at this position does not hold.
    Constraint(u16),
    MaxPerNode,
    Cpu,
    Memory,
    Gpus,
    /// A static port the task asks for is held on the node, or the job
    /// already has an allocation there (which holds it).
    Port,
    /// Too few ports of the node's dynamic range are free for the task's
    /// dynamic ports.
    PortRange,
    /// The node lacks a host volume the job asks for, or offers it
    /// read-only to a task that writes.
    Volume,
}

impl Rejection {
    /// A short stable name, for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::NotReady => "not_ready",
            Rejection::Draining => "draining",
            Rejection::RunsNoWork => "runs_no_work",
            Rejection::NotInPool => "not_in_pool",
            Rejection::NoDriver => "no_driver",
            Rejection::Constraint(_) => "constraint",
            Rejection::MaxPerNode => "max_per_node",
            Rejection::Cpu => "cpu",
            Rejection::Memory => "memory",
            Rejection::Gpus => "gpus",
            Rejection::Port => "port",
            Rejection::PortRange => "port_range",
            Rejection::Volume => "volume",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementMetrics {
    /// Nodes in the cluster when the job was considered.
    pub nodes_total: u32,
    /// Nodes the scheduler examined (pool members it walked to).
    pub nodes_evaluated: u32,
    pub rejected: BTreeMap<Rejection, u32>,
    /// What one allocation asks for.
    pub need: Resources,
    /// Most free capacity, per dimension, among nodes that passed every
    /// check but resources: the "best has" of an explanation.
    pub best_free: Resources,
    /// Allocations that found no node.
    pub unplaced: u32,
}

impl PlacementMetrics {
    pub(super) fn reject(&mut self, why: Rejection) {
        *self.rejected.entry(why).or_default() += 1;
    }

    pub(super) fn saw_free(&mut self, free: Resources) {
        self.best_free.cpu_millis = self.best_free.cpu_millis.max(free.cpu_millis);
        self.best_free.memory_mb = self.best_free.memory_mb.max(free.memory_mb);
        self.best_free.gpus = self.best_free.gpus.max(free.gpus);
    }

    /// One line per reason, most frequent first:
    /// `12 nodes: not enough memory (need 2048 MiB, best has 1024 MiB)`.
    pub fn explain(&self, job: &JobSpec) -> Vec<String> {
        let mut reasons: Vec<(&Rejection, &u32)> = self.rejected.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let said: Vec<String> = reasons
            .into_iter()
            .map(|(why, count)| {
                let nodes = if *count == 1 { "node" } else { "nodes" };
                format!("{count} {nodes}: {}", self.describe(*why, job))
            })
            .collect();
        if !said.is_empty() || self.unplaced == 0 {
            return said;
        }
        // Nothing was passed over, yet something found no node: there
        // was none to look at, which must be said too.
        vec![if self.nodes_total == 0 {
            "no node has registered yet".to_string()
        } else {
            format!("no node was considered (pool {})", job.pool)
        }]
    }

    fn describe(&self, why: Rejection, job: &JobSpec) -> String {
        let (need, best) = (self.need, self.best_free);
        match why {
            Rejection::NotReady => "not ready (disconnected or down)".into(),
            Rejection::Draining => "draining".into(),
            Rejection::RunsNoWork => "role runs no work (control or edge)".into(),
            Rejection::NotInPool => format!("not in pool {}", job.pool),
            Rejection::NoDriver => format!("no {} driver", job.task.driver),
            Rejection::Constraint(i) => job.constraints.get(usize::from(i)).map_or_else(
                || format!("constraint #{i}"),
                |c| {
                    format!(
                        "constraint {} {} {}",
                        c.attribute,
                        c.op.symbol(),
                        operand(&c.op)
                    )
                },
            ),
            Rejection::Port => {
                let ports: Vec<String> = crate::ports::fixed(&job.ext.ports)
                    .map(|p| p.to_string())
                    .collect();
                format!(
                    "static port {} held (by this job's allocation there, or another's)",
                    ports.join(", ")
                )
            }
            Rejection::PortRange => "every port of its dynamic range is held".into(),
            Rejection::Volume => {
                let asks: Vec<String> = job
                    .ext
                    .volumes
                    .iter()
                    .map(|v| format!("{} ({})", v.name, crate::volumes::access(v.read_only)))
                    .collect();
                format!("lacks host volume {}", asks.join(", "))
            }
            Rejection::MaxPerNode => format!(
                "already run max_per_node = {} of this job",
                job.max_per_node.unwrap_or(0)
            ),
            Rejection::Cpu => format!(
                "not enough CPU (need {} millicpu, best has {})",
                need.cpu_millis, best.cpu_millis
            ),
            Rejection::Memory => format!(
                "not enough memory (need {} MiB, best has {})",
                need.memory_mb, best.memory_mb
            ),
            Rejection::Gpus => format!(
                "not enough GPUs (need {}, best has {})",
                need.gpus, best.gpus
            ),
        }
    }
}

fn operand(op: &crate::job::ConstraintOp) -> String {
    use crate::job::ConstraintOp as Op;
    match op {
        Op::Eq(v) | Op::NotEq(v) | Op::Version(v) | Op::Regex(v) => v.clone(),
        Op::In(vs) | Op::NotIn(vs) => format!("[{}]", vs.join(", ")),
        Op::Exists => String::new(),
    }
}
