//! A simulated cluster: control nodes and workers on madsim hosts, in
//! regions, each with its own simulated disk that survives crashes (minus
//! what was not fsynced), an executor on the nodes whose role runs work
//! (as in production), and the network faults the design claims to
//! survive, cut link by link (`network`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_adapters::disk::{CrashMode, SimFs, WriteFault};
use drover_core::NodeRole;
use drover_node::agent::{Environment, run_in};
use drover_node::config::{Capacity, DockerSetting, Gc, Liveness, NodeConfig, Peer};
use madsim::rand::Rng;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;

use crate::executor::SimExecutor;
use crate::knobs::{Knobs, Weather};
use crate::network::{Cuts, End};
use crate::reality::{Reality, Topology};
use crate::trace::Trace;

pub const PORT: u16 = 7401;
/// Where a simulated node keeps its Raft log.
const RAFT_LOG: &str = "/data/raft/raft.log";

pub use crate::knobs::{DECISION_INTERVAL_MS, HEARTBEAT_TTL_MS, MAX_DISCONNECT_MS};

fn liveness() -> Liveness {
    Liveness {
        heartbeat_ttl: Some(format!("{HEARTBEAT_TTL_MS}ms")),
        max_disconnect: Some(format!("{MAX_DISCONNECT_MS}ms")),
        failover_grace: Some("5s".into()),
        decision_interval: Some(format!("{DECISION_INTERVAL_MS}ms")),
    }
}

/// Down nodes are forgotten soon after `max_disconnect`, so that nodes
/// that return under faults register again. Jobs and allocations are kept
/// past any run: the invariants read the control plane's pairing of
/// replacements (`previous`), which collecting allocations erases; their
/// collection is checked against the reconciler (`core/tests/state_props.rs`)
/// and against real processes (`node/tests/gc.rs`).
fn gc() -> Gc {
    Gc {
        interval: Some("1s".into()),
        job_retention: Some("24h".into()),
        alloc_retention: Some("24h".into()),
        node_retention: Some("2s".into()),
        key_retention: None,
        keep_allocs: None,
    }
}

pub struct SimNode {
    pub id: u64,
    pub addr: SocketAddr,
    pub region: u64,
    pub disk: SimFs,
    pub handle: NodeHandle,
    tasks: MachineTasks,
}

/// The executor of a machine's tasks, shared by the agent processes that
/// run on it in turn; emptied when the machine is lost.
type MachineTasks = Arc<Mutex<Option<drover_adapters::exec::SharedExecutor>>>;

impl SimNode {
    /// The machine lost power: its process and its tasks are gone.
    fn lost(&self, reality: &Reality) {
        Handle::current().kill(self.handle.id());
        reality.machine_lost(self.id);
        *self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

pub struct SimCluster {
    pub nodes: Vec<SimNode>,
    pub reality: Reality,
    /// Clients and the observer: endpoints outside the cluster.
    outsiders: Mutex<Vec<NodeId>>,
    /// The links cut now.
    blocked: Mutex<BTreeSet<(End, End)>>,
}

/// Node `id` of the cluster in address block `block` (0: the one
/// cluster of most runs; one block per region when regions federate).
pub fn ip(block: u8, id: u64) -> IpAddr {
    IpAddr::from([10, block, 0, u8::try_from(id).unwrap_or(250)])
}

/// Where a cluster stands: its address block, the region its nodes name
/// (`None`: each node's own, from the knobs), and the other regions its
/// control nodes federate with.
#[derive(Clone, Default)]
pub struct Site {
    pub block: u8,
    pub region: Option<String>,
    pub federation: Vec<drover_node::config::RegionPeer>,
}

/// What one simulated node is.
struct Shape {
    id: u64,
    role: NodeRole,
    region: u64,
    cpu_millis: u64,
    snapshot_every: u64,
}

impl SimCluster {
    /// Starts `n` hybrid nodes in one region forming one cluster.
    pub fn start(n: u64) -> Self {
        Self::start_with_trace(n, &Trace::new(&Knobs::from_seed(0)))
    }

    fn start_with_trace(n: u64, trace: &Trace) -> Self {
        let mut knobs = Knobs::from_seed(0);
        knobs.control_nodes = n;
        knobs.workers = 0;
        knobs.control_runs_work = true;
        knobs.regions = 1;
        knobs.snapshot_every = drover_node::agent::SNAPSHOT_EVERY;
        Self::start_with(&knobs, trace)
    }

    /// The topology the knobs describe: voters first (hybrid, or control
    /// only), then worker-only nodes; node `i` in region `(i-1) % regions`.
    pub fn start_with(knobs: &Knobs, trace: &Trace) -> Self {
        drover_node::time::skew::clear();
        Self::start_at(knobs, trace, &Site::default())
    }

    /// As [`Self::start_with`], at `site`: one region of several.
    pub fn start_at(knobs: &Knobs, trace: &Trace, site: &Site) -> Self {
        let reality = Reality::new(topology(knobs), trace.clone());
        let peers: Vec<Peer> = (1..=knobs.control_nodes)
            .map(|id| Peer {
                id,
                addr: SocketAddr::new(ip(site.block, id), PORT),
            })
            .collect();
        let nodes = (1..=knobs.nodes())
            .map(|id| {
                let role = match (id <= knobs.control_nodes, knobs.control_runs_work) {
                    (true, true) => NodeRole::Hybrid,
                    (true, false) => NodeRole::Control,
                    (false, _) => NodeRole::Worker,
                };
                let shape = Shape {
                    id,
                    role,
                    region: knobs.region_of(id),
                    cpu_millis: knobs.cpu_millis(id),
                    snapshot_every: knobs.snapshot_every,
                };
                Self::node(
                    &shape,
                    site,
                    &peers,
                    knobs.bugs.lying_fsync,
                    &reality,
                    knobs.runs_work(id),
                )
            })
            .collect::<Vec<SimNode>>();
        for (id, skew_ms) in &knobs.clock_skew_ms {
            if let Some(node) = nodes.iter().find(|n| n.id == *id) {
                drover_node::time::skew::set(node.handle.id(), *skew_ms);
            }
        }
        Self {
            nodes,
            reality,
            outsiders: Mutex::default(),
            blocked: Mutex::default(),
        }
    }

    /// `reality`: where the node's executor (if its role runs work) records
    /// what it runs, and where a refusal to start is recorded.
    fn node(
        shape: &Shape,
        site: &Site,
        peers: &[Peer],
        lying_disk: bool,
        reality: &Reality,
        runs_work: bool,
    ) -> SimNode {
        let disk = if lying_disk {
            SimFs::lying()
        } else {
            SimFs::new()
        };
        let addr = SocketAddr::new(ip(site.block, shape.id), PORT);
        let config = node_config(shape, site, peers, addr);
        let fs = disk.clone();
        let id = shape.id;
        let reality = reality.clone();
        let tasks = MachineTasks::default();
        let machine = tasks.clone();
        let handle = Handle::current()
            .create_node()
            .name(match &site.region {
                Some(region) => format!("{region}-node-{}", shape.id),
                None => format!("node-{}", shape.id),
            })
            .ip(addr.ip())
            .init(move || {
                let config = config.clone();
                // The machine's executor outlives a process: a new one
                // adopts its tasks. A lost machine leaves none behind.
                let executor = runs_work.then(|| {
                    let mut tasks = machine
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    tasks
                        .get_or_insert_with(|| {
                            let executor: drover_adapters::exec::SharedExecutor =
                                Arc::new(Mutex::new(SimExecutor::new(id, reality.clone())));
                            executor
                        })
                        .clone()
                });
                let reality = reality.clone();
                let fs = fs.clone();
                async move {
                    // Real machines never boot in the same instant; nodes
                    // that did would time their elections in lockstep.
                    let delay_ms = madsim::rand::thread_rng().gen_range(0..1000);
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    loop {
                        let environment = Environment {
                            fs: fs.clone(),
                            executor: executor.clone(),
                        };
                        match run_in(config.clone(), environment, std::future::pending()).await {
                            // A damaged disk: the node stays down, as designed.
                            Err(e) if e.contains("refuses to start") => {
                                return reality.refused(id, &e);
                            }
                            // Raft stopped (a failed disk write): the
                            // process exits and, as systemd would, the
                            // machine starts a new one — killed first, so
                            // that whatever the old one left (calls still
                            // being answered, the addresses they hold) is
                            // gone, as with a real process. The machine's
                            // tasks stay, and are adopted. Both at once,
                            // from here: no fault falls between them.
                            Err(e) if e.contains("raft stopped") => {
                                let me = madsim::plugin::node();
                                Handle::current().kill(me);
                                Handle::current().restart(me);
                                return;
                            }
                            // A failed disk write while starting: tried again.
                            Err(e) if e.contains("os error 5") => {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            Err(e) => panic!("node failed: {e}"),
                            Ok(()) => return,
                        }
                    }
                }
            })
            .build();
        SimNode {
            id: shape.id,
            addr,
            region: shape.region,
            disk,
            handle,
            tasks,
        }
    }

    fn get(&self, id: u64) -> &SimNode {
        &self.nodes[usize::try_from(id - 1).unwrap_or(0)]
    }

    /// Power loss on a node: its process dies and its disk keeps only what
    /// was made durable (with a torn tail drawn from `seed`).
    pub fn crash(&self, id: u64, seed: u64) {
        let node = self.get(id);
        node.lost(&self.reality);
        node.disk.crash(CrashMode::Torn(seed));
    }

    /// Power loss (if running), then one bit flipped in a record the disk
    /// had made durable: the high byte of a record's length (so it points
    /// past the end of the file, as a torn write's would) or a byte of the
    /// last record's body, drawn from `seed`.
    pub fn damage(&self, id: u64, seed: u64, running: bool) -> Option<String> {
        let node = self.get(id);
        if running {
            node.lost(&self.reality);
            node.disk.crash(CrashMode::Torn(seed));
        }
        let path = Path::new(RAFT_LOG);
        let bytes = drover_adapters::disk::FileSystem::read(&node.disk, path).ok()??;
        let starts = record_starts(&bytes);
        let last = *starts.last()?;
        let (at, what) = if seed.is_multiple_of(2) {
            let record = starts[usize::try_from(seed / 2).unwrap_or(0) % starts.len()];
            (
                record + 7,
                format!("the length of the record at byte {record}"),
            )
        } else {
            (
                last + 12 + 3,
                format!("the body of the last record, at byte {last}"),
            )
        };
        node.disk.corrupt(path, at, 0x01).ok()?;
        let damaged = drover_adapters::disk::FileSystem::read(&node.disk, path).ok()??;
        self.reality
            .damaged(id, node.disk.clone(), path, damaged, &what);
        Some(what)
    }

    /// The node's disk commits `fault` on its Raft log's next write (or
    /// fsync); `false` if there is no log yet.
    pub fn arm_write_fault(&self, id: u64, fault: WriteFault) -> bool {
        self.get(id).disk.arm(Path::new(RAFT_LOG), fault).is_ok()
    }

    /// Power off and on: what the disk had made durable survives (no torn
    /// tail: the write faults' own traces stay as they are). A write fault
    /// that left durable bytes after the write it lost, or wrote over
    /// durable ones, is damage the node must refuse to start on. Returns
    /// what the write fault did, if it struck.
    pub fn power_cycle(&self, id: u64) -> Option<String> {
        let node = self.get(id);
        let struck = node.disk.struck();
        node.lost(&self.reality);
        let hidden = node.disk.hidden_damage(Path::new(RAFT_LOG));
        node.disk.crash(CrashMode::Clean);
        if let Some(what) = hidden
            && let Ok(Some(bytes)) =
                drover_adapters::disk::FileSystem::read(&node.disk, Path::new(RAFT_LOG))
        {
            self.reality
                .damaged(id, node.disk.clone(), Path::new(RAFT_LOG), bytes, &what);
        }
        Handle::current().restart(node.handle.id());
        struck
    }

    pub fn restart(&self, id: u64) {
        Handle::current().restart(self.get(id).handle.id());
    }

    /// Every durable write on the node's disk takes `extra` longer.
    pub fn slow_disk(&self, id: u64, extra: Duration) {
        self.get(id).disk.set_slowness(extra);
    }

    pub fn pause(&self, id: u64) {
        Handle::current().pause(self.get(id).handle.id());
    }

    pub fn resume(&self, id: u64) {
        Handle::current().resume(self.get(id).handle.id());
    }

    /// A client or the observer: an endpoint outside the cluster.
    pub fn add_outsider(&self, id: NodeId) {
        lock(&self.outsiders).push(id);
    }

    /// Makes the network what `cuts` say, changing only the links that
    /// differ from now.
    pub fn set_cuts(&self, cuts: &Cuts) {
        let outsiders = lock(&self.outsiders).clone();
        let mut ends: Vec<End> = self.nodes.iter().map(|n| End::Node(n.id)).collect();
        ends.extend((0..outsiders.len() as u64).map(End::Outsider));
        let wanted = cuts.blocked(&ends);
        let madsim_id = |end: End| match end {
            End::Node(n) => self.get(n).handle.id(),
            End::Outsider(k) => outsiders[usize::try_from(k).unwrap_or(0)],
        };
        let net = madsim::net::NetSim::current();
        let mut blocked = lock(&self.blocked);
        for (from, to) in blocked.difference(&wanted) {
            net.unclog_link(madsim_id(*from), madsim_id(*to));
        }
        for (from, to) in wanted.difference(&blocked) {
            net.clog_link(madsim_id(*from), madsim_id(*to));
        }
        *blocked = wanted;
    }

    pub fn in_region(&self, region: u64) -> impl Iterator<Item = u64> + '_ {
        self.nodes
            .iter()
            .filter(move |n| n.region == region)
            .map(|n| n.id)
    }

    /// Network conditions for every link (`None`: the default, fast and
    /// lossless).
    pub fn weather(weather: Option<Weather>) {
        madsim::net::NetSim::current().update_config(|config| match weather {
            Some(w) => {
                config.send_latency =
                    Duration::from_millis(w.latency_ms.0)..Duration::from_millis(w.latency_ms.1);
                #[allow(clippy::cast_precision_loss)]
                let loss = w.loss_per_mille as f64 / 1000.0;
                config.packet_loss_rate = loss;
            }
            None => *config = madsim::net::Config::default(),
        });
    }

    /// Every node's API address; `control` ones first.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }
}

/// What a simulated node's node.toml would say.
fn node_config(shape: &Shape, site: &Site, peers: &[Peer], addr: SocketAddr) -> NodeConfig {
    NodeConfig {
        id: shape.id,
        name: None,
        listen: addr,
        advertise: None,
        http: None,
        dns: None,
        data_dir: "/data".into(),
        role: shape.role,
        region: site
            .region
            .clone()
            .unwrap_or_else(|| format!("r{}", shape.region)),
        labels: BTreeMap::new(),
        pools: vec!["default".into()],
        capacity: Some(Capacity {
            cpu: (shape.cpu_millis / 1000).to_string(),
            memory: format!("{}GiB", shape.cpu_millis / 500),
            gpus: 0,
        }),
        // Workers list the control nodes; voters list all voters.
        peers: peers.to_vec(),
        join: Vec::new(),
        liveness: liveness(),
        gc: gc(),
        docker: DockerSetting::Off,
        snapshot_every: Some(shape.snapshot_every),
        raft: drover_node::config::RaftTiming::default(),
        tls: None,
        exec: drover_node::config::ExecSetting::On,
        acl: drover_node::config::AclConfig::default(),
        federation: if shape.role == NodeRole::Worker {
            Vec::new()
        } else {
            site.federation.clone()
        },
        volumes: Vec::new(),
        ports: drover_node::config::PortsConfig::default(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the reality invariants need to know of the cluster's shape.
fn topology(knobs: &Knobs) -> Topology {
    let capacity = (1..=knobs.nodes())
        .filter(|n| knobs.runs_work(*n))
        .map(|n| {
            let cpu_millis = knobs.cpu_millis(n);
            let resources = drover_core::Resources {
                cpu_millis: cpu_millis / 1000 * 1000,
                memory_mb: cpu_millis / 500 * 1024,
                gpus: 0,
            };
            (n, resources)
        })
        .collect();
    Topology {
        voters: (1..=knobs.control_nodes).collect(),
        capacity,
        max_disconnect_ms: MAX_DISCONNECT_MS,
    }
}

/// Where each record of a Raft log file starts: the file header is 16
/// bytes (magic, format, checksum; format 3), each record's header 12
/// (checksum, body length, body checksum).
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 16;
    while at + 12 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap_or_default());
        let end = at + 12 + len as usize;
        if end > bytes.len() {
            break;
        }
        starts.push(at);
        at = end;
    }
    starts
}
