//! One simulation: a cluster, clients submitting work, an observer
//! checking safety invariants as it goes, faults for a safety phase, then
//! everything healed and a liveness phase that must converge in a bound.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use drover_proto::v1::{DrainRequest, Empty, JobRef, SubmitJobRequest};
use madsim::runtime::Handle;
use serde_json::{Value, json};

use crate::cluster::{DECISION_INTERVAL_MS, SimCluster};
use crate::invariants::{
    CommittedPrefixes, OneLeaderPerTerm, ReplicaDigests, Violation, every_batch_job_finishes,
    liveness_decisions_paced, no_acknowledged_submission_lost, no_node_over_capacity,
    placements_in_region, service_has_its_replicas,
};
use crate::knobs::{FaultKind, Knobs, LEADER, SERVICE_CPU_MILLIS, SLOW_DISK_MS, SYSTEM_CPU_MILLIS};
use crate::trace::Trace;

const CLIENT_ATTEMPTS: u32 = 40;

type Api = drover_proto::v1::api_client::ApiClient<tonic::transport::Channel>;

async fn api(addr: &str) -> Option<Api> {
    drover_node::client::connect(addr).await.ok()
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_default()
}

/// The work the clients submit: its specs follow from the knobs.
struct Workload<'k> {
    knobs: &'k Knobs,
}

impl Workload<'_> {
    fn batch(&self, n: u64) -> (String, String) {
        let job = format!("job-{n}");
        let spec = format!(
            "id = \"{job}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"{}\", \"0\"]\n[task.resources]\ncpu_millis = {}\n",
            self.knobs.batch_run_ms, self.knobs.batch_cpu_millis
        );
        (job, spec)
    }

    fn service_name(k: u64) -> String {
        format!("svc-{k}")
    }

    /// Service `k`; `version` changes its task (an update).
    fn service(&self, k: u64, version: u64) -> String {
        let mut spec = format!(
            "id = \"{}\"\nkind = \"service\"\nreplicas = {}\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"3600000\", \"0\"]\nenv = {{ VERSION = \"{version}\" }}\n[task.resources]\ncpu_millis = {SERVICE_CPU_MILLIS}\nmemory = \"256MiB\"\n",
            Self::service_name(k),
            self.knobs.replicas
        );
        if k == 0 && self.knobs.regions > 1 {
            spec.push_str(&format!(
                "[[constraint]]\nattribute = \"node.region\"\nvalue = \"{}\"\n",
                self.pinned_region()
            ));
        }
        spec
    }

    fn pinned_region(&self) -> String {
        format!("r{}", self.knobs.pinned_region())
    }

    fn system() -> String {
        format!(
            "id = \"agent\"\nkind = \"system\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"3600000\", \"0\"]\n[task.resources]\ncpu_millis = {SYSTEM_CPU_MILLIS}\n"
        )
    }

    /// Long-running jobs, submitted first: services, then the system job.
    fn long_running(&self) -> Vec<(String, String)> {
        let mut jobs: Vec<(String, String)> = (0..self.knobs.services)
            .map(|k| (Self::service_name(k), self.service(k, 1)))
            .collect();
        if self.knobs.system_job {
            jobs.push(("agent".into(), Self::system()));
        }
        jobs
    }
}

pub async fn run(knobs: &Knobs, trace: &Trace) -> Result<(), Violation> {
    let cluster = SimCluster::start_with(knobs);
    let handle = Handle::current();
    let addrs = cluster.addrs();
    let voters: Vec<String> = addrs
        .iter()
        .take(usize::try_from(knobs.control_nodes).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let clients: Vec<_> = (0..knobs.clients)
        .map(|k| {
            handle
                .create_node()
                .name(format!("client-{k}"))
                .ip([10, 0, 1, u8::try_from(k + 1).unwrap_or(1)].into())
                .build()
        })
        .collect();
    let observer = handle
        .create_node()
        .name("observer")
        .ip([10, 0, 2, 1].into())
        .build();
    SimCluster::weather(knobs.weather);
    let workloads: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(k, client)| {
            client.spawn(client_work(
                addrs.clone(),
                knobs.clone(),
                k as u64,
                trace.clone(),
            ))
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let leader = Arc::new(AtomicU64::new(LEADER));
    let watching = observer.spawn(watch(
        voters.clone(),
        leader.clone(),
        knobs.regions > 1 && knobs.services > 0,
        Workload { knobs }.pinned_region(),
        stop.clone(),
        trace.clone(),
    ));
    inject_faults(&cluster, knobs, &leader, trace).await;
    let mut acknowledged = Vec::new();
    for work in workloads {
        acknowledged.extend(work.await.unwrap_or_default());
    }
    acknowledged.sort();
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
            trace.clone(),
        ))
        .await
        .unwrap_or_default();
    stop.store(true, Ordering::SeqCst);
    watching.await.unwrap_or(Ok(()))?;
    no_acknowledged_submission_lost(&acknowledged, &outcome.present)?;
    let finished: Vec<String> = outcome.finished.iter().cloned().collect();
    let batch: Vec<String> = acknowledged
        .iter()
        .filter(|j| j.starts_with("job-"))
        .cloned()
        .collect();
    every_batch_job_finishes(&batch, &finished, bound)?;
    outcome.services.map_or(Ok(()), Err)
}

/// The safety phase's faults, each toggled by its next occurrence; at the
/// end everything is restarted, resumed and healed.
#[derive(Default)]
struct Faults {
    down: BTreeSet<u64>,
    cut: BTreeSet<u64>,
    deaf: BTreeSet<u64>,
    paused: BTreeSet<u64>,
    regions: BTreeSet<u64>,
    slow: BTreeSet<u64>,
}

impl Faults {
    fn isolated(&self, cluster: &SimCluster, node: u64) -> bool {
        self.cut.contains(&node)
            || self.deaf.contains(&node)
            || self
                .regions
                .iter()
                .any(|r| cluster.in_region(*r).any(|n| n == node))
    }

    /// Reconnects `node` unless another fault still holds it apart.
    fn reconnect(&self, cluster: &SimCluster, node: u64) {
        if !self.isolated(cluster, node) {
            cluster.heal(node);
        }
    }

    fn toggle(
        &mut self,
        cluster: &SimCluster,
        kind: FaultKind,
        target: u64,
        seed: u64,
    ) -> &'static str {
        match kind {
            FaultKind::Crash if self.down.insert(target) => {
                self.paused.remove(&target);
                cluster.crash(target, seed);
                "crash"
            }
            FaultKind::Crash => {
                self.down.remove(&target);
                cluster.restart(target);
                "restart"
            }
            FaultKind::Partition if self.cut.insert(target) => {
                cluster.partition(target);
                "partition"
            }
            FaultKind::Partition => {
                self.cut.remove(&target);
                self.reconnect(cluster, target);
                "heal"
            }
            FaultKind::Deafen if !self.isolated(cluster, target) && self.deaf.insert(target) => {
                cluster.deafen(target);
                "deafen"
            }
            FaultKind::Deafen => {
                if self.deaf.remove(&target) {
                    self.reconnect(cluster, target);
                }
                "hear"
            }
            FaultKind::Pause if !self.down.contains(&target) && self.paused.insert(target) => {
                cluster.pause(target);
                "pause"
            }
            FaultKind::Pause => {
                if self.paused.remove(&target) {
                    cluster.resume(target);
                }
                "resume"
            }
            FaultKind::SlowDisk if self.slow.insert(target) => {
                cluster.slow_disk(target, Duration::from_millis(SLOW_DISK_MS));
                "slow disk"
            }
            FaultKind::SlowDisk => {
                self.slow.remove(&target);
                cluster.slow_disk(target, Duration::ZERO);
                "disk back to speed"
            }
            FaultKind::Region if self.regions.insert(target) => {
                for node in cluster.in_region(target) {
                    cluster.partition(node);
                }
                "region lost"
            }
            FaultKind::Region => {
                self.regions.remove(&target);
                for node in cluster.in_region(target) {
                    self.reconnect(cluster, node);
                }
                "region healed"
            }
        }
    }

    fn heal_all(self, cluster: &SimCluster, trace: &Trace) {
        for node in self.slow {
            cluster.slow_disk(node, Duration::ZERO);
            trace.event(&format!("node-{node}"), "disk back to speed", &json!({}));
        }
        for node in self.down {
            cluster.restart(node);
            trace.event(&format!("node-{node}"), "restart", &json!({}));
        }
        for node in self.paused {
            cluster.resume(node);
            trace.event(&format!("node-{node}"), "resume", &json!({}));
        }
        let isolated: BTreeSet<u64> = self
            .cut
            .iter()
            .chain(&self.deaf)
            .copied()
            .chain(self.regions.iter().flat_map(|r| cluster.in_region(*r)))
            .collect();
        for node in isolated {
            cluster.heal(node);
            trace.event(&format!("node-{node}"), "heal", &json!({}));
        }
    }
}

async fn inject_faults(cluster: &SimCluster, knobs: &Knobs, leader: &AtomicU64, trace: &Trace) {
    let phase_ms = knobs.safety_phase_s * 1000;
    let mut now_ms = 0;
    let mut faults = Faults::default();
    for (i, fault) in knobs.faults.iter().enumerate() {
        let mut fault = *fault;
        if fault.kind == FaultKind::Crash && fault.target == LEADER {
            // Whoever the observer last saw leading, when the fault strikes
            // (unless that node is down already: then there is no one).
            tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
            now_ms = now_ms.max(fault.at_ms);
            fault.target = leader.load(Ordering::SeqCst);
            if faults.down.contains(&fault.target) {
                continue;
            }
        }
        let valid = match fault.kind {
            FaultKind::Region => fault.target < knobs.regions,
            _ => (1..=knobs.nodes()).contains(&fault.target),
        };
        if !valid || fault.at_ms >= phase_ms {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(fault.at_ms.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(fault.at_ms);
        let event = faults.toggle(cluster, fault.kind, fault.target, knobs.seed ^ (i as u64));
        let who = match fault.kind {
            FaultKind::Region => format!("region-{}", fault.target),
            _ => format!("node-{}", fault.target),
        };
        trace.event(&who, event, &json!({}));
    }
    tokio::time::sleep(Duration::from_millis(phase_ms.saturating_sub(now_ms))).await;
    SimCluster::weather(None);
    faults.heal_all(cluster, trace);
}

/// Submits `spec` until acknowledged or out of attempts, as a client
/// would; a failed attempt is *unknown*, not failed (it may have
/// committed).
async fn submit(addrs: &[String], start: u64, job: &str, spec: &str, trace: &Trace) -> bool {
    for attempt in 0..u64::from(CLIENT_ATTEMPTS) {
        let addr = &addrs[usize::try_from((start + attempt) % addrs.len() as u64).unwrap_or(0)];
        let Some(mut client) = api(addr).await else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        let request = SubmitJobRequest {
            spec: spec.to_string(),
            file_name: format!("{job}.toml"),
        };
        match client.submit_job(request).await {
            Ok(reply) => {
                trace.event(
                    "client",
                    "acknowledged",
                    &json!({ "job": job, "index": reply.into_inner().index }),
                );
                return true;
            }
            Err(status) => {
                trace.event(
                    "client",
                    "unknown",
                    &json!({ "job": job, "error": status.code().to_string() }),
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    false
}

/// Retries a one-shot request until it succeeds or attempts run out.
async fn until_done<F, Fut>(addrs: &[String], what: &str, trace: &Trace, mut call: F)
where
    F: FnMut(Api) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for attempt in 0..CLIENT_ATTEMPTS as usize {
        if let Some(client) = api(&addrs[attempt % addrs.len()]).await
            && call(client).await
        {
            trace.event("client", what, &json!({ "done": true }));
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    trace.event("client", what, &json!({ "done": false }));
}

/// Client `k`'s share of the work; returns the batch jobs acknowledged.
/// Client 0 also submits the long-running jobs, stops a service and
/// drains a node when the knobs say so.
async fn client_work(addrs: Vec<String>, knobs: Knobs, k: u64, trace: Trace) -> Vec<String> {
    let workload = Workload { knobs: &knobs };
    let mut acknowledged = Vec::new();
    if k == 0 {
        for (job, spec) in workload.long_running() {
            if submit(&addrs, 0, &job, &spec, &trace).await {
                acknowledged.push(job);
            }
        }
    }
    let phase_ms = knobs.safety_phase_s * 1000;
    let gap_ms = phase_ms / (knobs.jobs + 1);
    // A burst: every job at once, at a time drawn from the seed.
    let burst_at_ms = (knobs.seed.wrapping_mul(31).wrapping_add(k * 7919)) % (phase_ms / 2);
    let mut now_ms = 0;
    let mut chores: Vec<(u64, &str)> = Vec::new();
    if k == 0 {
        chores.extend(knobs.stop_service_at_ms.map(|at| (at, "stop")));
        chores.extend(knobs.update_service_at_ms.map(|at| (at, "update")));
        chores.extend(knobs.drain.map(|(at, _)| (at, "drain")));
        chores.sort_unstable();
    }
    for n in (0..knobs.jobs).filter(|n| n % knobs.clients == k) {
        let at_ms = if knobs.burst {
            burst_at_ms
        } else {
            gap_ms * (n + 1)
        };
        while let Some(i) = chores.iter().position(|(at, _)| *at <= at_ms) {
            let (at, chore) = chores.remove(i);
            tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms))).await;
            now_ms = now_ms.max(at);
            do_chore(&addrs, &knobs, chore, &trace).await;
        }
        tokio::time::sleep(Duration::from_millis(at_ms.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(at_ms);
        let (job, spec) = workload.batch(n);
        if submit(&addrs, n, &job, &spec, &trace).await {
            acknowledged.push(job);
        }
    }
    for (at, chore) in chores {
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(at);
        do_chore(&addrs, &knobs, chore, &trace).await;
    }
    acknowledged
}

async fn do_chore(addrs: &[String], knobs: &Knobs, chore: &str, trace: &Trace) {
    if chore == "update" {
        let spec = Workload { knobs }.service(0, 2);
        submit(addrs, 0, &Workload::service_name(0), &spec, trace).await;
    } else if chore == "stop" {
        let job = Workload::service_name(knobs.services.saturating_sub(1));
        until_done(addrs, "stop", trace, |mut api| {
            let job = job.clone();
            async move { api.stop_job(JobRef { job }).await.is_ok() }
        })
        .await;
    } else if let Some((_, node)) = knobs.drain {
        until_done(addrs, "drain", trace, |mut api| async move {
            let request = DrainRequest {
                node: format!("node-{node}"),
                enable: true,
            };
            api.drain_node(request).await.is_ok()
        })
        .await;
    }
}

/// Polls the voters' views of the cluster until told to stop, checking
/// election and state-machine safety on every answer, and the placement
/// invariants on one replica's node list every second.
async fn watch(
    voters: Vec<String>,
    leader: Arc<AtomicU64>,
    pinned: bool,
    pinned_region: String,
    stop: Arc<AtomicBool>,
    trace: Trace,
) -> Result<(), Violation> {
    let mut leaders = OneLeaderPerTerm::default();
    let mut digests = ReplicaDigests::default();
    let mut prefixes = CommittedPrefixes::default();
    let mut round = 0u64;
    let report = |v: Violation| {
        trace.event(
            "observer",
            "violation",
            &json!({ "invariant": v.invariant, "detail": v.detail }),
        );
        v
    };
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        for addr in &voters {
            let Some(mut client) = api(addr).await else {
                continue;
            };
            let Ok(reply) = client.cluster_status(Empty {}).await else {
                continue;
            };
            let doc = parse(&reply.into_inner().json);
            let node = doc["node"].as_u64().unwrap_or(0);
            if doc["state"] == "Leader" {
                leader.store(node, Ordering::SeqCst);
                leaders
                    .observe(node, doc["term"].as_u64().unwrap_or(0))
                    .map_err(report)?;
            }
            if let (Some(applied), Some(digest)) =
                (doc["applied_index"].as_u64(), doc["state_digest"].as_str())
            {
                digests.observe(node, applied, digest).map_err(report)?;
            }
            if let (Some(applied), Some(chain)) =
                (doc["applied_index"].as_u64(), doc["log_chain"].as_str())
            {
                prefixes.observe(node, applied, chain).map_err(report)?;
            }
        }
        if round.is_multiple_of(4) {
            let addr = &voters[usize::try_from(round / 4).unwrap_or(0) % voters.len()];
            if let Some(mut client) = api(addr).await
                && let Ok(reply) = client.list_nodes(Empty {}).await
            {
                let nodes = parse(&reply.into_inner().json);
                no_node_over_capacity(&nodes).map_err(report)?;
                liveness_decisions_paced(&nodes, DECISION_INTERVAL_MS).map_err(report)?;
                if pinned
                    && let Ok(job) = client
                        .job_status(JobRef {
                            job: "svc-0".into(),
                        })
                        .await
                {
                    let job = parse(&job.into_inner().json);
                    placements_in_region(&job, &nodes, &pinned_region).map_err(report)?;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// What the cluster looked like when the liveness phase ended.
#[derive(Default)]
struct Outcome {
    present: Vec<String>,
    finished: BTreeSet<String>,
    /// The last service found without exactly its replicas.
    services: Option<Violation>,
}

impl Outcome {
    fn batch_waiting(&self, acknowledged: &[String]) -> Vec<String> {
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
async fn converge(
    voters: Vec<String>,
    knobs: Knobs,
    acknowledged: Vec<String>,
    trace: Trace,
) -> Outcome {
    let mut outcome = Outcome::default();
    let services: Vec<String> = (0..knobs.services).map(Workload::service_name).collect();
    for _ in 0..knobs.liveness_bound_s * 2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(mut client) = most_advanced(&voters).await else {
            continue;
        };
        let Ok(reply) = client.list_jobs(Empty {}).await else {
            continue;
        };
        outcome.present = parse(&reply.into_inner().json)["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| j["id"].as_str().map(String::from))
            .collect();
        for job in outcome.batch_waiting(&acknowledged) {
            let Ok(status) = client.job_status(JobRef { job: job.clone() }).await else {
                continue;
            };
            let done = parse(&status.into_inner().json)["allocations"]
                .as_array()
                .is_some_and(|a| {
                    a.iter()
                        .any(|a| matches!(a["status"].as_str(), Some("complete" | "failed")))
                });
            if done {
                outcome.finished.insert(job);
            }
        }
        outcome.services = None;
        for service in &services {
            let Ok(status) = client
                .job_status(JobRef {
                    job: service.clone(),
                })
                .await
            else {
                // Never acknowledged (the client gave up): nothing to keep.
                continue;
            };
            let job = parse(&status.into_inner().json);
            if let Err(v) = service_has_its_replicas(&job, knobs.replicas) {
                outcome.services = Some(v);
                break;
            }
        }
        if outcome.batch_waiting(&acknowledged).is_empty() && outcome.services.is_none() {
            break;
        }
    }
    trace.event(
        "sim",
        "converged",
        &json!({
            "finished": outcome.finished.len(),
            "acknowledged": acknowledged.len(),
            "services_ok": outcome.services.is_none(),
        }),
    );
    outcome
}
