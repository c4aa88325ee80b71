//! `drover job …`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use drover_core::spec::{Format, parse_job_spec};
use drover_node::client::{Unknown, WRITE_PATIENCE, connect_any, status_message, write, write_any};
use drover_proto::v1::{JobRef, LogsRequest, ReadJob, SubmitJobRequest};
use serde_json::{Value, json};

use super::cluster::{parse, print_list, show, text};
use super::pages::{all_pages, read_list};
use super::versions;
use super::{EXIT_INVALID, EXIT_TROUBLE, Filter, Target, block_on, table};

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Check a job spec (TOML or JSON) without submitting it.
    ///
    /// Exits 0 and prints a summary when the spec is valid; otherwise prints
    /// every error with its field path and line:column, and exits 1.
    Validate(ValidateArgs),
    /// Submit a job (or a new version of it) and follow it until placed
    /// or finished.
    Run {
        /// The job spec file (TOML, or JSON with a `.json` name).
        file: PathBuf,
        /// Return once the job is accepted.
        #[arg(long)]
        detach: bool,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 60)]
        wait: u64,
        #[command(flatten)]
        guards: Guards,
        #[command(flatten)]
        target: Target,
    },
    /// A job's allocations — where, in what state — and why anything is pending.
    Status {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Jobs in id order (every one, read a page at a time); `--status`
    /// is `active` or `stopped`.
    List {
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        target: Target,
    },
    /// Print a job's output, fetched from the worker that ran it.
    Logs {
        id: String,
        /// Which allocation (default: the job's latest).
        #[arg(long)]
        alloc: Option<String>,
        /// Standard error instead of standard output.
        #[arg(long)]
        stderr: bool,
        /// Keep printing new output until the allocation finishes.
        #[arg(short, long)]
        follow: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Stop a job and all its allocations.
    Stop {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Promote the canaries of a job's current version: the rollout
    /// replaces the remaining old instances.
    Promote {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// A job's versions, newest first (the current one and up to 10
    /// before it), with what changed in each.
    History {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Make a kept version's spec the job's next version.
    Revert {
        id: String,
        version: u64,
        #[command(flatten)]
        guards: Guards,
        #[command(flatten)]
        target: Target,
    },
    /// What submitting a spec would do — the change field by field, what
    /// would be placed, replaced or stopped, and why anything would not be
    /// placed — without committing anything; prints the version to pass
    /// to `job run --check-index`.
    Plan {
        file: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

/// What makes a write safe to race and to retry.
#[derive(Debug, Clone, Args)]
pub struct Guards {
    /// Only if the job is at this version now (0: only if it does not
    /// exist yet): two people updating one job cannot overwrite each
    /// other's change unseen.
    #[arg(long)]
    pub check_index: Option<u64>,
    /// The write's idempotency key (default: a fresh random one). A retry
    /// with the same key, even from another process, yields the first
    /// write's result instead of writing again.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// A write under an idempotency key, sent to one node after another, and
/// again when its outcome is unknown, until answered.
pub async fn keyed_write<T, F, Fut>(target: &Target, call: F) -> Result<T, String>
where
    F: FnMut(drover_node::client::Connection) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    write(&target.addrs(), WRITE_PATIENCE, Unknown::SendAgain, call).await
}

impl Guards {
    /// The key to send: the one given, or a fresh one for this command.
    pub fn key(&self) -> String {
        self.idempotency_key.clone().unwrap_or_else(fresh_key)
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The job spec file; `.json` files are read as JSON, others as TOML.
    file: PathBuf,
    /// Print the result as JSON for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: JobCommand) -> ExitCode {
    match cmd {
        JobCommand::Validate(args) => validate(&args),
        JobCommand::Run {
            file,
            detach,
            wait,
            guards,
            target,
        } => block_on(submit(
            file,
            detach,
            Duration::from_secs(wait),
            guards,
            target,
        )),
        JobCommand::Status { id, target } => block_on(status(id, target)),
        JobCommand::List { filter, target } => block_on(list(filter, target)),
        JobCommand::Stop { id, target } => block_on(stop(id, target)),
        JobCommand::Promote { id, target } => block_on(promote(id, target)),
        JobCommand::History { id, target } => block_on(versions::history(id, target)),
        JobCommand::Revert {
            id,
            version,
            guards,
            target,
        } => block_on(versions::revert(id, version, guards, target)),
        JobCommand::Plan { file, target } => block_on(versions::plan(file, target)),
        JobCommand::Logs {
            id,
            alloc,
            stderr,
            follow,
            target,
        } => block_on(logs(id, alloc.unwrap_or_default(), stderr, follow, target)),
    }
}

async fn submit(
    file: PathBuf,
    detach: bool,
    wait: Duration,
    guards: Guards,
    target: Target,
) -> Result<(), String> {
    let spec = read_spec(&file)?;
    let request = SubmitJobRequest {
        spec,
        file_name: file.display().to_string(),
        check_index: guards.check_index,
        // Every attempt of this command carries one key, so retrying a
        // write whose outcome is unknown never makes a second version.
        idempotency_key: guards.key(),
    };
    let reply = keyed_write(&target, |mut api| {
        let request = request.clone();
        async move { api.submit_job(request).await }
    })
    .await?;
    if !reply.regions.is_empty() {
        // Each region places its part alone; `job status` shows them all.
        return region_outcomes(&reply, target.json);
    }
    if target.json && detach {
        println!(
            "{}",
            json!({ "job": reply.job, "version": reply.version, "index": reply.index })
        );
        return Ok(());
    }
    println!(
        "job {} version {} committed at index {}",
        reply.job, reply.version, reply.index
    );
    if detach {
        return Ok(());
    }
    let mut api = connect_any(&target.addrs()).await?;
    follow(&mut api, &reply.job, wait, target.json).await
}

/// Prints each change of the job's allocations until all are placed and
/// running (services), one has finished (batch), or time runs out.
async fn follow(
    api: &mut drover_node::client::Connection,
    job: &str,
    wait: Duration,
    json_output: bool,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let doc = job_doc(api, job, false).await?;
        let line = progress(&doc);
        if line != last {
            if !json_output {
                println!("{line}");
            }
            last = line;
        }
        if settled(&doc) {
            if json_output {
                println!("{doc}");
            }
            return Ok(());
        }
        if started.elapsed() >= wait {
            for reason in doc["pending"].as_array().into_iter().flatten() {
                println!("  pending: {}", text(reason));
            }
            return Err(format!(
                "job {job} not settled after {}s; see `drover job status {job}`",
                wait.as_secs()
            ));
        }
        // Often enough that a short job's end shows as it happens.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn job_doc(
    api: &mut drover_node::client::Connection,
    job: &str,
    stale: bool,
) -> Result<Value, String> {
    all_pages("allocations", |page_token| {
        let mut api = api.clone();
        let request = ReadJob {
            job: job.to_string(),
            stale,
            page_token,
            ..ReadJob::default()
        };
        async move {
            let reply = api
                .job_status(request)
                .await
                .map_err(|e| status_message(&e))?;
            parse(&reply.into_inner().json)
        }
    })
    .await
}

fn allocations(doc: &Value) -> impl Iterator<Item = &Value> {
    doc["allocations"].as_array().into_iter().flatten()
}

fn progress(doc: &Value) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut older_wanted = 0;
    for alloc in allocations(doc) {
        if alloc["version"] == doc["version"] {
            *counts.entry(text(&alloc["status"])).or_default() += 1;
        } else if alloc["desired"] == "run" && alloc["status"] == "running" {
            older_wanted += 1;
        }
    }
    let states: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let pending = doc["pending"].as_array().map_or(0, Vec::len);
    let mut line = format!(
        "{} v{}: {}",
        text(&doc["id"]),
        text(&doc["version"]),
        if states.is_empty() {
            "no allocations yet".to_string()
        } else {
            states.join(", ")
        }
    );
    if older_wanted > 0 {
        line.push_str(&format!(
            "; {older_wanted} of earlier versions still running"
        ));
    }
    if pending > 0 {
        line.push_str("; waiting for room");
    }
    line
}

fn settled(doc: &Value) -> bool {
    if doc["kind"] == "batch" {
        return allocations(doc).any(|a| {
            matches!(a["status"].as_str(), Some("complete" | "failed"))
                && a["version"] == doc["version"]
        });
    }
    // Every instance wanted runs the current version: a rollout has not
    // settled while earlier versions' instances still stand in for it.
    let wanted: Vec<&Value> = allocations(doc).filter(|a| a["desired"] == "run").collect();
    !wanted.is_empty()
        && wanted
            .iter()
            .all(|a| a["status"] == "running" && a["version"] == doc["version"])
        && doc["pending"].as_array().is_none_or(Vec::is_empty)
}

/// An allocation's ports as `label=address`, comma-separated; `-` if none.
fn ports_text(ports: &Value) -> String {
    let listed: Vec<String> = ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}={}", text(&p["label"]), text(&p["address"])))
        .collect();
    if listed.is_empty() {
        "-".to_string()
    } else {
        listed.join(",")
    }
}

async fn status(id: String, target: Target) -> Result<(), String> {
    let mut api = connect_any(&target.addrs()).await?;
    let doc = job_doc(&mut api, &id, target.stale).await?;
    if target.json {
        println!("{doc}");
        return Ok(());
    }
    println!(
        "{} — {}, version {}",
        text(&doc["summary"]),
        text(&doc["status"]),
        text(&doc["version"])
    );
    let rows: Vec<Vec<String>> = allocations(&doc)
        .map(|a| {
            let mut row: Vec<String> = ["id", "node", "version", "desired", "status", "exit_code"]
                .iter()
                .map(|k| text(&a[*k]))
                .collect();
            row.push(ports_text(&a["ports"]));
            row.push(text(&a["health"]["status"]));
            row.push(text(&a["message"]));
            row
        })
        .collect();
    if rows.is_empty() {
        println!("no allocations");
    } else {
        table::print(
            &[
                "alloc", "node", "version", "desired", "status", "exit", "ports", "health",
                "message",
            ],
            &rows,
        );
    }
    for a in allocations(&doc) {
        let health = &a["health"];
        if let Some(output) = health["output"].as_str() {
            println!(
                "check {}: {} {}: {output}",
                text(&a["id"]),
                text(&health["check"]),
                text(&health["status"])
            );
        }
    }
    for reason in doc["pending"].as_array().into_iter().flatten() {
        println!("pending: {}", text(reason));
    }
    print_deployment(&doc["id"], &doc["deployment"]);
    let rollout = &doc["rollout"];
    if !rollout.is_null() {
        println!(
            "rollout to version {}: {} of {} new instances ready, {} old running",
            text(&rollout["version"]),
            text(&rollout["ready"]),
            text(&rollout["new"]),
            text(&rollout["old"])
        );
        if let Some(halted) = rollout["halted"].as_str() {
            println!("rollout halted: {halted}");
        }
        for why in rollout["waiting_for"].as_array().into_iter().flatten() {
            println!("rollout waits for {}", text(why));
        }
    }
    if let Some(regions) = doc["regions"].as_array() {
        println!();
        let rows: Vec<Vec<String>> = regions
            .iter()
            .map(|r| {
                let state = match r["error"].as_str() {
                    Some(error) => format!("unknown: {error}"),
                    None => text(&r["status"]),
                };
                vec![
                    text(&r["region"]),
                    text(&r["count"]),
                    text(&r["running"]),
                    text(&r["version"]),
                    state,
                ]
            })
            .collect();
        table::print(&["region", "count", "running", "version", "status"], &rows);
    }
    Ok(())
}

/// What each region did with its part of a multi-region job; an error
/// when any did not take it.
fn region_outcomes(
    reply: &drover_proto::v1::SubmitJobReply,
    json_output: bool,
) -> Result<(), String> {
    let failed: Vec<String> = reply
        .regions
        .iter()
        .filter(|r| !r.error.is_empty())
        .map(|r| format!("region {}: {}", r.region, r.error))
        .collect();
    if json_output {
        let regions = drover_node::multiregion::outcomes_doc(&reply.regions);
        println!("{}", json!({ "job": reply.job, "regions": regions }));
    } else {
        for r in reply.regions.iter().filter(|r| r.error.is_empty()) {
            println!(
                "job {} in region {}: version {} committed at index {}",
                reply.job, r.region, r.version, r.index
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

async fn list(filter: Filter, target: Target) -> Result<(), String> {
    let api = connect_any(&target.addrs()).await?;
    let doc = read_list(
        &api,
        "jobs",
        &filter,
        target.stale,
        |mut api, read| async move { api.list_jobs(read).await },
    )
    .await?;
    show(&doc, target.json, |doc| {
        print_list(doc, "jobs", &["id", "kind", "version", "status", "running"]);
    });
    Ok(())
}

async fn logs(
    job: String,
    alloc: String,
    stderr: bool,
    follow: bool,
    target: Target,
) -> Result<(), String> {
    use std::io::Write;
    let mut api = connect_any(&target.addrs()).await?;
    let mut request = LogsRequest {
        job,
        alloc,
        stderr,
        offset: 0,
    };
    loop {
        let reply = api
            .job_logs(request.clone())
            .await
            .map_err(|e| status_message(&e))?
            .into_inner();
        let mut out = std::io::stdout().lock();
        out.write_all(&reply.data).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        request.alloc = reply.alloc;
        request.offset = reply.next_offset;
        if !follow || reply.finished {
            return Ok(());
        }
        if reply.data.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn stop(id: String, target: Target) -> Result<(), String> {
    let job = JobRef { job: id.clone() };
    let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
        let job = job.clone();
        async move { api.stop_job(job).await }
    })
    .await?;
    println!("job {id} stopping (committed at index {})", reply.index);
    Ok(())
}

/// The deployment lines of `job status`: only what an operator acts on or
/// asks about (a running deployment of a first version says nothing).
fn print_deployment(id: &Value, deployment: &Value) {
    if deployment.is_null() {
        return;
    }
    let previous = &deployment["previous"];
    if previous["status"] == "failed" {
        println!(
            "deployment of version {} failed: {}",
            text(&previous["version"]),
            text(&previous["message"])
        );
    }
    let version = text(&deployment["version"]);
    let stable = match deployment["stable_version"].as_u64() {
        Some(stable) => format!(" (last good version: {stable})"),
        None => String::new(),
    };
    match deployment["status"].as_str() {
        Some("failed") => println!(
            "deployment of version {version} failed: {}{stable}",
            text(&deployment["message"])
        ),
        Some("succeeded") => println!("deployment of version {version} succeeded"),
        _ if deployment["awaiting_promotion"].as_bool() == Some(true) => println!(
            "deployment of version {version}: {} canaries run beside the old instances; when they serve well: drover job promote {}{stable}",
            text(&deployment["canary"]),
            text(id)
        ),
        _ => match deployment["message"].as_str().filter(|m| !m.is_empty()) {
            Some(message) => println!("deployment of version {version} running{stable}: {message}"),
            None => println!("deployment of version {version} running{stable}"),
        },
    }
    print_versions(deployment);
}

/// One line per version with live instances, newest first.
fn print_versions(deployment: &Value) {
    for v in deployment["versions"].as_array().into_iter().flatten() {
        println!(
            "  version {}: {} placed, {} running, {} healthy, {} unhealthy, {} ready",
            text(&v["version"]),
            text(&v["placed"]),
            text(&v["running"]),
            text(&v["healthy"]),
            text(&v["unhealthy"]),
            text(&v["ready"])
        );
    }
}

async fn promote(id: String, target: Target) -> Result<(), String> {
    let job = JobRef { job: id.clone() };
    let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
        let job = job.clone();
        async move { api.promote_job(job).await }
    })
    .await?;
    if target.json {
        println!(
            "{}",
            json!({ "job": id, "version": reply.version, "index": reply.index })
        );
    } else {
        println!(
            "job {id} version {} promoted (committed at index {})",
            reply.version, reply.index
        );
    }
    Ok(())
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let text = match read_spec(&args.file) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("drover: {message}");
            return ExitCode::from(EXIT_TROUBLE);
        }
    };
    match parse_job_spec(&text, Format::detect(&name, &text)) {
        Ok(spec) => {
            if args.json {
                println!("{}", json!({ "file": name, "valid": true, "job": spec }));
            } else {
                println!("{name}: valid: {}", spec.summary());
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            if args.json {
                println!(
                    "{}",
                    json!({ "file": name, "valid": false, "errors": drover_node::api::spec_problems(&errors) })
                );
            } else {
                eprint!("{}", errors.render(&name));
                let n = errors.len();
                eprintln!(
                    "{name}: invalid: {n} error{}",
                    if n == 1 { "" } else { "s" }
                );
            }
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Reads a spec file, refusing what is not text with the byte offset of the problem.
pub fn read_spec(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// A key no other write will carry: 128 random bits.
fn fresh_key() -> String {
    format!("run-{:032x}", rand::random::<u128>())
}
