//! A simulated cluster: control nodes and workers on madsim hosts, in
//! regions, each with its own simulated disk that survives crashes (minus
//! what was not fsynced), and the network faults the design claims to
//! survive.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_adapters::disk::{CrashMode, SimFs};
use drover_core::NodeRole;
use drover_node::agent::{Environment, run_in};
use drover_node::config::{Capacity, DockerSetting, Liveness, NodeConfig, Peer};
use madsim::rand::Rng;
use madsim::runtime::{Handle, NodeHandle};

use crate::executor::SimExecutor;
use crate::knobs::{Knobs, Weather};

pub const PORT: u16 = 7401;

/// Liveness settings for the simulation: short, so that disconnections,
/// replacements and reconnections all happen within a run.
pub const HEARTBEAT_TTL_MS: u64 = 5_000;
pub const DECISION_INTERVAL_MS: u64 = 2_000;

fn liveness() -> Liveness {
    Liveness {
        heartbeat_ttl: Some(format!("{HEARTBEAT_TTL_MS}ms")),
        max_disconnect: Some("20s".into()),
        failover_grace: Some("5s".into()),
        decision_interval: Some(format!("{DECISION_INTERVAL_MS}ms")),
    }
}

pub struct SimNode {
    pub id: u64,
    pub addr: SocketAddr,
    pub region: u64,
    pub disk: SimFs,
    pub handle: NodeHandle,
}

pub struct SimCluster {
    pub nodes: Vec<SimNode>,
}

fn ip(id: u64) -> IpAddr {
    IpAddr::from([10, 0, 0, u8::try_from(id).unwrap_or(250)])
}

/// What one simulated node is.
struct Shape {
    id: u64,
    role: NodeRole,
    region: u64,
    cpu_millis: u64,
}

impl SimCluster {
    /// Starts `n` hybrid nodes in one region forming one cluster.
    pub fn start(n: u64) -> Self {
        let mut knobs = Knobs::from_seed(0);
        knobs.control_nodes = n;
        knobs.workers = 0;
        knobs.control_runs_work = true;
        knobs.regions = 1;
        Self::start_with(&knobs)
    }

    /// The topology the knobs describe: voters first (hybrid, or control
    /// only), then worker-only nodes; node `i` in region `(i-1) % regions`.
    pub fn start_with(knobs: &Knobs) -> Self {
        drover_node::time::skew::clear();
        let peers: Vec<Peer> = (1..=knobs.control_nodes)
            .map(|id| Peer {
                id,
                addr: SocketAddr::new(ip(id), PORT),
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
                };
                Self::node(&shape, &peers, knobs.bugs.lying_fsync)
            })
            .collect::<Vec<SimNode>>();
        for (id, skew_ms) in &knobs.clock_skew_ms {
            if let Some(node) = nodes.iter().find(|n| n.id == *id) {
                drover_node::time::skew::set(node.handle.id(), *skew_ms);
            }
        }
        Self { nodes }
    }

    fn node(shape: &Shape, peers: &[Peer], lying_disk: bool) -> SimNode {
        let disk = if lying_disk {
            SimFs::lying()
        } else {
            SimFs::new()
        };
        let addr = SocketAddr::new(ip(shape.id), PORT);
        let config = NodeConfig {
            id: shape.id,
            name: None,
            listen: addr,
            advertise: None,
            data_dir: "/data".into(),
            role: shape.role,
            region: format!("r{}", shape.region),
            labels: BTreeMap::new(),
            pools: vec!["default".into()],
            capacity: Some(Capacity {
                cpu: (shape.cpu_millis / 1000).to_string(),
                memory: format!("{}GiB", shape.cpu_millis / 500),
                gpus: 0,
            }),
            // Workers list the control nodes; voters list all voters.
            peers: peers.to_vec(),
            liveness: liveness(),
            docker: DockerSetting::Off,
        };
        let fs = disk.clone();
        let handle = Handle::current()
            .create_node()
            .name(format!("node-{}", shape.id))
            .ip(addr.ip())
            .init(move || {
                let config = config.clone();
                let environment = Environment {
                    fs: fs.clone(),
                    executor: Some(Arc::new(Mutex::new(SimExecutor::default()))),
                };
                async move {
                    // Real machines never boot in the same instant; nodes
                    // that did would time their elections in lockstep.
                    let delay_ms = madsim::rand::thread_rng().gen_range(0..1000);
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    if let Err(e) = run_in(config, environment, std::future::pending()).await {
                        panic!("node failed: {e}");
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
        }
    }

    fn get(&self, id: u64) -> &SimNode {
        &self.nodes[usize::try_from(id - 1).unwrap_or(0)]
    }

    /// Power loss on a node: its process dies and its disk keeps only what
    /// was made durable (with a torn tail drawn from `seed`).
    pub fn crash(&self, id: u64, seed: u64) {
        let node = self.get(id);
        Handle::current().kill(node.handle.id());
        node.disk.crash(CrashMode::Torn(seed));
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

    /// Cuts a node off the network, both ways.
    pub fn partition(&self, id: u64) {
        madsim::net::NetSim::current().clog_node(self.get(id).handle.id());
    }

    /// Cuts what reaches a node; what it sends still arrives.
    pub fn deafen(&self, id: u64) {
        madsim::net::NetSim::current().clog_node_in(self.get(id).handle.id());
    }

    pub fn heal(&self, id: u64) {
        madsim::net::NetSim::current().unclog_node(self.get(id).handle.id());
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
