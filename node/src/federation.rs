//! Regions: each region is a control plane of its own (its voters, log,
//! scheduler); a call names the region it is for (`drover-region`
//! metadata; none: the answering node's) and a control node that knows
//! that region's addresses (`[[federation]]` in node.toml) forwards it
//! there, with its token. Nothing a region decides waits on another.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tonic::{Request, Status};

use crate::client::Connection;
use crate::propose::OUTCOME_KEY;

pub const REGION_KEY: &str = "drover-region";
/// Set on a call one region sends another while answering for all of
/// them: the receiver answers for itself only.
pub const FEDERATED_KEY: &str = "drover-federated";
/// How long a region's status may take before it counts as unreachable.
pub const STATUS_WAIT: Duration = Duration::from_secs(2);
/// How long a call forwarded to another region may take: longer than a
/// write waits for its commit there, so a slow answer is still an answer.
pub const CALL_WAIT: Duration = Duration::from_secs(10);

/// The regions a control node knows: its own and how to reach the others.
#[derive(Debug, Clone, Default)]
pub struct Federation {
    pub region: String,
    pub others: BTreeMap<String, Vec<String>>,
    /// The last connection that worked, per region: a call across
    /// regions should not pay for a handshake each time.
    connections: Arc<Mutex<BTreeMap<String, Connection>>>,
    /// Each region's members as it last told them (`cluster status`):
    /// tried after the configured addresses, so a region whose listed
    /// nodes were all replaced is still reached.
    learned: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    /// Per region, where in its addresses the next connection starts:
    /// past the one whose connection last failed, since a node that
    /// accepts connections but never answers would otherwise be chosen
    /// first every time.
    next: Arc<Mutex<BTreeMap<String, usize>>>,
}

/// The region a request names, if any.
pub fn named<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get(REGION_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

pub fn is_federated<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FEDERATED_KEY)
}

impl Federation {
    pub fn new(region: String, others: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            region,
            others,
            connections: Arc::default(),
            learned: Arc::default(),
            next: Arc::default(),
        }
    }

    /// Where a request goes: `None` when it is for this region, else the
    /// region and a connection to one of its nodes. A region that is not
    /// known, or none of whose nodes answers, fails at once and says the
    /// request was not sent.
    pub async fn route<T>(
        &self,
        request: &Request<T>,
    ) -> Result<Option<(String, Connection)>, Status> {
        let planted = drover_core::planted::active(drover_core::planted::Bug::IgnoreRegion);
        match named(request) {
            Some(region) if region != self.region && !planted => self
                .connect(region)
                .await
                .map(|c| Some((region.to_string(), c))),
            _ => Ok(None),
        }
    }

    async fn connect(&self, region: &str) -> Result<Connection, Status> {
        let Some(addrs) = self.others.get(region) else {
            let mut known: Vec<String> = vec![format!("{} (this node's)", self.region)];
            known.extend(self.others.keys().cloned());
            return Err(Status::invalid_argument(format!(
                "region: no region {region:?} is known to this node (it knows {}); not sent",
                known.join(", ")
            )));
        };
        if let Some(kept) = self.kept(region) {
            return Ok(kept);
        }
        let mut errors = Vec::new();
        let addrs = self.addrs_of(region, addrs);
        let start = self.next_of(region);
        for k in 0..addrs.len() {
            let at = (start + k) % addrs.len();
            match crate::client::connect(&addrs[at]).await {
                Ok(connection) => {
                    self.lock().insert(region.to_string(), connection.clone());
                    self.cursor().insert(region.to_string(), at);
                    return Ok(connection);
                }
                Err(e) => errors.push(e),
            }
        }
        Err(not_sent(Status::unavailable(format!(
            "region {region} cannot be reached from region {}: {}; not sent, safe to retry",
            self.region,
            errors.join("; ")
        ))))
    }

    fn cursor(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, usize>> {
        self.next.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_of(&self, region: &str) -> usize {
        self.cursor().get(region).copied().unwrap_or(0)
    }

    /// Drops the region's connection, and starts the next one past it.
    fn forget(&self, region: &str) {
        self.lock().remove(region);
        *self.cursor().entry(region.to_string()).or_default() += 1;
    }

    /// The configured addresses, then those the region told of since.
    fn addrs_of(&self, region: &str, configured: &[String]) -> Vec<String> {
        let mut addrs = configured.to_vec();
        let learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        for addr in learned.get(region).into_iter().flatten() {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        addrs
    }

    /// Keeps the members a region's status names.
    fn learn(&self, region: &str, status: &Value) {
        let members: Vec<String> = status["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["addr"].as_str().map(String::from))
            .collect();
        if !members.is_empty() {
            self.learned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(region.to_string(), members);
        }
    }

    fn kept(&self, region: &str) -> Option<Connection> {
        self.lock().get(region).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Connection>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What a call forwarded to `region` ended with, for the caller: the
    /// region's own answer as it is; a broken connection named, with the
    /// outcome unknown (the request was sent), and the connection dropped.
    fn failed(&self, region: &str, status: Status) -> Status {
        if status.metadata().contains_key(OUTCOME_KEY) || !broken(&status) {
            return status;
        }
        self.forget(region);
        outcome_unknown(format!(
            "region {region}: the connection failed after the request was sent ({}); outcome unknown",
            status.message()
        ))
    }

    /// What a call sent to `region` ended with, waited for at most
    /// [`CALL_WAIT`]: the region's answer, or a broken or silent
    /// connection named with its outcome unknown.
    pub async fn answered<T>(
        &self,
        region: &str,
        call: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        // Boxed: the call, held across the link's waits, would make every
        // caller's future as large again.
        let call = Box::pin(call);
        let crossed = async {
            crate::region_link::crossing().await;
            let answer = call.await;
            crate::region_link::crossing().await;
            answer
        };
        match tokio::time::timeout(CALL_WAIT, crossed).await {
            Ok(answer) => answer.map_err(|status| self.failed(region, status)),
            Err(_) => Err(self.silent(region)),
        }
    }

    /// A region that took the request and did not answer within
    /// [`CALL_WAIT`]: cut off or stalled after the request was sent.
    fn silent(&self, region: &str) -> Status {
        self.forget(region);
        outcome_unknown(format!(
            "region {region} did not answer within {}s (cut off from region {}?); outcome unknown",
            CALL_WAIT.as_secs(),
            self.region
        ))
    }

    /// Every other region's leader and term, asked at once and each
    /// given [`STATUS_WAIT`]; a region that does not answer is listed as
    /// unreachable with the reason.
    pub async fn others_status(&self, token: Option<&str>) -> Vec<Value> {
        let asks = self.others.keys().map(|region| async move {
            let ask = async {
                crate::region_link::crossing().await;
                let mut connection = self.connect(region).await?;
                let mut request = crate::access::carrying(drover_proto::v1::Empty {}, token);
                request.metadata_mut().insert(
                    FEDERATED_KEY,
                    tonic::metadata::MetadataValue::from_static("1"),
                );
                connection
                    .cluster_status(request)
                    .await
                    .map_err(|s| self.failed(region, s))
            };
            match tokio::time::timeout(STATUS_WAIT, ask).await {
                Ok(Ok(reply)) => {
                    let doc: Value =
                        serde_json::from_str(&reply.into_inner().json).unwrap_or(Value::Null);
                    self.learn(region, &doc);
                    json!({
                        "region": region,
                        "reachable": true,
                        "leader": doc["leader"],
                        "term": doc["term"],
                        "commit_index": doc["commit_index"],
                        "addrs": self.addrs_of(region, &self.others[region]),
                    })
                }
                Ok(Err(status)) => unreachable(region, status.message()),
                Err(_) => {
                    self.forget(region);
                    unreachable(
                        region,
                        &format!("no answer within {}s", STATUS_WAIT.as_secs()),
                    )
                }
            }
        });
        futures_util::future::join_all(asks).await
    }
}

fn unreachable(region: &str, why: &str) -> Value {
    json!({ "region": region, "reachable": false, "error": why })
}

fn not_sent(status: Status) -> Status {
    with_outcome(status, "not-applied")
}

fn outcome_unknown(message: String) -> Status {
    with_outcome(Status::unknown(message), "unknown")
}

/// The outcome as `drover-outcome` says it, for clients to act on.
fn with_outcome(mut status: Status, outcome: &'static str) -> Status {
    status.metadata_mut().insert(
        OUTCOME_KEY,
        tonic::metadata::MetadataValue::from_static(outcome),
    );
    status
}

/// A failure of the connection rather than an answer from the region:
/// the client made the status from an error of its own (the region's
/// answers come decoded from its trailers, with no source).
fn broken(status: &Status) -> bool {
    std::error::Error::source(status).is_some()
        || matches!(
            status.code(),
            tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
        )
}
