//! One simulation: a cluster, a client submitting jobs, an observer
//! checking safety invariants as it goes, faults for a safety phase, then
//! everything healed and a liveness phase that must converge in a bound.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use drover_proto::v1::{Empty, JobRef, SubmitJobRequest};
use madsim::runtime::Handle;
use serde_json::{Value, json};

use crate::cluster::SimCluster;
use crate::invariants::{
    OneLeaderPerTerm, ReplicaDigests, Violation, every_batch_job_finishes,
    no_acknowledged_submission_lost,
};
use crate::knobs::{FaultKind, Knobs};
use crate::trace::Trace;

const CLIENT_ATTEMPTS: u32 = 40;

pub async fn run(knobs: &Knobs, trace: &Trace) -> Result<(), Violation> {
    let cluster = SimCluster::start_with(knobs.control_nodes, knobs.bugs.lying_fsync);
    let handle = Handle::current();
    let client = handle
        .create_node()
        .name("client")
        .ip([10, 0, 0, 100].into())
        .build();
    let observer = handle
        .create_node()
        .name("observer")
        .ip([10, 0, 0, 101].into())
        .build();
    let addrs = cluster.addrs();
    let workload = client.spawn(submit_jobs(
        addrs.clone(),
        knobs.jobs,
        knobs.safety_phase_s,
        trace.clone(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let watching = observer.spawn(watch(addrs.clone(), stop.clone(), trace.clone()));
    inject_faults(&cluster, knobs, trace).await;
    let acknowledged = workload.await.unwrap_or_default();
    trace.event(
        "sim",
        "healed",
        &json!({ "acknowledged": acknowledged.len() }),
    );
    let bound = knobs.liveness_bound_s;
    let (present, finished) = client
        .spawn(converge(addrs, acknowledged.clone(), bound, trace.clone()))
        .await
        .unwrap_or_default();
    stop.store(true, Ordering::SeqCst);
    watching.await.unwrap_or(Ok(()))?;
    no_acknowledged_submission_lost(&acknowledged, &present)?;
    every_batch_job_finishes(&acknowledged, &finished, bound)
}

/// Runs the knobs' fault schedule over the safety phase; everything is
/// restarted and healed at its end.
async fn inject_faults(cluster: &SimCluster, knobs: &Knobs, trace: &Trace) {
    let phase_ms = knobs.safety_phase_s * 1000;
    let mut now_ms = 0;
    let mut down: BTreeSet<u64> = BTreeSet::new();
    let mut cut: BTreeSet<u64> = BTreeSet::new();
    for (i, fault) in knobs.faults.iter().enumerate() {
        if fault.node == 0 || fault.node > knobs.control_nodes || fault.at_ms >= phase_ms {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(fault.at_ms);
        let node = fault.node;
        let name = format!("node-{node}");
        match fault.kind {
            FaultKind::Crash if down.insert(node) => {
                cluster.crash(node, knobs.seed ^ (i as u64));
                trace.event(&name, "crash", &json!({}));
            }
            FaultKind::Crash => {
                cluster.restart(node);
                down.remove(&node);
                trace.event(&name, "restart", &json!({}));
            }
            FaultKind::Partition if cut.insert(node) => {
                cluster.partition(node);
                trace.event(&name, "partition", &json!({}));
            }
            FaultKind::Partition => {
                cluster.heal(node);
                cut.remove(&node);
                trace.event(&name, "heal", &json!({}));
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(phase_ms.saturating_sub(now_ms))).await;
    for node in down {
        cluster.restart(node);
        trace.event(&format!("node-{node}"), "restart", &json!({}));
    }
    for node in cut {
        cluster.heal(node);
        trace.event(&format!("node-{node}"), "heal", &json!({}));
    }
}

async fn api(
    addr: &str,
) -> Option<drover_proto::v1::api_client::ApiClient<tonic::transport::Channel>> {
    drover_node::client::connect(addr).await.ok()
}

/// Submits `jobs` batch jobs over the safety phase, retrying each as a
/// client would; returns those acknowledged.
async fn submit_jobs(addrs: Vec<String>, jobs: u64, phase_s: u64, trace: Trace) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let gap_ms = phase_s * 1000 / (jobs + 1);
    for n in 0..jobs {
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        let job = format!("job-{n}");
        let spec = format!(
            "id = \"{job}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"300\", \"0\"]\n"
        );
        for attempt in 0..CLIENT_ATTEMPTS {
            let addr =
                &addrs[usize::try_from((n + u64::from(attempt)) % addrs.len() as u64).unwrap_or(0)];
            let Some(mut client) = api(addr).await else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            let request = SubmitJobRequest {
                spec: spec.clone(),
                file_name: format!("{job}.toml"),
            };
            match client.submit_job(request).await {
                Ok(reply) => {
                    trace.event(
                        "client",
                        "acknowledged",
                        &json!({ "job": job, "index": reply.into_inner().index }),
                    );
                    acknowledged.push(job.clone());
                    break;
                }
                Err(status) => {
                    // Unknown, not failed: it may have committed anyway.
                    trace.event(
                        "client",
                        "unknown",
                        &json!({ "job": job, "error": status.code().to_string() }),
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
    acknowledged
}

/// Polls every node's view of the cluster until told to stop, checking
/// election and state-machine safety on every answer.
async fn watch(addrs: Vec<String>, stop: Arc<AtomicBool>, trace: Trace) -> Result<(), Violation> {
    let mut leaders = OneLeaderPerTerm::default();
    let mut digests = ReplicaDigests::default();
    while !stop.load(Ordering::SeqCst) {
        for addr in &addrs {
            let Some(mut client) = api(addr).await else {
                continue;
            };
            let Ok(reply) = client.cluster_status(Empty {}).await else {
                continue;
            };
            let doc: Value = serde_json::from_str(&reply.into_inner().json).unwrap_or_default();
            let node = doc["node"].as_u64().unwrap_or(0);
            if doc["state"] == "Leader" {
                let result = leaders.observe(node, doc["term"].as_u64().unwrap_or(0));
                if let Err(v) = &result {
                    trace.event(
                        "observer",
                        "violation",
                        &json!({ "invariant": v.invariant, "detail": v.detail }),
                    );
                }
                result?;
            }
            if let (Some(applied), Some(digest)) =
                (doc["applied_index"].as_u64(), doc["state_digest"].as_str())
            {
                digests.observe(node, applied, digest)?;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Waits (up to `bound_s`) for every acknowledged job to finish; returns
/// the jobs the cluster holds and those finished.
async fn converge(
    addrs: Vec<String>,
    acknowledged: Vec<String>,
    bound_s: u64,
    trace: Trace,
) -> (Vec<String>, Vec<String>) {
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut present: Vec<String> = Vec::new();
    for _ in 0..bound_s * 2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for addr in &addrs {
            let Some(mut client) = api(addr).await else {
                continue;
            };
            let Ok(reply) = client.list_jobs(Empty {}).await else {
                continue;
            };
            let doc: Value = serde_json::from_str(&reply.into_inner().json).unwrap_or_default();
            present = doc["jobs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|j| j["id"].as_str().map(String::from))
                .collect();
            let waiting: Vec<String> = acknowledged
                .iter()
                .filter(|j| !finished.contains(*j))
                .cloned()
                .collect();
            for job in waiting {
                let Ok(status) = client.job_status(JobRef { job: job.clone() }).await else {
                    continue;
                };
                let doc: Value =
                    serde_json::from_str(&status.into_inner().json).unwrap_or_default();
                let done = doc["allocations"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| matches!(a["status"].as_str(), Some("complete" | "failed")))
                });
                if done {
                    finished.insert(job);
                }
            }
            break;
        }
        if acknowledged.iter().all(|j| finished.contains(j)) {
            break;
        }
    }
    trace.event(
        "sim",
        "converged",
        &json!({ "finished": finished.len(), "acknowledged": acknowledged.len() }),
    );
    (present, finished.into_iter().collect())
}
