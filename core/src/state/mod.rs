//! The replicated state machine. `apply` is total and atomic: every command
//! yields a [`Response`]; an error leaves the state exactly as it was
//! (each handler checks everything before it changes anything).

mod acl;
mod allocs;
mod changes;
mod collect;
mod command;
mod deployments;
mod digest;
mod history;
mod index;
mod jobs;
mod keys;
mod nodes;
mod plan;
mod response;
mod snapshot;

use std::collections::BTreeMap;
use std::ops::Bound;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

pub use changes::ChangedSince;
pub use command::{AllocReport, Collection, Command, CommandKind, Placement, Plan, PlanStop};
pub use deployments::{Deployment, DeploymentStatus, JobDeployments, Outcome, Settlement};
pub use digest::StateDigest;
pub use history::{HISTORY_DEPTH, PastVersion};
pub use keys::{KeyedWrite, MAX_KEY_LEN};
pub use response::{ApplyError, PlanRefusal, PlanResult, Response, Success};
pub use snapshot::{Frozen, SNAPSHOT_FORMAT_VERSION, SnapshotError, relabelled};

use crate::alloc::Allocation;
use crate::events::{Event, EventLog, EventsGone, Topic};
use crate::ids::{AllocId, JobId, NodeId};
use crate::job::JobSpec;
use crate::node::Node;
use crate::resources::Resources;
use changes::Changes;
use index::Indexes;
pub use index::{DriverSet, SlotInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Active,
    Stopped,
}

/// A job as recorded: its current spec and bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub spec: JobSpec,
    pub status: JobStatus,
    pub submitted_ms: u64,
    pub modified_ms: u64,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Everything replicated: what snapshots carry and digests hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Data {
    /// Log index of the last command that applied successfully.
    index: u64,
    /// Every node ever registered, in registration order: a node keeps its
    /// slot for life, so slots are the same on every replica.
    nodes: Vec<Node>,
    /// Persistent maps: a clone shares every node with the original until
    /// either changes, so a snapshot costs O(1) to take (`frozen`).
    jobs: OrdMap<JobId, Job>,
    allocs: OrdMap<AllocId, Allocation>,
    next_alloc: u64,
    /// Each pool's nodes in the order they joined it. Replicated (not
    /// derived) because the scheduler walks it by position: every replica,
    /// restored or not, must hold the same order.
    pool_members: BTreeMap<String, Vec<u32>>,
}

/// Replicated records kept beside [`Data`] since snapshot format 3, so
/// that format 2 snapshots (which end where `Data` ends) still restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Records {
    /// Recent keyed writes, by idempotency key.
    keys: OrdMap<String, KeyedWrite>,
    /// Each job's earlier versions, oldest first.
    history: OrdMap<JobId, Vec<PastVersion>>,
}

/// Replicated access control, kept beside [`Records`] since snapshot
/// format 4 so that older snapshots still restore (with no tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Access {
    acl: crate::acl::Acl,
}

/// Each service's deployment record, kept beside [`Access`] since
/// snapshot format 8 so that older snapshots still restore (with none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Deploys {
    jobs: OrdMap<JobId, deployments::JobDeployments>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    data: Data,
    records: Records,
    access: Access,
    deploys: Deploys,
    /// Derived from `data`; rebuilt on restore, never serialized.
    indexes: Indexes,
    /// What changed when, since the state was created or restored.
    changes: Changes,
    /// What happened, for the event stream; never serialized.
    events: EventLog,
}

impl PartialEq for ClusterState {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
            && self.records == other.records
            && self.access == other.access
            && self.deploys == other.deploys
    }
}

impl Eq for ClusterState {}

impl ClusterState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the command at log `index`. Errors change nothing.
    pub fn apply(&mut self, index: u64, cmd: Command) -> Response {
        if index <= self.data.index {
            return Err(ApplyError::StaleIndex {
                index,
                applied: self.data.index,
            });
        }
        let now_ms = cmd.now_ms;
        self.changes.applying(index);
        self.events.applying(index, now_ms);
        let (result, changed) = match cmd.kind {
            CommandKind::Batch(kinds) => {
                let responses: Vec<Response> = kinds
                    .into_iter()
                    .map(|kind| self.apply_one(index, now_ms, kind))
                    .collect();
                let changed = responses.iter().any(Result::is_ok);
                (Ok(Success::Batch(responses)), changed)
            }
            kind => {
                let result = self.apply_one(index, now_ms, kind);
                let changed = result.is_ok();
                (result, changed)
            }
        };
        if changed {
            self.data.index = index;
        }
        result
    }

    /// One command of the entry at `index`; a batch's commands share it.
    fn apply_one(&mut self, index: u64, now_ms: u64, kind: CommandKind) -> Response {
        match kind {
            CommandKind::RegisterNode(reg) => self.register_node(index, now_ms, reg),
            CommandKind::Heartbeat { node } => self.heartbeat(index, now_ms, &node),
            CommandKind::MarkNodeDisconnected {
                node,
                last_heartbeat_ms,
            } => self.mark_node_disconnected(index, now_ms, &node, last_heartbeat_ms),
            CommandKind::MarkNodeDown {
                node,
                last_heartbeat_ms,
            } => self.mark_node_down(index, now_ms, &node, last_heartbeat_ms),
            CommandKind::DrainNode { node, enable } => self.drain_node(index, &node, enable),
            CommandKind::SubmitJob(spec) => self.submit_job(index, now_ms, spec),
            CommandKind::UpdateJob {
                spec,
                expected_version,
            } => self.update_job(index, now_ms, spec, expected_version),
            CommandKind::StopJob { job } => self.stop_job(index, now_ms, &job),
            CommandKind::ApplyPlan(plan) => self.apply_plan(index, now_ms, &plan),
            CommandKind::AllocUpdate(report) => self.alloc_update(index, now_ms, report),
            CommandKind::CollectGarbage(collection) => Ok(self.collect_garbage(now_ms, collection)),
            CommandKind::Keyed { key, command } => match *command {
                CommandKind::Keyed { .. } | CommandKind::Batch(_) => {
                    Err(ApplyError::NotKeyable(command.name().to_string()))
                }
                command => self.apply_keyed(index, now_ms, key, command),
            },
            CommandKind::Batch(_) => Err(ApplyError::NestedBatch),
            CommandKind::AclBootstrap { token, reset_index } => {
                self.acl_bootstrap(index, now_ms, token, reset_index)
            }
            CommandKind::AclCreateToken(token) => self.create_token(index, now_ms, token),
            CommandKind::AclRevokeToken { accessor } => self.revoke_token(&accessor),
            CommandKind::AllocHealth(report) => self.alloc_health(index, now_ms, report),
            CommandKind::SettleDeployment(settlement) => {
                self.settle_deployment(index, now_ms, settlement)
            }
            CommandKind::PromoteDeployment { job, version } => {
                self.promote_deployment(now_ms, job, version)
            }
        }
    }

    /// Events after log index `after` on `topics` (every topic when
    /// empty), whole indexes at a time up to about `limit`; an error when
    /// this replica no longer holds all of them.
    pub fn events_since(
        &self,
        after: u64,
        topics: &[Topic],
        limit: usize,
    ) -> Result<Vec<Event>, EventsGone> {
        self.events.since(after, topics, limit)
    }

    /// Records that a leader's first entry of `term` was applied at
    /// `index` (the entry carries no command, so `apply` never sees it).
    pub fn leader_elected(&mut self, index: u64, term: u64) {
        self.events.leader_elected(index, term);
    }

    /// Keeps at most `kept` events for the event stream.
    pub fn keep_events(&mut self, kept: usize) {
        self.events.keep(kept);
    }

    /// Log index of the last successfully applied command.
    pub fn index(&self) -> u64 {
        self.data.index
    }

    /// Nodes in id order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.indexes.slots().map(|slot| self.node_at(slot))
    }

    /// Nodes from `start` on, in id order.
    pub fn nodes_from<'a>(&'a self, start: Bound<&'a str>) -> impl Iterator<Item = &'a Node> + 'a {
        self.indexes
            .slots_from(start)
            .map(|slot| self.node_at(slot))
    }

    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.indexes.slot(id).map(|slot| self.node_at(slot))
    }

    pub fn node_count(&self) -> usize {
        self.data.nodes.len()
    }

    /// A node's slot: its fixed position among all nodes.
    pub fn slot_of(&self, id: &NodeId) -> Option<u32> {
        self.indexes.slot(id)
    }

    /// The node in `slot`. Slots come from this state, so they are in range.
    pub fn node_at(&self, slot: u32) -> &Node {
        &self.data.nodes[slot as usize]
    }

    /// Changes a node, keeping its slot summary and the change record in
    /// step.
    fn update_node<R>(&mut self, id: &NodeId, change: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let slot = self.indexes.slot(id)?;
        let node = self.data.nodes.get_mut(slot as usize)?;
        let before = node.clone();
        let result = change(node);
        self.indexes.refresh(slot, node);
        let after = &self.data.nodes[slot as usize];
        self.changes.node_changed(&before, after);
        self.events.node_changed(&before, after);
        Some(result)
    }

    /// Jobs and nodes changed after log `index`, or `None` when this state
    /// cannot tell (it was restored from a later snapshot).
    pub fn changed_since(&self, index: u64) -> Option<ChangedSince> {
        self.changes.since(index)
    }

    /// The nodes one of whose allocations was placed or changed after log
    /// `index`, or `None` when this state cannot tell: what wakes a
    /// worker's long poll.
    pub fn assigned_since(&self, index: u64) -> Option<Vec<NodeId>> {
        self.changes
            .assigned_since(index)
            .map(|nodes| nodes.cloned().collect())
    }

    /// The last log index at which room for work may have grown: a node
    /// joined or changed, or an allocation stopped holding resources.
    pub fn capacity_grew_at(&self) -> u64 {
        self.changes.capacity_grew_at()
    }

    /// The scheduler's dense view of the node in `slot`.
    pub fn slot_info(&self, slot: u32) -> SlotInfo {
        self.indexes.info(slot)
    }

    /// The slots of a pool's nodes, in the order they joined it.
    pub fn pool_members(&self, pool: &str) -> &[u32] {
        self.data.pool_members.get(pool).map_or(&[], Vec::as_slice)
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.data.jobs.values()
    }

    /// Jobs from `start` on, in id order: a page of a long list costs the
    /// page, not the list.
    pub fn jobs_from<'a>(&'a self, start: Bound<&'a str>) -> impl Iterator<Item = &'a Job> + 'a {
        self.data
            .jobs
            .range::<_, str>((start, Bound::Unbounded))
            .map(|(_, job)| job)
    }

    pub fn job(&self, id: &JobId) -> Option<&Job> {
        self.data.jobs.get(id)
    }

    pub fn job_count(&self) -> usize {
        self.data.jobs.len()
    }

    pub fn alloc_count(&self) -> usize {
        self.data.allocs.len()
    }

    pub fn allocs(&self) -> impl Iterator<Item = &Allocation> {
        self.data.allocs.values()
    }

    pub fn alloc(&self, id: AllocId) -> Option<&Allocation> {
        self.data.allocs.get(&id)
    }

    /// A job's allocations after `after` (all with `None`), in id order.
    pub fn job_allocs_after(
        &self,
        job: &JobId,
        after: Option<AllocId>,
    ) -> impl Iterator<Item = &Allocation> {
        self.indexes
            .by_job_after(job, after)
            .filter_map(|id| self.data.allocs.get(&id))
    }

    /// A job's allocations, in id order.
    pub fn job_allocs(&self, job: &JobId) -> impl Iterator<Item = &Allocation> {
        self.indexes
            .by_job(job)
            .filter_map(|id| self.data.allocs.get(&id))
    }

    /// The newest allocation id issued: ids are issued in log order, so a
    /// replica that has issued `id` has applied that allocation's placement.
    pub fn last_alloc_id(&self) -> AllocId {
        AllocId(self.data.next_alloc)
    }

    /// A node's allocations, in id order.
    pub fn node_allocs(&self, node: &NodeId) -> impl Iterator<Item = &Allocation> {
        self.indexes
            .by_node(node)
            .filter_map(|id| self.data.allocs.get(&id))
    }

    /// The ports held on `node`'s host (`Allocation::holds_ports`): a
    /// port belongs to an address, so nodes registered at the same host —
    /// `drover dev`'s, a test's — share one set. Scans the nodes: asked
    /// only for jobs with ports.
    pub fn node_ports(&self, node: &NodeId) -> std::collections::BTreeSet<u16> {
        let Some(host) = self.node(node).map(|n| crate::ports::host_of(&n.address)) else {
            return std::collections::BTreeSet::new();
        };
        if crate::planted::active(crate::planted::Bug::IgnoreHeldPorts) {
            return std::collections::BTreeSet::new();
        }
        self.nodes()
            .filter(|n| crate::ports::host_of(&n.address) == host)
            .flat_map(|n| self.node_allocs(&n.id))
            .filter(|a| a.holds_ports())
            .flat_map(|a| a.ext.ports.iter().map(|p| p.port))
            .collect()
    }

    /// [`ClusterState::node_ports`] for every host at once, by host: one
    /// walk over the nodes, for a scheduler asking about many of them.
    pub fn ports_by_host(&self) -> BTreeMap<&str, std::collections::BTreeSet<u16>> {
        let mut by_host: BTreeMap<&str, std::collections::BTreeSet<u16>> = BTreeMap::new();
        for node in self.nodes() {
            let held = by_host
                .entry(crate::ports::host_of(&node.address))
                .or_default();
            if crate::planted::active(crate::planted::Bug::IgnoreHeldPorts) {
                continue;
            }
            held.extend(
                self.node_allocs(&node.id)
                    .filter(|a| a.holds_ports())
                    .flat_map(|a| a.ext.ports.iter().map(|p| p.port)),
            );
        }
        by_host
    }

    /// Resources held on `node` by allocations that have not finished.
    pub fn node_used(&self, node: &NodeId) -> Resources {
        self.indexes
            .slot(node)
            .map_or(Resources::ZERO, |slot| self.indexes.info(slot).used)
    }

    /// [`ClusterState::node_used`] by slot.
    pub fn used_at(&self, slot: u32) -> Resources {
        self.indexes.info(slot).used
    }

    /// What `node` can still take.
    pub fn node_free(&self, node: &NodeId) -> Resources {
        self.node(node).map_or(Resources::ZERO, |n| {
            n.capacity.saturating_sub(self.node_used(node))
        })
    }

    fn insert_alloc(&mut self, alloc: Allocation) {
        self.changes.job(&alloc.job);
        self.changes.assigned(&alloc.node);
        self.events.alloc_placed(&alloc);
        self.indexes.insert(&alloc);
        self.data.allocs.insert(alloc.id, alloc);
    }

    /// Changes one allocation, keeping the indexes in step.
    fn update_alloc(&mut self, id: AllocId, change: impl FnOnce(&mut Allocation)) {
        if let Some(alloc) = self.data.allocs.get_mut(&id) {
            let held = alloc.holds_resources();
            let held_ports = alloc.holds_ports() && !alloc.ext.ports.is_empty();
            // Only what the event stream compares: cloning the whole
            // allocation on every update would cost more than the rest.
            let before = (alloc.desired, alloc.status);
            self.indexes.remove(alloc);
            change(alloc);
            self.events.alloc_changed(before, alloc);
            self.indexes.insert(alloc);
            self.changes.job(&alloc.job);
            self.changes.assigned(&alloc.node);
            // Ports free only when the task has ended (`holds_ports`):
            // jobs blocked on a static port are looked at again then.
            if (held && !alloc.holds_resources()) || (held_ports && !alloc.holds_ports()) {
                self.changes.capacity_grew();
            }
        }
    }
}
