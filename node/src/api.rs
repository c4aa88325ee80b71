//! The public API. Any node answers: writes are forwarded to the leader and
//! answered once committed; reads come from the node's own replica once it
//! has caught up with the leader's read index (`read`), or at once when
//! the caller accepts a stale answer.
//! Structured answers are JSON documents, the same the REST API will serve.

use drover_core::acl::Capability;
use drover_core::reconcile::{JobPhase, job_phase};
use drover_core::reconcile::{Leadership, ReconcileConfig, Scope, plan_cycle_in};
use drover_core::scheduler::SchedulerConfig;
use drover_core::spec::{Format, parse_job_spec};
use drover_core::state::{ApplyError, Success};
use drover_core::{AllocId, CommandKind, JobId};
use drover_proto::v1::api_server::Api;
use drover_proto::v1::{
    AclRevokeRequest, AclTokenRequest, DrainRequest, Empty, EventsRequest, JobRef, JsonReply,
    LogsReply, LogsRequest, MemberRequest, Read, ReadJob, RevertRequest, SubmitJobReply,
    SubmitJobRequest,
};
use serde_json::{Value, json};
use tonic::{Request, Response, Status};

use std::ops::Bound;
use std::time::Duration;

use crate::access;
use crate::handover;
use crate::membership::{self, Announcements};
use crate::paging::{PageRequest, take_page};
use crate::propose::{NotCommitted, Proposer};
use crate::raft::{CommittedIndex, Raft, Rpc, SharedState, call_internal, connect};
use crate::work::OutputRequest;

const LOG_CHUNK_BYTES: u32 = 256 * 1024;
use crate::time::now_ms;
use crate::versions;

pub struct ApiService {
    pub raft: Raft,
    pub proposer: Proposer,
    pub state: SharedState,
    pub committed: CommittedIndex,
    /// The replica's last applied index, for event streams that follow.
    pub applied: tokio::sync::watch::Receiver<u64>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Control nodes to relay every call to while this node holds no
    /// replica: always on a worker or edge node, until it is added on a
    /// node started with `join`.
    pub upstream: Option<Vec<String>>,
    pub announcements: Announcements,
    pub membership_changes: membership::ChangeLock,
    pub transport: Transport,
    /// Whether every public call needs an ACL token.
    pub acl: access::Setting,
    /// This node's region and how to reach the others.
    pub federation: crate::federation::Federation,
}

/// How this node is reached, for `cluster status` to say.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Every connection is mutual TLS.
    pub tls: bool,
    /// Every public call needs an ACL token.
    pub acl: bool,
    /// Addresses beyond loopback it serves without TLS or without ACLs
    /// (`--insecure`), as `key = "addr"`.
    pub insecure: Vec<String>,
}

impl ApiService {
    /// The node's metrics page, with Raft's and the replica's figures as
    /// they are now.
    pub async fn metrics_page(&self) -> String {
        let (term, leader, last_log_index) = {
            let raft = self.raft.metrics();
            let raft = raft.borrow();
            let leading = raft.state == openraft::ServerState::Leader;
            (raft.current_term, leading, raft.last_log_index.unwrap_or(0))
        };
        let replica = self.state.read().await;
        let view = crate::metrics::RaftView {
            term,
            leader,
            last_log_index,
            commit_index: self.committed.get().unwrap_or(0),
            applied_index: replica.last_applied.map_or(0, |id| id.index),
        };
        self.metrics.render(view, &replica.state)
    }

    /// Unless the caller accepts a stale answer, waits until this replica
    /// reflects every write acknowledged before the read began.
    pub(crate) async fn settle(&self, stale: bool) -> Result<(), Status> {
        if stale || drover_core::planted::active(drover_core::planted::Bug::StaleReads) {
            return Ok(());
        }
        crate::read::catch_up(&self.raft, self.proposer.peers())
            .await
            .map_err(Status::unavailable)
    }

    /// Unless ACLs are off, the call's token must allow `need` on this
    /// replica, which stops honouring a revoked token when it applies
    /// the revocation.
    pub(crate) async fn allow<T>(
        &self,
        request: &Request<T>,
        need: Capability<'_>,
    ) -> Result<(), Status> {
        if !self.acl.enabled {
            return Ok(());
        }
        let replica = self.state.read().await;
        replica
            .state
            .acl()
            .check(access::presented(request.metadata()), need)
            .map(|_| ())
            .map_err(|denied| access::refusal(&denied))
    }

    /// A read this node answers itself (its metrics): a node without a
    /// replica (worker, edge) has no tokens to check against, so its
    /// control nodes check the token.
    #[cfg(not(madsim))]
    pub(crate) async fn allow_read_here(&self, request: Request<Empty>) -> Result<(), Status> {
        if let Some(mut upstream) = self.upstream().await? {
            return upstream
                .acl_self(access::forward(request))
                .await
                .map(|_| ());
        }
        self.allow(&request, Capability::Read).await
    }

    /// Writing job `id`: the token must allow writing to the job's pool
    /// as it is and, for a new spec, as it will be. A job this replica
    /// does not hold is looked for again once it has caught up.
    async fn allow_job_write<T>(
        &self,
        request: &Request<T>,
        id: &JobId,
        new_pool: Option<&str>,
    ) -> Result<(), Status> {
        if !self.acl.enabled {
            return Ok(());
        }
        if let Some(pool) = new_pool {
            self.allow(request, Capability::JobWrite { pool }).await?;
        }
        let mut current = self.job_pool(id).await;
        if current.is_none() {
            self.settle(false).await?;
            current = self.job_pool(id).await;
        }
        match (current, new_pool) {
            (Some(pool), _) => {
                self.allow(request, Capability::JobWrite { pool: &pool })
                    .await
            }
            (None, Some(_)) => Ok(()),
            (None, None) => {
                self.allow(request, Capability::Read).await?;
                Err(Status::not_found(format!("no job {id}")))
            }
        }
    }

    async fn job_pool(&self, id: &JobId) -> Option<String> {
        let replica = self.state.read().await;
        replica.state.job(id).map(|job| job.spec.pool.clone())
    }

    /// A client to a control node when this node relays; `None` when it answers itself.
    pub(crate) async fn upstream(&self) -> Result<Option<crate::client::Connection>, Status> {
        let Some(addrs) = &self.upstream else {
            return Ok(None);
        };
        if membership::is_self_member(&self.raft) {
            return Ok(None);
        }
        for addr in addrs {
            if let Ok(client) = crate::client::connect(addr).await {
                return Ok(Some(client));
            }
        }
        Err(Status::unavailable(
            "no control node reachable from this node",
        ))
    }

    /// Commits `kind` through the leader: its log index and what applying
    /// it yielded, or why it did not commit, as a status that says
    /// whether it may have.
    pub(crate) async fn commit(
        &self,
        kind: CommandKind,
    ) -> Result<(u64, drover_core::Response), Status> {
        self.proposer
            .propose(kind)
            .await
            .map_err(NotCommitted::into_status)
    }

    /// The answer to a submission that changed nothing: the job's version.
    async fn unchanged(&self, id: &JobId, index: u64) -> Result<Response<SubmitJobReply>, Status> {
        let state = self.state.read().await;
        let version = state.state.job(id).map_or(0, |j| j.spec.version);
        Ok(Response::new(SubmitJobReply {
            job: id.to_string(),
            version,
            index,
            regions: Vec::new(),
        }))
    }

    /// A submission under `--check-index`: a new job when `expected` is 0,
    /// otherwise an update of the job at exactly version `expected`.
    async fn submit_checked(
        &self,
        spec: drover_core::JobSpec,
        expected: u64,
        key: &str,
    ) -> Result<Response<SubmitJobReply>, Status> {
        let id = spec.id.clone();
        let command = keyed(
            key,
            match expected {
                0 => CommandKind::SubmitJob(spec),
                version => CommandKind::UpdateJob {
                    spec,
                    expected_version: Some(version),
                },
            },
        );
        let (index, outcome) = self.commit(command).await?;
        match outcome {
            Ok(Success::Unchanged) => self.unchanged(&id, index).await,
            Err(ApplyError::JobExists(job)) => Err(Status::failed_precondition(format!(
                "check index 0: job {job} already exists (check index 0 submits a new job only); `drover job status {job}` shows its version"
            ))),
            Err(ApplyError::VersionMismatch {
                job,
                expected,
                actual,
            }) => Err(Status::failed_precondition(format!(
                "check index {expected}: job {job} is at version {actual}; someone changed it since. Look at it again (`drover job status {job}`) and submit with --check-index {actual}"
            ))),
            other => committed(index, other),
        }
    }

    /// A client to the leader's API when another node leads; `None` when
    /// this one does. Calls only the leader can answer (membership) go
    /// there.
    async fn leader_api(&self) -> Result<Option<crate::client::Connection>, Status> {
        let (own, leader) = crate::raft::known_leader(&self.raft);
        match leader {
            Some((id, _)) if id == own => Ok(None),
            Some((_, Some(addr))) => crate::client::connect(&addr)
                .await
                .map(Some)
                .map_err(|e| NotCommitted::NotApplied(e).into_status()),
            _ => Err(
                NotCommitted::NotApplied("no leader is known to this node".into()).into_status(),
            ),
        }
    }
}

/// Relays the call, with its token and region, to a control node when
/// this node has no replica, and to the region it names when that is
/// another.
macro_rules! relay {
    ($self:ident, $method:ident, $request:ident) => {
        if let Some(mut upstream) = $self.upstream().await? {
            return upstream.$method(access::forward($request)).await;
        }
        if let Some((region, mut remote)) = $self.federation.route(&$request).await? {
            let call = remote.$method(access::forward($request));
            return $self.federation.answered(&region, call).await;
        }
    };
}

/// Passes the call, with its token, to the leader when another node leads.
macro_rules! to_leader {
    ($self:ident, $method:ident, $request:ident) => {
        if let Some(mut leader) = $self.leader_api().await? {
            return leader.$method(access::forward($request)).await;
        }
    };
}

/// Where a page of an id-ordered list starts: after the token, and not
/// before the first id that could start with `prefix`.
fn starting_point<'a>(after: Option<&'a str>, prefix: &'a str) -> Bound<&'a str> {
    match after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ if !prefix.is_empty() => Bound::Included(prefix),
        Some(after) => Bound::Excluded(after),
        None => Bound::Unbounded,
    }
}

/// A spec's problems as JSON, one object each: `path`, `line`, `column`
/// (null where unknown) and `message` — what `drover job validate --json`
/// prints and the REST API answers.
pub fn spec_problems(errors: &drover_core::spec::SpecErrors) -> Value {
    errors
        .iter()
        .map(|e| {
            json!({
                "path": e.path,
                "line": e.pos.map(|p| p.line),
                "column": e.pos.map(|p| p.column),
                "message": e.message,
            })
        })
        .collect()
}

/// The ports an allocation holds: label, number, and the address others
/// reach it at (its node's host).
fn ports_doc(state: &drover_core::ClusterState, alloc: &drover_core::Allocation) -> Value {
    crate::services::port_addresses(state, alloc)
        .map(|(label, port, address)| json!({ "label": label, "port": port, "address": address }))
        .collect()
}

fn job_id(raw: &str) -> Result<JobId, Status> {
    JobId::new(raw).map_err(|e| Status::invalid_argument(format!("job id {e}")))
}

pub(crate) fn reply(value: &Value) -> Response<JsonReply> {
    Response::new(JsonReply {
        json: value.to_string(),
    })
}

fn committed(
    index: u64,
    outcome: drover_core::Response,
) -> Result<Response<SubmitJobReply>, Status> {
    match outcome {
        Ok(
            Success::JobAccepted { job, version } | Success::DeploymentPromoted { job, version },
        ) => Ok(Response::new(SubmitJobReply {
            job: job.to_string(),
            version,
            index,
            regions: Vec::new(),
        })),
        Ok(Success::JobStopped { job }) => Ok(Response::new(SubmitJobReply {
            job: job.to_string(),
            version: 0,
            index,
            regions: Vec::new(),
        })),
        Ok(other) => Ok(Response::new(SubmitJobReply {
            job: format!("{other:?}"),
            version: 0,
            index,
            regions: Vec::new(),
        })),
        Err(ApplyError::InvalidSpec(errors)) => Err(Status::invalid_argument(errors.to_string())),
        Err(ApplyError::UnknownJob(job)) => Err(Status::not_found(format!("no job {job}"))),
        Err(e) => Err(Status::failed_precondition(e.to_string())),
    }
}

#[tonic::async_trait]
impl Api for ApiService {
    type EventsStream = crate::events::EventStream;

    /// Served from this node's replica, which tells the same events as
    /// any other at the same indexes; a node without one relays the
    /// stream from a control node.
    async fn events(
        &self,
        request: Request<EventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        if let Some(mut upstream) = self.upstream().await? {
            let relayed = upstream
                .events(access::forward(request))
                .await?
                .into_inner();
            let stream: Self::EventsStream = Box::pin(relayed);
            return Ok(Response::new(stream));
        }
        if let Some((region, mut remote)) = self.federation.route(&request).await? {
            let relayed = self
                .federation
                .answered(&region, remote.events(access::forward(request)))
                .await?
                .into_inner();
            let stream: Self::EventsStream = Box::pin(relayed);
            return Ok(Response::new(stream));
        }
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        let interest = crate::events::Interest::of(&request)?;
        let first = crate::events::page(&self.state, request.after, &interest).await?;
        Ok(Response::new(crate::events::stream(
            self.state.clone(),
            self.applied.clone(),
            first,
            interest,
        )))
    }

    /// Submits a new job, or a new version of an existing one (as `nomad job run`).
    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobReply>, Status> {
        relay!(self, submit_job, request);
        let mut spec = submitted_spec(request.get_ref())?;
        if !spec.ext.multiregion.is_empty() {
            if !crate::federation::is_federated(&request) {
                return self.submit_everywhere(request, &spec).await;
            }
            spec = self.own_part(spec)?;
        }
        self.allow_job_write(&request, &spec.id, Some(&spec.pool))
            .await?;
        let request = request.into_inner();
        let id = spec.id.clone();
        let key = request.idempotency_key.as_str();
        if let Some(expected) = request.check_index {
            return self.submit_checked(spec, expected, key).await;
        }
        if drover_core::planted::active(drover_core::planted::Bug::AckBeforeCommit) {
            let proposer = self.proposer.clone();
            let kind = CommandKind::SubmitJob(spec);
            tokio::spawn(async move { proposer.propose(kind).await });
            return Ok(Response::new(SubmitJobReply {
                job: id.to_string(),
                version: 1,
                index: 0,
                regions: Vec::new(),
            }));
        }
        let (index, outcome) = self
            .commit(keyed(key, CommandKind::SubmitJob(spec.clone())))
            .await?;
        if let Err(ApplyError::JobExists(_)) = outcome {
            let update = keyed(
                key,
                CommandKind::UpdateJob {
                    spec,
                    expected_version: None,
                },
            );
            let (index, outcome) = self.commit(update).await?;
            return match outcome {
                Ok(Success::Unchanged) => self.unchanged(&id, index).await,
                other => committed(index, other),
            };
        }
        committed(index, outcome)
    }

    async fn stop_job(&self, request: Request<JobRef>) -> Result<Response<SubmitJobReply>, Status> {
        relay!(self, stop_job, request);
        let job = job_id(&request.get_ref().job)?;
        self.allow_job_write(&request, &job, None).await?;
        let (index, outcome) = self.commit(CommandKind::StopJob { job }).await?;
        committed(index, outcome)
    }

    async fn job_status(&self, request: Request<ReadJob>) -> Result<Response<JsonReply>, Status> {
        relay!(self, job_status, request);
        self.allow(&request, Capability::Read).await?;
        let fan_out = !crate::federation::is_federated(&request);
        let token = access::presented(request.metadata()).map(str::to_string);
        let request = request.into_inner();
        let id = job_id(&request.job)?;
        self.settle(request.stale).await?;
        let (mut doc, spec) = {
            let applied = self.state.read().await;
            job_doc(&applied.state, &id, &request)?
        };
        // Asked with the replica let go: other regions may take seconds.
        if fan_out && !spec.ext.multiregion.is_empty() {
            let own = &self.federation.region;
            let count = spec
                .ext
                .multiregion
                .iter()
                .find(|p| &p.name == own)
                .map_or(0, |p| p.count);
            let mut regions = vec![crate::multiregion::part_doc(own, count, &doc)];
            regions.extend(self.parts_elsewhere(&spec, token.as_deref()).await);
            doc["regions"] = Value::Array(regions);
        }
        Ok(reply(&doc))
    }

    async fn list_jobs(&self, request: Request<Read>) -> Result<Response<JsonReply>, Status> {
        relay!(self, list_jobs, request);
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        self.settle(request.stale).await?;
        let page = PageRequest::new(request.page_size, &request.page_token)?;
        let wanted = match request.status.as_str() {
            "" => None,
            text => Some(PhaseFilter::parse(text)?),
        };
        let applied = self.state.read().await;
        let start = starting_point(page.after.as_deref(), &request.prefix);
        let matching = applied
            .state
            .jobs_from(start)
            .take_while(|job| job.spec.id.as_str().starts_with(&request.prefix))
            .filter(|job| wanted.is_none_or(|w| w.admits(job_phase(&applied.state, job))));
        let (page_jobs, next_page_token) =
            take_page(matching, page.size, |job| job.spec.id.to_string());
        let jobs: Vec<Value> = page_jobs
            .into_iter()
            .map(|job| {
                let running = applied
                    .state
                    .job_allocs(&job.spec.id)
                    .filter(|a| a.status == drover_core::AllocStatus::Running)
                    .count();
                json!({
                    "id": job.spec.id.as_str(),
                    "kind": job.spec.kind.name(),
                    "version": job.spec.version,
                    "status": job_phase(&applied.state, job).name(),
                    "running": running,
                })
            })
            .collect();
        Ok(reply(&json!({
            "jobs": jobs,
            "next_page_token": next_page_token,
            "index": applied.state.index(),
        })))
    }

    async fn list_nodes(&self, request: Request<Read>) -> Result<Response<JsonReply>, Status> {
        relay!(self, list_nodes, request);
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        self.settle(request.stale).await?;
        let page = PageRequest::new(request.page_size, &request.page_token)?;
        let applied = self.state.read().await;
        let start = starting_point(page.after.as_deref(), &request.prefix);
        let matching = applied
            .state
            .nodes_from(start)
            .take_while(|n| n.id.as_str().starts_with(&request.prefix))
            .filter(|n| request.status.is_empty() || n.status.to_string() == request.status);
        let (page_nodes, next_page_token) = take_page(matching, page.size, |n| n.id.to_string());
        let nodes: Vec<Value> = page_nodes
            .into_iter()
            .map(|n| {
                json!({
                    "id": n.id.as_str(),
                    "region": n.region,
                    "role": n.role.as_str(),
                    "status": n.status.to_string(),
                    "draining": n.draining,
                    "capacity": n.capacity.to_string(),
                    "used": applied.state.node_used(&n.id).to_string(),
                    "resources": {
                        "capacity": n.capacity,
                        "used": applied.state.node_used(&n.id),
                    },
                    "labels": n.labels,
                    "status_changed_ms": n.status_changed_ms,
                    "registered_ms": n.registered_ms,
                })
            })
            .collect();
        // The state index the list reflects: a stale read may lag.
        Ok(reply(&json!({
            "nodes": nodes,
            "next_page_token": next_page_token,
            "index": applied.state.index(),
        })))
    }

    async fn drain_node(
        &self,
        request: Request<DrainRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, drain_node, request);
        self.allow(&request, Capability::Manage).await?;
        let request = request.into_inner();
        let node = drover_core::NodeId::new(request.node)
            .map_err(|e| Status::invalid_argument(format!("node id {e}")))?;
        let kind = CommandKind::DrainNode {
            node: node.clone(),
            enable: request.enable,
        };
        let (index, outcome) = self.commit(kind).await?;
        match outcome {
            Ok(_) => Ok(reply(
                &json!({ "node": node.as_str(), "draining": request.enable, "index": index }),
            )),
            Err(ApplyError::UnknownNode(_)) => Err(Status::not_found(format!("no node {node}"))),
            Err(e) => Err(Status::failed_precondition(e.to_string())),
        }
    }

    /// A slice of an allocation's output, fetched from the worker that ran it.
    async fn job_logs(&self, request: Request<LogsRequest>) -> Result<Response<LogsReply>, Status> {
        relay!(self, job_logs, request);
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        let job = job_id(&request.job)?;
        let (alloc, address, finished) = {
            let replica = self.state.read().await;
            let state = &replica.state;
            let alloc = if request.alloc.is_empty() {
                state.job_allocs(&job).max_by_key(|a| a.id)
            } else {
                state
                    .job_allocs(&job)
                    .find(|a| a.id.to_string() == request.alloc)
            }
            .ok_or_else(|| {
                Status::not_found(format!("job {job} has no allocation {}", request.alloc))
            })?;
            let node = state
                .node(&alloc.node)
                .ok_or_else(|| Status::not_found(format!("node {} is gone", alloc.node)))?;
            (alloc.id, node.address.clone(), alloc.status.is_terminal())
        };
        let fetch = OutputRequest {
            alloc,
            stderr: request.stderr,
            offset: request.offset,
            max_bytes: LOG_CHUNK_BYTES,
        };
        let mut client = connect(&address).await.map_err(|e| {
            Status::unavailable(format!(
                "cannot reach the node that ran {alloc} at {address}: {e}"
            ))
        })?;
        let slice: Result<Vec<u8>, String> = call_internal(
            &mut client,
            Rpc::FetchOutput,
            &fetch,
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| {
            Status::unavailable(format!("fetching output of {alloc} from {address}: {e}"))
        })?;
        let data = slice.map_err(Status::not_found)?;
        Ok(Response::new(LogsReply {
            alloc: alloc.to_string(),
            next_offset: request.offset + data.len() as u64,
            finished: finished && data.is_empty(),
            data,
        }))
    }

    async fn cluster_status(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, cluster_status, _request);
        self.allow(&_request, Capability::Read).await?;
        let regions = if crate::federation::is_federated(&_request) {
            Vec::new()
        } else {
            self.federation
                .others_status(access::presented(_request.metadata()))
                .await
        };
        let (applied_index, digest, log_chain, held) = {
            let replica = self.state.read().await;
            let applied = replica.last_applied.map_or(0, |id| id.index);
            let state = &replica.state;
            (
                applied,
                state.digest().to_string(),
                replica.log_chain.to_string(),
                json!({
                    "jobs": state.job_count(),
                    "allocations": state.alloc_count(),
                    "nodes": state.node_count(),
                }),
            )
        };
        let metrics = self.raft.metrics().borrow().clone();
        let members: Vec<Value> = metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, node)| json!({ "id": id, "addr": node.addr }))
            .collect();
        Ok(reply(&json!({
            "node": metrics.id,
            "state": format!("{:?}", metrics.state),
            "leader": metrics.current_leader,
            "term": metrics.current_term,
            "last_log_index": metrics.last_log_index,
            "commit_index": self.committed.get(),
            // For comparing replicas: equal applied indexes, equal digests.
            "applied_index": applied_index,
            "state_digest": digest,
            "log_chain": log_chain,
            // What this replica holds: what garbage collection keeps flat.
            "held": held,
            "members": members,
            "region": self.federation.region,
            // The other regions' leaders, asked now (empty when this
            // answer is itself part of another region's).
            "regions": regions,
            "transport": {
                "tls": self.transport.tls,
                "acl": self.transport.acl,
                "insecure": self.transport.insecure,
            },
        })))
    }

    async fn cluster_members(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, cluster_members, request);
        self.allow(&request, Capability::Read).await?;
        to_leader!(self, cluster_members, request);
        Ok(reply(&membership::members(&self.raft, &self.announcements)))
    }

    async fn add_member(
        &self,
        request: Request<MemberRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, add_member, request);
        self.allow(&request, Capability::Manage).await?;
        to_leader!(self, add_member, request);
        let request = request.into_inner();
        let addr = member_addr(&request.addr)?;
        let wait = match request.wait_seconds {
            0 => membership::DEFAULT_CATCH_UP_WAIT,
            s => Duration::from_secs(u64::from(s)),
        };
        let _one_at_a_time = self.membership_changes.hold(&self.raft).await?;
        membership::add(
            &self.raft,
            member_id(request.id)?,
            &addr,
            request.learner,
            wait,
        )
        .await
        .map(|doc| reply(&doc))
    }

    async fn remove_member(
        &self,
        request: Request<MemberRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, remove_member, request);
        self.allow(&request, Capability::Manage).await?;
        to_leader!(self, remove_member, request);
        let id = member_id(request.get_ref().id)?;
        if handover::removes_the_leader(&self.raft, id) {
            let leader = {
                let _one_at_a_time = self.membership_changes.hold(&self.raft).await?;
                handover::hand_over(&self.raft, self.proposer.peers()).await?
            };
            to_leader!(self, remove_member, request);
            return Err(NotCommitted::NotApplied(format!(
                "node {id} handed leadership to node {leader}, which this node does not reach now; ask again"
            ))
            .into_status());
        }
        let request = request.into_inner();
        let _one_at_a_time = self.membership_changes.hold(&self.raft).await?;
        membership::remove(&self.raft, self.proposer.peers(), id, request.force)
            .await
            .map(|doc| reply(&doc))
    }

    async fn job_history(&self, request: Request<ReadJob>) -> Result<Response<JsonReply>, Status> {
        relay!(self, job_history, request);
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        let id = job_id(&request.job)?;
        self.settle(request.stale).await?;
        let applied = self.state.read().await;
        versions::history_doc(&applied.state, &id).map(|doc| reply(&doc))
    }

    async fn revert_job(
        &self,
        request: Request<RevertRequest>,
    ) -> Result<Response<SubmitJobReply>, Status> {
        relay!(self, revert_job, request);
        let id = job_id(&request.get_ref().job)?;
        self.settle(false).await?;
        let spec = {
            let applied = self.state.read().await;
            versions::kept_version(&applied.state, &id, request.get_ref().version)?
        };
        self.allow_job_write(&request, &id, Some(&spec.pool))
            .await?;
        let request = request.into_inner();
        let key = request.idempotency_key.as_str();
        if let Some(expected) = request.check_index {
            return self.submit_checked(spec, expected, key).await;
        }
        let revert = CommandKind::UpdateJob {
            spec,
            expected_version: None,
        };
        let (index, outcome) = self.commit(keyed(key, revert)).await?;
        match outcome {
            Ok(Success::Unchanged) => self.unchanged(&id, index).await,
            other => committed(index, other),
        }
    }

    async fn promote_job(
        &self,
        request: Request<JobRef>,
    ) -> Result<Response<SubmitJobReply>, Status> {
        relay!(self, promote_job, request);
        let job = job_id(&request.get_ref().job)?;
        self.allow_job_write(&request, &job, None).await?;
        self.settle(false).await?;
        let version = {
            let applied = self.state.read().await;
            applied
                .state
                .job(&job)
                .map(|j| j.spec.version)
                .ok_or_else(|| Status::not_found(format!("no job {job}")))?
        };
        let promote = CommandKind::PromoteDeployment {
            job: job.clone(),
            version,
        };
        match self.commit(promote).await? {
            // Promoted before: say so as the first promotion did.
            (index, Ok(Success::Unchanged)) => {
                committed(index, Ok(Success::DeploymentPromoted { job, version }))
            }
            (index, outcome) => committed(index, outcome),
        }
    }

    async fn plan_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, plan_job, request);
        let spec = submitted_spec(request.get_ref())?;
        self.allow(&request, Capability::JobWrite { pool: &spec.pool })
            .await?;
        self.settle(false).await?;
        let applied = self.state.read().await;
        versions::plan_doc(&applied.state, spec).map(|doc| reply(&doc))
    }

    async fn acl_bootstrap(&self, request: Request<Empty>) -> Result<Response<JsonReply>, Status> {
        relay!(self, acl_bootstrap, request);
        self.bootstrap().await.map(|doc| reply(&doc))
    }

    async fn acl_create_token(
        &self,
        request: Request<AclTokenRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, acl_create_token, request);
        self.allow(&request, Capability::Manage).await?;
        self.create_token(request.into_inner())
            .await
            .map(|doc| reply(&doc))
    }

    async fn acl_revoke_token(
        &self,
        request: Request<AclRevokeRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, acl_revoke_token, request);
        self.allow(&request, Capability::Manage).await?;
        self.revoke_token(&request.into_inner().accessor)
            .await
            .map(|doc| reply(&doc))
    }

    async fn acl_list_tokens(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, acl_list_tokens, request);
        self.allow(&request, Capability::Manage).await?;
        self.settle(false).await?;
        Ok(reply(&self.token_list().await))
    }

    async fn acl_self(&self, request: Request<Empty>) -> Result<Response<JsonReply>, Status> {
        relay!(self, acl_self, request);
        self.token_of(&request).await.map(|doc| reply(&doc))
    }

    async fn list_services(&self, request: Request<Read>) -> Result<Response<JsonReply>, Status> {
        relay!(self, list_services, request);
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        if !request.status.is_empty() {
            return Err(Status::invalid_argument(
                "status: services are not filtered by status; show one to see its instances",
            ));
        }
        self.settle(request.stale).await?;
        let page = PageRequest::new(request.page_size, &request.page_token)?;
        let applied = self.state.read().await;
        let state = &applied.state;
        let start = starting_point(page.after.as_deref(), &request.prefix);
        let matching = state
            .jobs_from(start)
            .take_while(|job| job.spec.id.as_str().starts_with(&request.prefix))
            .filter(|job| crate::services::is_service(job));
        let (page_jobs, next_page_token) =
            take_page(matching, page.size, |job| job.spec.id.to_string());
        let services: Vec<Value> = page_jobs
            .into_iter()
            .map(|job| crate::services::summary(state, job))
            .collect();
        Ok(reply(&json!({
            "services": services,
            "next_page_token": next_page_token,
            "index": state.index(),
        })))
    }

    async fn service_status(
        &self,
        request: Request<ReadJob>,
    ) -> Result<Response<JsonReply>, Status> {
        relay!(self, service_status, request);
        self.allow(&request, Capability::Read).await?;
        let request = request.into_inner();
        let id = job_id(&request.job)?;
        self.settle(request.stale).await?;
        let applied = self.state.read().await;
        let job = applied
            .state
            .job(&id)
            .filter(|job| crate::services::is_service(job))
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no service {id}: a service is a job whose task holds ports ([[task.port]])"
                ))
            })?;
        Ok(reply(&crate::services::show(&applied.state, job)))
    }
}

/// A job's status document as this replica tells it, and its spec.
fn job_doc(
    state: &drover_core::ClusterState,
    id: &JobId,
    request: &ReadJob,
) -> Result<(Value, drover_core::JobSpec), Status> {
    let job = state
        .job(id)
        .ok_or_else(|| Status::not_found(format!("no job {id}")))?;
    let page = PageRequest::new(request.page_size, &request.page_token)?;
    let after = match &page.after {
        None => None,
        Some(token) => Some(AllocId::parse(token).ok_or_else(|| {
            Status::invalid_argument(format!("page_token: {token:?} is not an allocation id"))
        })?),
    };
    let (allocs, next_page_token) = take_page(state.job_allocs_after(id, after), page.size, |a| {
        a.id.to_string()
    });
    let allocations: Vec<Value> = allocs
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id.to_string(),
                "node": a.node.as_str(),
                "version": a.job_version,
                "previous": a.previous.map(|p| p.to_string()),
                "desired": a.desired,
                "status": a.status.as_str(),
                "exit_code": a.exit_code,
                "message": a.message,
                "ports": ports_doc(state, a),
                "health": crate::services::health_doc(state, a),
            })
        })
        .collect();
    // Why anything is pending: what the scheduler would say now (on
    // the first page only).
    let cycle = plan_cycle_in(
        state,
        &Scope::Jobs(std::iter::once(id.clone()).collect()),
        now_ms(),
        &ReconcileConfig::default(),
        Leadership::default(),
        SchedulerConfig::default(),
    );
    let pending = cycle.pending.get(id).cloned().unwrap_or_default();
    let pending = if after.is_none() { pending } else { Vec::new() };
    let doc = json!({
        "id": id.as_str(),
        "summary": job.spec.summary(),
        "kind": job.spec.kind.name(),
        "version": job.spec.version,
        "status": job_phase(state, job).name(),
        "allocations": allocations,
        "next_page_token": next_page_token,
        "pending": pending,
        "rollout": crate::rollout::doc(state, job, now_ms()),
        "deployment": crate::rollout::deployment_doc(state, job, now_ms()),
        "index": state.index(),
    });
    Ok((doc, job.spec.clone()))
}

/// The spec a submission carries, parsed as its file name says.
fn submitted_spec(request: &SubmitJobRequest) -> Result<drover_core::JobSpec, Status> {
    let name = if request.file_name.is_empty() {
        "spec"
    } else {
        &request.file_name
    };
    parse_job_spec(&request.spec, Format::detect(name, &request.spec))
        .map_err(|errors| Status::invalid_argument(errors.render(name)))
}

fn member_id(id: u64) -> Result<u64, Status> {
    if id == 0 {
        return Err(Status::invalid_argument(
            "id: a node's Raft id is a positive integer",
        ));
    }
    Ok(id)
}

/// A member's address as other nodes dial it: host:port.
fn member_addr(addr: &str) -> Result<String, Status> {
    addr.parse::<std::net::SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|e| {
            Status::invalid_argument(format!(
                "addr: {addr:?} is not an address other nodes can reach (host:port, like 10.0.0.4:7401): {e}"
            ))
        })
}

/// Which jobs a list asks for: one phase, or `active` for any not stopped.
#[derive(Clone, Copy)]
enum PhaseFilter {
    Active,
    Is(JobPhase),
}

impl PhaseFilter {
    fn parse(text: &str) -> Result<Self, Status> {
        if text == "active" {
            return Ok(Self::Active);
        }
        JobPhase::parse(text).map(Self::Is).ok_or_else(|| {
            let names: Vec<&str> = JobPhase::ALL.iter().map(|p| p.name()).collect();
            Status::invalid_argument(format!(
                "status: {text:?} is not a job status ({}, or active for any but stopped)",
                names.join(", ")
            ))
        })
    }

    fn admits(self, phase: JobPhase) -> bool {
        match self {
            Self::Active => phase.is_active(),
            Self::Is(wanted) => phase == wanted,
        }
    }
}

/// `kind` under the client's idempotency key, if it gave one.
fn keyed(key: &str, kind: CommandKind) -> CommandKind {
    if key.is_empty() {
        kind
    } else {
        CommandKind::Keyed {
            key: key.to_string(),
            command: Box::new(kind),
        }
    }
}
