//! `drover bench churn`: short batch jobs through a real cluster, for as
//! long as it takes to submit `--jobs` of them at `--rate` a second, to
//! watch what the replicated state holds over time. Simulated workers
//! (as `bench nodes`) finish every task `--task-ms` after it starts;
//! every `--every` seconds one line says how many jobs were acknowledged
//! and how many jobs and allocations the cluster holds. With garbage
//! collection on, what it holds stays flat; without, it grows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use drover_node::client::status_message;
use drover_proto::v1::Empty;
use serde_json::{Value, json};

use super::nodes::{FleetShape, ready_fleet, submit};
use super::run_id;

#[derive(Debug, Args)]
pub struct ChurnArgs {
    /// Simulated workers.
    #[arg(long, default_value_t = 50)]
    count: usize,
    /// Batch jobs to submit in all.
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    /// Jobs submitted per second (at most 256 in flight).
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// How long each task runs before it exits 0, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    task_ms: u64,
    /// Seconds between reports.
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// Comma-separated control node addresses (host:port).
    #[arg(long, env = "DROVER_ADDR", value_delimiter = ',', required = true)]
    addr: Vec<String>,
    /// Print one JSON object per report instead of text.
    #[arg(long)]
    json: bool,
}

const IN_FLIGHT: u64 = 256;

pub async fn run(args: ChurnArgs) -> Result<(), String> {
    if args.count == 0 || args.rate == 0 || args.every == 0 {
        return Err("--count, --rate and --every must be at least 1".into());
    }
    let run = run_id();
    let shape = FleetShape {
        count: args.count,
        node_cores: 64,
        heartbeat_ms: 3000,
        task_ms: Some(args.task_ms),
    };
    let (api, fleet) = ready_fleet(
        &run,
        &args.addr,
        &shape,
        Duration::from_secs(120),
        Duration::from_millis(200),
    )
    .await?;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let submitting = tokio::spawn(submit_paced(
        api.clone(),
        run.clone(),
        args.jobs,
        args.rate,
        acknowledged.clone(),
    ));
    let mut next_report = started + Duration::from_secs(args.every);
    loop {
        let done = submitting.is_finished();
        if done || Instant::now() >= next_report {
            let held = held(&api).await.unwrap_or(Value::Null);
            report(&args, started, acknowledged.load(Ordering::Relaxed), &held);
            next_report += Duration::from_secs(args.every);
        }
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fleet.stop();
    submitting
        .await
        .map_err(|e| format!("the submitting task failed: {e}"))?
}

fn report(args: &ChurnArgs, started: Instant, acknowledged: u64, held: &Value) {
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            json!({ "elapsed_s": elapsed, "acknowledged": acknowledged, "held": held })
        );
    } else {
        println!(
            "{elapsed:7.1}s  acknowledged {acknowledged:>9}  held: jobs {:>8}  allocations {:>8}  nodes {:>5}",
            held["jobs"], held["allocations"], held["nodes"]
        );
    }
}

/// What the replica answering holds (`cluster status`, `held`).
async fn held(api: &drover_node::client::Connection) -> Result<Value, String> {
    let reply = api
        .clone()
        .cluster_status(Empty {})
        .await
        .map_err(|e| status_message(&e))?;
    let doc: Value = serde_json::from_str(&reply.into_inner().json)
        .map_err(|e| format!("undecodable reply: {e}"))?;
    Ok(doc["held"].clone())
}

/// Submits `jobs` batch jobs at `rate` a second, at most `IN_FLIGHT` at
/// once, counting the acknowledged ones.
async fn submit_paced(
    api: drover_node::client::Connection,
    run: String,
    jobs: u64,
    rate: u64,
    acknowledged: Arc<AtomicU64>,
) -> Result<(), String> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..IN_FLIGHT.min(jobs) {
        let (api, next, run, acknowledged) =
            (api.clone(), next.clone(), run.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= jobs {
                    return Ok::<(), String>(());
                }
                // Job n is due n/rate seconds after the start.
                let due = started + Duration::from_micros(n * 1_000_000 / rate);
                tokio::time::sleep_until(due.into()).await;
                submit(&api, &batch_spec(&format!("bench-{run}-b{n}"))).await?;
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for sender in senders {
        sender
            .await
            .map_err(|e| format!("a submitting task failed: {e}"))??;
    }
    Ok(())
}

fn batch_spec(id: &str) -> String {
    format!(
        "id = \"{id}\"\nkind = \"batch\"\n\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n\n[task.resources]\ncpu = \"0.01\"\nmemory = \"8MiB\"\n"
    )
}
