//! Local data that migrates (`[ephemeral_disk] migrate`): an instance is
//! stopped in the same plan that places its replacement, which names it;
//! the replacement waits for it to end and then copies its data from its
//! node, or starts empty when that node cannot be asked; a rollout still
//! goes one proven instance at a time.

mod common;

use common::{Cluster, job_id, service};
use drover_core::migrate::{DataFrom, data_from};
use drover_core::worker::{Action, Assignment, PollReply, WorkerMachine};
use drover_core::{AllocId, AllocStatus, Allocation, CommandKind, DesiredStatus, JobSpec, NodeId};

fn keeper(replicas: u32) -> JobSpec {
    let mut spec = service("keeper", replicas, 500, 256);
    spec.ext.ephemeral_disk.migrate = true;
    spec.max_per_node = Some(1);
    spec
}

fn allocs(c: &Cluster) -> Vec<Allocation> {
    c.state.job_allocs(&job_id("keeper")).cloned().collect()
}

fn update(c: &mut Cluster, mut spec: JobSpec) {
    spec.task.env.insert("V".into(), "2".into());
    c.apply(CommandKind::UpdateJob {
        spec,
        expected_version: Some(1),
    })
    .expect("the update applies");
}

/// The replacements placed by the last turn, with the allocation each
/// replaces.
fn placed_last(c: &Cluster, before: &[Allocation]) -> Vec<(AllocId, AllocId)> {
    let known: Vec<AllocId> = before.iter().map(|a| a.id).collect();
    allocs(c)
        .into_iter()
        .filter(|a| !known.contains(&a.id))
        .map(|a| {
            (
                a.id,
                a.previous.expect("a replacement names what it replaces"),
            )
        })
        .collect()
}

/// Reports on the allocations of reachable nodes as their workers would,
/// except that a replacement whose data comes from an allocation still
/// stopping waits for it, as the worker does.
fn workers_waiting_for_data(c: &mut Cluster) {
    let due: Vec<(AllocId, NodeId, AllocStatus)> = c
        .state
        .allocs()
        .filter_map(|a| {
            let next = match (a.desired, a.status) {
                (DesiredStatus::Stop, s) if !s.is_terminal() => AllocStatus::Stopped,
                (DesiredStatus::Run, AllocStatus::Pending) => {
                    let version = c.state.job(&a.job).unwrap().spec.version;
                    if a.job_version < version {
                        // Its task is no longer given: it never starts.
                        AllocStatus::Failed
                    } else if matches!(data_from(&c.state, a), Some(DataFrom::Stopping(_))) {
                        return None;
                    } else {
                        AllocStatus::Running
                    }
                }
                _ => return None,
            };
            Some((a.id, a.node.clone(), next))
        })
        .collect();
    for (alloc, node, status) in due {
        c.report(alloc, &node, status, None).unwrap();
    }
}

#[test]
fn an_update_stops_each_instance_in_the_plan_that_places_its_replacement() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 4000, 4096);
    let spec = keeper(3);
    c.submit(spec.clone());
    c.settle(5);
    assert_eq!(c.running("keeper"), 3);
    update(&mut c, spec);
    let before = allocs(&c);
    c.heartbeat();
    c.cycle();
    let placed = placed_last(&c, &before);
    assert_eq!(placed.len(), 1, "max_parallel is 1: {placed:?}");
    let (new, old) = placed[0];
    let old_alloc = c.state.alloc(old).unwrap();
    assert_eq!(
        old_alloc.desired,
        DesiredStatus::Stop,
        "the replaced instance is told to stop at once"
    );
    let new_alloc = c.state.alloc(new).unwrap().clone();
    assert_eq!(
        data_from(&c.state, &new_alloc),
        Some(DataFrom::Stopping(old)),
        "the replacement waits for it"
    );
    let node = old_alloc.node.clone();
    c.report(old, &node, AllocStatus::Stopped, None).unwrap();
    let address = c.state.node(&node).unwrap().address.clone();
    assert_eq!(
        data_from(&c.state, &new_alloc),
        Some(DataFrom::Ended {
            alloc: old,
            address
        }),
        "once it has stopped, its data is copied from its node"
    );
}

#[test]
fn a_rollout_waits_for_each_new_instance_to_prove_itself_before_stopping_the_next() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 4000, 4096);
    let mut spec = keeper(3);
    spec.ext.update.min_healthy_time_ms = 10_000;
    spec.ext.update.healthy_deadline_ms = 60_000;
    c.submit(spec.clone());
    for _ in 0..10 {
        c.settle(5);
        c.advance(5_000);
    }
    assert_eq!(c.running("keeper"), 3);
    update(&mut c, spec);
    let mut fewest = usize::MAX;
    for _ in 0..40 {
        c.heartbeat();
        c.cycle();
        let stopping = allocs(&c)
            .iter()
            .filter(|a| a.desired == DesiredStatus::Stop && !a.status.is_terminal())
            .count();
        assert!(
            stopping <= 1,
            "max_parallel is 1, yet {stopping} stop at once"
        );
        workers_waiting_for_data(&mut c);
        fewest = fewest.min(c.running("keeper"));
        c.advance(2_000);
    }
    let versions: Vec<u64> = c.live("keeper").iter().map(|a| a.job_version).collect();
    assert_eq!(versions, [2, 2, 2], "the rollout finished");
    assert_eq!(fewest, 2, "one instance at a time was down, never more");
    // Each new instance proved itself (10 s) before the next old one went:
    // the stops are at least that far apart.
    let mut stopped_at: Vec<u64> = allocs(&c)
        .iter()
        .filter(|a| a.job_version == 1)
        .map(|a| a.modified_ms)
        .collect();
    stopped_at.sort_unstable();
    for pair in stopped_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= 10_000,
            "old instances stopped {} ms apart: {stopped_at:?}",
            pair[1] - pair[0]
        );
    }
}

#[test]
fn an_instance_whose_replacement_finds_no_node_keeps_running() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 4096);
    let spec = keeper(2);
    c.submit(spec.clone());
    c.settle(5);
    let mut bigger = spec;
    bigger.task.resources.memory_mb = 64 * 1024;
    update(&mut c, bigger);
    for _ in 0..10 {
        c.heartbeat();
        c.cycle();
        workers_waiting_for_data(&mut c);
        c.advance(1_000);
    }
    let running: Vec<u64> = c.live("keeper").iter().map(|a| a.job_version).collect();
    assert_eq!(
        running,
        [1, 1],
        "no replacement fits anywhere, so no instance was stopped for one"
    );
}

#[test]
fn data_skips_replacements_that_never_ran() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 4096);
    let spec = keeper(1);
    c.submit(spec.clone());
    c.settle(5);
    let first = c.live("keeper")[0].id;
    update(&mut c, spec.clone());
    c.heartbeat();
    c.cycle();
    // Version 3 before version 2's instance could start.
    let mut third = spec;
    third.task.env.insert("V".into(), "3".into());
    c.apply(CommandKind::UpdateJob {
        spec: third,
        expected_version: Some(2),
    })
    .expect("the update applies");
    let mut seen = Vec::new();
    for _ in 0..10 {
        c.heartbeat();
        c.cycle();
        for a in allocs(&c).iter().filter(|a| a.job_version == 3) {
            seen.push(data_from(&c.state, a));
        }
        workers_waiting_for_data(&mut c);
    }
    let last = c.live("keeper")[0].clone();
    assert_eq!(last.job_version, 3);
    assert_eq!(last.status, AllocStatus::Running);
    assert!(
        seen.iter().any(|from| matches!(
            from,
            Some(DataFrom::Ended { alloc, .. }) if *alloc == first
        )),
        "version 3 copies what version 1 wrote: {seen:?}"
    );
    assert!(
        !seen.iter().any(|from| matches!(
            from,
            Some(DataFrom::Ended { alloc, .. }) if *alloc != first
        )),
        "never from the instance of version 2 that never ran: {seen:?}"
    );
}

#[test]
fn a_drain_stops_each_instance_in_the_plan_that_places_its_replacement() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 4000, 4096);
    c.submit(keeper(2));
    c.settle(5);
    let drained = c.live("keeper")[0].node.clone();
    c.apply(CommandKind::DrainNode {
        node: drained.clone(),
        enable: true,
    })
    .unwrap();
    let before = allocs(&c);
    c.heartbeat();
    c.cycle();
    let placed = placed_last(&c, &before);
    assert_eq!(placed.len(), 1, "{placed:?}");
    let (new, old) = placed[0];
    assert_eq!(c.state.alloc(old).unwrap().node, drained);
    assert_eq!(c.state.alloc(old).unwrap().desired, DesiredStatus::Stop);
    assert_ne!(c.state.alloc(new).unwrap().node, drained);
}

#[test]
fn data_of_an_instance_whose_node_is_gone_is_not_waited_for() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 4096);
    c.submit(keeper(1));
    c.settle(5);
    let old = c.live("keeper")[0].clone();
    c.silent.insert(old.node.clone());
    for _ in 0..20 {
        c.advance(10_000);
        c.settle(3);
        if c.running("keeper") == 1 && c.live("keeper")[0].id != old.id {
            break;
        }
    }
    let new = c
        .state
        .job_allocs(&job_id("keeper"))
        .find(|a| a.previous == Some(old.id))
        .expect("a replacement for the instance on the silent node")
        .clone();
    match data_from(&c.state, &new) {
        Some(DataFrom::Unavailable { alloc, why }) => {
            assert_eq!(alloc, old.id);
            assert!(why.contains("node"), "{why}");
        }
        other => panic!("expected no data to wait for, got {other:?}"),
    }
}

#[test]
fn a_job_that_keeps_no_data_has_nothing_to_migrate() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 4096);
    let mut spec = keeper(1);
    spec.ext.ephemeral_disk.migrate = false;
    c.submit(spec.clone());
    c.settle(5);
    update(&mut c, spec);
    c.settle(5);
    let replacement = c.live("keeper")[0].clone();
    assert!(replacement.previous.is_some());
    assert_eq!(data_from(&c.state, &replacement), None);
}

fn assignment(data_from: Option<DataFrom>) -> Assignment {
    Assignment {
        alloc: AllocId(7),
        job: job_id("keeper"),
        desired: DesiredStatus::Run,
        status: AllocStatus::Pending,
        task: Some(keeper(1).task),
        checks: Vec::new(),
        volumes: Vec::new(),
        data_from,
    }
}

fn answer(assignment: Assignment) -> Vec<Action> {
    let mut worker = WorkerMachine::new(0, 60_000);
    worker.committed(0);
    let reply = PollReply {
        index: 5,
        last_alloc: AllocId(7),
        assignments: vec![assignment],
        gone: Vec::new(),
    };
    worker.answered(1, &reply, &std::collections::BTreeSet::new())
}

#[test]
fn the_worker_starts_a_replacement_only_once_its_data_can_be_had() {
    assert_eq!(
        answer(assignment(Some(DataFrom::Stopping(AllocId(3))))),
        [],
        "nothing starts while the old instance stops"
    );
    let ended = DataFrom::Ended {
        alloc: AllocId(3),
        address: "127.0.0.1:7001".into(),
    };
    match answer(assignment(Some(ended.clone()))).as_slice() {
        [Action::Start { alloc, data, .. }] => {
            assert_eq!(*alloc, AllocId(7));
            assert_eq!(data.as_ref(), Some(&ended));
        }
        other => panic!("expected a start carrying where its data is, got {other:?}"),
    }
    let gone = DataFrom::Unavailable {
        alloc: AllocId(3),
        why: "its node was lost".into(),
    };
    assert!(matches!(
        answer(assignment(Some(gone))).as_slice(),
        [Action::Start {
            data: Some(DataFrom::Unavailable { .. }),
            ..
        }]
    ));
}
