//! Regions of their own, federated: `knobs.federated` regions, each a
//! cluster of `control_nodes` voters that also run work, in an address
//! block of its own, its control nodes listing the other regions'. Calls
//! between regions cross a wide-area link of 50–150 ms each way
//! (`drover_node::region_link`). Each region's users — a client machine
//! inside it — keep a service there and submit batch jobs, every other
//! one for the next region, through their own region's nodes.
//!
//! The seed picks one region to cut off from all the others (whole
//! inside) for 22 s and loses a node inside it 2 s into the cut; with
//! three regions or more, in half the runs, it loses another region whole
//! for a while. Then everything heals and the work must finish. Checked
//! against what each region's simulated executors really ran: the region
//! cut off keeps working alone (`cut_off_region_keeps_working`), every
//! acknowledged submission runs in the region it named and nowhere else
//! (`work_stays_in_its_region`), and each region's own reality
//! invariants hold.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use drover_node::config::RegionPeer;
use drover_node::federation::REGION_KEY;
use drover_proto::v1::SubmitJobRequest;
use madsim::rand::Rng;
use madsim::runtime::{Handle, NodeHandle};
use serde_json::json;

use super::api;
use crate::cluster::{PORT, SimCluster, Site, ip};
use crate::invariants::{Cut, Violation, cut_off_region_keeps_working, work_stays_in_its_region};
use crate::knobs::{Knobs, SERVICE_CPU_MILLIS};
use crate::network::Cuts;
use crate::reality::TaskRun;
use crate::trace::Trace;

/// One way across the link between two regions.
pub const REGION_LATENCY_MS: (u64, u64) = (50, 150);
/// How long the chosen region stays cut off, and when its node is lost.
const CUT_FOR_MS: u64 = 22_000;
const NODE_LOST_AFTER_MS: u64 = 2_000;
const REPLICAS: u64 = 2;
/// Batch jobs each region's users submit, one every `SUBMIT_EVERY_MS`.
const JOBS_PER_REGION: u64 = 9;
const SUBMIT_EVERY_MS: u64 = 3_000;
const BATCH_RUN_MS: u64 = 1_500;

/// What the seed decided, before anything runs.
struct Plan {
    cut_region: usize,
    cut_at_ms: u64,
    /// Another region lost whole: which, from when, until when.
    region_lost: Option<(usize, u64, u64)>,
}

impl Plan {
    fn draw(regions: usize) -> Self {
        let mut rng = madsim::rand::thread_rng();
        let cut_region = rng.gen_range(0..regions);
        let cut_at_ms = rng.gen_range(3_000..6_000);
        let region_lost = (regions >= 3 && rng.gen_bool(0.5)).then(|| {
            let lost = (cut_region + rng.gen_range(1..regions)) % regions;
            let from = rng.gen_range(8_000..14_000);
            (lost, from, from + rng.gen_range(5_000..10_000))
        });
        Self {
            cut_region,
            cut_at_ms,
            region_lost,
        }
    }
}

/// One region: its cluster, and the machine its users work from.
struct Region {
    name: String,
    cluster: SimCluster,
    users: NodeHandle,
}

impl Region {
    fn service(&self) -> String {
        format!("svc-{}", self.name)
    }

    fn voter_addrs(&self) -> Vec<String> {
        self.cluster
            .nodes
            .iter()
            .map(|n| n.addr.to_string())
            .collect()
    }
}

/// Every submission made, with the region it named and when it was
/// sent, and which were acknowledged and when, in ms from `origin`.
#[derive(Clone)]
struct Ledger {
    origin: Instant,
    inner: Arc<Mutex<LedgerInner>>,
}

#[derive(Default)]
struct LedgerInner {
    named: BTreeMap<String, (String, u64)>,
    acknowledged: BTreeMap<String, u64>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            inner: Arc::default(),
        }
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.origin + Duration::from_millis(ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub async fn run(knobs: &Knobs, trace: &Trace) -> Result<(), Violation> {
    let count = usize::try_from(knobs.federated).unwrap_or(2);
    let plan = Plan::draw(count);
    let regions = start(knobs, trace, count);
    trace.event(
        "sim",
        "federated",
        &json!({
            "regions": count,
            "cut": [regions[plan.cut_region].name, plan.cut_at_ms, CUT_FOR_MS],
            "region_lost": plan.region_lost.map(|(r, from, to)| json!([regions[r].name, from, to])),
        }),
    );
    let ledger = Ledger::new();
    let users: Vec<_> = regions
        .iter()
        .enumerate()
        .map(|(r, region)| {
            let next = &regions[(r + 1) % count];
            region.users.spawn(users(
                region.voter_addrs(),
                region.name.clone(),
                next.name.clone(),
                ledger.clone(),
                trace.clone(),
            ))
        })
        .collect();
    cut_off(&regions, &plan, &ledger, trace).await?;
    for work in users {
        let _ = work.await;
    }
    settle(&regions, &ledger, knobs, trace).await
}

/// The regions' clusters and their users' machines, each region in
/// address block `r + 1` (block 0 is the one cluster of other runs).
fn start(knobs: &Knobs, trace: &Trace, count: usize) -> Vec<Region> {
    let mut one = knobs.clone();
    one.workers = 0;
    one.control_runs_work = true;
    one.regions = 1;
    one.faults.clear();
    one.drain = None;
    // A region's voters share a site: the seed's weather (up to 220 ms a
    // message) is a wide-area network, which Raft's default timing inside
    // a region is not set for (heartbeat 100 ms, also its answer limit).
    // The wide area lies between regions (`REGION_LATENCY_MS`).
    one.weather = None;
    let block = |r: usize| u8::try_from(r + 1).unwrap_or(1);
    let name = |r: usize| format!("r{r}");
    let addrs = |r: usize| -> Vec<SocketAddr> {
        (1..=one.control_nodes)
            .map(|id| SocketAddr::new(ip(block(r), id), PORT))
            .collect()
    };
    (0..count)
        .map(|r| {
            let site = Site {
                block: block(r),
                region: Some(name(r)),
                federation: (0..count)
                    .filter(|o| *o != r)
                    .map(|o| RegionPeer {
                        region: name(o),
                        addrs: addrs(o),
                    })
                    .collect(),
            };
            let cluster = SimCluster::start_at(&one, trace, &site);
            let (job, service) = super::workload::shape_of(&service_spec(&name(r)));
            cluster.reality.service(&job, service);
            let users = Handle::current()
                .create_node()
                .name(format!("{}-users", name(r)))
                .ip([10, block(r), 1, 1].into())
                .build();
            Region {
                name: name(r),
                cluster,
                users,
            }
        })
        .collect()
}

fn service_spec(region: &str) -> String {
    format!(
        "id = \"svc-{region}\"\nkind = \"service\"\nreplicas = {REPLICAS}\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"3600000\", \"0\"]\n[task.resources]\ncpu_millis = {SERVICE_CPU_MILLIS}\nmemory = \"256MiB\"\n[[task.port]]\nlabel = \"http\"\n"
    )
}

fn batch_spec(job: &str) -> String {
    format!(
        "id = \"{job}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"{BATCH_RUN_MS}\", \"0\"]\n[task.resources]\ncpu_millis = 100\n"
    )
}

/// A region's users: their service first, then batch jobs, every other
/// one for the `next` region, all sent to their own region's nodes.
/// Each submission is sent on its own, so that one waiting on a region
/// cut off holds no other up.
async fn users(own: Vec<String>, region: String, next: String, ledger: Ledger, trace: Trace) {
    let service = format!("svc-{region}");
    let mut sent = vec![tokio::spawn(submit(
        own.clone(),
        region.clone(),
        service.clone(),
        service_spec(&region),
        SERVICE_ATTEMPTS,
        ledger.clone(),
        trace.clone(),
    ))];
    for k in 0..JOBS_PER_REGION {
        tokio::time::sleep_until(ledger.at(due_ms(k))).await;
        let target = if k % 2 == 0 { &region } else { &next };
        let job = format!("job-{target}-from-{region}-{k}");
        sent.push(tokio::spawn(submit(
            own.clone(),
            target.clone(),
            job.clone(),
            batch_spec(&job),
            own.len(),
            ledger.clone(),
            trace.clone(),
        )));
    }
    for submission in sent {
        let _ = submission.await;
    }
}

/// Attempts at the service, which the region must have before its nodes
/// are lost: every node in turn, for as long as a region takes to elect
/// its first leader and a little more.
const SERVICE_ATTEMPTS: usize = 40;

/// When batch job `k` is due to be submitted.
fn due_ms(k: u64) -> u64 {
    1_000 + k * SUBMIT_EVERY_MS
}

/// Sends `spec` for region `target` to the nodes of `own`, one after
/// another, until one acknowledges it or `attempts` have failed; an error
/// is an unknown outcome, never counted as acknowledged.
async fn submit(
    own: Vec<String>,
    target: String,
    job: String,
    spec: String,
    attempts: usize,
    ledger: Ledger,
    trace: Trace,
) {
    let sent_ms = ledger.ms();
    ledger
        .lock()
        .named
        .insert(job.clone(), (target.clone(), sent_ms));
    for addr in own.iter().cycle().take(attempts) {
        let Some(mut client) = api(addr).await else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        let mut request = tonic::Request::new(SubmitJobRequest {
            spec: spec.clone(),
            file_name: format!("{job}.toml"),
            check_index: None,
            idempotency_key: String::new(),
        });
        if let Ok(value) = target.parse() {
            request.metadata_mut().insert(REGION_KEY, value);
        }
        match client.submit_job(request).await {
            Ok(_) => {
                let at = ledger.ms();
                ledger.lock().acknowledged.insert(job.clone(), at);
                trace.event(
                    "client",
                    "acknowledged",
                    &json!({ "job": job, "region": target }),
                );
                return;
            }
            Err(status) => {
                trace.event(
                    "client",
                    "unknown",
                    &json!({ "job": job, "region": target, "error": status.code().to_string() }),
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Cuts `plan.cut_region` off from every other region (and their users),
/// loses a node inside it, loses another region whole if planned, and
/// checks, as the link returns, that the region cut off kept working.
async fn cut_off(
    regions: &[Region],
    plan: &Plan,
    ledger: &Ledger,
    trace: &Trace,
) -> Result<(), Violation> {
    let alone = &regions[plan.cut_region];
    let healed_at_ms = plan.cut_at_ms + CUT_FOR_MS;
    let mut events: Vec<(u64, Event)> = vec![
        (plan.cut_at_ms, Event::Cut),
        (plan.cut_at_ms + NODE_LOST_AFTER_MS, Event::LoseNode),
        (healed_at_ms, Event::Heal),
    ];
    if let Some((lost, from, to)) = plan.region_lost {
        events.push((from, Event::LoseRegion(lost)));
        events.push((to, Event::RegionBack(lost)));
    }
    events.sort_by_key(|(ms, _)| *ms);
    let mut node_lost = None;
    for (ms, event) in events {
        tokio::time::sleep_until(ledger.at(ms)).await;
        match event {
            Event::Cut => {
                link(regions, plan.cut_region, false);
                trace.event(&alone.name, "cut off from the other regions", &json!({}));
            }
            Event::LoseNode => {
                let node = serving_node(alone);
                alone.cluster.crash(node, node);
                alone
                    .cluster
                    .reality
                    .network(&Cuts::default(), &BTreeSet::from([node]));
                trace.event(&alone.name, "node lost", &json!({ "node": node }));
                node_lost = Some((node, alone.cluster.reality.now_ms()));
            }
            Event::Heal => {
                let (node, lost_ms) = node_lost.unwrap_or((0, 0));
                let runs = alone.cluster.reality.runs_and_halts().0;
                let (asked, acknowledged) = own_work_during_cut(ledger, &alone.name, plan);
                let checked = cut_off_region_keeps_working(
                    &Cut {
                        region: &alone.name,
                        service: &alone.service(),
                        replicas: REPLICAS,
                        node_lost_ms: lost_ms,
                        healed_ms: alone.cluster.reality.now_ms(),
                        asked,
                        acknowledged,
                    },
                    &runs,
                );
                link(regions, plan.cut_region, true);
                alone.cluster.restart(node);
                alone
                    .cluster
                    .reality
                    .network(&Cuts::default(), &BTreeSet::new());
                trace.event(
                    &alone.name,
                    "link back",
                    &json!({ "asked": asked, "acknowledged": acknowledged }),
                );
                checked?;
            }
            Event::LoseRegion(r) => {
                let region = &regions[r];
                let ids: Vec<u64> = region.cluster.nodes.iter().map(|n| n.id).collect();
                for id in &ids {
                    region.cluster.crash(*id, *id);
                }
                region
                    .cluster
                    .reality
                    .network(&Cuts::default(), &ids.iter().copied().collect());
                trace.event(&region.name, "region lost", &json!({}));
            }
            Event::RegionBack(r) => {
                let region = &regions[r];
                for node in &region.cluster.nodes {
                    region.cluster.restart(node.id);
                }
                region
                    .cluster
                    .reality
                    .network(&Cuts::default(), &BTreeSet::new());
                trace.event(&region.name, "region back", &json!({}));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Cut,
    LoseNode,
    Heal,
    LoseRegion(usize),
    RegionBack(usize),
}

/// A node of `region` running an instance of its service now (the one
/// whose loss must be made good), or node 1.
fn serving_node(region: &Region) -> u64 {
    let now = region.cluster.reality.now_ms();
    let service = region.service();
    region
        .cluster
        .reality
        .runs_and_halts()
        .0
        .iter()
        .find(|r| r.job.as_str() == service && r.runs_at(now))
        .map_or(1, |r| r.node)
}

/// The submissions `region`'s users sent it while it was cut off, and
/// how many it acknowledged before the link returned.
fn own_work_during_cut(ledger: &Ledger, region: &str, plan: &Plan) -> (usize, usize) {
    let cut = plan.cut_at_ms..plan.cut_at_ms + CUT_FOR_MS;
    let inner = ledger.lock();
    let sent: Vec<&String> = inner
        .named
        .iter()
        .filter(|(job, (target, sent_ms))| {
            target == region
                && job.starts_with(&format!("job-{region}-from-{region}-"))
                && cut.contains(sent_ms)
        })
        .map(|(job, _)| job)
        .collect();
    let acknowledged = sent
        .iter()
        .filter(|job| {
            inner
                .acknowledged
                .get(**job)
                .is_some_and(|ms| cut.contains(ms))
        })
        .count();
    (sent.len(), acknowledged)
}

/// Everything healed: every acknowledged submission must run to
/// completion in the region it named within the liveness bound, and each
/// region's own reality invariants hold.
async fn settle(
    regions: &[Region],
    ledger: &Ledger,
    knobs: &Knobs,
    trace: &Trace,
) -> Result<(), Violation> {
    tokio::time::sleep_until(ledger.at(knobs.safety_phase_s * 1000)).await;
    let (named, acknowledged) = {
        let inner = ledger.lock();
        let acknowledged: Vec<String> = inner
            .acknowledged
            .keys()
            .filter(|job| job.starts_with("job-"))
            .cloned()
            .collect();
        let named: BTreeMap<String, String> = inner
            .named
            .iter()
            .map(|(job, (target, _))| (job.clone(), target.clone()))
            .collect();
        (named, acknowledged)
    };
    trace.event(
        "sim",
        "healed",
        &json!({ "acknowledged": acknowledged.len() }),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(knobs.liveness_bound_s);
    let runs = |regions: &[Region]| -> BTreeMap<String, Vec<TaskRun>> {
        regions
            .iter()
            .map(|r| (r.name.clone(), r.cluster.reality.runs_and_halts().0))
            .collect()
    };
    let now = |regions: &[Region]| regions[0].cluster.reality.now_ms();
    loop {
        let checked = work_stays_in_its_region(&named, &acknowledged, &runs(regions), now(regions));
        match checked {
            Ok(()) => break,
            Err(v) if v.invariant == "work stays in its region" => return Err(v),
            Err(v) if tokio::time::Instant::now() >= deadline => return Err(v),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    trace.event(
        "sim",
        "converged",
        &json!({ "finished": acknowledged.len() }),
    );
    for region in regions {
        region.cluster.reality.finish(&[]).map_err(|v| Violation {
            invariant: v.invariant,
            detail: format!("region {}: {}", region.name, v.detail),
        })?;
    }
    Ok(())
}

/// Cuts (or restores, when `up`) every link between region `r` — its
/// nodes and its users — and every other region's.
fn link(regions: &[Region], r: usize, up: bool) {
    let ends = |region: &Region| -> Vec<madsim::task::NodeId> {
        region
            .cluster
            .nodes
            .iter()
            .map(|n| n.handle.id())
            .chain([region.users.id()])
            .collect()
    };
    let net = madsim::net::NetSim::current();
    let inside = ends(&regions[r]);
    for (o, other) in regions.iter().enumerate() {
        if o == r {
            continue;
        }
        for a in &inside {
            for b in ends(other) {
                if up {
                    net.unclog_link(*a, b);
                    net.unclog_link(b, *a);
                } else {
                    net.clog_link(*a, b);
                    net.clog_link(b, *a);
                }
            }
        }
    }
}
