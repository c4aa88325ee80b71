//! The node's Prometheus metrics (`prometheus-client`): what the drivers
//! record as it happens — proposal and fsync latency, append batches,
//! placements and rejections, reconcile passes, worker polls, API
//! requests, leader changes — and what is read from Raft and the replica
//! when the page is scraped (term, indexes, allocations). Every metric is
//! listed in docs/metrics.md.

use std::sync::Mutex;
use std::time::Duration;

use drover_core::ClusterState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Request {
    /// `grpc` or `http`.
    pub api: String,
    pub method: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeDriver {
    pub node: String,
    pub driver: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    pub status: String,
}

/// Raft's view at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct RaftView {
    pub term: u64,
    pub leader: bool,
    pub last_log_index: u64,
    pub commit_index: u64,
    pub applied_index: u64,
}

/// Seconds, from a millisecond to about half a minute.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub proposal_seconds: Histogram,
    pub fsync_seconds: Histogram,
    pub append_batch_entries: Histogram,
    pub placements: Counter,
    pub rejections: Family<Reason, Counter>,
    pub reconcile_seconds: Histogram,
    pub unplaced: Gauge,
    pub poll_seconds: Histogram,
    pub requests: Family<Request, Counter>,
    pub leader_changes: Counter,
    term: Gauge,
    is_leader: Gauge,
    last_log_index: Gauge,
    commit_index: Gauge,
    applied_index: Gauge,
    allocations: Family<Status, Gauge>,
    running: Family<NodeDriver, Gauge>,
    jobs: Gauge,
    nodes: Family<Status, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(clippy::too_many_lines)]
    pub fn new() -> Self {
        let metrics = Self {
            registry: Mutex::new(Registry::with_prefix("drover")),
            proposal_seconds: latency(),
            fsync_seconds: latency(),
            append_batch_entries: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            placements: Counter::default(),
            rejections: Family::default(),
            reconcile_seconds: latency(),
            unplaced: Gauge::default(),
            poll_seconds: latency(),
            requests: Family::default(),
            leader_changes: Counter::default(),
            term: Gauge::default(),
            is_leader: Gauge::default(),
            last_log_index: Gauge::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            allocations: Family::default(),
            running: Family::default(),
            jobs: Gauge::default(),
            nodes: Family::default(),
        };
        {
            let mut r = metrics
                .registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            r.register(
                "raft_term",
                "The Raft term this node is in",
                metrics.term.clone(),
            );
            r.register(
                "raft_leader",
                "1 while this node leads",
                metrics.is_leader.clone(),
            );
            r.register(
                "raft_leader_changes",
                "Times this node saw the leader change (or lost it)",
                metrics.leader_changes.clone(),
            );
            r.register(
                "raft_last_log_index",
                "The last index in this node's log",
                metrics.last_log_index.clone(),
            );
            r.register(
                "raft_commit_index",
                "The highest index this node knows committed",
                metrics.commit_index.clone(),
            );
            r.register(
                "raft_applied_index",
                "The last index this node's replica applied",
                metrics.applied_index.clone(),
            );
            r.register(
                "proposal_duration_seconds",
                "From a write's proposal on this node to its commit (or failure)",
                metrics.proposal_seconds.clone(),
            );
            r.register(
                "log_fsync_duration_seconds",
                "One append to the Raft log made durable: write and fsync",
                metrics.fsync_seconds.clone(),
            );
            r.register(
                "log_append_batch_entries",
                "Entries written to the Raft log by one append (one fsync)",
                metrics.append_batch_entries.clone(),
            );
            r.register(
                "placements",
                "Allocations the leader placed",
                metrics.placements.clone(),
            );
            r.register(
                "placement_rejections",
                "Nodes passed over for an allocation, by reason",
                metrics.rejections.clone(),
            );
            r.register(
                "scheduler_unplaced",
                "Allocations the leader's last pass could not place",
                metrics.unplaced.clone(),
            );
            r.register(
                "reconcile_pass_duration_seconds",
                "One pass of the leader's loop: reconcile and schedule",
                metrics.reconcile_seconds.clone(),
            );
            r.register(
                "worker_poll_duration_seconds",
                "One long poll of this node's worker, answered or failed",
                metrics.poll_seconds.clone(),
            );
            r.register(
                "api_requests",
                "Public API requests this node answered, by API, method and code",
                metrics.requests.clone(),
            );
            r.register(
                "allocations",
                "Allocations in the replica, by status",
                metrics.allocations.clone(),
            );
            r.register(
                "allocations_running",
                "Running allocations in the replica, by node and driver",
                metrics.running.clone(),
            );
            r.register("jobs", "Jobs in the replica", metrics.jobs.clone());
            r.register(
                "nodes",
                "Nodes in the replica, by status",
                metrics.nodes.clone(),
            );
        }
        metrics
    }

    pub fn observe(histogram: &Histogram, took: Duration) {
        histogram.observe(took.as_secs_f64());
    }

    pub fn request(&self, api: &str, method: &str, code: &str) {
        self.requests
            .get_or_create(&Request {
                api: api.to_string(),
                method: method.to_string(),
                code: code.to_string(),
            })
            .inc();
    }

    /// The page, with what is read at scrape time brought up to date.
    pub fn render(&self, raft: RaftView, state: &ClusterState) -> String {
        self.term.set(gauge(raft.term));
        self.is_leader.set(i64::from(raft.leader));
        self.last_log_index.set(gauge(raft.last_log_index));
        self.commit_index.set(gauge(raft.commit_index));
        self.applied_index.set(gauge(raft.applied_index));
        self.jobs.set(gauge(state.job_count() as u64));
        self.allocations.clear();
        self.running.clear();
        for alloc in state.allocs() {
            self.allocations
                .get_or_create(&Status {
                    status: alloc.status.to_string(),
                })
                .inc();
            if alloc.status == drover_core::AllocStatus::Running {
                let driver = state
                    .job(&alloc.job)
                    .map_or_else(|| "unknown".to_string(), |j| j.spec.task.driver.to_string());
                self.running
                    .get_or_create(&NodeDriver {
                        node: alloc.node.to_string(),
                        driver,
                    })
                    .inc();
            }
        }
        self.nodes.clear();
        for node in state.nodes() {
            self.nodes
                .get_or_create(&Status {
                    status: node.status.to_string(),
                })
                .inc();
        }
        let mut page = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        encode(&mut page, &registry).expect("writing to a String cannot fail");
        page
    }
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
