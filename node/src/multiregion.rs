//! Jobs that run in several regions (`[[multiregion.region]]`, as Nomad's
//! `multiregion`): the node that takes the spec sends each region its
//! part — the same spec, whose replicas there are that region's count —
//! and each region places and keeps its part alone. A region that cannot
//! be reached is reported with the outcome for its part; the others keep
//! theirs. A part's status shows every region's.

use drover_core::{JobKind, JobSpec};
use drover_proto::v1::{ReadJob, RegionOutcome, SubmitJobReply, SubmitJobRequest};
use serde_json::{Value, json};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::access;
use crate::api::ApiService;
use crate::federation::{FEDERATED_KEY, REGION_KEY};

/// `message` for `region`, carrying `token`, marked as one region's part
/// of a call another region answers for all.
fn part_request<T>(message: T, region: &str, token: Option<&str>) -> Request<T> {
    let mut request = access::carrying(message, token);
    if let Ok(region) = MetadataValue::try_from(region) {
        request.metadata_mut().insert(REGION_KEY, region);
    }
    request
        .metadata_mut()
        .insert(FEDERATED_KEY, MetadataValue::from_static("1"));
    request
}

impl ApiService {
    /// The part of a multi-region job this region keeps: its own count as
    /// the replicas.
    pub(crate) fn own_part(&self, mut spec: JobSpec) -> Result<JobSpec, Status> {
        let own = &self.federation.region;
        let part = spec.ext.multiregion.iter().find(|p| &p.name == own);
        let Some(count) = part.map(|p| p.count) else {
            let named: Vec<&str> = spec
                .ext
                .multiregion
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            return Err(Status::invalid_argument(format!(
                "multiregion: this region ({own}) is not among the job's regions ({})",
                named.join(", ")
            )));
        };
        spec.kind = JobKind::Service { replicas: count };
        Ok(spec)
    }

    /// Sends every region its part, this one's included, and says what
    /// each did.
    pub(crate) async fn submit_everywhere(
        &self,
        request: Request<SubmitJobRequest>,
        spec: &JobSpec,
    ) -> Result<Response<SubmitJobReply>, Status> {
        let token = access::presented(request.metadata()).map(str::to_string);
        let message = request.into_inner();
        let mut outcomes = Vec::new();
        for part in &spec.ext.multiregion {
            let answer = self
                .submit_part(&message, &part.name, token.as_deref())
                .await;
            outcomes.push(match answer {
                Ok(reply) => {
                    let reply = reply.into_inner();
                    RegionOutcome {
                        region: part.name.clone(),
                        version: reply.version,
                        index: reply.index,
                        error: String::new(),
                    }
                }
                Err(status) => RegionOutcome {
                    region: part.name.clone(),
                    error: crate::client::status_message(&status),
                    ..RegionOutcome::default()
                },
            });
        }
        let first = outcomes.iter().find(|o| o.error.is_empty());
        Ok(Response::new(SubmitJobReply {
            job: spec.id.to_string(),
            version: first.map_or(0, |o| o.version),
            index: first.map_or(0, |o| o.index),
            regions: outcomes,
        }))
    }

    /// One region's part, sent again while the region says it certainly
    /// did not apply it (no leader there yet), for as long as a client
    /// would keep trying: the caller gets one answer for all regions and
    /// cannot retry one of them alone.
    async fn submit_part(
        &self,
        message: &SubmitJobRequest,
        region: &str,
        token: Option<&str>,
    ) -> Result<Response<SubmitJobReply>, Status> {
        let started = std::time::Instant::now();
        loop {
            let request = part_request(message.clone(), region, token);
            let answer = if region == self.federation.region {
                drover_proto::v1::api_server::Api::submit_job(self, request).await
            } else {
                self.submit_there(region, request).await
            };
            match answer {
                Err(status)
                    if crate::client::outcome(&status) == crate::client::Outcome::NotApplied
                        && started.elapsed() < crate::client::WRITE_PATIENCE =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                answer => return answer,
            }
        }
    }

    async fn submit_there(
        &self,
        region: &str,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobReply>, Status> {
        let Some((region, mut remote)) = self.federation.route(&request).await? else {
            return Err(Status::internal(format!("region {region} routed here")));
        };
        self.federation
            .answered(&region, remote.submit_job(request))
            .await
    }

    /// Every other region's part of `spec`'s job: its status, version and
    /// running replicas, or why it cannot be told; each asked at once.
    pub(crate) async fn parts_elsewhere(&self, spec: &JobSpec, token: Option<&str>) -> Vec<Value> {
        let own = &self.federation.region;
        let asks = spec.ext.multiregion.iter().filter(|p| &p.name != own).map(|part| async move {
            let read = ReadJob {
                job: spec.id.to_string(),
                ..ReadJob::default()
            };
            let request = part_request(read, &part.name, token);
            let ask = async {
                let (region, mut remote) = self
                    .federation
                    .route(&request)
                    .await?
                    .ok_or_else(|| Status::internal("routed here"))?;
                self.federation
                    .answered(&region, remote.job_status(request))
                    .await
            };
            match Box::pin(tokio::time::timeout(crate::federation::STATUS_WAIT, ask)).await {
                Ok(Ok(reply)) => {
                    let doc: Value =
                        serde_json::from_str(&reply.into_inner().json).unwrap_or(Value::Null);
                    part_doc(&part.name, part.count, &doc)
                }
                Ok(Err(status)) => json!({
                    "region": part.name,
                    "count": part.count,
                    "error": status.message(),
                }),
                Err(_) => json!({
                    "region": part.name,
                    "count": part.count,
                    "error": format!("no answer within {}s", crate::federation::STATUS_WAIT.as_secs()),
                }),
            }
        });
        futures_util::future::join_all(asks).await
    }
}

/// One region's part as a job's status shows it.
pub(crate) fn part_doc(region: &str, count: u32, status: &Value) -> Value {
    let running = status["allocations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == "running")
        .count();
    json!({
        "region": region,
        "count": count,
        "status": status["status"],
        "version": status["version"],
        "running": running,
    })
}

/// What each region did with its part, as JSON: `error` null when it
/// took it.
pub fn outcomes_doc(regions: &[RegionOutcome]) -> Value {
    regions
        .iter()
        .map(|r| {
            json!({
                "region": r.region,
                "version": r.version,
                "index": r.index,
                "error": (!r.error.is_empty()).then_some(&r.error),
            })
        })
        .collect()
}
