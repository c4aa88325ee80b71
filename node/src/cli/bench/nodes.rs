//! `drover bench nodes`: placements end to end through Raft, at a scale no
//! test machine has. N simulated workers — each the real worker loop
//! (`drover_node::worker::Worker`, its own proposer and heartbeats) over
//! an executor that runs nothing — register with a cluster, long-poll it,
//! accept what is placed on them and report it running, as Nomad's C1M
//! run used simulated clients. Then one service of R replicas (or J
//! one-replica services) is submitted, and the time is measured from the
//! submission to every allocation read back from the cluster as running:
//! committed, not merely started.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use drover_adapters::exec::{Executor, Exit, SharedExecutor};
use drover_core::job::{Driver, TaskSpec};
use drover_core::node::{NodeRegistration, NodeRole};
use drover_core::{AllocId, JobId, NodeId, Resources};
use drover_node::client::{connect_any, status_message};
use drover_node::control::membership_loop;
use drover_node::propose::Proposer;
use drover_node::raft::Peers;
use drover_node::worker::Worker;
use drover_proto::v1::{Read, SubmitJobRequest};
use serde_json::{Value, json};

use super::run_id;

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Simulated workers to register.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Replicas of the one service submitted.
    #[arg(long, default_value_t = 10_000, conflicts_with = "jobs")]
    replicas: u64,
    /// Submit this many one-replica services instead of one service.
    #[arg(long)]
    jobs: Option<u64>,
    /// One-replica services submitted at once (with `--jobs`).
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Comma-separated control node addresses (host:port).
    #[arg(long, env = "DROVER_ADDR", value_delimiter = ',', required = true)]
    addr: Vec<String>,
    /// Each simulated worker's capacity in CPU cores.
    #[arg(long, default_value_t = 64)]
    node_cores: u64,
    /// Give up after this many seconds (registration and placement each).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// How often to read back how many allocations run, in milliseconds.
    #[arg(long, default_value_t = 200)]
    every_ms: u64,
    /// Heartbeat interval of the simulated workers, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    heartbeat_ms: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Each replica's share of a simulated worker: small enough that the
/// workers' capacity, not the task's size, decides nothing.
const TASK_CPU: &str = "0.01";
const TASK_MEMORY: &str = "8MiB";

pub async fn run(args: NodesArgs) -> Result<(), String> {
    if args.count == 0 || args.in_flight == 0 {
        return Err("--count and --in-flight must be at least 1".into());
    }
    let run = run_id();
    let timeout = Duration::from_secs(args.timeout);
    let every = Duration::from_millis(args.every_ms.max(10));
    let shape = FleetShape {
        count: args.count,
        node_cores: args.node_cores,
        heartbeat_ms: args.heartbeat_ms,
        task_ms: None,
    };
    let registering = Instant::now();
    let (api, fleet) = ready_fleet(&run, &args.addr, &shape, timeout, every).await?;
    let registered_in = registering.elapsed();
    if !args.json {
        println!(
            "{} simulated workers ready in {:.1}s",
            args.count,
            registered_in.as_secs_f64()
        );
    }

    let total = args.jobs.unwrap_or(args.replicas);
    let started = Instant::now();
    let acked_in = match args.jobs {
        None => {
            submit(
                &api,
                &service_spec(&format!("bench-{run}-svc"), args.replicas),
            )
            .await?;
            started.elapsed()
        }
        Some(jobs) => submit_many(&api, &run, jobs, args.in_flight).await?,
    };
    let job_prefix = format!("bench-{run}-");
    let outcome = wait_for(timeout, every, "every allocation running", || {
        let api = api.clone();
        let job_prefix = job_prefix.clone();
        async move {
            let running = count_running(&api, &job_prefix).await?;
            Ok((running >= total, running))
        }
    })
    .await;
    let placed_in = started.elapsed();
    let running = outcome?;
    // Counts far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / placed_in.as_secs_f64();
    let started_count = fleet.started();
    if args.json {
        println!(
            "{}",
            json!({
                "workers": args.count,
                "allocations": total,
                "jobs": args.jobs.unwrap_or(1),
                "registered_s": registered_in.as_secs_f64(),
                "acknowledged_s": acked_in.as_secs_f64(),
                "all_running_s": placed_in.as_secs_f64(),
                "placements_per_s": rate,
                "running_read": running,
                "started_by_workers": started_count,
            })
        );
    } else {
        println!(
            "{total} allocations ({} job{}) on {} workers: submission acknowledged after {:.2}s, every allocation committed as running after {:.2}s",
            args.jobs.unwrap_or(1),
            if args.jobs.unwrap_or(1) == 1 { "" } else { "s" },
            args.count,
            acked_in.as_secs_f64(),
            placed_in.as_secs_f64()
        );
        println!("{rate:.0} placements/s committed, end to end");
    }
    fleet.stop();
    Ok(())
}

/// Connects to the cluster at `addr`, starts a fleet of `shape` against
/// it, and waits (up to `timeout`, asking every `every`) until the cluster
/// lists all its workers ready.
pub(super) async fn ready_fleet(
    run: &str,
    addr: &[String],
    shape: &FleetShape,
    timeout: Duration,
    every: Duration,
) -> Result<(drover_node::client::Connection, Fleet), String> {
    let control = drover_node::client::addr_list(&addr.join(","));
    let polled: Vec<SocketAddr> = control
        .iter()
        .map(|a| a.parse().map_err(|e| format!("--addr {a}: {e}")))
        .collect::<Result<_, String>>()?;
    let api = connect_any(&control).await?;
    let fleet = Fleet::start(run, shape, &control, &polled);
    let prefix = format!("bench-{run}-n");
    let count = shape.count as u64;
    wait_for(timeout, every, "simulated workers ready", || {
        let api = api.clone();
        let prefix = prefix.clone();
        async move {
            let ready = count_nodes(&api, &prefix, "ready").await?;
            Ok((ready >= count, ready))
        }
    })
    .await?;
    Ok((api, fleet))
}

/// What a fleet of simulated workers looks like.
pub(super) struct FleetShape {
    pub count: usize,
    pub node_cores: u64,
    pub heartbeat_ms: u64,
    /// Tasks end by themselves (exit 0) this long after they start;
    /// `None`: they run until stopped.
    pub task_ms: Option<u64>,
}

/// The simulated workers and what their executors were asked to run.
pub(super) struct Fleet {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Tasks the simulated executors were asked to start.
    started: Arc<AtomicU64>,
}

impl Fleet {
    pub(super) fn start(
        run: &str,
        args: &FleetShape,
        control: &[String],
        polled: &[SocketAddr],
    ) -> Self {
        let peers = Peers::default();
        let started = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(2 * args.count);
        for n in 0..args.count {
            let node = NodeId::new(format!("bench-{run}-n{n}"))
                .expect("a bench node name is a valid node id");
            // Spread over the control nodes as workers beside each would be.
            let mut control = control.to_vec();
            let first = n % control.len();
            control.rotate_left(first);
            let mut polled = polled.to_vec();
            polled.rotate_left(first);
            let proposer = Proposer::remote(control, peers.clone());
            let registration = NodeRegistration {
                id: node.clone(),
                address: "127.0.0.1:9".into(),
                region: "default".into(),
                labels: BTreeMap::new(),
                role: NodeRole::Worker,
                capacity: Resources::new(args.node_cores * 1000, args.node_cores * 4096, 0),
                pools: BTreeSet::from(["default".to_string()]),
                drivers: BTreeSet::from([Driver::Exec]),
            };
            let executor: SharedExecutor = Arc::new(Mutex::new(Idle {
                running: BTreeMap::new(),
                stopped: Vec::new(),
                started: started.clone(),
                finish_after: args.task_ms.map(Duration::from_millis),
            }));
            let worker = Worker::new(
                node,
                polled,
                proposer.clone(),
                executor,
                Duration::from_secs(3600),
            );
            tasks.push(tokio::spawn(membership_loop(
                proposer,
                registration,
                Duration::from_millis(args.heartbeat_ms),
                worker.reports_owed(),
            )));
            tasks.push(tokio::spawn(worker.run()));
        }
        Self { tasks, started }
    }

    pub(super) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    pub(super) fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// An executor that runs nothing: a started task "runs" until stopped, or
/// until `finish_after` has passed, when it exits 0.
struct Idle {
    running: BTreeMap<AllocId, Instant>,
    stopped: Vec<(AllocId, Exit)>,
    started: Arc<AtomicU64>,
    finish_after: Option<Duration>,
}

impl Executor for Idle {
    fn drivers(&self) -> Vec<Driver> {
        vec![Driver::Exec]
    }

    fn start(&mut self, alloc: AllocId, _job: &JobId, _task: &TaskSpec) -> Result<(), String> {
        if self.running.insert(alloc, Instant::now()).is_none() {
            self.started.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn stop(&mut self, alloc: AllocId, _grace: Duration) {
        if self.running.remove(&alloc).is_some() {
            self.stopped.push((
                alloc,
                Exit {
                    code: None,
                    message: "stopped".into(),
                },
            ));
        }
    }

    fn poll(&mut self) -> Vec<(AllocId, Exit)> {
        let mut ended = std::mem::take(&mut self.stopped);
        if let Some(after) = self.finish_after {
            let done: Vec<AllocId> = self
                .running
                .iter()
                .filter(|(_, started)| started.elapsed() >= after)
                .map(|(alloc, _)| *alloc)
                .collect();
            for alloc in done {
                self.running.remove(&alloc);
                let exit = Exit {
                    code: Some(0),
                    message: "exited 0".into(),
                };
                ended.push((alloc, exit));
            }
        }
        ended
    }

    fn running(&self) -> Vec<AllocId> {
        self.running.keys().copied().collect()
    }
}

/// A service of `replicas` replicas that fits anywhere.
fn service_spec(id: &str, replicas: u64) -> String {
    format!(
        "id = \"{id}\"\nkind = \"service\"\nreplicas = {replicas}\n\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"infinity\"]\n\n[task.resources]\ncpu = \"{TASK_CPU}\"\nmemory = \"{TASK_MEMORY}\"\n"
    )
}

pub(super) async fn submit(
    api: &drover_node::client::Connection,
    spec: &str,
) -> Result<(), String> {
    let request = SubmitJobRequest {
        spec: spec.to_string(),
        file_name: "bench.toml".into(),
        check_index: None,
        idempotency_key: String::new(),
    };
    api.clone()
        .submit_job(request)
        .await
        .map(|_| ())
        .map_err(|e| format!("submitting: {}", status_message(&e)))
}

/// Submits `jobs` one-replica services, `in_flight` at a time; returns
/// when the last was acknowledged, measured from the first's sending.
async fn submit_many(
    api: &drover_node::client::Connection,
    run: &str,
    jobs: u64,
    in_flight: usize,
) -> Result<Duration, String> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let api = api.clone();
        let next = next.clone();
        let run = run.to_string();
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= jobs {
                    return Ok::<(), String>(());
                }
                submit(&api, &service_spec(&format!("bench-{run}-j{n}"), 1)).await?;
            }
        }));
    }
    for sender in senders {
        sender
            .await
            .map_err(|e| format!("a submitting task failed: {e}"))??;
    }
    Ok(started.elapsed())
}

/// Nodes whose id starts with `prefix` in `status`, read from the cluster.
pub(super) async fn count_nodes(
    api: &drover_node::client::Connection,
    prefix: &str,
    status: &str,
) -> Result<u64, String> {
    let items = list(api, prefix, status, |mut api, request| async move {
        api.list_nodes(request).await
    })
    .await?;
    Ok(items.len() as u64)
}

/// Allocations committed as running, summed over the jobs whose id starts
/// with `prefix`.
async fn count_running(api: &drover_node::client::Connection, prefix: &str) -> Result<u64, String> {
    let jobs = list(api, prefix, "", |mut api, request| async move {
        api.list_jobs(request).await
    })
    .await?;
    Ok(jobs.iter().filter_map(|job| job["running"].as_u64()).sum())
}

async fn list<F, Fut>(
    api: &drover_node::client::Connection,
    prefix: &str,
    status: &str,
    call: F,
) -> Result<Vec<Value>, String>
where
    F: Fn(drover_node::client::Connection, Read) -> Fut,
    Fut: std::future::Future<
            Output = Result<tonic::Response<drover_proto::v1::JsonReply>, tonic::Status>,
        >,
{
    let key = if status.is_empty() { "jobs" } else { "nodes" };
    let doc = super::super::pages::all_pages(key, |page_token| {
        let request = Read {
            stale: true,
            page_token,
            prefix: prefix.to_string(),
            status: status.to_string(),
            page_size: 0,
        };
        let reply = call(api.clone(), request);
        async move {
            let reply = reply.await.map_err(|e| status_message(&e))?;
            serde_json::from_str::<Value>(&reply.into_inner().json)
                .map_err(|e| format!("undecodable reply: {e}"))
        }
    })
    .await?;
    Ok(doc[key].as_array().cloned().unwrap_or_default())
}

/// Asks `check` every `every` until it says done; the error names what
/// was awaited and how far it got.
pub(super) async fn wait_for<F, Fut>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> Result<u64, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(bool, u64), String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = 0;
    loop {
        match check().await {
            Ok((true, n)) => return Ok(n),
            Ok((false, n)) => last = n,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "gave up waiting for {what} after {}s ({last} so far)",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(every).await;
    }
}
