use std::collections::BTreeSet;

use super::*;
use crate::job::{Driver, Sandbox};
use crate::resources::Resources;

const MAX_DISCONNECT_MS: u64 = 10_000;

fn task() -> TaskSpec {
    TaskSpec {
        driver: Driver::Exec,
        image: None,
        command: vec!["sleep".into(), "1000".into()],
        env: BTreeMap::new(),
        resources: Resources::default(),
        sandbox: Sandbox::default(),
    }
}

fn assignment(alloc: u64, desired: DesiredStatus, status: AllocStatus) -> Assignment {
    Assignment {
        alloc: AllocId(alloc),
        job: JobId::new("svc").unwrap(),
        desired,
        status,
        task: Some(task()),
        checks: Vec::new(),
        volumes: Vec::new(),
        data_from: None,
    }
}

fn reply(index: u64, assignments: Vec<Assignment>) -> PollReply {
    let last_alloc = assignments
        .iter()
        .map(|a| a.alloc)
        .max()
        .unwrap_or(AllocId(0));
    PollReply {
        index,
        last_alloc,
        assignments,
        gone: Vec::new(),
    }
}

fn running(ids: &[u64]) -> BTreeSet<AllocId> {
    ids.iter().map(|id| AllocId(*id)).collect()
}

fn stops(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Stop { alloc } => Some(alloc.0),
            _ => None,
        })
        .collect()
}

fn starts(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { alloc, .. } => Some(alloc.0),
            _ => None,
        })
        .collect()
}

/// The minority-contact bug: a hybrid node cut off with a minority keeps
/// hearing its own replica, whose answers carry ever-newer indexes. None
/// of that is contact; only commits are, so the node stops its task.
#[test]
fn answers_from_a_cut_off_replica_are_not_contact() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    let task = vec![assignment(1, DesiredStatus::Run, AllocStatus::Running)];
    for second in 1..=20 {
        let now = second * 1000;
        worker.answered(second * 1000, &reply(second, task.clone()), &running(&[1]));
        let actions = worker.tick(now, &running(&[1]));
        if now < MAX_DISCONNECT_MS {
            assert!(stops(&actions).is_empty(), "at {now} ms");
        } else if now == MAX_DISCONNECT_MS {
            assert_eq!(stops(&actions), [1], "stopped after max_disconnect");
        }
    }
    assert!(worker.is_disconnected());
}

/// A machine restarted inside a partition: its replica lists work the
/// majority may long have replaced. Nothing starts until a command of
/// this worker's commits.
#[test]
fn a_worker_starts_nothing_before_a_quorum_has_heard_it() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    let pending = vec![assignment(2, DesiredStatus::Run, AllocStatus::Pending)];
    let before = worker.answered(1_000, &reply(5, pending.clone()), &running(&[]));
    assert!(starts(&before).is_empty(), "{before:?}");
    worker.committed(1_500);
    let after = worker.answered(2_000, &reply(6, pending), &running(&[]));
    assert_eq!(starts(&after), [2]);
}

/// The control plane judged this node disconnected after its worker had
/// committed "running": the allocation reads unknown. The worker says
/// "running" again, though it had said so before.
#[test]
fn a_running_task_judged_unknown_is_reported_running_again() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.committed(500);
    let pending = vec![assignment(4, DesiredStatus::Run, AllocStatus::Pending)];
    worker.answered(1_000, &reply(5, pending), &running(&[]));
    let report = Report {
        alloc: AllocId(4),
        status: AllocStatus::Running,
        exit_code: None,
        message: "running".into(),
    };
    worker.reported(&report, true);
    let running_again = vec![assignment(4, DesiredStatus::Run, AllocStatus::Running)];
    assert!(
        worker
            .answered(1_500, &reply(6, running_again), &running(&[4]))
            .is_empty()
    );
    let unknown = vec![assignment(4, DesiredStatus::Run, AllocStatus::Unknown)];
    let actions = worker.answered(2_000, &reply(7, unknown), &running(&[4]));
    assert_eq!(actions, [Action::Report(report)]);
}

#[test]
fn commits_keep_contact_and_tasks_running() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    for second in 1..=60 {
        if second % 3 == 0 {
            worker.committed(second * 1000 - 500);
        }
        assert!(stops(&worker.tick(second * 1000, &running(&[1]))).is_empty());
    }
    assert_eq!(worker.deadline_ms(), Some(59_500 + MAX_DISCONNECT_MS));
}

#[test]
fn nothing_starts_while_contact_is_lost_and_work_resumes_once_regained() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.tick(MAX_DISCONNECT_MS, &running(&[]));
    let pending = vec![assignment(2, DesiredStatus::Run, AllocStatus::Pending)];
    let actions = worker.answered(0, &reply(5, pending.clone()), &running(&[]));
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(worker.deadline_ms(), None);
    worker.committed(11_000);
    assert_eq!(
        worker.tick(11_500, &running(&[])),
        [Action::Notice(Notice::ContactRegained)]
    );
    let actions = worker.answered(0, &reply(6, pending), &running(&[]));
    assert!(matches!(
        actions[..],
        [Action::Start {
            alloc: AllocId(2),
            ..
        }]
    ));
}

#[test]
fn exits_are_reported_until_committed_and_a_stop_asked_for_reads_stopped() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    let stop = vec![assignment(3, DesiredStatus::Stop, AllocStatus::Running)];
    assert_eq!(
        stops(&worker.answered(0, &reply(1, stop), &running(&[3]))),
        [3]
    );
    let exit = Exit {
        code: Some(143),
        message: "terminated".into(),
    };
    worker.exited(AllocId(3), &exit);
    let report = worker.unreported().pop().unwrap();
    assert_eq!(report.status, AllocStatus::Stopped);
    worker.reported(&report, false);
    assert_eq!(worker.unreported().len(), 1, "kept until committed");
    worker.reported(&report, true);
    assert!(worker.unreported().is_empty());
}

#[test]
fn a_stale_answer_changes_nothing() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.answered(0, &reply(9, vec![]), &running(&[]));
    let actions = worker.answered(
        0,
        &reply(
            4,
            vec![assignment(1, DesiredStatus::Run, AllocStatus::Pending)],
        ),
        &running(&[]),
    );
    assert_eq!(
        actions,
        [Action::Notice(Notice::StaleAnswer { index: 4, after: 9 })]
    );
    assert_eq!(worker.after_index(), 9);
}

#[test]
fn a_task_no_allocation_owns_is_stopped_only_when_the_replica_vouches() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    let mut answer = reply(1, vec![]);
    answer.last_alloc = AllocId(4);
    assert!(stops(&worker.answered(0, &answer, &running(&[7]))).is_empty());
    answer.last_alloc = AllocId(7);
    answer.index = 2;
    assert_eq!(stops(&worker.answered(0, &answer, &running(&[7]))), [7]);
}

/// Found by the simulator: a task this worker stopped (contact lost),
/// whose "stopped" report had not committed yet, was reported "failed"
/// with its SIGTERM exit code when a replica still listed it running.
#[test]
fn a_task_stopped_here_is_not_reported_failed_while_its_exit_is_on_its_way() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.tick(MAX_DISCONNECT_MS, &running(&[4]));
    let exit = Exit {
        code: Some(143),
        message: "terminated".into(),
    };
    worker.exited(AllocId(4), &exit);
    worker.committed(11_000);
    worker.tick(11_000, &running(&[]));
    let stale = vec![assignment(4, DesiredStatus::Run, AllocStatus::Running)];
    let actions = worker.answered(11_000, &reply(7, stale), &running(&[]));
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(worker.unreported()[0].status, AllocStatus::Stopped);
}

/// A replica that has not applied this worker's committed exit report yet
/// still lists the allocation to run; it must not start again.
#[test]
fn a_task_whose_exit_committed_is_not_started_again_from_a_lagging_replica() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    let exit = Exit {
        code: Some(0),
        message: "exited 0".into(),
    };
    worker.exited(AllocId(5), &exit);
    let report = worker.unreported().pop().unwrap();
    worker.reported(&report, true);
    let lagging = vec![assignment(5, DesiredStatus::Run, AllocStatus::Pending)];
    assert!(
        worker
            .answered(1_000, &reply(3, lagging), &running(&[]))
            .is_empty()
    );
}

/// An answer that arrives after the contact deadline, before the tick
/// has marked contact lost, starts nothing.
#[test]
fn nothing_starts_past_the_contact_deadline_even_before_the_tick() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    let pending = vec![assignment(6, DesiredStatus::Run, AllocStatus::Pending)];
    let late = worker.answered(MAX_DISCONNECT_MS, &reply(1, pending), &running(&[]));
    assert!(late.is_empty(), "{late:?}");
}

fn forgets(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Forget { alloc } => Some(alloc.0),
            _ => None,
        })
        .collect()
}

#[test]
fn what_the_control_plane_collected_is_forgotten_unless_it_still_runs_or_is_unreported() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.exited(
        AllocId(4),
        &Exit {
            code: Some(0),
            message: "exited 0".into(),
        },
    );
    let mut answer = reply(5, vec![]);
    answer.last_alloc = AllocId(6);
    // 2 ended long ago; 3 runs (a task this node never lost track of);
    // 4's exit is not committed yet; 7 was issued after this replica's view.
    answer.gone = vec![AllocId(2), AllocId(3), AllocId(4), AllocId(7)];
    let actions = worker.answered(0, &answer, &running(&[3]));
    assert_eq!(forgets(&actions), [2]);
    assert!(worker.may_forget(AllocId(5), &running(&[3])));
    assert!(!worker.may_forget(AllocId(3), &running(&[3])));
    assert!(!worker.may_forget(AllocId(4), &running(&[3])));
}

/// A worker that lost contact owes the control plane what became of its
/// tasks from the moment it stops them until those reports commit; its
/// node's heartbeats wait that long, so that no heartbeat vouches for a
/// task already stopped.
#[test]
fn a_worker_owes_reports_from_a_lost_contact_stop_until_they_commit() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.committed(0);
    let task = vec![assignment(1, DesiredStatus::Run, AllocStatus::Running)];
    worker.answered(1_000, &reply(1, task), &running(&[1]));
    assert!(!worker.owes_reports(), "a running task owes nothing");
    let lost = worker.tick(MAX_DISCONNECT_MS, &running(&[1]));
    assert_eq!(stops(&lost), [1]);
    assert!(
        worker.owes_reports(),
        "stopping after the loss, not yet ended"
    );
    let exit = Exit {
        code: Some(143),
        message: "terminated".into(),
    };
    assert_eq!(
        worker.exited(AllocId(1), &exit).status,
        AllocStatus::Stopped
    );
    assert!(worker.owes_reports(), "ended, not yet committed");
    let report = worker.unreported().pop().unwrap();
    worker.reported(&report, false);
    assert!(
        worker.owes_reports(),
        "a report that did not commit is still owed"
    );
    worker.reported(&report, true);
    assert!(!worker.owes_reports());
}

/// A stop the control plane asked for, on a worker in touch, owes
/// nothing until the task ends: a heartbeat meanwhile tells no lie (the
/// task still runs), and a task slow to stop must not silence its node.
#[test]
fn a_stop_asked_for_owes_nothing_until_the_task_ends() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.committed(0);
    let stop = vec![assignment(3, DesiredStatus::Stop, AllocStatus::Running)];
    assert_eq!(
        stops(&worker.answered(0, &reply(1, stop), &running(&[3]))),
        [3]
    );
    assert!(!worker.owes_reports());
    let exit = Exit {
        code: Some(143),
        message: "terminated".into(),
    };
    worker.exited(AllocId(3), &exit);
    assert!(worker.owes_reports());
}

/// An allocation whose job moved to another version before it started is
/// not started; said so, it is replaced rather than pending for ever.
#[test]
fn an_allocation_without_its_task_is_reported_failed_not_left_pending() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.committed(500);
    let mut orphan = assignment(3, DesiredStatus::Run, AllocStatus::Pending);
    orphan.task = None;
    let actions = worker.answered(1_000, &reply(5, vec![orphan]), &running(&[]));
    assert!(starts(&actions).is_empty(), "{actions:?}");
    let failed = actions.iter().any(|a| {
        matches!(a, Action::Report(r) if r.alloc == AllocId(3)
            && r.status == AllocStatus::Failed
            && r.message.contains("another version"))
    });
    assert!(failed, "{actions:?}");
}

/// A replica that answers but stopped moving (a voter removed while cut
/// off) is behind the index this node's own commands committed at: its
/// answers are stale, though never below the last answer seen.
#[test]
fn a_replica_behind_this_nodes_own_commits_is_stale() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    worker.committed(500);
    let pending = vec![assignment(2, DesiredStatus::Run, AllocStatus::Pending)];
    assert!(starts(&worker.answered(1_000, &reply(30, vec![]), &running(&[]))).is_empty());
    worker.committed_at(401);
    let frozen = worker.answered(2_000, &reply(30, pending.clone()), &running(&[]));
    assert_eq!(
        frozen,
        [Action::Notice(Notice::StaleAnswer {
            index: 30,
            after: 401
        })]
    );
    let current = worker.answered(3_000, &reply(402, pending), &running(&[]));
    assert_eq!(starts(&current), [2]);
}

#[test]
fn a_task_failed_by_its_checks_is_stopped_once_and_reported_failed_with_the_reason() {
    let mut m = WorkerMachine::new(0, 10_000);
    let live = running(&[4]);
    assert_eq!(
        m.fail(
            AllocId(4),
            "restarted: check tcp on db failed 3 times in a row".into(),
            &live
        ),
        Some(Action::Stop { alloc: AllocId(4) })
    );
    assert_eq!(
        m.fail(AllocId(4), "again".into(), &live),
        None,
        "asked once"
    );
    assert_eq!(m.fail(AllocId(5), "not here".into(), &live), None);
    let killed = Exit {
        code: Some(143),
        message: "terminated".into(),
    };
    let report = m.exited(AllocId(4), &killed).clone();
    assert_eq!(report.status, AllocStatus::Failed);
    assert!(
        report.message.contains("failed 3 times in a row"),
        "{}",
        report.message
    );
    assert_eq!(report.exit_code, Some(143));
}

/// Assignments cross the internal wire in postcard, which reads every
/// field in order: a field serde skips when empty would make every poll
/// answer undecodable, and the worker would start nothing.
#[test]
fn a_poll_answer_survives_the_wire_with_checks_and_volumes() {
    use crate::health::{CheckKind, CheckSpec};
    use crate::volumes::VolumeAsk;
    let mut with_everything = assignment(1, DesiredStatus::Run, AllocStatus::Pending);
    with_everything.checks = vec![CheckSpec {
        kind: CheckKind::Tcp {
            port: "http".into(),
        },
        interval_ms: 1000,
        timeout_ms: 1000,
        grace_ms: 0,
        restart_after: None,
    }];
    with_everything.volumes = vec![
        VolumeAsk {
            name: "data".into(),
            destination: None,
            read_only: false,
        },
        VolumeAsk {
            name: "certs".into(),
            destination: Some("/certs".into()),
            read_only: true,
        },
    ];
    let plain = assignment(2, DesiredStatus::Stop, AllocStatus::Running);
    let answer = reply(7, vec![with_everything, plain]);
    let bytes = postcard::to_stdvec(&answer).expect("encodes");
    let decoded: PollReply = postcard::from_bytes(&bytes).expect("decodes");
    assert_eq!(decoded, answer);
}

/// Found by the simulator (seed 400533): a node whose worker had stopped
/// a task when cut off crashed before the exit was committed; restarted,
/// it registered at once, and the leader, trusting the "running" it held
/// for the node, kept that allocation and stopped its running
/// replacement. A restarted worker now owes reports until it has acted on
/// an answer and what it recovered is committed; the recovery needs no
/// contact (only starting does), so the node is not left waiting for
/// itself.
#[test]
fn a_restarted_worker_owes_what_its_predecessor_ran_until_it_is_committed() {
    let mut worker = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    assert!(worker.owes_reports(), "nothing acted on since the start");
    let ran_before = vec![assignment(4, DesiredStatus::Run, AllocStatus::Running)];
    let actions = worker.answered(0, &reply(3, ran_before), &running(&[]));
    assert_eq!(actions, [Action::Recover { alloc: AllocId(4) }]);
    let Some(Action::Report(report)) = worker.recovered(
        AllocId(4),
        Some(Exit {
            code: Some(143),
            message: "stopped".into(),
        }),
    ) else {
        panic!("the recovered exit is reported");
    };
    assert!(worker.owes_reports(), "owed until committed");
    worker.reported(&report, true);
    assert!(!worker.owes_reports());

    let mut fresh = WorkerMachine::new(0, MAX_DISCONNECT_MS);
    fresh.answered(0, &reply(1, Vec::new()), &running(&[]));
    assert!(
        !fresh.owes_reports(),
        "a node with nothing to recover owes nothing"
    );
}
