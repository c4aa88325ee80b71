//! The liveness phase: after healing, wait (within the bound) for every
//! acknowledged batch job to finish and every service to run exactly its
//! replicas, reading the replica that has applied the most.

use std::collections::BTreeSet;
use std::time::Duration;

use drover_proto::v1::{Empty, Read};
use serde_json::json;

use super::workload::Workload;
use super::{Api, api, job_doc, parse};
use crate::invariants::{Violation, service_has_its_replicas};
use crate::knobs::Knobs;
use crate::reality::Reality;
use crate::trace::Trace;

/// What the cluster looked like when the liveness phase ended.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) present: Vec<String>,
    pub(super) finished: BTreeSet<String>,
    /// The last service found without exactly its replicas, and its id.
    pub(super) services: Option<Violation>,
    failing_service: Option<String>,
    /// Each finished batch job's allocations, and when they were read.
    pub(super) results: Vec<(String, serde_json::Value, u64)>,
    /// Every service allocation that replaced another: (replacement,
    /// previous), as the control plane paired them.
    pub(super) pairs: BTreeSet<(String, String)>,
}

impl Outcome {
    pub(super) fn batch_waiting(&self, acknowledged: &[String]) -> Vec<String> {
        acknowledged
            .iter()
            .filter(|j| j.starts_with("job-") && !self.finished.contains(*j))
            .cloned()
            .collect()
    }
}

/// The voter that has applied the most of the log: a replica only applies
/// committed entries, so its state holds everything any replica has seen
/// committed (a restarted voter still catching up would not).
async fn most_advanced(voters: &[String]) -> Option<Api> {
    let mut best: Option<(u64, Api)> = None;
    for addr in voters {
        let Some(mut client) = api(addr).await else {
            continue;
        };
        let Ok(reply) = client.cluster_status(Empty {}).await else {
            continue;
        };
        let applied = parse(&reply.into_inner().json)["applied_index"]
            .as_u64()
            .unwrap_or(0);
        if best.as_ref().is_none_or(|(most, _)| applied > *most) {
            best = Some((applied, client));
        }
    }
    best.map(|(_, client)| client)
}

/// Waits (up to the liveness bound) for every acknowledged batch job to
/// finish and every service to run exactly its replicas.
pub(super) async fn converge(
    voters: Vec<String>,
    knobs: Knobs,
    acknowledged: Vec<String>,
    reality: Reality,
    trace: Trace,
) -> Outcome {
    let mut outcome = Outcome::default();
    let services: Vec<String> = (0..knobs.services).map(Workload::service_name).collect();
    for _ in 0..knobs.liveness_bound_s * 2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(mut client) = most_advanced(&voters).await else {
            continue;
        };
        let Ok(reply) = client
            .list_jobs(Read {
                stale: false,
                ..Read::default()
            })
            .await
        else {
            continue;
        };
        outcome.present = parse(&reply.into_inner().json)["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| j["id"].as_str().map(String::from))
            .collect();
        for job in outcome.batch_waiting(&acknowledged) {
            let Some(status) = job_doc(&mut client, &job, false).await else {
                continue;
            };
            let allocations = status["allocations"].clone();
            let done = allocations.as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| matches!(a["status"].as_str(), Some("complete" | "failed")))
            });
            if done {
                outcome
                    .results
                    .push((job.clone(), allocations, reality.now_ms()));
                outcome.finished.insert(job);
            }
        }
        outcome.services = None;
        outcome.failing_service = None;
        for service in &services {
            // None: never acknowledged (the client gave up), nothing to keep.
            let Some(job) = job_doc(&mut client, service, false).await else {
                continue;
            };
            if let Err(v) = service_has_its_replicas(&job, knobs.replicas) {
                outcome.services = Some(v);
                outcome.failing_service = Some(service.clone());
                break;
            }
        }
        if outcome.batch_waiting(&acknowledged).is_empty() && outcome.services.is_none() {
            break;
        }
    }
    // What a job still waiting looks like explains a failure best: a
    // batch job unfinished, else the service without its replicas.
    let mut waiting_example = serde_json::Value::Null;
    let waiting = outcome
        .batch_waiting(&acknowledged)
        .first()
        .cloned()
        .or_else(|| outcome.failing_service.clone());
    if let (Some(job), Some(mut client)) = (waiting, most_advanced(&voters).await)
        && let Some(status) = job_doc(&mut client, &job, false).await
    {
        waiting_example = status;
    }
    trace.event(
        "sim",
        "converged",
        &json!({
            "finished": outcome.finished.len(),
            "acknowledged": acknowledged.len(),
            "services_ok": outcome.services.is_none(),
            "waiting_example": waiting_example,
        }),
    );
    if let Some(mut client) = most_advanced(&voters).await {
        for job in &services {
            let Some(doc) = job_doc(&mut client, job, true).await else {
                continue;
            };
            for alloc in doc["allocations"].as_array().into_iter().flatten() {
                if let (Some(id), Some(previous)) =
                    (alloc["id"].as_str(), alloc["previous"].as_str())
                {
                    outcome.pairs.insert((id.to_string(), previous.to_string()));
                }
            }
        }
    }
    outcome
}
