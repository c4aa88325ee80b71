//! The clients: submissions retried as a real client retries them, each
//! acknowledged change read back from another node, and client 0's chores
//! (long-running jobs, an update, a stop, a drain).

use std::time::Duration;

use drover_proto::v1::{DrainRequest, JobRef, ReadJob, SubmitJobRequest};
use serde_json::json;

use super::workload::Workload;
use super::{Api, api, parse};
use crate::history::{History, Op, Outcome, Seen};
use crate::knobs::Knobs;
use crate::trace::Trace;

/// Who a call is recorded for.
struct Caller<'a> {
    client: u64,
    history: &'a History,
    trace: &'a Trace,
}

const CLIENT_ATTEMPTS: u32 = 40;

/// A job spec as the workload wrote it: revision `revision` of the job.
struct Spec<'a> {
    job: &'a str,
    text: &'a str,
    revision: u64,
}

/// Submits `spec` until acknowledged or out of attempts, as a client
/// would; a failed attempt is *unknown*, not failed (it may have
/// committed). Reads the job back once acknowledged.
async fn submit(addrs: &[String], start: u64, spec: Spec<'_>, caller: &Caller<'_>) -> bool {
    let trace = caller.trace;
    let Spec {
        job,
        text: spec,
        revision,
    } = spec;
    for attempt in 0..u64::from(CLIENT_ATTEMPTS) {
        let invoked_ms = caller.history.now_ms();
        let addr = &addrs[usize::try_from((start + attempt) % addrs.len() as u64).unwrap_or(0)];
        let Some(mut client) = api(addr).await else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        let request = SubmitJobRequest {
            spec: spec.to_string(),
            file_name: format!("{job}.toml"),
            check_index: None,
            // Unkeyed: each attempt is its own write, as the history
            // records it.
            idempotency_key: String::new(),
        };
        let answer = client.submit_job(request).await;
        let outcome = match answer {
            Ok(_) => Outcome::Acknowledged,
            Err(_) => Outcome::Unknown,
        };
        caller.history.record(
            caller.client,
            Op::Submit { revision },
            job,
            invoked_ms,
            outcome,
        );
        match answer {
            Ok(reply) => {
                trace.event(
                    "client",
                    "acknowledged",
                    &json!({ "job": job, "index": reply.into_inner().index }),
                );
                read_back(addrs, start + attempt + 1, job, caller).await;
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

/// Reads `job` from `addrs[at]`, as a user checking on what they changed
/// would, and records what it showed. A read that fails is not recorded:
/// it showed nothing.
async fn read_back(addrs: &[String], at: u64, job: &str, caller: &Caller<'_>) {
    let invoked_ms = caller.history.now_ms();
    let addr = &addrs[usize::try_from(at % addrs.len() as u64).unwrap_or(0)];
    let Some(mut client) = api(addr).await else {
        return;
    };
    let request = ReadJob {
        job: job.to_string(),
        stale: false,
        ..ReadJob::default()
    };
    let answer = tokio::time::timeout(READ_PATIENCE, client.job_status(request)).await;
    let Ok(answer) = answer else {
        return;
    };
    let seen = match answer {
        Ok(reply) => {
            let doc = parse(&reply.into_inner().json);
            Seen::Job {
                version: doc["version"].as_u64().unwrap_or(0),
                stopped: doc["status"] == "stopped",
            }
        }
        Err(status) if status.code() == tonic::Code::NotFound => Seen::Missing,
        Err(_) => return,
    };
    caller.history.record(
        caller.client,
        Op::Read(seen),
        job,
        invoked_ms,
        Outcome::Acknowledged,
    );
}

/// How long a reader waits for an answer before giving up on it.
const READ_PATIENCE: Duration = Duration::from_secs(3);

/// The reader's id in the history.
pub(super) const READER: u64 = 100;

/// A user on every node's own host — no partition cuts it off from the
/// node it asks — reading, from each node in turn through the safety
/// phase, the batch job submitted most recently and service 0 (which an
/// update and a stop change). A replica cut off from the leader must not
/// answer with what it still has.
pub(super) async fn reader(addrs: Vec<String>, knobs: Knobs, history: History, trace: Trace) {
    let caller = Caller {
        client: READER,
        history: &history,
        trace: &trace,
    };
    let phase_ms = knobs.safety_phase_s * 1000;
    let gap_ms = (phase_ms / (knobs.jobs + 1)).max(1);
    let mut round = 0u64;
    while history.now_ms() < phase_ms {
        let job = if round % 2 == 1 && knobs.services > 0 {
            Workload::service_name(0)
        } else if knobs.burst {
            format!("job-{}", (round / 2) % knobs.jobs.max(1))
        } else {
            let latest = (history.now_ms() / gap_ms).saturating_sub(1);
            format!("job-{}", latest.min(knobs.jobs.saturating_sub(1)))
        };
        read_back(&addrs, round, &job, &caller).await;
        round += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Retries a one-shot request until it succeeds or attempts run out.
async fn until_done<F, Fut>(
    addrs: &[String],
    (op, target): (Op, &str),
    caller: &Caller<'_>,
    mut call: F,
) where
    F: FnMut(Api) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let what = match op {
        Op::Stop => "stop",
        Op::Drain => "drain",
        Op::Submit { .. } => "submit",
        Op::Read(_) => "read",
    };
    for attempt in 0..CLIENT_ATTEMPTS as usize {
        let invoked_ms = caller.history.now_ms();
        let Some(client) = api(&addrs[attempt % addrs.len()]).await else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        let done = call(client).await;
        let outcome = if done {
            Outcome::Acknowledged
        } else {
            Outcome::Unknown
        };
        caller
            .history
            .record(caller.client, op, target, invoked_ms, outcome);
        if done {
            caller.trace.event("client", what, &json!({ "done": true }));
            if op == Op::Stop {
                read_back(addrs, attempt as u64 + 1, target, caller).await;
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    caller
        .trace
        .event("client", what, &json!({ "done": false }));
}

/// Client `k`'s share of the work; returns the batch jobs acknowledged.
/// Client 0 also submits the long-running jobs, stops a service and
/// drains a node when the knobs say so.
pub(super) async fn client_work(
    addrs: Vec<String>,
    knobs: Knobs,
    k: u64,
    history: History,
    trace: Trace,
) -> Vec<String> {
    let caller = Caller {
        client: k,
        history: &history,
        trace: &trace,
    };
    let workload = Workload { knobs: &knobs };
    let mut acknowledged = Vec::new();
    if k == 0 {
        for (job, text) in workload.long_running() {
            let spec = Spec {
                job: &job,
                text: &text,
                revision: 1,
            };
            if submit(&addrs, 0, spec, &caller).await {
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
            do_chore(&addrs, &knobs, chore, &caller).await;
        }
        tokio::time::sleep(Duration::from_millis(at_ms.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(at_ms);
        let (job, text) = workload.batch(n);
        let spec = Spec {
            job: &job,
            text: &text,
            revision: 1,
        };
        if submit(&addrs, n, spec, &caller).await {
            acknowledged.push(job);
        }
    }
    for (at, chore) in chores {
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms))).await;
        now_ms = now_ms.max(at);
        do_chore(&addrs, &knobs, chore, &caller).await;
    }
    acknowledged
}

async fn do_chore(addrs: &[String], knobs: &Knobs, chore: &str, caller: &Caller<'_>) {
    if chore == "update" {
        let text = Workload { knobs }.service(0, 2);
        let job = Workload::service_name(0);
        let spec = Spec {
            job: &job,
            text: &text,
            revision: 2,
        };
        submit(addrs, 0, spec, caller).await;
    } else if chore == "stop" {
        let job = Workload::service_name(knobs.services.saturating_sub(1));
        until_done(addrs, (Op::Stop, &job), caller, |mut api| {
            let job = job.clone();
            async move { api.stop_job(JobRef { job }).await.is_ok() }
        })
        .await;
    } else if let Some((_, node)) = knobs.drain {
        let target = format!("node-{node}");
        until_done(addrs, (Op::Drain, &target), caller, |mut api| async move {
            let request = DrainRequest {
                node: format!("node-{node}"),
                enable: true,
            };
            api.drain_node(request).await.is_ok()
        })
        .await;
    }
}
