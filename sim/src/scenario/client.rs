//! The clients: submissions retried as a real client retries them, and
//! client 0's chores (long-running jobs, an update, a stop, a drain).

use std::time::Duration;

use drover_proto::v1::{DrainRequest, JobRef, SubmitJobRequest};
use serde_json::json;

use super::workload::Workload;
use super::{Api, api};
use crate::history::{History, Op, Outcome};
use crate::knobs::Knobs;
use crate::trace::Trace;

/// Who a call is recorded for.
struct Caller<'a> {
    client: u64,
    history: &'a History,
    trace: &'a Trace,
}

const CLIENT_ATTEMPTS: u32 = 40;

/// Submits `spec` until acknowledged or out of attempts, as a client
/// would; a failed attempt is *unknown*, not failed (it may have
/// committed).
async fn submit(addrs: &[String], start: u64, job: &str, spec: &str, caller: &Caller<'_>) -> bool {
    let trace = caller.trace;
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
        };
        let answer = client.submit_job(request).await;
        let outcome = match answer {
            Ok(_) => Outcome::Acknowledged,
            Err(_) => Outcome::Unknown,
        };
        caller
            .history
            .record(caller.client, Op::Submit, job, invoked_ms, outcome);
        match answer {
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
        Op::Submit => "submit",
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
        for (job, spec) in workload.long_running() {
            if submit(&addrs, 0, &job, &spec, &caller).await {
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
        let (job, spec) = workload.batch(n);
        if submit(&addrs, n, &job, &spec, &caller).await {
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
        let spec = Workload { knobs }.service(0, 2);
        submit(addrs, 0, &Workload::service_name(0), &spec, caller).await;
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
