//! Host volumes: a job goes only where every volume it asks for is
//! offered (writable if it writes), a plan made otherwise is refused, a
//! pending job says which volume it lacks, and the worker gives the task
//! the volume's path, or fails it when the node no longer has it.

mod common;

use std::collections::BTreeMap;

use common::{Cluster, job_id, registration, service};
use drover_core::state::{Placement, Plan, PlanRefusal, Success};
use drover_core::volumes::{self, VolumeAsk};
use drover_core::worker::{Action, Assignment, PollReply, WorkerMachine};
use drover_core::{AllocId, AllocStatus, CommandKind, DesiredStatus, JobSpec};

/// Three nodes: `a` offers `data` read-write, `b` read-only, `c` none.
fn cluster() -> Cluster {
    let mut c = Cluster::new();
    for (name, access) in [("a", Some(false)), ("b", Some(true)), ("c", None)] {
        let mut reg = registration(name, "eu", 4000, 4096);
        if let Some(read_only) = access {
            reg.labels
                .insert(volumes::label("data"), volumes::access(read_only).into());
        }
        c.add(reg);
    }
    c
}

fn asking(name: &str, replicas: u32, read_only: bool) -> JobSpec {
    let mut spec = service(name, replicas, 100, 64);
    spec.max_per_node = Some(1);
    spec.ext.volumes = vec![VolumeAsk {
        name: "data".into(),
        destination: None,
        read_only,
    }];
    spec
}

fn nodes_of(c: &Cluster, job: &str) -> Vec<String> {
    let mut nodes: Vec<String> = c
        .live(job)
        .iter()
        .map(|a| a.node.as_str().to_string())
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn a_writer_goes_only_where_the_volume_is_writable() {
    let mut c = cluster();
    c.submit(asking("writer", 2, false));
    c.settle(5);
    assert_eq!(nodes_of(&c, "writer"), ["a"], "one fits; the other waits");
    let pending = &c.last_cycle.pending[&job_id("writer")];
    assert!(
        pending
            .iter()
            .any(|line| line.contains("lacks host volume data (read-write)")),
        "{pending:?}"
    );
}

#[test]
fn a_reader_goes_where_the_volume_is_offered_at_all() {
    let mut c = cluster();
    c.submit(asking("reader", 3, true));
    c.settle(5);
    assert_eq!(nodes_of(&c, "reader").len(), 2);
    assert!(!nodes_of(&c, "reader").contains(&"c".to_string()));
}

#[test]
fn a_plan_onto_a_node_without_the_volume_is_refused() {
    let mut c = cluster();
    c.submit(asking("writer", 1, false));
    let plan = Plan {
        placements: vec![Placement {
            job: job_id("writer"),
            job_version: 1,
            node: common::node_id("b"),
            previous: None,
        }],
        ..Plan::default()
    };
    let Ok(Success::Plan(result)) = c.apply(CommandKind::ApplyPlan(plan)) else {
        panic!("a plan applies part by part");
    };
    assert_eq!(
        result.placements_refused,
        [(
            0,
            PlanRefusal::Volume("host volume data is read-only".into())
        )]
    );
}

fn assignment(volumes: Vec<VolumeAsk>) -> Assignment {
    Assignment {
        alloc: AllocId(1),
        job: job_id("writer"),
        desired: DesiredStatus::Run,
        status: AllocStatus::Pending,
        task: Some(service("writer", 1, 100, 64).task),
        checks: Vec::new(),
        volumes,
        data_from: None,
    }
}

/// A worker in contact (a command of its committed) answered with
/// `assignment`.
fn answer(worker: &mut WorkerMachine, assignment: Assignment) -> Vec<Action> {
    worker.committed(0);
    let reply = PollReply {
        index: 5,
        last_alloc: AllocId(1),
        assignments: vec![assignment],
        gone: Vec::new(),
    };
    worker.answered(0, &reply, &std::collections::BTreeSet::new())
}

#[test]
fn the_worker_gives_the_task_the_volume_path_or_fails_it() {
    let offered = BTreeMap::from([(
        "data".to_string(),
        volumes::Offered {
            path: "/srv/data".into(),
            read_only: true,
        },
    )]);
    let mut worker = WorkerMachine::new(0, 30_000).with_volumes(offered);
    let exec = VolumeAsk {
        name: "data".into(),
        destination: None,
        read_only: false,
    };
    let actions = answer(&mut worker, assignment(vec![exec]));
    let Some(Action::Start { task, .. }) = actions.first() else {
        panic!("{actions:?}");
    };
    assert_eq!(task.env["DROVER_VOLUME_DATA"], "/srv/data");

    // A container asking to write a volume the node offers read-only
    // still gets it read-only; a bind the spec carried itself (an older
    // build let one through) never reaches the driver.
    let mut smuggled = assignment(vec![VolumeAsk {
        name: "data".into(),
        destination: Some("/data".into()),
        read_only: false,
    }]);
    smuggled.alloc = AllocId(2);
    let task = smuggled.task.as_mut().unwrap();
    task.env
        .insert("DROVER_BIND_ROOT".into(), "/:/host:rw".into());
    let actions = answer(&mut worker, smuggled);
    let Some(Action::Start { task, .. }) = actions.first() else {
        panic!("{actions:?}");
    };
    assert_eq!(task.env["DROVER_BIND_DATA"], "/srv/data:/data:ro");
    assert!(!task.env.contains_key("DROVER_BIND_ROOT"), "{:?}", task.env);

    let mut worker = WorkerMachine::new(0, 30_000);
    let container = VolumeAsk {
        name: "data".into(),
        destination: Some("/data".into()),
        read_only: true,
    };
    let actions = answer(&mut worker, assignment(vec![container]));
    let failed = actions.iter().any(|a| {
        matches!(a, Action::Report(r) if r.status == AllocStatus::Failed
            && r.message.contains("host volume data is not configured on this node"))
    });
    assert!(failed, "{actions:?}");
}

#[test]
fn a_container_gets_a_bind_and_the_destination() {
    let asks = [VolumeAsk {
        name: "data".into(),
        destination: Some("/data".into()),
        read_only: true,
    }];
    let env = volumes::environment(&asks, |_| volumes::Offered {
        path: "/srv/data".into(),
        read_only: false,
    });
    assert_eq!(
        env,
        [
            ("DROVER_VOLUME_DATA".to_string(), "/data".to_string()),
            (
                "DROVER_BIND_DATA".to_string(),
                "/srv/data:/data:ro".to_string()
            ),
        ]
    );
}
