//! Garbage collection over a whole pure cluster: finished work is
//! forgotten after its retention, live work never is, and a node forgotten
//! after a day down leaves the scheduler placing as before.

mod common;

use common::{Cluster, batch, job_id, node_id, registration, service};
use drover_core::gc::{self, GcPolicy};
use drover_core::state::Success;
use drover_core::{AllocStatus, CommandKind, NodeStatus};

const MINUTE: u64 = 60_000;

fn collect(c: &mut Cluster, policy: &GcPolicy) -> Option<Success> {
    let found = gc::find(&c.state, c.now_ms, policy, 10_000)?;
    Some(
        c.apply(CommandKind::CollectGarbage(found))
            .expect("applies"),
    )
}

fn finish_all(c: &mut Cluster, job: &str) {
    for alloc in c
        .live(job)
        .iter()
        .map(|a| (a.id, a.node.clone()))
        .collect::<Vec<_>>()
    {
        c.report(alloc.0, &alloc.1, AllocStatus::Complete, Some(0))
            .unwrap();
    }
}

#[test]
fn a_finished_batch_job_is_forgotten_after_its_retention_and_not_before() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    let policy = GcPolicy {
        job_retention_ms: 10 * MINUTE,
        ..GcPolicy::default()
    };
    c.submit(batch("once", 100, 64));
    c.settle(3);
    assert_eq!(collect(&mut c, &policy), None, "running work stays");
    finish_all(&mut c, "once");
    c.advance(10 * MINUTE - 1);
    assert_eq!(collect(&mut c, &policy), None, "one ms short of retention");
    c.advance(1);
    assert_eq!(
        collect(&mut c, &policy),
        Some(Success::Collected {
            jobs: 1,
            allocs: 1,
            nodes: 0,
            keys: 0
        })
    );
    assert!(c.state.job(&job_id("once")).is_none());
    assert_eq!(c.state.allocs().count(), 0);
    // The id is free again: a new submission is version 1 of a new job.
    c.submit(batch("once", 100, 64));
    assert_eq!(c.state.job(&job_id("once")).unwrap().spec.version, 1);
}

#[test]
fn a_service_keeps_its_live_allocations_and_newest_failures_and_forgets_older_ones() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    let mut web = service("web", 1, 100, 64);
    web.reschedule.attempts = 100;
    c.submit(web);
    c.settle(3);
    for _ in 0..8 {
        let live = c.live("web")[0].clone();
        c.report(live.id, &live.node, AllocStatus::Failed, Some(1))
            .unwrap();
        c.advance(30 * MINUTE);
        c.settle(3);
    }
    assert_eq!(c.state.job_allocs(&job_id("web")).count(), 9);
    let policy = GcPolicy {
        alloc_retention_ms: 5 * MINUTE,
        keep_allocs: 3,
        ..GcPolicy::default()
    };
    let Some(Success::Collected { jobs, allocs, .. }) = collect(&mut c, &policy) else {
        panic!("old failures are collectable");
    };
    assert_eq!((jobs, allocs), (0, 5), "8 failures, the newest 3 kept");
    let left: Vec<AllocStatus> = c
        .state
        .job_allocs(&job_id("web"))
        .map(|a| a.status)
        .collect();
    assert_eq!(
        left,
        [
            AllocStatus::Failed,
            AllocStatus::Failed,
            AllocStatus::Failed,
            AllocStatus::Running
        ]
    );
    // Nothing the reconciler reads went: no second instance appears.
    c.advance(MINUTE);
    c.settle(5);
    assert_eq!(c.live("web").len(), 1);
    assert_eq!(c.running("web"), 1);
}

#[test]
fn a_stopped_service_is_forgotten_once_its_allocations_ended() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.submit(service("web", 2, 100, 64));
    c.settle(3);
    c.apply(CommandKind::StopJob { job: job_id("web") })
        .unwrap();
    let policy = GcPolicy {
        job_retention_ms: MINUTE,
        ..GcPolicy::default()
    };
    c.advance(2 * MINUTE);
    assert_eq!(
        collect(&mut c, &policy),
        None,
        "its allocations are still being stopped"
    );
    c.settle(3);
    c.advance(2 * MINUTE);
    assert!(matches!(
        collect(&mut c, &policy),
        Some(Success::Collected {
            jobs: 1,
            allocs: 2,
            ..
        })
    ));
}

#[test]
fn a_node_down_for_its_retention_is_forgotten_and_placement_goes_on() {
    let mut c = Cluster::new();
    c.add_nodes(5, "eu", 4000, 8192);
    let victim = node_id("eu-0");
    c.silent.insert(victim.clone());
    c.advance(c.config.heartbeat_ttl_ms + 1);
    c.settle(5);
    c.advance(c.config.max_disconnect_ms);
    c.settle(5);
    assert_eq!(c.state.node(&victim).unwrap().status, NodeStatus::Down);
    let policy = GcPolicy {
        node_retention_ms: 60 * MINUTE,
        ..GcPolicy::default()
    };
    assert_eq!(collect(&mut c, &policy), None, "down for less than an hour");
    c.advance(60 * MINUTE);
    assert_eq!(
        collect(&mut c, &policy),
        Some(Success::Collected {
            jobs: 0,
            allocs: 0,
            nodes: 1,
            keys: 0
        })
    );
    assert!(c.state.node(&victim).is_none());
    assert_eq!(c.state.node_count(), 4);
    // The slots left were renumbered; placement reads them right.
    let mut web = service("web", 4, 3000, 64);
    web.max_per_node = Some(1);
    c.submit(web);
    c.settle(5);
    let nodes: Vec<String> = c.live("web").iter().map(|a| a.node.to_string()).collect();
    assert_eq!(nodes.len(), 4);
    assert!(!nodes.contains(&"eu-0".to_string()), "{nodes:?}");
    for node in ["eu-1", "eu-2", "eu-3", "eu-4"] {
        assert_eq!(c.state.node_used(&node_id(node)).cpu_millis, 3000);
    }
    // It comes back: registering again makes it a node like any other.
    c.silent.remove(&victim);
    c.add(registration("eu-0", "eu", 4000, 8192));
    assert_eq!(c.state.node(&victim).unwrap().status, NodeStatus::Ready);
}
