//! The internal gRPC service: Raft RPCs from peers, commands forwarded to
//! this node as leader, workers' long polls, and output fetches.

use std::time::Duration;

use drover_adapters::exec::SharedExecutor;
use drover_proto::v1::Blob;
use drover_proto::v1::internal_server::Internal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use crate::handover::{CampaignRequest, campaign};
use crate::membership::{Acknowledged, Announcement, Announcements, is_member, is_self_member};
use crate::propose::{Forwarded, Proposer};
use crate::raft::{Assigned, Raft, SharedState};
use crate::read::{ReadIndexRequest, read_index};
use crate::recovering::Abstention;
use crate::takeover::{LeaderContact, Refusal, take_over};
use crate::work::{Assignment, DataRequest, DataSlice, OutputRequest, PollReply, PollRequest};

const MAX_POLL_WAIT: Duration = Duration::from_secs(30);

pub struct InternalService {
    pub raft: Raft,
    pub proposer: Proposer,
    pub state: SharedState,
    /// Wakes a worker's poll when its node's allocations change.
    pub assigned: Assigned,
    /// This node's executor, when it runs work.
    pub executor: Option<SharedExecutor>,
    pub abstention: Abstention,
    /// When a leader was last heard, for taking over from a candidate
    /// with a shorter log (`takeover`).
    pub contact: LeaderContact,
    /// How long a leader's silence means it is gone: Raft's leader lease.
    pub lease: Duration,
    /// Nodes started with `join` that said they are there.
    pub announcements: Announcements,
    /// Whether callers must present a node's certificate (the node serves
    /// mutual TLS): a client's certificate may call the public API only.
    pub nodes_only: bool,
}

fn decode<T: DeserializeOwned>(request: Request<Blob>) -> Result<T, Status> {
    postcard::from_bytes(&request.into_inner().payload)
        .map_err(|e| Status::invalid_argument(format!("undecodable internal request: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<Blob>, Status> {
    postcard::to_stdvec(value)
        .map(|payload| Response::new(Blob { payload }))
        .map_err(|e| Status::internal(format!("unencodable internal reply: {e}")))
}

impl InternalService {
    /// Refuses a caller that is not a node of the cluster, by the
    /// certificate it presented, when the node serves mutual TLS.
    // The simulator's network has no TLS: every caller there is admitted.
    #[cfg_attr(madsim, allow(clippy::unnecessary_wraps))]
    fn admit<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if !self.nodes_only {
            return Ok(());
        }
        #[cfg(not(madsim))]
        {
            use crate::tls::{Identity, Peer};
            match request
                .extensions()
                .get::<Peer>()
                .and_then(|p| p.identity.as_ref())
            {
                Some(Identity::Node(_)) => Ok(()),
                Some(identity @ Identity::Client(_)) => Err(Status::permission_denied(format!(
                    "the internal service admits nodes only; the certificate presented is {identity}'s"
                ))),
                None => Err(Status::permission_denied(
                    "the internal service admits nodes only; the certificate presented names no node",
                )),
            }
        }
        #[cfg(madsim)]
        {
            let _ = request;
            Ok(())
        }
    }

    /// Whether any of `node`'s allocations changed after `after_index`.
    async fn allocs_changed(&self, node: &drover_core::NodeId, after_index: u64) -> bool {
        let replica = self.state.read().await;
        replica
            .state
            .node_allocs(node)
            .any(|a| a.modify_index > after_index)
    }
}

#[tonic::async_trait]
impl Internal for InternalService {
    async fn raft_append(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let result = self.raft.append_entries(decode(request)?).await;
        self.contact.answered(&result);
        encode(&result)
    }

    async fn raft_vote(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let vote: openraft::raft::VoteRequest<crate::raft::RaftId> = decode(request)?;
        let candidate_last = vote.last_log_id.map(|id| (id.leader_id.term, id.index));
        if !self.abstention.admits(candidate_last) {
            return Err(Status::unavailable(
                "this voter lost its log's tail at start and votes only for a candidate holding what the tail could have held, until a leader has caught it up",
            ));
        }
        let request = vote.clone();
        let result = self.raft.vote(vote).await;
        if let Ok(response) = &result
            && let Some(refusal) = Refusal::by_log(&request, response)
        {
            tokio::spawn(take_over(
                self.raft.clone(),
                self.contact.clone(),
                self.abstention.clone(),
                refusal,
                self.lease,
            ));
        }
        encode(&result)
    }

    async fn raft_snapshot(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let result = self.raft.install_snapshot(decode(request)?).await;
        encode(&result)
    }

    async fn propose(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let forwarded: Forwarded = decode(request)?;
        encode(&self.proposer.propose_forwarded(forwarded).await)
    }

    async fn read_index(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let request: ReadIndexRequest = decode(request)?;
        encode(&read_index(&self.raft, self.proposer.peers(), request).await)
    }

    /// Answers when one of the node's allocations changed after
    /// `after_index`, or when the wait ends. Waking on every commit instead
    /// would send each worker a reply per heartbeat of every other node.
    async fn poll(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let request: PollRequest = decode(request)?;
        // A node removed from the Raft group keeps the replica it had, and
        // it no longer moves: its worker must poll another node.
        if !is_self_member(&self.raft) {
            return Err(Status::unavailable(
                "this node holds no current replica: it is not a member of the Raft group",
            ));
        }
        let wait = Duration::from_millis(request.wait_ms).min(MAX_POLL_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.assigned.watch(&request.node);
        loop {
            if self
                .allocs_changed(&request.node, request.after_index)
                .await
            {
                break;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        crate::buggify::delay(crate::buggify::Point::SlowPollReply).await;
        let replica = self.state.read().await;
        let state = &replica.state;
        let assignments = state
            .node_allocs(&request.node)
            .filter(|a| !a.status.is_terminal())
            .map(|a| {
                // The current version's task only: an allocation of an
                // older one that has not started never will (its worker
                // reports it failed and the reconciler places the current
                // version); starting it would run one more instance than a
                // rollout counts.
                let current = state
                    .job(&a.job)
                    .map(|job| &job.spec)
                    .filter(|spec| spec.version == a.job_version);
                let address = state.node(&a.node).map_or("", |n| n.address.as_str());
                Assignment {
                    alloc: a.id,
                    job: a.job.clone(),
                    desired: a.desired,
                    status: a.status,
                    task: current.map(|spec| {
                        drover_core::ports::task_with_ports(
                            &spec.task,
                            &a.ext.ports,
                            &spec.ext.ports,
                            address,
                        )
                    }),
                    checks: current.map(|s| s.ext.checks.clone()).unwrap_or_default(),
                    volumes: current.map(|s| s.ext.volumes.clone()).unwrap_or_default(),
                    data_from: drover_core::migrate::data_from(state, a),
                }
            })
            .collect();
        let index = replica.last_applied.map_or(0, |id| id.index);
        let last_alloc = state.last_alloc_id();
        let gone = request
            .ask_gone
            .iter()
            .copied()
            .filter(|alloc| *alloc <= last_alloc && state.alloc(*alloc).is_none())
            .collect();
        encode(&PollReply {
            index,
            last_alloc,
            assignments,
            gone,
        })
    }

    async fn fetch_output(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let request: OutputRequest = decode(request)?;
        let Some(executor) = &self.executor else {
            return Err(Status::failed_precondition("this node runs no work"));
        };
        let executor = executor
            .lock()
            .map_err(|_| Status::internal("executor lock poisoned"))?;
        let slice = executor.output(
            request.alloc,
            request.stderr,
            request.offset,
            request.max_bytes as usize,
        );
        encode(&slice)
    }

    async fn fetch_data(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let request: DataRequest = decode(request)?;
        let Some(executor) = &self.executor else {
            return Err(Status::failed_precondition("this node runs no work"));
        };
        let store = {
            let executor = executor
                .lock()
                .map_err(|_| Status::internal("executor lock poisoned"))?;
            if executor.running().contains(&request.alloc) {
                // Its data still changes: a copy now would miss what it
                // writes next.
                return encode(&Err::<DataSlice, String>(format!(
                    "{} still runs on this node",
                    request.alloc
                )));
            }
            executor.store().cloned()
        };
        let Some(store) = store else {
            return encode(&Err::<DataSlice, String>(
                "this node's executor keeps no local data".into(),
            ));
        };
        // Packing reads the whole directory: off the runtime's threads.
        let slice = crate::data_transfer::off_the_runtime(move || {
            store.data_slice(request.alloc, request.offset, request.max_bytes as usize)
        })
        .await
        .map_err(|e| Status::internal(format!("packing data: {e}")))?
        .map(|(bytes, total)| DataSlice { bytes, total });
        encode(&slice)
    }

    async fn announce(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let announcement: Announcement = decode(request)?;
        let member = is_member(&self.raft, announcement.id);
        if !member && self.announcements.record(announcement.clone()) {
            tracing::info!(
                "node {} at {} asks to join; add it with `drover cluster add {} {}`",
                announcement.id,
                announcement.addr,
                announcement.id,
                announcement.addr
            );
        }
        encode(&Acknowledged { member })
    }

    async fn ping(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        encode(&Acknowledged {
            member: is_self_member(&self.raft),
        })
    }

    async fn campaign(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        self.admit(&request)?;
        let asked: CampaignRequest = decode(request)?;
        let started = campaign(&self.raft, asked, !self.abstention.is_abstaining()).await;
        encode(&Acknowledged { member: started })
    }
}
