//! Ports as a scheduled resource, through the state machine and the
//! leader's turns: each allocation holds distinct ports on its node, a
//! static port lands at most once per node, and a port is free again only
//! once the allocation holding it has ended.

mod common;

use std::collections::BTreeSet;

use common::{Cluster, service};
use drover_core::ports::PortAsk;
use drover_core::{AllocStatus, DesiredStatus};

fn with_ports(
    mut spec: drover_core::JobSpec,
    asks: &[(&str, Option<u16>)],
) -> drover_core::JobSpec {
    spec.ext.ports = asks
        .iter()
        .map(|(label, fixed)| PortAsk {
            label: (*label).into(),
            fixed: *fixed,
            to: None,
        })
        .collect();
    spec
}

/// (node, port) of every allocation whose task may be listening now:
/// every one not yet terminal, whatever was decided for it.
fn held(cluster: &Cluster) -> Vec<(String, u16)> {
    cluster
        .state
        .allocs()
        .filter(|a| !a.status.is_terminal())
        .flat_map(|a| a.ext.ports.iter().map(|p| (a.node.to_string(), p.port)))
        .collect()
}

fn assert_no_port_held_twice(cluster: &Cluster) {
    let held = held(cluster);
    let distinct: BTreeSet<&(String, u16)> = held.iter().collect();
    assert_eq!(
        distinct.len(),
        held.len(),
        "a port held twice on a node: {held:?}"
    );
}

#[test]
fn dynamic_ports_are_distinct_on_each_node() {
    let mut cluster = Cluster::new();
    cluster.add_nodes(2, "eu", 4000, 4096);
    cluster.submit(with_ports(
        service("web", 5, 100, 64),
        &[("http", None), ("admin", None)],
    ));
    cluster.settle(10);
    assert_eq!(cluster.running("web"), 5);
    assert_eq!(held(&cluster).len(), 10);
    assert_no_port_held_twice(&cluster);
    for alloc in cluster.live("web") {
        let labels: Vec<&str> = alloc.ext.ports.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["http", "admin"]);
        assert!(
            alloc
                .ext
                .ports
                .iter()
                .all(|p| (20_000..=32_000).contains(&p.port))
        );
    }
}

#[test]
fn a_static_port_lands_once_per_node_and_says_why_not_more() {
    let mut cluster = Cluster::new();
    cluster.add_nodes(2, "eu", 4000, 4096);
    cluster.submit(with_ports(
        service("dns", 3, 100, 64),
        &[("dns", Some(5353))],
    ));
    cluster.settle(10);
    assert_eq!(
        cluster.running("dns"),
        2,
        "one per node: the third has nowhere to go"
    );
    assert_no_port_held_twice(&cluster);
    // Another job asking the same port finds every node taken.
    cluster.submit(with_ports(
        service("other", 1, 100, 64),
        &[("p", Some(5353))],
    ));
    cluster.settle(10);
    assert_eq!(cluster.running("other"), 0);
    assert_no_port_held_twice(&cluster);
    let doc = format!("{:?}", cluster.last_cycle);
    assert!(doc.contains("Port"), "the rejection is named: {doc}");
}

#[test]
fn a_port_is_free_again_only_once_its_allocation_has_ended() {
    let mut cluster = Cluster::new();
    cluster.add_nodes(1, "eu", 4000, 4096);
    cluster.submit(with_ports(service("a", 1, 100, 64), &[("p", Some(7000))]));
    cluster.settle(10);
    assert_eq!(cluster.running("a"), 1);
    let first = cluster.live("a")[0].id;
    // Stopped, but its task has not exited yet: the port is still held.
    cluster
        .apply(drover_core::CommandKind::StopJob {
            job: common::job_id("a"),
        })
        .expect("stops");
    cluster.submit(with_ports(service("b", 1, 100, 64), &[("p", Some(7000))]));
    // Turns pass (the stop is decided in the first); the worker has not
    // carried the stop out yet.
    for _ in 0..3 {
        cluster.heartbeat();
        cluster.cycle();
    }
    let stopping = cluster.state.alloc(first).expect("kept");
    assert_eq!(stopping.desired, DesiredStatus::Stop);
    assert!(!stopping.status.is_terminal());
    assert!(
        cluster.live("b").is_empty(),
        "b placed while a still listens"
    );
    assert_no_port_held_twice(&cluster);
    // The worker reports the task ended: now b gets the port.
    let node = stopping.node.clone();
    cluster
        .report(first, &node, AllocStatus::Stopped, None)
        .expect("reported");
    cluster.settle(10);
    assert_eq!(cluster.running("b"), 1);
    assert_eq!(cluster.live("b")[0].ext.ports[0].port, 7000);
    assert_no_port_held_twice(&cluster);
}

/// Snapshots keep the ports allocations hold; a format 5 snapshot
/// (written before allocations had them) restores with none.
#[test]
fn snapshots_keep_ports_and_older_ones_restore_without() {
    let mut cluster = Cluster::new();
    cluster.add_nodes(1, "eu", 4000, 4096);
    cluster.submit(with_ports(service("web", 2, 100, 64), &[("http", None)]));
    cluster.settle(10);
    let state = &cluster.state;
    let restored = drover_core::ClusterState::restore(&state.snapshot()).expect("format 8");
    assert_eq!(&restored, state);
    assert_eq!(held(&cluster).len(), 2);
    let state = &state.without_deployments();

    let v5 = drover_core::state::relabelled(
        &drover_core::extensions::decoding_plain_allocs(|| state.snapshot()),
        5,
    );
    let old = drover_core::ClusterState::restore(&v5).expect("format 5 restores");
    assert!(old.allocs().all(|a| a.ext.ports.is_empty()));
    assert_eq!(old.allocs().count(), state.allocs().count());

    let mislabelled = drover_core::state::relabelled(&state.snapshot(), 5);
    assert!(
        drover_core::ClusterState::restore(&mislabelled).is_err(),
        "current bytes read as format 5 must fail, not misread"
    );
}

/// Nodes registered at one host (`drover dev`'s three on loopback) share
/// its ports: two instances on two such nodes never get one number.
#[test]
fn nodes_on_one_host_share_its_ports() {
    let mut cluster = Cluster::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let mut reg = common::registration(name, "eu", 4000, 4096);
        reg.address = format!("127.0.0.1:{}", 7401 + i);
        cluster.add(reg);
    }
    cluster.submit(with_ports(service("web", 3, 100, 64), &[("http", None)]));
    cluster.settle(10);
    assert_eq!(cluster.running("web"), 3);
    let ports: BTreeSet<u16> = held(&cluster).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        ports.len(),
        3,
        "one host, three distinct ports: {:?}",
        held(&cluster)
    );
}

/// A node announcing `ports.dynamic` hands out dynamic ports from that
/// range only; when it is spent, a placement there is refused.
#[test]
fn dynamic_ports_come_from_the_node_range() {
    let mut cluster = Cluster::new();
    let mut reg = common::registration("small", "eu", 4000, 4096);
    reg.labels
        .insert(drover_core::ports::RANGE_LABEL.into(), "30000-30001".into());
    cluster.add(reg);
    cluster.submit(with_ports(service("web", 3, 100, 64), &[("http", None)]));
    cluster.settle(10);
    let mut ports: Vec<u16> = held(&cluster).into_iter().map(|(_, p)| p).collect();
    ports.sort_unstable();
    assert_eq!(ports, [30_000, 30_001]);
    assert_eq!(cluster.running("web"), 2);
    assert_no_port_held_twice(&cluster);
    let pending = &cluster.last_cycle.pending[&drover_core::JobId::new("web").unwrap()];
    assert_eq!(
        pending,
        &["1 node: every port of its dynamic range is held"],
        "the scheduler knows, rather than apply refusing each pass"
    );
}
