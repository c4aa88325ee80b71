//! `node.toml`: what a node is and where it lives. Unknown keys are errors,
//! and errors name the key, line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use drover_core::gc::GcPolicy;
use drover_core::reconcile::ReconcileConfig;
use drover_core::units::{parse_cpu_cores, parse_duration_ms, parse_memory_mb};
use drover_core::{NodeId, NodeRegistration, NodeRole, Resources};
use serde::Deserialize;

use crate::raft::RaftId;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Raft id, unique in the cluster and never reused.
    pub id: RaftId,
    /// The node's name in the cluster; defaults to `node-<id>`.
    pub name: Option<String>,
    /// gRPC address for the API and for other nodes.
    pub listen: SocketAddr,
    /// The address others reach this node at; defaults to `listen`.
    pub advertise: Option<SocketAddr>,
    /// Where the REST API listens (`/v1/...`); none: no HTTP listener.
    pub http: Option<SocketAddr>,
    /// Where DNS discovery answers (UDP: `<job>.service.drover`); none:
    /// no DNS. Only a node holding a replica answers.
    pub dns: Option<SocketAddr>,
    pub data_dir: PathBuf,
    #[serde(default)]
    pub role: NodeRole,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default = "default_pools")]
    pub pools: Vec<String>,
    /// Defaults to what the machine has.
    pub capacity: Option<Capacity>,
    /// The initial voters, this node included; nodes with the same list
    /// form a cluster on first start.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Instead of `peers`: nodes of a running cluster. A control or
    /// hybrid node announces itself to them and waits to be added
    /// (`drover cluster add`); it never forms a cluster of its own. A
    /// worker or edge node talks to them.
    #[serde(default)]
    pub join: Vec<SocketAddr>,
    /// When nodes count as gone; the same on every node.
    #[serde(default)]
    pub liveness: Liveness,
    /// When finished jobs, superseded allocations and down nodes are
    /// forgotten; read by whichever node leads.
    #[serde(default)]
    pub gc: Gc,
    /// Whether this worker offers the `docker` driver.
    #[serde(default)]
    pub docker: DockerSetting,
    /// Whether this worker offers the `exec` driver: a task it runs is a
    /// process of the agent's user on the host, not sandboxed.
    #[serde(default)]
    pub exec: ExecSetting,
    /// Raft log entries between snapshots (default 5000): the log is
    /// compacted behind each snapshot, and a follower that falls further
    /// behind is sent the snapshot.
    pub snapshot_every: Option<u64>,
    /// Raft's heartbeat and election timing; the same on every voter.
    #[serde(default)]
    pub raft: RaftTiming,
    /// Mutual TLS on every connection this node serves and opens
    /// (docs/security.md); none: plain text, for loopback only.
    pub tls: Option<TlsFiles>,
    /// Access control: whether every public call needs a token.
    #[serde(default)]
    pub acl: AclConfig,
    /// Other regions' control planes, for a control node to forward
    /// calls that name them (`--region`): a few addresses each.
    #[serde(default)]
    pub federation: Vec<RegionPeer>,
    /// Host volumes this worker offers to jobs that ask for them by name.
    #[serde(default, rename = "volume")]
    pub volumes: Vec<HostVolume>,
    /// Where this worker's tasks get dynamic ports.
    #[serde(default)]
    pub ports: PortsConfig,
}

/// `[ports]`: `dynamic = "20000-32000"` (the default), the range dynamic
/// ports are handed out from on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsConfig {
    pub dynamic: Option<String>,
}

/// `[[volume]]`: a directory on this node that tasks asking for `name`
/// get (`drover_core::volumes`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostVolume {
    pub name: String,
    pub path: PathBuf,
    /// Offered to tasks that only read it.
    #[serde(default)]
    pub read_only: bool,
}

/// `[[federation]]`: another region and some of its control nodes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPeer {
    pub region: String,
    pub addrs: Vec<SocketAddr>,
}

/// `[acl]`: the same on every node of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// Every public call (gRPC, REST, dashboard, metrics) carries a token
    /// allowing it; until `drover acl bootstrap`, only bootstrap is answered.
    #[serde(default)]
    pub enabled: bool,
}

/// `[tls]`: the cluster's CA and this node's certificate and key, PEM
/// files made by `drover tls ca create` and `drover tls cert create`;
/// read again when they change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Durations with units (`"100ms"`); defaults suit voters a few
/// milliseconds apart (docs/operations.md, "Raft timing").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftTiming {
    /// How often the leader sends to each follower when idle; also how
    /// long it waits for a follower's answer. Keep it above the longest
    /// round trip between voters plus a disk flush.
    pub heartbeat: Option<String>,
    /// A follower that hears nothing from the leader for the lease (the
    /// maximum below) plus a random time between these two campaigns.
    pub election_timeout_min: Option<String>,
    pub election_timeout_max: Option<String>,
}

/// Raft timing in milliseconds, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTimingMs {
    pub heartbeat: u64,
    pub election_min: u64,
    pub election_max: u64,
}

impl RaftTimingMs {
    pub const DEFAULT: Self = Self {
        heartbeat: 100,
        election_min: 250,
        election_max: 400,
    };
}

impl RaftTiming {
    pub fn millis(&self) -> Result<RaftTimingMs, String> {
        let mut timing = RaftTimingMs::DEFAULT;
        let fields = [
            ("heartbeat", &self.heartbeat, &mut timing.heartbeat),
            (
                "election_timeout_min",
                &self.election_timeout_min,
                &mut timing.election_min,
            ),
            (
                "election_timeout_max",
                &self.election_timeout_max,
                &mut timing.election_max,
            ),
        ];
        for (name, text, target) in fields {
            if let Some(text) = text {
                *target = parse_duration_ms(text).map_err(|e| format!("raft.{name}: {e}"))?;
            }
        }
        if timing.heartbeat < 10 {
            return Err(format!(
                "raft.heartbeat: {} ms is too short (at least 10ms)",
                timing.heartbeat
            ));
        }
        if timing.election_min < 2 * timing.heartbeat {
            return Err(format!(
                "raft.election_timeout_min: {} ms must be at least twice raft.heartbeat ({} ms), or one late heartbeat starts an election",
                timing.election_min, timing.heartbeat
            ));
        }
        if timing.election_max <= timing.election_min {
            return Err(format!(
                "raft.election_timeout_max: {} ms must be above raft.election_timeout_min ({} ms), so that voters do not all campaign at once",
                timing.election_max, timing.election_min
            ));
        }
        Ok(timing)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecSetting {
    #[default]
    On,
    /// No exec task is placed on this worker or started by it.
    Off,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DockerSetting {
    /// Use the local engine if it answers at start; say so either way.
    #[default]
    Auto,
    /// Refuse to start without an engine.
    Required,
    Off,
}

/// Durations with units (`"15s"`, `"5m"`); defaults in `ReconcileConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    pub heartbeat_ttl: Option<String>,
    pub max_disconnect: Option<String>,
    pub failover_grace: Option<String>,
    pub decision_interval: Option<String>,
}

impl Liveness {
    pub fn reconcile_config(&self) -> Result<ReconcileConfig, String> {
        let mut config = ReconcileConfig::default();
        let fields = [
            (
                "heartbeat_ttl",
                &self.heartbeat_ttl,
                &mut config.heartbeat_ttl_ms,
            ),
            (
                "max_disconnect",
                &self.max_disconnect,
                &mut config.max_disconnect_ms,
            ),
            (
                "failover_grace",
                &self.failover_grace,
                &mut config.failover_grace_ms,
            ),
            (
                "decision_interval",
                &self.decision_interval,
                &mut config.decision_interval_ms,
            ),
        ];
        for (name, text, target) in fields {
            if let Some(text) = text {
                *target = parse_duration_ms(text).map_err(|e| format!("liveness.{name}: {e}"))?;
            }
        }
        if config.heartbeat_ttl_ms < 1000 {
            return Err("liveness.heartbeat_ttl: at least 1s, or healthy nodes would flap".into());
        }
        if config.max_disconnect_ms < config.heartbeat_ttl_ms {
            return Err(format!(
                "liveness.max_disconnect: at least heartbeat_ttl ({} ms), or a node would stop its tasks before the control plane even missed it",
                config.heartbeat_ttl_ms
            ));
        }
        Ok(config)
    }
}

/// Durations with units and a count; defaults in [`GcPolicy`] (Nomad's).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gc {
    pub interval: Option<String>,
    pub job_retention: Option<String>,
    pub alloc_retention: Option<String>,
    pub node_retention: Option<String>,
    pub key_retention: Option<String>,
    pub keep_allocs: Option<u32>,
}

/// How often the leader looks for garbage (Nomad's `gc_interval`).
pub const DEFAULT_GC_INTERVAL_MS: u64 = 5 * 60_000;

impl Gc {
    /// The policy, and how often the leader applies it, in milliseconds.
    pub fn policy(&self) -> Result<(GcPolicy, u64), String> {
        let mut policy = GcPolicy::default();
        let mut interval_ms = DEFAULT_GC_INTERVAL_MS;
        let fields = [
            ("interval", &self.interval, &mut interval_ms),
            (
                "job_retention",
                &self.job_retention,
                &mut policy.job_retention_ms,
            ),
            (
                "alloc_retention",
                &self.alloc_retention,
                &mut policy.alloc_retention_ms,
            ),
            (
                "node_retention",
                &self.node_retention,
                &mut policy.node_retention_ms,
            ),
            (
                "key_retention",
                &self.key_retention,
                &mut policy.key_retention_ms,
            ),
        ];
        for (name, text, target) in fields {
            if let Some(text) = text {
                *target = parse_duration_ms(text).map_err(|e| format!("gc.{name}: {e}"))?;
            }
        }
        if interval_ms < 100 {
            return Err("gc.interval: at least 100ms".into());
        }
        if let Some(keep) = self.keep_allocs {
            policy.keep_allocs = keep;
        }
        Ok((policy, interval_ms))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Cores, like `"4"` or `"0.5"`.
    pub cpu: String,
    /// With a binary unit, like `"8GiB"`.
    pub memory: String,
    #[serde(default)]
    pub gpus: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub id: RaftId,
    pub addr: SocketAddr,
}

fn default_region() -> String {
    "default".into()
}

fn default_pools() -> Vec<String> {
    vec!["default".into()]
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        config.registration()?;
        config.liveness.reconcile_config()?;
        config.gc.policy()?;
        if !config.peers.is_empty() && !config.join.is_empty() {
            return Err("peers and join: set `peers` (the voters that form a new cluster) or `join` (nodes of a running cluster), not both".into());
        }
        Ok(config)
    }

    /// Whether this node is one of the voters that form the cluster.
    /// The addresses this node serves or names that are not loopback: an
    /// agent refuses them without TLS unless told `--insecure`.
    pub fn exposed(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut exposed = vec![("listen", self.listen), ("advertise", self.advertise())];
        exposed.extend(self.http.map(|addr| ("http", addr)));
        exposed.retain(|(_, addr)| !addr.ip().is_loopback());
        exposed.dedup_by(|a, b| a.1 == b.1);
        exposed
    }

    /// The other regions by name, each with its addresses; errors name
    /// the key.
    pub fn other_regions(&self) -> Result<BTreeMap<String, Vec<String>>, String> {
        let mut regions = BTreeMap::new();
        for peer in &self.federation {
            if peer.region == self.region {
                return Err(format!(
                    "federation: region {:?} is this node's own (region = {:?}); list other regions only",
                    peer.region, self.region
                ));
            }
            if peer.addrs.is_empty() {
                return Err(format!("federation: region {:?} has no addrs", peer.region));
            }
            let addrs = peer.addrs.iter().map(ToString::to_string).collect();
            if regions.insert(peer.region.clone(), addrs).is_some() {
                return Err(format!(
                    "federation: region {:?} is listed twice",
                    peer.region
                ));
            }
        }
        Ok(regions)
    }

    /// What protects an exposed node that this one lacks: TLS, ACLs.
    pub fn unprotected(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.tls.is_none() {
            missing.push("TLS");
        }
        if !self.acl.enabled {
            missing.push("ACLs");
        }
        missing
    }

    pub fn is_initial_voter(&self) -> bool {
        self.role.is_voter() && self.peers.iter().any(|p| p.id == self.id)
    }

    /// The nodes to reach the cluster through, this one left out: the
    /// initial voters, or the nodes to join.
    pub fn control_addrs(&self) -> Vec<SocketAddr> {
        let own = self.advertise();
        let peers = self.peers.iter().map(|p| p.addr);
        peers
            .chain(self.join.iter().copied())
            .filter(|a| *a != own)
            .collect()
    }

    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("node-{}", self.id))
    }

    pub fn advertise(&self) -> SocketAddr {
        self.advertise.unwrap_or(self.listen)
    }

    /// How the node describes itself to the cluster.
    pub fn registration(&self) -> Result<NodeRegistration, String> {
        let id = NodeId::new(self.name()).map_err(|e| format!("name: node name {e}"))?;
        let capacity = match &self.capacity {
            Some(c) => Resources::new(
                parse_cpu_cores(&c.cpu).map_err(|e| format!("capacity.cpu: {e}"))?,
                parse_memory_mb(&c.memory).map_err(|e| format!("capacity.memory: {e}"))?,
                c.gpus,
            ),
            None => machine_capacity(),
        };
        let mut labels = self.labels.clone();
        if let Some(key) = labels
            .keys()
            .find(|k| k.starts_with(drover_core::volumes::LABEL_PREFIX))
        {
            return Err(format!(
                "labels.{key:?}: labels starting with {:?} are set by Drover for [[volume]]",
                drover_core::volumes::LABEL_PREFIX
            ));
        }
        if labels.contains_key(drover_core::ports::RANGE_LABEL) {
            return Err(format!(
                "labels.{:?}: set by Drover for [ports] dynamic",
                drover_core::ports::RANGE_LABEL
            ));
        }
        if let Some(range) = &self.ports.dynamic {
            let parsed = drover_core::ports::parse_range(range)
                .map_err(|e| format!("ports.dynamic: {e}"))?;
            labels.insert(
                drover_core::ports::RANGE_LABEL.to_string(),
                format!("{}-{}", parsed.start(), parsed.end()),
            );
        }
        for (i, volume) in self.volumes.iter().enumerate() {
            volume.check(i, &self.volumes[..i])?;
            labels.insert(
                drover_core::volumes::label(&volume.name),
                drover_core::volumes::access(volume.read_only).to_string(),
            );
        }
        Ok(NodeRegistration {
            id,
            address: self.advertise().to_string(),
            region: self.region.clone(),
            labels,
            role: self.role,
            capacity,
            pools: self.pools.iter().cloned().collect::<BTreeSet<_>>(),
            // Filled in from the executor when the node starts.
            drivers: BTreeSet::new(),
        })
    }
}

impl HostVolume {
    /// The `i`th volume's name names an environment variable and no
    /// earlier volume; its path is absolute and fits a container's bind.
    fn check(&self, i: usize, earlier: &[HostVolume]) -> Result<(), String> {
        let name = &self.name;
        if !drover_core::ids::names_a_variable(name) {
            return Err(format!(
                "volume[{i}].name: {name:?} is not a volume name; use up to 32 letters, digits and '_', starting with a letter"
            ));
        }
        if earlier.iter().any(|v| v.name.eq_ignore_ascii_case(name)) {
            return Err(format!("volume[{i}].name: {name:?} is offered twice"));
        }
        let path = self.path.to_string_lossy();
        if !self.path.is_absolute() || path.contains([':', ',']) {
            return Err(format!(
                "volume[{i}].path: {path:?} is not an absolute path without ':' or ','"
            ));
        }
        Ok(())
    }
}

impl NodeConfig {
    /// Every volume's directory exists: checked when the agent starts, so
    /// a task is never placed on a volume that is not there.
    pub fn check_volume_paths(&self) -> Result<(), String> {
        for (i, volume) in self.volumes.iter().enumerate() {
            if !volume.path.is_dir() {
                return Err(format!(
                    "volume[{i}].path: {} is not a directory on this node",
                    volume.path.display()
                ));
            }
        }
        Ok(())
    }

    /// The volumes as the worker gives them to tasks, by name.
    pub fn volume_paths(&self) -> BTreeMap<String, drover_core::volumes::Offered> {
        self.volumes
            .iter()
            .map(|v| {
                let offered = drover_core::volumes::Offered {
                    path: v.path.to_string_lossy().into_owned(),
                    read_only: v.read_only,
                };
                (v.name.clone(), offered)
            })
            .collect()
    }
}

/// The machine's cores and memory, as the default capacity.
pub fn machine_capacity() -> Resources {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(1024, |kb| kb / 1024);
    Resources::new(cores as u64 * 1000, memory_mb, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_config_has_defaults() {
        let config =
            NodeConfig::parse("id = 1\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/tmp/x\"\n")
                .unwrap();
        assert_eq!(config.name(), "node-1");
        assert_eq!(config.role, NodeRole::Hybrid);
        assert_eq!(config.pools, ["default"]);
    }

    #[test]
    fn a_node_forms_a_cluster_or_joins_one_but_not_both() {
        let base = "id = 4\nlisten = \"127.0.0.1:7404\"\ndata_dir = \"/x\"\n";
        let joining = NodeConfig::parse(&format!(
            "{base}join = [\"127.0.0.1:7401\", \"127.0.0.1:7404\"]\n"
        ))
        .unwrap();
        assert!(!joining.is_initial_voter());
        assert_eq!(
            joining.control_addrs(),
            vec!["127.0.0.1:7401".parse().unwrap()]
        );
        let err = NodeConfig::parse(&format!(
            "{base}join = [\"127.0.0.1:7401\"]\n[[peers]]\nid = 4\naddr = \"127.0.0.1:7404\"\n"
        ))
        .unwrap_err();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn federation_lists_other_regions_once_each() {
        let base = "id = 1\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/x\"\nregion = \"eu\"\n";
        let with = |table: &str| NodeConfig::parse(&format!("{base}{table}")).unwrap();
        let two = "[[federation]]\nregion = \"us\"\naddrs = [\"10.0.0.1:7401\"]\n";
        let regions = with(two).other_regions().unwrap();
        assert_eq!(regions["us"], ["10.0.0.1:7401"]);
        let own = "[[federation]]\nregion = \"eu\"\naddrs = [\"10.0.0.1:7401\"]\n";
        let err = with(own).other_regions().unwrap_err();
        assert!(err.contains("federation") && err.contains("own"), "{err}");
        let err = with(&format!("{two}{two}")).other_regions().unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let empty = "[[federation]]\nregion = \"us\"\naddrs = []\n";
        assert!(
            with(empty)
                .other_regions()
                .unwrap_err()
                .contains("no addrs")
        );
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let err = NodeConfig::parse(
            "id = 1\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/x\"\nrole = \"boss\"\n",
        )
        .unwrap_err();
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("role") || err.contains("boss"), "{err}");
        let err = NodeConfig::parse("id = 1\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/x\"\ncapacity = { cpu = \"2\", memory = \"4GB\" }\n").unwrap_err();
        assert!(err.contains("capacity.memory"), "{err}");
    }

    #[test]
    fn volumes_are_announced_as_labels_and_checked() {
        let base = "id = 1\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/x\"\n";
        let with = |extra: &str| NodeConfig::parse(&format!("{base}{extra}"));
        let config = with(
            "[[volume]]\nname = \"data\"\npath = \"/srv/data\"\n[[volume]]\nname = \"certs\"\npath = \"/etc/certs\"\nread_only = true\n",
        )
        .unwrap();
        let labels = config.registration().unwrap().labels;
        assert_eq!(labels["volume.data"], "read-write");
        assert_eq!(labels["volume.certs"], "read-only");
        assert_eq!(config.volume_paths()["data"].path, "/srv/data");
        assert!(config.volume_paths()["certs"].read_only);
        let err = config.check_volume_paths().unwrap_err();
        assert!(
            err.contains("volume[0].path: /srv/data is not a directory"),
            "{err}"
        );

        let err = with("[labels]\n\"volume.data\" = \"read-write\"\n").unwrap_err();
        assert!(err.contains("set by Drover for [[volume]]"), "{err}");
        let err = with("[[volume]]\nname = \"my-data\"\npath = \"/srv\"\n").unwrap_err();
        assert!(err.contains("volume[0].name"), "{err}");
        let err = with("[[volume]]\nname = \"data\"\npath = \"srv\"\n").unwrap_err();
        assert!(err.contains("volume[0].path"), "{err}");
        let twice = "[[volume]]\nname = \"data\"\npath = \"/a\"\n";
        let err = with(&format!("{twice}{twice}")).unwrap_err();
        assert!(
            err.contains("volume[1].name") && err.contains("twice"),
            "{err}"
        );
        let err = with("[[volume]]\nname = \"data\"\n").unwrap_err();
        assert!(err.contains("path"), "{err}");
    }

    #[test]
    fn a_dynamic_port_range_is_announced_and_checked() {
        let base = "id = 1\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/x\"\n";
        let with = |extra: &str| NodeConfig::parse(&format!("{base}{extra}"));
        let config = with("[ports]\ndynamic = \"30000 - 30100\"\n").unwrap();
        assert_eq!(
            config.registration().unwrap().labels["ports.dynamic"],
            "30000-30100"
        );
        for bad in ["\"30100-30000\"", "\"0-10\"", "\"30000\"", "\"a-b\""] {
            let err = with(&format!("[ports]\ndynamic = {bad}\n")).unwrap_err();
            assert!(err.starts_with("ports.dynamic: "), "{bad}: {err}");
        }
        let err = with("[labels]\n\"ports.dynamic\" = \"1-2\"\n").unwrap_err();
        assert!(err.contains("set by Drover"), "{err}");
    }
}
