//! The reconciler's cases, each as a small story on a pure in-memory cluster.

mod common;

use common::{Cluster, batch, job_id, node_id, registration, service};
use drover_core::job::{Attribute, Constraint, ConstraintOp, Driver, JobKind};
use drover_core::reconcile::{JobPhase, KeepPolicy, Withheld};
use drover_core::{AllocStatus, CommandKind, DesiredStatus, NodeStatus};

#[test]
fn a_service_gets_its_replicas_on_distinct_nodes() {
    let mut c = Cluster::new();
    c.add_nodes(4, "eu", 4000, 8192);
    let mut web = service("web", 3, 500, 256);
    web.max_per_node = Some(1);
    c.submit(web);
    c.settle(5);
    assert_eq!(c.running("web"), 3);
    let nodes: std::collections::BTreeSet<_> =
        c.live("web").iter().map(|a| a.node.clone()).collect();
    assert_eq!(
        nodes.len(),
        3,
        "max_per_node = 1 puts each replica on its own node"
    );
}

#[test]
fn a_finished_batch_job_is_never_run_again() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.submit(batch("once", 100, 64));
    c.settle(3);
    assert_eq!(c.phase("once"), JobPhase::Running);
    let alloc = c.live("once")[0].clone();
    c.report(alloc.id, &alloc.node, AllocStatus::Complete, Some(0))
        .unwrap();
    assert_eq!(c.phase("once"), JobPhase::Complete);
    for _ in 0..5 {
        c.advance(60_000);
        c.settle(3);
    }
    assert_eq!(
        c.state.job_allocs(&job_id("once")).count(),
        1,
        "no second run"
    );
    // The first terminal result stands.
    assert!(
        c.report(alloc.id, &alloc.node, AllocStatus::Failed, Some(1))
            .is_err()
    );
}

#[test]
fn failures_are_rescheduled_with_exponential_backoff_until_attempts_run_out() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    let mut job = batch("flaky", 100, 64);
    job.reschedule.attempts = 2;
    job.reschedule.delay_ms = 10_000;
    job.reschedule.max_delay_ms = 60_000;
    c.submit(job);
    c.settle(3);
    let mut replaced_after = Vec::new();
    for failure in 0..3 {
        let alloc = c.live("flaky")[0].clone();
        c.report(alloc.id, &alloc.node, AllocStatus::Failed, Some(1))
            .unwrap();
        let failed_at = c.now_ms;
        let waiting_or_given_up = if failure < 2 {
            JobPhase::Pending
        } else {
            JobPhase::Failed
        };
        assert_eq!(c.phase("flaky"), waiting_or_given_up, "failure {failure}");
        while c.live("flaky").is_empty() && c.now_ms < failed_at + 200_000 {
            c.advance(1_000);
            c.settle(2);
        }
        if c.live("flaky").is_empty() {
            break;
        }
        replaced_after.push(c.now_ms - failed_at);
        assert_eq!(c.live("flaky")[0].previous, Some(alloc.id));
    }
    assert_eq!(
        replaced_after,
        [10_000, 20_000],
        "10s, then 20s, then no attempts left"
    );
    let reschedules = &c.last_cycle.reconciliation.reschedule_later;
    assert!(
        reschedules.is_empty(),
        "given up, not deferred: {reschedules:?}"
    );
    assert_eq!(c.phase("flaky"), JobPhase::Failed, "out of attempts");
}

#[test]
fn a_service_reads_running_while_a_replica_runs_and_stopped_once_stopped() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.submit(service("web", 2, 100, 64));
    c.settle(3);
    assert_eq!(c.phase("web"), JobPhase::Running);
    let alloc = c.live("web")[0].clone();
    c.report(alloc.id, &alloc.node, AllocStatus::Complete, Some(0))
        .unwrap();
    assert_eq!(
        c.phase("web"),
        JobPhase::Running,
        "a service that exits is replaced; it never completes"
    );
    c.apply(CommandKind::StopJob { job: job_id("web") })
        .unwrap();
    assert_eq!(c.phase("web"), JobPhase::Stopped);
}

#[test]
fn a_silent_node_is_disconnected_then_down_and_its_work_replaced() {
    let mut c = Cluster::new();
    c.add_nodes(5, "eu", 4000, 8192);
    let mut web = service("web", 5, 500, 256);
    web.max_per_node = Some(1);
    c.submit(web);
    c.settle(5);
    let victim = node_id("eu-2");
    c.silent.insert(victim.clone());
    c.advance(c.config.heartbeat_ttl_ms + 1);
    c.settle(5);
    assert_eq!(
        c.state.node(&victim).unwrap().status,
        NodeStatus::Disconnected
    );
    let on_victim: Vec<_> = c.state.node_allocs(&victim).collect();
    assert_eq!(
        on_victim[0].status,
        AllocStatus::Unknown,
        "unknown, not lost, while only disconnected"
    );
    // Its replacement cannot go to another node (max_per_node = 1, all full):
    // pending with a reason.
    let pending = &c.last_cycle.pending;
    assert!(
        pending[&job_id("web")]
            .iter()
            .any(|l| l.contains("max_per_node")),
        "{pending:?}"
    );
    c.advance(c.config.max_disconnect_ms);
    c.settle(5);
    assert_eq!(c.state.node(&victim).unwrap().status, NodeStatus::Down);
    assert_eq!(
        c.state.node_allocs(&victim).next().unwrap().status,
        AllocStatus::Lost
    );
}

/// nomad #10953: a returning node's healthy allocations must not be
/// restarted, and the surplus stopped only once the kept ones run.
fn reconnect(keep: KeepPolicy) -> (Cluster, drover_core::AllocId, drover_core::AllocId) {
    let mut c = Cluster::new();
    c.config.keep = keep;
    c.add_nodes(4, "eu", 4000, 8192);
    c.submit(service("web", 2, 500, 256));
    c.settle(5);
    let original = c.live("web")[0].clone();
    c.silent.insert(original.node.clone());
    c.advance(c.config.heartbeat_ttl_ms + 1);
    // Disconnect, then place the replacement, but do not let it start yet.
    c.heartbeat();
    c.cycle();
    c.cycle();
    let replacement = c
        .state
        .job_allocs(&job_id("web"))
        .find(|a| a.previous == Some(original.id))
        .expect("a replacement was placed")
        .clone();
    assert_eq!(replacement.status, AllocStatus::Pending);
    // The node returns and reports its allocation still running.
    c.silent.clear();
    c.heartbeat();
    c.report(original.id, &original.node, AllocStatus::Running, None)
        .unwrap();
    (c, original.id, replacement.id)
}

#[test]
fn a_returning_node_keeps_its_running_allocation_and_the_replacement_goes() {
    let (mut c, original, replacement) = reconnect(KeepPolicy::BestScore);
    c.cycle();
    assert_eq!(c.state.alloc(original).unwrap().desired, DesiredStatus::Run);
    assert_eq!(
        c.state.alloc(replacement).unwrap().desired,
        DesiredStatus::Stop
    );
    c.settle(5);
    assert_eq!(c.running("web"), 2);
}

#[test]
fn a_pair_waiting_on_a_silent_node_is_resolved_by_its_next_heartbeat() {
    let (mut c, original, replacement) = reconnect(KeepPolicy::BestScore);
    let node = c.state.alloc(original).unwrap().node.clone();
    // The node falls silent again before the pair is resolved, within a
    // new leader's grace, so it is not marked disconnected either.
    c.silent.insert(node);
    c.advance(c.config.heartbeat_ttl_ms + 1);
    c.leadership.since_ms = c.now_ms;
    c.cycle();
    assert_eq!(
        c.state.alloc(replacement).unwrap().desired,
        DesiredStatus::Run,
        "nothing is stopped on the word of a node not heard from lately"
    );
    // Its heartbeat changes nothing but a timestamp, yet the pair waits
    // for it: the next turn must look at the job again.
    c.silent.clear();
    c.heartbeat();
    c.cycle();
    assert_eq!(
        c.state.alloc(replacement).unwrap().desired,
        DesiredStatus::Stop
    );
    assert_eq!(c.state.alloc(original).unwrap().desired, DesiredStatus::Run);
}

#[test]
fn keeping_the_replacement_stops_the_original_only_after_the_replacement_runs() {
    let (mut c, original, replacement) = reconnect(KeepPolicy::KeepReplacement);
    c.cycle();
    assert_eq!(
        c.state.alloc(original).unwrap().desired,
        DesiredStatus::Run,
        "the kept replacement is not running yet: the original stays"
    );
    let r = c.state.alloc(replacement).unwrap().clone();
    c.report(r.id, &r.node, AllocStatus::Running, None).unwrap();
    c.cycle();
    assert_eq!(
        c.state.alloc(original).unwrap().desired,
        DesiredStatus::Stop
    );
    assert_eq!(
        c.state.alloc(replacement).unwrap().desired,
        DesiredStatus::Run
    );
}

#[test]
fn system_jobs_run_on_every_eligible_node_including_late_joiners() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 4000, 8192);
    let mut gpu_only = c.state.node(&node_id("eu-0")).unwrap().clone();
    gpu_only.labels.insert("os".into(), "windows".into());
    let mut reg = registration("odd", "eu", 4000, 8192);
    reg.labels.insert("os".into(), "windows".into());
    c.add(reg);
    let mut agent = batch("agent", 100, 64);
    agent.kind = JobKind::System;
    agent.constraints.push(Constraint {
        attribute: Attribute::Label("os".into()),
        op: ConstraintOp::NotEq("windows".into()),
    });
    c.submit(agent);
    c.settle(5);
    assert_eq!(c.running("agent"), 3, "every node but the windows one");
    c.add(registration("late", "eu", 4000, 8192));
    c.settle(5);
    assert_eq!(c.running("agent"), 4);
    assert!(
        c.state
            .node_allocs(&node_id("late"))
            .any(|a| a.job == job_id("agent"))
    );
    assert!(c.state.node_allocs(&node_id("odd")).next().is_none());
}

#[test]
fn an_eighty_percent_partition_evicts_nothing() {
    let mut c = Cluster::new();
    c.add_nodes(10, "eu", 4000, 8192);
    c.submit(service("web", 10, 500, 256));
    c.settle(5);
    for i in 0..8 {
        c.silent.insert(node_id(&format!("eu-{i}")));
    }
    for _ in 0..30 {
        c.advance(60_000);
        c.settle(3);
        assert!(c.last_cycle.reconciliation.mark_disconnected.is_empty());
    }
    assert!(c.state.nodes().all(|n| n.status == NodeStatus::Ready));
    assert!(
        c.last_cycle
            .reconciliation
            .withheld
            .iter()
            .all(|(_, why)| *why == Withheld::MassUnreachability)
    );
    assert_eq!(
        c.live("web").len(),
        10,
        "no allocation marked unknown or lost"
    );
}

#[test]
fn node_losses_are_paced_one_per_interval_per_region() {
    let mut c = Cluster::new();
    c.add_nodes(20, "eu", 4000, 8192);
    c.settle(2);
    for i in 0..3 {
        c.silent.insert(node_id(&format!("eu-{i}")));
    }
    c.advance(c.config.heartbeat_ttl_ms + 1);
    let mut marked_at = Vec::new();
    for _ in 0..400 {
        c.heartbeat();
        c.cycle();
        let now = c.now_ms;
        let newly = c.last_cycle.reconciliation.mark_disconnected.len();
        marked_at.extend(std::iter::repeat_n(now, newly));
        c.advance(1_000);
    }
    assert_eq!(marked_at.len(), 3);
    // Two down is 10% of the region: below the partial-disruption share, so
    // the normal pace holds between every decision.
    for pair in marked_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= c.config.decision_interval_ms,
            "{marked_at:?}"
        );
    }
}

#[test]
fn no_liveness_decisions_right_after_a_leader_change() {
    let mut c = Cluster::new();
    c.add_nodes(5, "eu", 4000, 8192);
    c.settle(2);
    c.silent.insert(node_id("eu-0"));
    c.advance(c.config.heartbeat_ttl_ms + 1);
    c.leadership.since_ms = c.now_ms;
    c.settle(2);
    assert_eq!(
        c.last_cycle.reconciliation.withheld,
        [(node_id("eu-0"), Withheld::LeaderGrace)]
    );
    c.advance(c.config.failover_grace_ms);
    c.settle(2);
    assert_eq!(
        c.state.node(&node_id("eu-0")).unwrap().status,
        NodeStatus::Disconnected
    );
}

#[test]
fn a_lost_region_is_replaced_elsewhere() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.add_nodes(6, "us", 4000, 8192);
    c.submit(service("web", 4, 500, 256));
    c.settle(5);
    c.silent.insert(node_id("eu-0"));
    c.silent.insert(node_id("eu-1"));
    for _ in 0..10 {
        c.advance(c.config.decision_interval_ms);
        c.settle(3);
    }
    assert!(
        c.state
            .nodes()
            .filter(|n| n.region == "eu")
            .all(|n| n.status != NodeStatus::Ready)
    );
    let running: Vec<_> = c
        .live("web")
        .into_iter()
        .filter(|a| a.status == AllocStatus::Running)
        .collect();
    assert_eq!(running.len(), 4);
    assert!(running.iter().all(|a| a.node.as_str().starts_with("us")));
}

#[test]
fn draining_moves_work_off_respecting_max_parallel() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 8000, 16_384);
    let mut web = service("web", 4, 500, 256);
    web.update.max_parallel = 1;
    c.submit(web);
    c.settle(5);
    let busiest = c
        .state
        .nodes()
        .max_by_key(|n| c.state.node_allocs(&n.id).count())
        .unwrap()
        .id
        .clone();
    let before = c.state.node_allocs(&busiest).count();
    assert!(before >= 2, "bin-packing stacks replicas: {before}");
    c.apply(CommandKind::DrainNode {
        node: busiest.clone(),
        enable: true,
    })
    .unwrap();
    let mut rounds = 0;
    while c
        .state
        .node_allocs(&busiest)
        .any(|a| a.desired == DesiredStatus::Run)
    {
        c.heartbeat();
        c.cycle();
        let migrating = c
            .live("web")
            .iter()
            .filter(|a| a.status == AllocStatus::Pending)
            .count();
        assert!(
            migrating <= 1,
            "max_parallel = 1, saw {migrating} in flight"
        );
        assert!(
            c.running("web") >= 4,
            "never below the replica count while draining"
        );
        c.workers();
        rounds += 1;
        assert!(rounds < 50);
    }
    c.settle(5);
    assert_eq!(c.running("web"), 4);
}

#[test]
fn rolling_updates_go_max_parallel_at_a_time_and_halt_on_failure() {
    let mut c = Cluster::new();
    c.add_nodes(4, "eu", 8000, 16_384);
    let mut web = service("web", 4, 500, 256);
    web.update.max_parallel = 2;
    c.submit(web.clone());
    c.settle(5);
    web.task.env.insert("V".into(), "2".into());
    c.apply(CommandKind::UpdateJob {
        spec: web.clone(),
        expected_version: Some(1),
    })
    .unwrap();
    c.heartbeat();
    c.cycle();
    let v2: Vec<_> = c
        .live("web")
        .into_iter()
        .filter(|a| a.job_version == 2)
        .cloned()
        .collect();
    assert_eq!(v2.len(), 2, "two at a time");
    // The new version fails: the rollout stops with old allocations left.
    c.report(v2[0].id, &v2[0].node, AllocStatus::Failed, Some(1))
        .unwrap();
    c.report(v2[1].id, &v2[1].node, AllocStatus::Running, None)
        .unwrap();
    c.cycle();
    c.workers();
    c.cycle();
    let old = c.live("web").iter().filter(|a| a.job_version == 1).count();
    assert_eq!(
        old, 3,
        "halted: the remaining old allocations stay, the failed one's original with them"
    );
    assert_eq!(c.running("web"), 4, "nothing was stopped for the failure");
    // A good version 3 rolls all the way.
    web.task.env.insert("V".into(), "3".into());
    c.apply(CommandKind::UpdateJob {
        spec: web,
        expected_version: Some(2),
    })
    .unwrap();
    c.settle(20);
    assert!(c.live("web").iter().all(|a| a.job_version == 3));
    assert_eq!(c.running("web"), 4);
}

#[test]
fn an_update_stops_an_old_allocation_only_once_its_replacement_runs() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 8000, 16_384);
    let mut web = service("web", 3, 500, 256);
    web.update.max_parallel = 1;
    c.submit(web.clone());
    c.settle(5);
    web.task.env.insert("V".into(), "2".into());
    c.apply(CommandKind::UpdateJob {
        spec: web,
        expected_version: Some(1),
    })
    .unwrap();
    let mut rounds = 0;
    while c.live("web").iter().any(|a| a.job_version == 1) {
        c.heartbeat();
        c.cycle();
        let stopped_now: Vec<_> = c
            .state
            .job_allocs(&job_id("web"))
            .filter(|a| a.desired == DesiredStatus::Stop && !a.status.is_terminal())
            .collect();
        for old in &stopped_now {
            let successor = c
                .state
                .job_allocs(&job_id("web"))
                .find(|a| a.previous == Some(old.id))
                .expect("a stopped old allocation has a replacement");
            assert_eq!(
                successor.status,
                AllocStatus::Running,
                "{} was stopped before its replacement {} ran",
                old.id,
                successor.id
            );
        }
        let running_or_stopping = c
            .state
            .job_allocs(&job_id("web"))
            .filter(|a| a.status == AllocStatus::Running)
            .count();
        assert!(
            running_or_stopping <= 3 + 1,
            "at most max_parallel extra instances: {running_or_stopping}"
        );
        c.workers();
        assert!(c.running("web") >= 3, "never below the replica count");
        rounds += 1;
        assert!(rounds < 50);
    }
    c.settle(5);
    assert_eq!(c.running("web"), 3);
    assert!(c.live("web").iter().all(|a| a.job_version == 2));
}

#[test]
fn stopping_a_job_stops_its_allocations() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.submit(service("web", 3, 500, 256));
    c.settle(5);
    c.apply(CommandKind::StopJob { job: job_id("web") })
        .unwrap();
    c.settle(5);
    assert!(c.live("web").is_empty());
    assert!(
        c.state
            .job_allocs(&job_id("web"))
            .all(|a| a.status == AllocStatus::Stopped)
    );
}

#[test]
fn a_pending_job_says_why() {
    let mut c = Cluster::new();
    c.add_nodes(12, "eu", 4000, 1024);
    let mut reg = registration("us-0", "us", 4000, 8192);
    reg.labels.insert("disk".into(), "hdd".into());
    c.add(reg);
    let mut big = service("big", 1, 500, 2048);
    big.constraints.push(Constraint {
        attribute: Attribute::Region,
        op: ConstraintOp::Eq("eu".into()),
    });
    c.submit(big);
    c.settle(3);
    let why = &c.last_cycle.pending[&job_id("big")];
    assert_eq!(
        why,
        &[
            "12 nodes: not enough memory (need 2048 MiB, best has 1024)".to_string(),
            "1 node: constraint node.region = eu".to_string(),
        ]
    );
}

#[test]
fn work_goes_only_where_its_driver_is() {
    let mut c = Cluster::new();
    for i in 0..4 {
        let mut reg = registration(&format!("exec-only-{i}"), "eu", 4000, 8192);
        reg.drivers = [Driver::Exec].into();
        c.add(reg);
    }
    c.add(registration("both", "eu", 4000, 8192));
    let in_docker = |mut spec: drover_core::JobSpec| {
        spec.task.driver = Driver::Docker;
        spec.task.image = Some("busybox:latest".into());
        spec
    };
    c.submit(in_docker(service("web", 3, 500, 256)));
    c.settle(3);
    let nodes: Vec<&str> = c.live("web").iter().map(|a| a.node.as_str()).collect();
    assert_eq!(nodes, ["both", "both", "both"]);

    let mut none = in_docker(service("none", 1, 500, 256));
    none.constraints.push(Constraint {
        attribute: Attribute::NodeId,
        op: ConstraintOp::NotEq("both".into()),
    });
    c.submit(none);
    c.settle(3);
    assert_eq!(
        c.last_cycle.pending[&job_id("none")],
        [
            "4 nodes: no docker driver".to_string(),
            "1 node: constraint node.id != both".to_string(),
        ]
    );
}

#[test]
fn a_stale_plan_applies_what_still_holds() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 1000, 1024);
    c.submit(service("web", 2, 600, 256));
    let cycle = drover_core::reconcile::plan_cycle(
        &c.state,
        c.now_ms,
        &c.config,
        c.leadership,
        c.scheduler,
    );
    // Meanwhile one of the planned nodes starts draining.
    c.apply(CommandKind::DrainNode {
        node: node_id("eu-0"),
        enable: true,
    })
    .unwrap();
    let plan = cycle.commands.into_iter().last().unwrap();
    let Ok(drover_core::state::Success::Plan(result)) = c.apply(plan) else {
        panic!("a plan applies")
    };
    assert_eq!(result.placed.len(), 1);
    assert_eq!(result.placements_refused.len(), 1);
    assert_eq!(
        result.placements_refused[0].1,
        drover_core::state::PlanRefusal::NodeNotAcceptingWork
    );
}

/// Two leaders planning from the same state (the old one's plan committed
/// late) must not both place the job: the second plan is stale.
#[test]
fn a_plan_made_before_another_placed_the_job_is_refused() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 4000, 8192);
    c.submit(batch("once", 100, 64));
    let old_leader = drover_core::reconcile::plan_cycle(
        &c.state,
        c.now_ms,
        &c.config,
        c.leadership,
        c.scheduler,
    );
    let new_leader = drover_core::reconcile::plan_cycle(
        &c.state,
        c.now_ms,
        &c.config,
        c.leadership,
        c.scheduler,
    );
    for plan in [old_leader, new_leader]
        .into_iter()
        .filter_map(|cycle| cycle.commands.into_iter().last())
    {
        let _ = c.apply(plan);
    }
    assert_eq!(
        c.state.job_allocs(&job_id("once")).count(),
        1,
        "placed once"
    );
}

/// A job submitted before any node registered says why it waits: with
/// no node to pass over there was no rejection to count, and the reason
/// list was empty.
#[test]
fn a_job_with_no_node_to_look_at_says_so() {
    let mut c = Cluster::new();
    c.submit(service("web", 1, 100, 64));
    c.cycle();
    assert_eq!(
        c.last_cycle.pending[&job_id("web")],
        ["no node has registered yet"]
    );
    let mut other_pool = service("batchy", 1, 100, 64);
    other_pool.pool = "gpu".into();
    c.add_nodes(1, "eu", 4000, 8192);
    c.submit(other_pool);
    c.cycle();
    assert_eq!(
        c.last_cycle.pending[&job_id("batchy")],
        ["1 node: not in pool gpu"]
    );
}

/// `[update] min_healthy_time`: an old instance is stopped only once its
/// replacement has run that long; the leader looks again when it has.
#[test]
fn an_update_waits_min_healthy_time_before_stopping_the_old_instance() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 8000, 16_384);
    let mut web = service("web", 1, 500, 256);
    web.ext.update.min_healthy_time_ms = 10_000;
    c.submit(web.clone());
    c.settle(5);
    web.task.env.insert("V".into(), "2".into());
    c.apply(CommandKind::UpdateJob {
        spec: web,
        expected_version: Some(1),
    })
    .unwrap();
    c.settle(5);
    let versions = |c: &Cluster| {
        let mut v: Vec<u64> = c.live("web").iter().map(|a| a.job_version).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        versions(&c),
        vec![1, 2],
        "both run while the new one proves itself"
    );
    assert!(
        c.last_cycle
            .reconciliation
            .wake_at_ms
            .is_some_and(|at| at <= c.now_ms + 10_000),
        "the leader looks again when min_healthy_time has passed"
    );
    c.advance(9_000);
    c.settle(5);
    assert_eq!(versions(&c), vec![1, 2]);
    c.advance(1_000);
    c.settle(5);
    assert_eq!(versions(&c), vec![2], "replaced once healthy for 10s");
}

/// Three instances of a service with a port, updated to a version with a
/// tcp check (`healthy_deadline` 30 s), `max_parallel` at a time.
fn updated_to_a_checked_version(max_parallel: u32) -> Cluster {
    use drover_core::health::{CheckKind, CheckSpec};
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 8000, 16_384);
    let mut web = service("web", 3, 500, 256);
    web.update.max_parallel = max_parallel;
    web.ext.ports = vec![drover_core::ports::PortAsk {
        label: "http".into(),
        fixed: None,
        to: None,
    }];
    web.ext.update.healthy_deadline_ms = 30_000;
    c.submit(web.clone());
    c.settle(5);
    web.ext.checks = vec![CheckSpec {
        kind: CheckKind::Tcp {
            port: "http".into(),
        },
        interval_ms: 1000,
        timeout_ms: 1000,
        grace_ms: 0,
        restart_after: None,
    }];
    c.apply(CommandKind::UpdateJob {
        spec: web,
        expected_version: Some(1),
    })
    .unwrap();
    c
}

/// A new version whose checks never pass is not rolled further than
/// `max_parallel`, and halts past `healthy_deadline` with every old
/// instance running.
#[test]
fn an_update_whose_checks_never_pass_halts_with_the_old_instances_running() {
    use drover_core::health::{HealthReport, HealthStatus};
    let mut c = updated_to_a_checked_version(1);
    for _ in 0..8 {
        c.settle(5);
        let new: Vec<(drover_core::AllocId, drover_core::NodeId)> = c
            .live("web")
            .iter()
            .filter(|a| a.job_version == 2 && a.ext.health.is_none())
            .map(|a| (a.id, a.node.clone()))
            .collect();
        for (alloc, node) in new {
            c.apply(CommandKind::AllocHealth(HealthReport {
                alloc,
                node,
                status: HealthStatus::Unhealthy,
                check: "tcp on http".into(),
                output: "connection refused".into(),
            }))
            .unwrap();
        }
        c.advance(10_000);
    }
    let live = c.live("web");
    let old = live.iter().filter(|a| a.job_version == 1).count();
    let new = live.iter().filter(|a| a.job_version == 2).count();
    assert_eq!((old, new), (3, 1), "one replacement, halted: {live:?}");
    let halted = drover_core::reconcile::readiness(
        &c.state,
        live.iter().find(|a| a.job_version == 2).unwrap(),
        c.state.job(&job_id("web")).unwrap().spec.ext.update,
        c.now_ms,
    );
    assert!(
        matches!(&halted, drover_core::reconcile::Readiness::Failed(why) if why.contains("not healthy within healthy_deadline 30s") && why.contains("connection refused")),
        "{halted:?}"
    );
}

/// Past `healthy_deadline`, a new instance that never became healthy
/// halts the rollout even where `max_parallel` leaves room: the budget
/// another replacement frees places nothing.
#[test]
fn a_replacement_unhealthy_past_its_deadline_halts_the_rollout() {
    use drover_core::health::{HealthReport, HealthStatus};
    let mut c = updated_to_a_checked_version(2);
    c.settle(5);
    let new: Vec<(drover_core::AllocId, drover_core::NodeId)> = c
        .live("web")
        .iter()
        .filter(|a| a.job_version == 2)
        .map(|a| (a.id, a.node.clone()))
        .collect();
    assert_eq!(new.len(), 2, "max_parallel replacements");
    let health =
        |c: &mut Cluster, (alloc, node): &(drover_core::AllocId, drover_core::NodeId), status| {
            c.apply(CommandKind::AllocHealth(HealthReport {
                alloc: *alloc,
                node: node.clone(),
                status,
                check: "tcp on http".into(),
                output: String::new(),
            }))
            .unwrap();
        };
    health(&mut c, &new[0], HealthStatus::Unhealthy);
    c.advance(40_000);
    c.settle(5);
    health(&mut c, &new[1], HealthStatus::Healthy);
    c.settle(5);
    let live = c.live("web");
    let versions: Vec<u64> = live.iter().map(|a| a.job_version).collect();
    assert_eq!(
        versions.iter().filter(|v| **v == 2).count(),
        2,
        "no third replacement once halted: {versions:?}"
    );
    assert_eq!(
        versions.iter().filter(|v| **v == 1).count(),
        2,
        "{versions:?}"
    );
}

/// "Healthy since" is when the status last changed: a new output under
/// the same status does not move it.
#[test]
fn a_new_output_under_the_same_health_keeps_its_since() {
    use drover_core::health::{HealthReport, HealthStatus};
    let mut c = updated_to_a_checked_version(1);
    c.settle(5);
    let (alloc, node) = c
        .live("web")
        .iter()
        .find(|a| a.job_version == 2)
        .map(|a| (a.id, a.node.clone()))
        .unwrap();
    let report = |c: &mut Cluster, status, output: &str| {
        c.apply(CommandKind::AllocHealth(HealthReport {
            alloc,
            node: node.clone(),
            status,
            check: "tcp on http".into(),
            output: output.into(),
        }))
        .unwrap();
        c.state.alloc(alloc).unwrap().ext.health.clone().unwrap()
    };
    let first = report(&mut c, HealthStatus::Healthy, "connected");
    c.advance(5_000);
    let again = report(&mut c, HealthStatus::Healthy, "connected again");
    assert_eq!(again.since_ms, first.since_ms);
    assert_eq!(again.output, "connected again");
    c.advance(5_000);
    let changed = report(&mut c, HealthStatus::Unhealthy, "refused");
    assert_eq!(changed.since_ms, first.since_ms + 10_000);
}
