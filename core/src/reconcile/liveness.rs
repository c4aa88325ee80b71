//! Liveness decisions: which silent nodes to mark disconnected or down, and
//! when not to. A control plane that loses its own network sees every node
//! go silent at once; evicting them all is the outage (kubernetes #28832).
//! So, as Kubernetes' node lifecycle controller does, decisions are:
//! - withheld for a grace period after a leader change;
//! - withheld everywhere when more than `unhealthy_ratio_pct` of the whole
//!   cluster is unhealthy;
//! - per region: at the normal pace when few nodes are unhealthy, at the
//!   slow pace when at least `partial_disruption_ratio_pct` (and two or
//!   more nodes) are, withheld
//!   when more than `unhealthy_ratio_pct` are — except when every node of
//!   the region is gone while the rest of the cluster is healthy: that is a
//!   lost region, and its work must move (Kubernetes' full disruption);
//! - paced: one decision per region per interval, timed from the region's
//!   latest transition in the replicated state, so a new leader keeps the pace.

use std::collections::BTreeMap;

use super::{Leadership, ReconcileConfig, Reconciliation, Withheld};
use crate::node::{Node, NodeStatus};
use crate::planted::{self, Bug};
use crate::state::ClusterState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transition {
    Disconnect,
    Down,
}

struct Region<'s> {
    total: u64,
    unhealthy: u64,
    last_transition_ms: Option<u64>,
    candidates: Vec<(u64, &'s Node, Transition)>,
}

fn due(node: &Node, now_ms: u64, config: &ReconcileConfig) -> Result<Option<Transition>, u64> {
    let silent_since = node.last_heartbeat_ms;
    match node.status {
        NodeStatus::Ready => {
            let at = silent_since.saturating_add(config.heartbeat_ttl_ms);
            if now_ms >= at {
                Ok(Some(Transition::Disconnect))
            } else {
                Err(at)
            }
        }
        NodeStatus::Disconnected => {
            let at = silent_since.saturating_add(config.max_disconnect_ms);
            if now_ms >= at {
                Ok(Some(Transition::Down))
            } else {
                Err(at)
            }
        }
        NodeStatus::Down => Ok(None),
    }
}

pub(super) fn decide(
    state: &ClusterState,
    now_ms: u64,
    config: &ReconcileConfig,
    leadership: Leadership,
    out: &mut Reconciliation,
) {
    let mut regions: BTreeMap<&str, Region> = BTreeMap::new();
    for node in state.nodes() {
        let region = regions.entry(node.region.as_str()).or_insert(Region {
            total: 0,
            unhealthy: 0,
            last_transition_ms: None,
            candidates: Vec::new(),
        });
        region.total += 1;
        if node.status != NodeStatus::Ready {
            region.unhealthy += 1;
            region.last_transition_ms = region.last_transition_ms.max(Some(node.status_changed_ms));
        }
        match due(node, now_ms, config) {
            Ok(Some(transition)) => {
                if node.status == NodeStatus::Ready {
                    region.unhealthy += 1;
                }
                region
                    .candidates
                    .push((node.last_heartbeat_ms, node, transition));
            }
            Ok(None) => {}
            Err(at) => out.wake_at(at),
        }
    }
    let total: u64 = regions.values().map(|r| r.total).sum();
    let unhealthy: u64 = regions.values().map(|r| r.unhealthy).sum();
    let grace_ends = leadership.since_ms.saturating_add(config.failover_grace_ms);
    let cluster_unreachable = over(unhealthy, total, config.unhealthy_ratio_pct);
    for region in regions.values_mut() {
        region
            .candidates
            .sort_by_key(|(silent_since, node, _)| (*silent_since, &node.id));
        let unpaced = planted::active(Bug::UnpacedLiveness);
        let verdict = if unpaced {
            Ok(())
        } else if now_ms < grace_ends {
            out.wake_at(grace_ends);
            Err(Withheld::LeaderGrace)
        } else if cluster_unreachable {
            Err(Withheld::MassUnreachability)
        } else {
            pace(region, now_ms, config, out)
        };
        for (i, (silent_since, node, transition)) in region.candidates.iter().enumerate() {
            match verdict {
                Ok(()) if i == 0 || unpaced => {
                    let mark = (node.id.clone(), *silent_since);
                    match transition {
                        Transition::Disconnect => out.mark_disconnected.push(mark),
                        Transition::Down => out.mark_down.push(mark),
                    }
                }
                Ok(()) => out.withheld.push((node.id.clone(), Withheld::RateLimited)),
                Err(why) => out.withheld.push((node.id.clone(), why)),
            }
        }
    }
}

/// Whether the region may take one decision now.
fn pace(
    region: &Region,
    now_ms: u64,
    config: &ReconcileConfig,
    out: &mut Reconciliation,
) -> Result<(), Withheld> {
    if region.candidates.is_empty() {
        return Ok(());
    }
    let lost_region = region.unhealthy == region.total;
    if over(region.unhealthy, region.total, config.unhealthy_ratio_pct) && !lost_region {
        return Err(Withheld::MassUnreachability);
    }
    // One silent node is ordinary failure, never a disruption.
    let partial = region.unhealthy >= 2
        && region.unhealthy * 100 >= u64::from(config.partial_disruption_ratio_pct) * region.total;
    let interval = if partial && !lost_region {
        config.partial_decision_interval_ms
    } else {
        config.decision_interval_ms
    };
    match region.last_transition_ms {
        Some(last) if now_ms < last.saturating_add(interval) => {
            out.wake_at(last.saturating_add(interval));
            Err(Withheld::RateLimited)
        }
        _ => Ok(()),
    }
}

fn over(part: u64, whole: u64, pct: u8) -> bool {
    whole > 0 && part * 100 > u64::from(pct) * whole
}
