//! Reconciler settings, with the defaults and where they come from.

use serde::{Deserialize, Serialize};

/// Which allocation of a reconnect pair to keep: the original that came back
/// or the replacement placed while it was away (Nomad 1.8 `reconcile`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepPolicy {
    /// Running beats not running; then the current job version; then the original.
    #[default]
    BestScore,
    KeepOriginal,
    KeepReplacement,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReconcileConfig {
    /// A node silent this long is disconnected: its allocations become
    /// `unknown` and are replaced.
    pub heartbeat_ttl_ms: u64,
    /// A node silent this long is down: its allocations are `lost`
    /// (Nomad's `max_client_disconnect`).
    pub max_disconnect_ms: u64,
    /// No liveness decisions this long after a leader change, so a failover
    /// is not mistaken for mass node loss (Nomad's failover heartbeat TTL).
    pub failover_grace_ms: u64,
    /// At most one liveness decision per region per this interval
    /// (Kubernetes' default eviction rate, 0.1 node/s).
    pub decision_interval_ms: u64,
    /// The slower interval used in a partially disrupted region
    /// (Kubernetes' secondary rate, 0.01 node/s).
    pub partial_decision_interval_ms: u64,
    /// A region with at least this share of unhealthy nodes is partially
    /// disrupted: decisions slow down.
    pub partial_disruption_ratio_pct: u8,
    /// A region — or the whole cluster — with more than this share of
    /// unhealthy nodes gets no liveness decisions at all: the likelier
    /// story is that the control plane lost its network (Kubernetes'
    /// unhealthy-zone threshold, 0.55; kubernetes #28832).
    pub unhealthy_ratio_pct: u8,
    pub keep: KeepPolicy,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            heartbeat_ttl_ms: 15_000,
            max_disconnect_ms: 300_000,
            failover_grace_ms: 30_000,
            decision_interval_ms: 10_000,
            partial_decision_interval_ms: 100_000,
            partial_disruption_ratio_pct: 25,
            unhealthy_ratio_pct: 55,
            keep: KeepPolicy::BestScore,
        }
    }
}

/// What the reconciler knows about its own leadership.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadership {
    /// When this node became leader (leader-clock milliseconds).
    pub since_ms: u64,
}
