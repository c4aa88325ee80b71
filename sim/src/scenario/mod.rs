//! One simulation: a cluster, clients submitting work, an observer
//! checking safety invariants as it goes, faults for a safety phase, then
//! everything healed and a liveness phase that must converge in a bound.

mod client;
mod converge;
mod faults;
pub mod federated;
mod observer;
mod operator;
mod workload;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use madsim::runtime::Handle;
use serde_json::{Value, json};

use crate::cluster::{MAX_DISCONNECT_MS, SimCluster};
use crate::history::History;
use crate::invariants::{
    Violation, batch_results_are_real, every_batch_job_finishes, history_is_linearizable,
    no_acknowledged_submission_lost, no_gap_on_replace, stopped_jobs_run_nothing,
};
use crate::knobs::{Knobs, LEADER};
use crate::trace::Trace;
use client::client_work;
use converge::converge;
use faults::{Hands, inject_faults};
use observer::watch;
use operator::Operator;
use workload::Workload;

type Api = drover_proto::v1::api_client::ApiClient<tonic::transport::Channel>;

async fn api(addr: &str) -> Option<Api> {
    drover_node::client::connect(addr).await.ok()
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_default()
}

/// A job's status document, if the node answered.
async fn job_doc(client: &mut Api, job: &str, stale: bool) -> Option<Value> {
    let request = drover_proto::v1::ReadJob {
        job: job.to_string(),
        stale,
        ..drover_proto::v1::ReadJob::default()
    };
    let reply = client.job_status(request).await.ok()?;
    Some(parse(&reply.into_inner().json))
}

pub async fn run(knobs: &Knobs, trace: &Trace) -> Result<(), Violation> {
    if knobs.federated >= 2 {
        return federated::run(knobs, trace).await;
    }
    let cluster = SimCluster::start_with(knobs, trace);
    for k in 0..knobs.services {
        let (job, service) = Workload { knobs }.service_shape(k);
        cluster.reality.service(&job, service);
    }
    let handle = Handle::current();
    let addrs = cluster.addrs();
    let voters: Vec<String> = addrs
        .iter()
        .take(usize::try_from(knobs.control_nodes).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let (clients, reader, observer) = machines_outside(&handle, knobs);
    let operator_machine = handle
        .create_node()
        .name("operator")
        .ip([10, 0, 4, 1].into())
        .build();
    for outsider in clients.iter().chain([&observer, &operator_machine]) {
        cluster.add_outsider(outsider.id());
    }
    SimCluster::weather(knobs.weather);
    let history = History::new();
    let workloads: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(k, client)| {
            client.spawn(client_work(
                addrs.clone(),
                knobs.clone(),
                k as u64,
                history.clone(),
                trace.clone(),
            ))
        })
        .collect();
    let reading = reader.spawn(client::reader(
        addrs.clone(),
        knobs.clone(),
        history.clone(),
        trace.clone(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let leader = Arc::new(AtomicU64::new(LEADER));
    let watching = observer.spawn(watch(
        voters.clone(),
        leader.clone(),
        knobs.regions > 1 && knobs.services > 0,
        Workload { knobs }.pinned_region(),
        stop.clone(),
        cluster.reality.clone(),
        trace.clone(),
    ));
    let operator = Operator::new(voters.clone(), cluster.reality.clone(), trace.clone());
    let hands = Hands {
        operator: &operator,
        machine: &operator_machine,
    };
    inject_faults(&cluster, knobs, &leader, &hands, trace).await;
    let mut acknowledged = Vec::new();
    for work in workloads {
        acknowledged.extend(work.await.unwrap_or_default());
    }
    acknowledged.sort();
    reading.await.unwrap_or_default();
    trace.event(
        "sim",
        "healed",
        &json!({ "acknowledged": acknowledged.len() }),
    );
    let bound = knobs.liveness_bound_s;
    let outcome = clients[0]
        .spawn(converge(
            voters,
            knobs.clone(),
            acknowledged.clone(),
            cluster.reality.clone(),
            trace.clone(),
        ))
        .await
        .unwrap_or_default();
    stop.store(true, Ordering::SeqCst);
    watching.await.unwrap_or(Ok(()))?;
    against_reality(&cluster, &history, &outcome).await?;
    no_acknowledged_submission_lost(&acknowledged, &outcome.present)?;
    history_is_linearizable(&history.calls())?;
    let finished: Vec<String> = outcome.finished.iter().cloned().collect();
    let batch: Vec<String> = acknowledged
        .iter()
        .filter(|j| j.starts_with("job-"))
        .cloned()
        .collect();
    every_batch_job_finishes(&batch, &finished, bound)?;
    outcome.services.map_or(Ok(()), Err)
}

/// The clients' machines, the reader's and the observer's. The reader
/// stands on every node's own host, so it is not an outsider: no cut
/// applies to it (see `client::reader`).
fn machines_outside(
    handle: &Handle,
    knobs: &Knobs,
) -> (
    Vec<madsim::runtime::NodeHandle>,
    madsim::runtime::NodeHandle,
    madsim::runtime::NodeHandle,
) {
    let machine = |name: String, ip: [u8; 4]| handle.create_node().name(name).ip(ip.into()).build();
    let clients = (0..knobs.clients)
        .map(|k| {
            machine(
                format!("client-{k}"),
                [10, 0, 1, u8::try_from(k + 1).unwrap_or(1)],
            )
        })
        .collect();
    let reader = machine("reader".into(), [10, 0, 3, 1]);
    let observer = machine("observer".into(), [10, 0, 2, 1]);
    (clients, reader, observer)
}

/// The invariants read at the end against what really ran and what the
/// clients were told.
async fn against_reality(
    cluster: &SimCluster,
    history: &History,
    outcome: &converge::Outcome,
) -> Result<(), Violation> {
    // A node restarted on a damaged disk gets time to boot and refuse.
    for _ in 0..100 {
        if cluster.reality.damaged_all_refused() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    cluster.reality.finish(&history.calls())?;
    let (runs, halts) = cluster.reality.runs_and_halts();
    for (job, allocations, read_ms) in &outcome.results {
        batch_results_are_real(job, allocations, &runs, *read_ms)?;
    }
    stopped_jobs_run_nothing(
        &history.calls(),
        &runs,
        &halts,
        MAX_DISCONNECT_MS,
        cluster.reality.now_ms(),
    )?;
    no_gap_on_replace(
        &cluster.reality.service_stops(),
        &runs,
        &outcome.pairs,
        &history.calls(),
    )
}
