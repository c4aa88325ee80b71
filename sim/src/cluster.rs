//! A simulated cluster: control nodes on madsim hosts, each with its own
//! simulated disk that survives crashes (minus what was not fsynced).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_adapters::disk::{CrashMode, SimFs};
use drover_node::agent::{Environment, run_in};
use drover_node::config::{Capacity, Liveness, NodeConfig, Peer};
use madsim::rand::Rng;
use madsim::runtime::{Handle, NodeHandle};

use crate::executor::SimExecutor;

pub const PORT: u16 = 7401;

pub struct SimNode {
    pub id: u64,
    pub addr: SocketAddr,
    pub disk: SimFs,
    pub handle: NodeHandle,
}

pub struct SimCluster {
    pub nodes: Vec<SimNode>,
}

fn ip(id: u64) -> IpAddr {
    IpAddr::from([10, 0, 0, u8::try_from(id).unwrap_or(250)])
}

impl SimCluster {
    /// Starts `n` hybrid nodes forming one cluster.
    pub fn start(n: u64) -> Self {
        Self::start_with(n, false)
    }

    /// As [`SimCluster::start`]; with `lying_disks`, fsync does nothing.
    pub fn start_with(n: u64, lying_disks: bool) -> Self {
        let handle = Handle::current();
        let peers: Vec<Peer> = (1..=n)
            .map(|id| Peer {
                id,
                addr: SocketAddr::new(ip(id), PORT),
            })
            .collect();
        let nodes = peers
            .iter()
            .map(|peer| {
                let disk = if lying_disks {
                    SimFs::lying()
                } else {
                    SimFs::new()
                };
                let config = NodeConfig {
                    id: peer.id,
                    name: None,
                    listen: peer.addr,
                    advertise: None,
                    data_dir: "/data".into(),
                    role: drover_core::NodeRole::Hybrid,
                    region: "sim".into(),
                    labels: BTreeMap::new(),
                    pools: vec!["default".into()],
                    capacity: Some(Capacity {
                        cpu: "8".into(),
                        memory: "16GiB".into(),
                        gpus: 0,
                    }),
                    peers: peers.clone(),
                    liveness: Liveness::default(),
                    docker: drover_node::config::DockerSetting::Off,
                };
                let fs = disk.clone();
                let node = handle
                    .create_node()
                    .name(format!("node-{}", peer.id))
                    .ip(peer.addr.ip())
                    .init(move || {
                        let config = config.clone();
                        let environment = Environment {
                            fs: fs.clone(),
                            executor: Some(Arc::new(Mutex::new(SimExecutor::default()))),
                        };
                        async move {
                            // Real machines never boot in the same
                            // instant; nodes that did would time their
                            // elections in lockstep.
                            let delay_ms = madsim::rand::thread_rng().gen_range(0..1000);
                            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                            if let Err(e) =
                                run_in(config, environment, std::future::pending()).await
                            {
                                panic!("node failed: {e}");
                            }
                        }
                    })
                    .build();
                SimNode {
                    id: peer.id,
                    addr: peer.addr,
                    disk,
                    handle: node,
                }
            })
            .collect();
        Self { nodes }
    }

    /// Power loss on a node: its process dies and its disk keeps only what
    /// was made durable (with a torn tail drawn from `seed`).
    pub fn crash(&self, id: u64, seed: u64) {
        let node = &self.nodes[usize::try_from(id - 1).unwrap_or(0)];
        Handle::current().kill(node.handle.id());
        node.disk.crash(CrashMode::Torn(seed));
    }

    pub fn restart(&self, id: u64) {
        let node = &self.nodes[usize::try_from(id - 1).unwrap_or(0)];
        Handle::current().restart(node.handle.id());
    }

    /// Cuts a node off the network, both ways.
    pub fn partition(&self, id: u64) {
        let node = &self.nodes[usize::try_from(id - 1).unwrap_or(0)];
        madsim::net::NetSim::current().clog_node(node.handle.id());
    }

    pub fn heal(&self, id: u64) {
        let node = &self.nodes[usize::try_from(id - 1).unwrap_or(0)];
        madsim::net::NetSim::current().unclog_node(node.handle.id());
    }

    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }
}
