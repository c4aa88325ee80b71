//! Discovery: a job whose task holds ports is a service named by its job
//! id; its endpoints are the addresses of the ports of its instances that
//! serve (`drover_core::health::serves`). The documents `drover service
//! list|show`, the gRPC API and the REST API answer.

use drover_core::health::{self, HealthStatus};
use drover_core::{AllocStatus, Allocation, ClusterState, JobId};
use serde_json::{Value, json};

/// Whether `job` is a service to discovery: its task asks for ports.
pub fn is_service(job: &drover_core::state::Job) -> bool {
    !job.spec.ext.ports.is_empty()
}

/// The ports an allocation holds: label, number, and the address others
/// reach it at (its node's host).
pub fn port_addresses<'a>(
    state: &'a ClusterState,
    alloc: &'a Allocation,
) -> impl Iterator<Item = (&'a str, u16, String)> + 'a {
    let address = state.node(&alloc.node).map_or("", |n| n.address.as_str());
    let host = drover_core::ports::host_of(address);
    alloc
        .ext
        .ports
        .iter()
        .map(move |p| (p.label.as_str(), p.port, format!("{host}:{}", p.port)))
}

/// One instance's endpoints, one per port label.
fn endpoints(state: &ClusterState, alloc: &Allocation) -> Vec<Value> {
    port_addresses(state, alloc)
        .map(|(label, port, address)| {
            json!({
                "label": label,
                "address": address,
                "port": port,
                "alloc": alloc.id.to_string(),
                "node": alloc.node.as_str(),
            })
        })
        .collect()
}

/// The job's live instances: running or on their way, meant to run.
fn live<'a>(state: &'a ClusterState, job: &'a JobId) -> impl Iterator<Item = &'a Allocation> {
    state
        .job_allocs(job)
        .filter(|a| a.desired == drover_core::DesiredStatus::Run && !a.status.is_terminal())
}

/// How many live instances serve, and of the rest what holds them back.
fn counts(state: &ClusterState, job: &JobId) -> Value {
    let (mut serving, mut pending, mut unhealthy, mut starting) = (0, 0, 0, 0);
    for alloc in live(state, job) {
        if health::serves(state, alloc) {
            serving += 1;
        } else if alloc.status != AllocStatus::Running {
            starting += 1;
        } else if health::of(state, alloc) == Some(HealthStatus::Unhealthy) {
            unhealthy += 1;
        } else {
            pending += 1;
        }
    }
    json!({ "serving": serving, "health_pending": pending, "unhealthy": unhealthy, "not_running": starting })
}

/// A row of `service list`.
pub fn summary(state: &ClusterState, job: &drover_core::state::Job) -> Value {
    let labels: Vec<&str> = job
        .spec
        .ext
        .ports
        .iter()
        .map(|p| p.label.as_str())
        .collect();
    json!({
        "service": job.spec.id.as_str(),
        "kind": job.spec.kind.name(),
        "ports": labels,
        "checks": job.spec.ext.checks.len(),
        "instances": counts(state, &job.spec.id),
    })
}

/// `service show`: the endpoints that serve, and every live instance
/// with its health and last check output.
pub fn show(state: &ClusterState, job: &drover_core::state::Job) -> Value {
    let id = &job.spec.id;
    let serving: Vec<Value> = live(state, id)
        .filter(|a| health::serves(state, a))
        .flat_map(|a| endpoints(state, a))
        .collect();
    let instances: Vec<Value> = live(state, id)
        .map(|a| {
            json!({
                "alloc": a.id.to_string(),
                "node": a.node.as_str(),
                "version": a.job_version,
                "status": a.status.as_str(),
                "serves": health::serves(state, a),
                "health": health_doc(state, a),
            })
        })
        .collect();
    let mut doc = summary(state, job);
    doc["endpoints"] = Value::Array(serving);
    doc["allocations"] = Value::Array(instances);
    doc["index"] = json!(state.index());
    doc
}

/// An allocation's health for documents: `null` without checks, else its
/// status and, once a change was committed, the check that decided it,
/// what it said and since when.
pub fn health_doc(state: &ClusterState, alloc: &Allocation) -> Value {
    let Some(status) = health::of(state, alloc) else {
        return Value::Null;
    };
    match &alloc.ext.health {
        Some(h) => json!({
            "status": status.as_str(),
            "check": h.check,
            "output": h.output,
            "since_ms": h.since_ms,
        }),
        None => {
            json!({ "status": status.as_str(), "check": null, "output": null, "since_ms": null })
        }
    }
}
