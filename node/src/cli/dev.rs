//! `drover dev`: a 3-node hybrid cluster on loopback, in one process, with
//! temporary data directories removed on exit; with `--regions N`, N such
//! clusters, one per region (`dev-1`, `dev-2`, …), federated.

use std::path::PathBuf;

use clap::Args;
use drover_node::config::{NodeConfig, Peer, RegionPeer};

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The first node's port; the others take the next ones.
    #[arg(long, default_value_t = 7401)]
    port: u16,
    /// The first node's REST API port; the others take the next ones.
    #[arg(long, default_value_t = 8081)]
    http_port: u16,
    /// How many nodes (an odd number keeps a clear majority), per region.
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// How many regions, each a cluster of `--nodes` of its own named
    /// `dev-1`, `dev-2`, …; one region is named `dev`.
    #[arg(long, default_value_t = 1)]
    regions: u16,
    /// Keep data here instead of a temporary directory (not removed).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `text` (colour only on a terminal) or `json` (one object a line).
    #[arg(long, value_enum, default_value_t = drover_node::logs::LogFormat::Text)]
    log_format: drover_node::logs::LogFormat,
}

pub async fn run(args: DevArgs) -> Result<(), String> {
    drover_node::logs::init(args.log_format);
    let temporary = args.data_dir.is_none();
    let regions = layout(&args);
    let root = args
        .data_dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("drover-dev-{}", std::process::id())));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut nodes = Vec::new();
    let mut executors = Vec::new();
    for (region, peers, first) in &regions {
        let federation: Vec<RegionPeer> = regions
            .iter()
            .filter(|(other, _, _)| other != region)
            .map(|(other, peers, _)| RegionPeer {
                region: other.clone(),
                addrs: peers.iter().map(|p| p.addr).collect(),
            })
            .collect();
        for peer in peers {
            let offset = first + u16::try_from(peer.id - 1).unwrap_or(0);
            let data_dir = if regions.len() == 1 {
                root.join(format!("node-{}", peer.id))
            } else {
                root.join(region).join(format!("node-{}", peer.id))
            };
            let config = NodeConfig {
                id: peer.id,
                name: None,
                listen: peer.addr,
                advertise: None,
                http: Some(([127, 0, 0, 1], args.http_port + offset).into()),
                dns: None,
                data_dir,
                role: drover_core::NodeRole::Hybrid,
                region: region.clone(),
                labels: std::collections::BTreeMap::new(),
                pools: vec!["default".into()],
                capacity: None,
                peers: peers.clone(),
                join: Vec::new(),
                liveness: drover_node::config::Liveness::default(),
                gc: drover_node::config::Gc::default(),
                docker: drover_node::config::DockerSetting::default(),
                snapshot_every: None,
                raft: drover_node::config::RaftTiming::default(),
                tls: None,
                exec: drover_node::config::ExecSetting::On,
                acl: drover_node::config::AclConfig::default(),
                federation: federation.clone(),
                volumes: Vec::new(),
                ports: drover_node::config::PortsConfig::default(),
            };
            let mut stop = stop_rx.clone();
            let environment = drover_node::agent::Environment::machine(&config).await?;
            executors.extend(environment.executor.clone());
            nodes.push(tokio::spawn(drover_node::agent::run_in(
                config,
                environment,
                async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                },
            )));
        }
    }
    banner(&regions, args.http_port, &root, temporary);
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping");
    let _ = stop_tx.send(true);
    let mut failures = Vec::new();
    for node in nodes {
        match node.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    // The cluster ends for good: nothing it started may outlive it (its
    // data, which would let a later agent adopt them, is about to go).
    let (mut tasks, mut left) = (0, 0);
    for executor in &executors {
        let (had, still) =
            drover_node::agent::stop_every_task(executor, std::time::Duration::from_secs(5)).await;
        tasks += had;
        left += still;
    }
    println!("stopped {tasks} task(s) the cluster ran");
    if left > 0 {
        failures.push(format!(
            "{left} task(s) did not stop; their data is kept in {}",
            root.display()
        ));
    } else if temporary {
        let _ = std::fs::remove_dir_all(&root);
    }
    if failures.is_empty() {
        println!("stopped");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Each region's name, its voters, and the offset of its first node's
/// ports from `--port` and `--http-port`.
fn layout(args: &DevArgs) -> Vec<(String, Vec<Peer>, u16)> {
    (0..args.regions.max(1))
        .map(|r| {
            let name = if args.regions <= 1 {
                "dev".to_string()
            } else {
                format!("dev-{}", r + 1)
            };
            let first = r * args.nodes;
            let peers = (0..args.nodes)
                .map(|i| Peer {
                    id: u64::from(i) + 1,
                    addr: ([127, 0, 0, 1], args.port + first + i).into(),
                })
                .collect();
            (name, peers, first)
        })
        .collect()
}

/// What the cluster is and how to reach it.
fn banner(
    regions: &[(String, Vec<Peer>, u16)],
    http_port: u16,
    root: &std::path::Path,
    temporary: bool,
) {
    for (region, peers, first) in regions {
        let addrs: Vec<String> = peers.iter().map(|p| p.addr.to_string()).collect();
        println!(
            "drover dev: region {region}: {} nodes at {} (data in {})",
            peers.len(),
            addrs.join(", "),
            root.display()
        );
        println!(
            "REST API: {}",
            (0..u16::try_from(peers.len()).unwrap_or(u16::MAX))
                .map(|i| format!("http://127.0.0.1:{}", http_port + first + i))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let addrs: Vec<String> = regions[0].1.iter().map(|p| p.addr.to_string()).collect();
    println!("e.g. curl http://127.0.0.1:{http_port}/v1/jobs");
    println!(
        "dashboard: http://127.0.0.1:{http_port}/ui   metrics: http://127.0.0.1:{http_port}/metrics"
    );
    println!(
        "try: drover job run examples/batch.toml   (DROVER_ADDR={})",
        addrs[0]
    );
    println!(
        "Ctrl-C stops the cluster{}",
        if temporary {
            " and removes its data"
        } else {
            ""
        }
    );
}
