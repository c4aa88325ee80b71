//! The observer: polls the voters throughout and checks the safety
//! invariants on every answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use drover_proto::v1::{Empty, Read};
use serde_json::{Value, json};

use super::{api, job_doc, parse};
use crate::cluster::DECISION_INTERVAL_MS;
use crate::invariants::{
    CommittedPrefixes, OneLeaderPerTerm, ReplicaDigests, Violation, liveness_decisions_paced,
    placements_in_region,
};
use crate::reality::{Readiness, Reality};
use crate::trace::Trace;

/// Polls the voters' views of the cluster until told to stop, checking
/// election and state-machine safety on every answer, and the placement
/// invariants on one replica's node list every second.
pub(super) async fn watch(
    voters: Vec<String>,
    leader: Arc<AtomicU64>,
    pinned: bool,
    pinned_region: String,
    stop: Arc<AtomicBool>,
    reality: Reality,
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
    let mut newest_node_list = 0;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        for addr in &voters {
            let Some(mut client) = api(addr).await else {
                continue;
            };
            let Ok(Ok(reply)) = within(client.cluster_status(Empty {})).await else {
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
            // Linearizable, so that the list can be dated: it reflects the
            // state at some instant after it was asked for.
            let asked_ms = reality.now_ms();
            if let Some(mut client) = api(addr).await
                && let Ok(Ok(reply)) = within(client.list_nodes(Read::default())).await
            {
                let nodes = parse(&reply.into_inner().json);
                // A list no newer than one already taken adds nothing.
                let index = nodes["index"].as_u64().unwrap_or(0);
                if index > newest_node_list {
                    newest_node_list = index;
                    reality.node_list(&readiness(&nodes), asked_ms);
                }
                liveness_decisions_paced(&nodes, DECISION_INTERVAL_MS).map_err(report)?;
                if pinned && let Ok(Some(job)) = within(job_doc(&mut client, "svc-0", true)).await {
                    placements_in_region(&job, &nodes, &pinned_region).map_err(report)?;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// How long the observer waits for one answer: a paused voter never
/// answers, and must not stall the sampling of the others.
const PATIENCE: Duration = Duration::from_millis(2_000);

async fn within<T>(call: impl Future<Output = T>) -> Result<T, tokio::time::error::Elapsed> {
    tokio::time::timeout(PATIENCE, call).await
}

/// Per node of a `ListNodes` reply: whether it is ready, when its status
/// last changed and when it registered.
fn readiness(nodes: &Value) -> BTreeMap<u64, Readiness> {
    nodes["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            let id = n["id"].as_str()?.strip_prefix("node-")?.parse().ok()?;
            let readiness = Readiness {
                ready: n["status"] == "ready",
                changed_ms: n["status_changed_ms"].as_u64()?,
                registered_ms: n["registered_ms"].as_u64()?,
            };
            Some((id, readiness))
        })
        .collect()
}
