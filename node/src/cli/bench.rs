//! `drover bench submit`: a closed-loop load generator. N tasks each keep
//! one write in flight (the next request leaves when the previous one is
//! answered), spread over the given addresses, against a Drover cluster
//! (`SubmitJob` of a small batch job) or, for a same-run comparison, an
//! etcd cluster (`KV.Put` of a value of the same size).
//!
//! Only successful answers count as acks; errors are counted per gRPC
//! code. A task whose request fails moves to the next address at once and
//! sends a new request, pausing 20 ms only after a whole round of
//! addresses failed in a row, so a failover shows up as the time to the
//! first ack after it rather than as the client's backoff.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use drover_node::client::DEFAULT_ADDR;
use drover_proto::etcdserverpb::PutRequest;
use drover_proto::etcdserverpb::kv_client::KvClient;
use drover_proto::v1::SubmitJobRequest;
use serde::Serialize;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};

mod churn;
mod nodes;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Keep N writes in flight against a cluster; report acks/s and latency.
    ///
    /// Against Drover each write is a `SubmitJob` of a ~250-byte batch job
    /// with a unique id (`bench-<run>-<n>`, exec driver, `true`); against
    /// etcd (`--target etcd`, addresses are etcd client URLs) a `KV.Put` of
    /// a unique key with a 250-byte value. Each job submitted stays in the
    /// cluster's state: run against a scratch cluster.
    Submit(SubmitArgs),
    /// Simulated workers and one large submission: placements per second
    /// from submission to every allocation committed as running.
    ///
    /// Starts `--count` workers in this process — the real worker loop over
    /// an executor that runs nothing — registers them with the cluster at
    /// `--addr`, submits one service of `--replicas` replicas (or `--jobs`
    /// one-replica services), and reads back from the cluster until every
    /// allocation is running. Run it against a scratch cluster: the
    /// workers and the jobs stay in its state (the workers turn
    /// disconnected, then down, once this ends).
    Nodes(nodes::NodesArgs),
    /// Short batch jobs through a cluster at a steady rate, reporting what
    /// its state holds over time (flat with garbage collection).
    ///
    /// Starts `--count` simulated workers whose tasks exit 0 after
    /// `--task-ms`, submits `--jobs` batch jobs at `--rate` a second, and
    /// every `--every` seconds prints the jobs acknowledged and the jobs,
    /// allocations and nodes the cluster holds. Run it against a scratch
    /// cluster.
    Churn(churn::ChurnArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Drover,
    Etcd,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Requests kept in flight (one task each).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Length of the measured window, after the warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of load before measuring starts (not counted).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Comma-separated addresses (host:port, or URLs such as
    /// http://127.0.0.1:2379); tasks are spread round-robin over them.
    #[arg(long, env = "DROVER_ADDR", default_value = DEFAULT_ADDR, value_delimiter = ',')]
    addr: Vec<String>,
    /// What to load: Drover's API or etcd's KV service.
    #[arg(long, value_enum, default_value_t = Service::Drover)]
    target: Service,
    /// HTTP/2 connections per address, shared by the tasks on it.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// A request not answered within this many seconds counts as a
    /// DeadlineExceeded error.
    #[arg(long, default_value_t = 15)]
    timeout: u64,
    /// Bytes per write: the job spec's length, or the etcd value's.
    #[arg(long, default_value_t = SPEC_BYTES)]
    size: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also print acks for each second of the measured window.
    #[arg(long)]
    series: bool,
    /// Append a line per ack to this file: the answer's time in Unix
    /// epoch milliseconds (warm-up included).
    #[arg(long)]
    ack_log: Option<PathBuf>,
}

/// The job spec's (and etcd value's) length by default.
pub const SPEC_BYTES: usize = 250;
/// The pause after every address failed in a row.
const ROUND_PAUSE: Duration = Duration::from_millis(20);

pub async fn run(cmd: BenchCommand) -> Result<(), String> {
    match cmd {
        BenchCommand::Submit(args) => submit(args).await,
        BenchCommand::Nodes(args) => nodes::run(args).await,
        BenchCommand::Churn(args) => churn::run(args).await,
    }
}

async fn submit(args: SubmitArgs) -> Result<(), String> {
    if args.clients == 0 || args.connections == 0 || args.seconds == 0 {
        return Err("--clients, --connections and --seconds must be at least 1".into());
    }
    let addrs = drover_node::client::addr_list(&args.addr.join(","));
    if addrs.is_empty() {
        return Err("--addr: no address given".into());
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let clients = connect_all(&addrs, args.connections, args.target).await?;
    let ack_log = match &args.ack_log {
        Some(path) => Some(AckLog::open(path)?),
        None => None,
    };

    let run = run_id();
    let warmup = Duration::from_secs(args.warmup);
    let window = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let measure_from = started + warmup;
    let deadline = measure_from + window;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop_signal().await;
        let _ = stop_tx.send(true);
    });
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        clients,
        run: run.clone(),
        size: args.size,
        timeout,
        measure_from,
        deadline,
        ack_log: ack_log.as_ref().map(AckLog::sender),
    });
    let tasks: Vec<_> = (0..args.clients)
        .map(|task| {
            let shared = shared.clone();
            let stop = stop_rx.clone();
            tokio::spawn(client_task(task, shared, stop))
        })
        .collect();
    let mut outcome = TaskOutcome::default();
    for task in tasks {
        let one = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        outcome.merge(one);
    }
    let ended = Instant::now().min(deadline);
    drop(shared);
    if let Some(log) = ack_log {
        log.finish()?;
    }
    let measured = ended.saturating_duration_since(measure_from);
    let report = Report::new(&args, &addrs, run, measured, outcome);
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text(args.series));
    }
    if report.acks == 0 {
        return Err("no request was acknowledged in the measured window".into());
    }
    Ok(())
}

/// SIGINT or SIGTERM ends the run early; what was measured is reported.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// A run's id, in every job id and key it writes: unique enough across
/// runs against the same cluster (milliseconds since the epoch, base 36).
pub(super) fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    base36(u64::try_from(ms).unwrap_or(u64::MAX))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[usize::try_from(n % 36).unwrap_or(0)]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A batch job spec of exactly `size` bytes when `size` leaves room for
/// the fixed part (padded with an environment variable the task ignores),
/// valid as written: the exec driver running `true`.
pub fn job_spec(run: &str, seq: u64, size: usize) -> String {
    let head = format!(
        "id = \"bench-{run}-{seq}\"\nkind = \"batch\"\n\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n"
    );
    let tail = "\n[task.resources]\ncpu = \"0.1\"\nmemory = \"32MiB\"\n";
    let env_open = "env = { BENCH_PAD = \"";
    let env_close = "\" }\n";
    let fixed = head.len() + tail.len() + env_open.len() + env_close.len();
    let pad = size.saturating_sub(fixed);
    format!("{head}{env_open}{}{env_close}{tail}", "x".repeat(pad))
}

/// etcd's key for request `seq` of a run.
pub fn etcd_key(run: &str, seq: u64) -> Vec<u8> {
    format!("bench/{run}/{seq}").into_bytes()
}

/// The value every etcd write carries: `size` printable bytes.
pub fn etcd_value(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| b'a' + u8::try_from(i % 26).unwrap_or(0))
        .collect()
}

#[derive(Clone)]
enum Client {
    Drover(drover_node::client::Connection),
    Etcd(KvClient<Channel>),
}

fn url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// `connections` channels per address; an address that does not answer
/// now gets channels that connect when first used, so a run can start with
/// a node down. Fails only when no address answers.
async fn connect_all(
    addrs: &[String],
    connections: usize,
    target: Service,
) -> Result<Vec<Vec<Client>>, String> {
    let mut all = Vec::new();
    let mut reached = 0;
    let mut last_error = String::new();
    for addr in addrs {
        let endpoint = Endpoint::from_shared(url(addr))
            .map_err(|e| format!("bad address {addr}: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let mut channels = Vec::new();
        for _ in 0..connections {
            let connected = match target {
                Service::Drover => drover_node::channel::connect(&endpoint).await,
                Service::Etcd => endpoint.connect().await,
            };
            let channel = match connected {
                Ok(channel) => {
                    reached += 1;
                    channel
                }
                Err(e) => {
                    last_error = format!("{addr}: {e}");
                    match target {
                        Service::Drover => drover_node::channel::connect_lazy(&endpoint),
                        Service::Etcd => endpoint.connect_lazy(),
                    }
                }
            };
            channels.push(match target {
                Service::Drover => Client::Drover(drover_node::client::over(channel)),
                Service::Etcd => Client::Etcd(KvClient::new(channel)),
            });
        }
        all.push(channels);
    }
    if reached == 0 {
        return Err(format!(
            "cannot reach any of {}: {last_error}",
            addrs.join(", ")
        ));
    }
    Ok(all)
}

struct Shared {
    next: AtomicU64,
    /// By address, then connection.
    clients: Vec<Vec<Client>>,
    run: String,
    size: usize,
    timeout: Duration,
    measure_from: Instant,
    deadline: Instant,
    ack_log: Option<std::sync::mpsc::Sender<u64>>,
}

impl Shared {
    async fn send(&self, client: &mut Client, seq: u64) -> Result<(), tonic::Status> {
        let call = async {
            match client {
                Client::Drover(api) => api
                    .submit_job(SubmitJobRequest {
                        idempotency_key: String::new(),
                        spec: job_spec(&self.run, seq, self.size),
                        file_name: "bench.toml".into(),
                        check_index: None,
                    })
                    .await
                    .map(drop),
                Client::Etcd(kv) => kv
                    .put(PutRequest {
                        key: etcd_key(&self.run, seq),
                        value: etcd_value(self.size),
                        ..PutRequest::default()
                    })
                    .await
                    .map(drop),
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer within {} s (client-side timeout)",
                self.timeout.as_secs()
            ))),
        }
    }
}

/// What one task saw.
#[derive(Default)]
struct TaskOutcome {
    /// Acks answered in the measured window: (answer time since the
    /// window began, latency), in microseconds.
    acks: Vec<(u64, u64)>,
    /// Acks during the warm-up.
    warmup_acks: u64,
    /// Errors answered in the measured window, by gRPC code: count and
    /// the first message.
    errors: BTreeMap<String, (u64, String)>,
    /// Errors during the warm-up.
    warmup_errors: u64,
    /// Requests still unanswered when the run ended.
    abandoned: u64,
}

impl TaskOutcome {
    fn merge(&mut self, other: TaskOutcome) {
        self.acks.extend(other.acks);
        self.warmup_acks += other.warmup_acks;
        merge_errors(&mut self.errors, other.errors);
        self.warmup_errors += other.warmup_errors;
        self.abandoned += other.abandoned;
    }
}

pub fn merge_errors(
    into: &mut BTreeMap<String, (u64, String)>,
    from: BTreeMap<String, (u64, String)>,
) {
    for (code, (count, example)) in from {
        into.entry(code)
            .and_modify(|(n, _)| *n += count)
            .or_insert((count, example));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn client_task(
    task: usize,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> TaskOutcome {
    let addrs = shared.clients.len();
    let mut addr = task % addrs;
    let connection = (task / addrs) % shared.clients[addr].len();
    let mut clients: Vec<Client> = shared
        .clients
        .iter()
        .map(|per_addr| per_addr[connection].clone())
        .collect();
    let mut outcome = TaskOutcome::default();
    let mut failed_in_a_row = 0usize;
    let deadline = tokio::time::Instant::from_std(shared.deadline);
    loop {
        if *stop.borrow() || Instant::now() >= shared.deadline {
            break;
        }
        let seq = shared.next.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let answer = tokio::select! {
            answer = shared.send(&mut clients[addr], seq) => answer,
            () = tokio::time::sleep_until(deadline) => {
                outcome.abandoned += 1;
                break;
            }
            _ = stop.wait_for(|stopped| *stopped) => {
                outcome.abandoned += 1;
                break;
            }
        };
        let answered = Instant::now();
        let in_window = answered >= shared.measure_from;
        match answer {
            Ok(()) => {
                failed_in_a_row = 0;
                if let Some(log) = &shared.ack_log {
                    let _ = log.send(epoch_ms());
                }
                if in_window {
                    outcome.acks.push((
                        micros(answered - shared.measure_from),
                        micros(answered - sent),
                    ));
                } else {
                    outcome.warmup_acks += 1;
                }
            }
            Err(status) => {
                if in_window {
                    let code = format!("{:?}", status.code());
                    outcome
                        .errors
                        .entry(code)
                        .and_modify(|(n, _)| *n += 1)
                        .or_insert_with(|| (1, status.message().trim_end().to_string()));
                } else {
                    outcome.warmup_errors += 1;
                }
                addr = (addr + 1) % addrs;
                failed_in_a_row += 1;
                if failed_in_a_row.is_multiple_of(addrs) {
                    tokio::select! {
                        () = tokio::time::sleep(ROUND_PAUSE) => {}
                        () = tokio::time::sleep_until(deadline) => {}
                        _ = stop.wait_for(|stopped| *stopped) => {}
                    }
                }
            }
        }
    }
    outcome
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes the ack log from a thread of its own, flushed at least every
/// 200 ms so a script can follow it while the run goes on.
struct AckLog {
    sender: std::sync::mpsc::Sender<u64>,
    writer: std::thread::JoinHandle<Result<(), String>>,
}

impl AckLog {
    fn open(path: &std::path::Path) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let shown = path.display().to_string();
        let (sender, receiver) = std::sync::mpsc::channel::<u64>();
        let writer = std::thread::spawn(move || {
            let mut out = std::io::BufWriter::new(file);
            let fail = |e: std::io::Error| format!("writing {shown}: {e}");
            loop {
                match receiver.recv_timeout(Duration::from_millis(200)) {
                    Ok(ms) => writeln!(out, "{ms}").map_err(fail)?,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => out.flush().map_err(fail)?,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return out.flush().map_err(fail);
                    }
                }
            }
        });
        Ok(Self { sender, writer })
    }

    fn sender(&self) -> std::sync::mpsc::Sender<u64> {
        self.sender.clone()
    }

    fn finish(self) -> Result<(), String> {
        drop(self.sender);
        self.writer
            .join()
            .map_err(|_| "the ack log's writer failed".to_string())?
    }
}

/// The value at percentile `p` (0–100] of `sorted` (ascending), by nearest
/// rank: the smallest value with at least p % of the set at or below it.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // p / 100 is seldom exact in binary (99.9 % of 1000 comes out a hair
    // above 999), so a rank within rounding of a whole number is that number.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    #[allow(clippy::cast_sign_loss)]
    let rank = (p * n as f64 / 100.0 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Acks per whole second of a window of `window_us`, from the acks'
/// answer times (microseconds since the window began); acks in a trailing
/// part-second are left out.
pub fn per_second(ack_times_us: impl IntoIterator<Item = u64>, window_us: u64) -> Vec<u64> {
    let seconds = usize::try_from(window_us / 1_000_000).unwrap_or(0);
    let mut series = vec![0; seconds];
    for at in ack_times_us {
        if let Some(slot) = usize::try_from(at / 1_000_000)
            .ok()
            .and_then(|i| series.get_mut(i))
        {
            *slot += 1;
        }
    }
    series
}

/// The mean of the first and of the last `span` seconds, when the series
/// is at least twice as long (decay shows as the second below the first).
pub fn ends(series: &[u64], span: usize) -> Option<(f64, f64)> {
    if span == 0 || series.len() < 2 * span {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len() as f64;
    Some((mean(&series[..span]), mean(&series[series.len() - span..])))
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

struct Report {
    target: Service,
    clients: usize,
    connections: usize,
    addrs: Vec<String>,
    run: String,
    warmup_s: u64,
    measured_s: f64,
    acks: u64,
    acks_per_s: f64,
    latency_us: Option<[u64; 5]>,
    mean_us: Option<f64>,
    errors: BTreeMap<String, (u64, String)>,
    warmup_acks: u64,
    warmup_errors: u64,
    abandoned: u64,
    series: Vec<u64>,
}

impl Report {
    fn new(
        args: &SubmitArgs,
        addrs: &[String],
        run: String,
        measured: Duration,
        outcome: TaskOutcome,
    ) -> Self {
        let measured_s = measured.as_secs_f64();
        let acks = outcome.acks.len() as u64;
        let series = per_second(outcome.acks.iter().map(|(at, _)| *at), micros(measured));
        let mut latencies: Vec<u64> = outcome.acks.iter().map(|(_, l)| *l).collect();
        latencies.sort_unstable();
        let latency_us = (|| {
            Some([
                percentile(&latencies, 50.0)?,
                percentile(&latencies, 99.0)?,
                percentile(&latencies, 99.9)?,
                *latencies.first()?,
                *latencies.last()?,
            ])
        })();
        #[allow(clippy::cast_precision_loss)]
        let mean_us = (!latencies.is_empty())
            .then(|| latencies.iter().sum::<u64>() as f64 / latencies.len() as f64);
        #[allow(clippy::cast_precision_loss)]
        let acks_per_s = if measured_s > 0.0 {
            acks as f64 / measured_s
        } else {
            0.0
        };
        Self {
            target: args.target,
            clients: args.clients,
            connections: args.connections,
            addrs: addrs.to_vec(),
            run,
            warmup_s: args.warmup,
            measured_s,
            acks,
            acks_per_s,
            latency_us,
            mean_us,
            errors: outcome.errors,
            warmup_acks: outcome.warmup_acks,
            warmup_errors: outcome.warmup_errors,
            abandoned: outcome.abandoned,
            series,
        }
    }

    fn error_total(&self) -> u64 {
        self.errors.values().map(|(n, _)| n).sum()
    }

    fn json(&self) -> serde_json::Value {
        let latency = self.latency_us.map(|[p50, p99, p999, min, max]| {
            json!({
                "p50": ms(p50), "p99": ms(p99), "p99_9": ms(p999),
                "min": ms(min), "max": ms(max), "mean": self.mean_us.map(|m| m / 1000.0),
            })
        });
        let errors: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|(code, (n, example))| (code.clone(), json!({ "count": n, "example": example })))
            .collect();
        let ends = ends(&self.series, 10);
        json!({
            "target": self.target,
            "clients": self.clients,
            "connections_per_address": self.connections,
            "addresses": self.addrs,
            "run": self.run,
            "warmup_s": self.warmup_s,
            "measured_s": self.measured_s,
            "acks": self.acks,
            "acks_per_s": self.acks_per_s,
            "latency_ms": latency,
            "errors_total": self.error_total(),
            "errors": errors,
            "warmup_acks": self.warmup_acks,
            "warmup_errors": self.warmup_errors,
            "abandoned_in_flight": self.abandoned,
            "series": self.series,
            "first_10s_acks_per_s": ends.map(|e| e.0),
            "last_10s_acks_per_s": ends.map(|e| e.1),
        })
    }

    fn text(&self, series: bool) -> String {
        let mut out = format!(
            "bench submit: {} at {}, {} in flight ({} connection{} per address), run {}\n",
            match self.target {
                Service::Drover => "drover",
                Service::Etcd => "etcd",
            },
            self.addrs.join(","),
            self.clients,
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            self.run,
        );
        out.push_str(&format!(
            "measured {:.1} s after {} s warm-up: {} acks, {:.1} acks/s\n",
            self.measured_s, self.warmup_s, self.acks, self.acks_per_s
        ));
        match self.latency_us {
            Some([p50, p99, p999, _, max]) => out.push_str(&format!(
                "latency ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n",
                ms(p50),
                ms(p99),
                ms(p999),
                ms(max)
            )),
            None => out.push_str("latency ms: no acks\n"),
        }
        if self.errors.is_empty() {
            out.push_str("errors: none\n");
        } else {
            out.push_str(&format!("errors: {}\n", self.error_total()));
            for (code, (n, example)) in &self.errors {
                out.push_str(&format!("  {code}: {n} (e.g. {example})\n"));
            }
        }
        if self.warmup_errors > 0 || self.abandoned > 0 {
            out.push_str(&format!(
                "not counted: {} errors in the warm-up, {} requests unanswered at the end\n",
                self.warmup_errors, self.abandoned
            ));
        }
        if series {
            let each: Vec<String> = self.series.iter().map(ToString::to_string).collect();
            out.push_str(&format!("acks per second: {}\n", each.join(" ")));
            if let Some((first, last)) = ends(&self.series, 10) {
                out.push_str(&format!(
                    "first 10 s: {first:.1} acks/s; last 10 s: {last:.1} acks/s ({:+.1} %)\n",
                    if first > 0.0 {
                        (last / first - 1.0) * 100.0
                    } else {
                        0.0
                    }
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_core::spec::{Format, parse_job_spec};

    #[test]
    fn percentiles_by_nearest_rank() {
        let set: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&set, 50.0), Some(500));
        assert_eq!(percentile(&set, 99.0), Some(990));
        assert_eq!(percentile(&set, 99.9), Some(999));
        assert_eq!(percentile(&set, 100.0), Some(1000));
        assert_eq!(percentile(&[7], 99.9), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 51.0), Some(3));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn series_counts_whole_seconds_only() {
        let acks = [0, 999_999, 1_000_000, 2_500_000, 2_999_999, 3_100_000];
        assert_eq!(per_second(acks, 3_200_000), vec![2, 1, 2]);
        assert_eq!(per_second(acks, 900_000), Vec::<u64>::new());
    }

    #[test]
    fn ends_need_twice_the_span() {
        let series: Vec<u64> = (1..=20).collect();
        assert_eq!(ends(&series, 10), Some((5.5, 15.5)));
        assert_eq!(ends(&series[..19], 10), None);
        assert_eq!(ends(&[4, 2], 1), Some((4.0, 2.0)));
    }

    #[test]
    fn job_specs_are_valid_unique_and_of_the_asked_size() {
        let a = job_spec("k3x", 0, SPEC_BYTES);
        let b = job_spec("k3x", 123_456_789, SPEC_BYTES);
        assert_eq!(a.len(), SPEC_BYTES);
        assert_eq!(b.len(), SPEC_BYTES);
        for text in [&a, &b] {
            let spec = parse_job_spec(text, Format::detect("bench.toml", text))
                .unwrap_or_else(|e| panic!("{}", e.render("bench.toml")));
            assert_eq!(spec.task.command, ["true"]);
        }
        let id = |t: &str| parse_job_spec(t, Format::Toml).unwrap().id.to_string();
        assert_eq!(id(&a), "bench-k3x-0");
        assert_eq!(id(&b), "bench-k3x-123456789");
        // Too small a size still gives a valid spec, just longer.
        assert!(parse_job_spec(&job_spec("r", 1, 10), Format::Toml).is_ok());
    }

    #[test]
    fn etcd_writes_are_unique_and_sized() {
        assert_ne!(etcd_key("r", 1), etcd_key("r", 2));
        assert_eq!(etcd_value(SPEC_BYTES).len(), SPEC_BYTES);
    }

    #[test]
    fn run_ids_are_base36() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(1_295), "zz");
    }

    #[test]
    fn errors_merge_by_code_keeping_the_first_message() {
        let mut a = BTreeMap::from([("Unavailable".to_string(), (2, "first".to_string()))]);
        let b = BTreeMap::from([
            ("Unavailable".to_string(), (3, "second".to_string())),
            ("Internal".to_string(), (1, "x".to_string())),
        ]);
        merge_errors(&mut a, b);
        assert_eq!(a["Unavailable"], (5, "first".to_string()));
        assert_eq!(a["Internal"].0, 1);
    }

    #[test]
    fn addresses_without_a_scheme_get_http() {
        assert_eq!(url("127.0.0.1:7401"), "http://127.0.0.1:7401");
        assert_eq!(url("http://127.0.0.1:2379"), "http://127.0.0.1:2379");
    }
}
