//! The exec driver against real processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_adapters::exec::{Executor, Exit, LimitMechanism, ProcessExecutor};
use drover_core::job::JobSpec;
use drover_core::{AllocId, JobId, Resources};

fn task(command: &[&str]) -> drover_core::job::TaskSpec {
    let spec = JobSpec::batch(
        JobId::new("t").unwrap(),
        command.iter().map(ToString::to_string).collect(),
        Resources::new(100, 64, 0),
    );
    spec.task
}

fn wait_exit(executor: &mut ProcessExecutor, alloc: AllocId) -> Exit {
    let start = Instant::now();
    loop {
        if let Some((_, exit)) = executor.poll().into_iter().find(|(a, _)| *a == alloc) {
            return exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{alloc} never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn executor(dir: &std::path::Path) -> ProcessExecutor {
    ProcessExecutor::new(dir, LimitMechanism::Rlimit).unwrap()
}

#[test]
fn output_and_exit_codes_are_captured() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = executor(dir.path());
    ex.start(
        AllocId(1),
        &JobId::new("t").unwrap(),
        &task(&["echo", "hello"]),
    )
    .unwrap();
    assert!(wait_exit(&mut ex, AllocId(1)).success());
    assert_eq!(ex.output(AllocId(1), false, 0, 1024).unwrap(), b"hello\n");
    assert_eq!(ex.output(AllocId(1), false, 2, 2).unwrap(), b"ll");

    ex.start(
        AllocId(2),
        &JobId::new("t").unwrap(),
        &task(&["sh", "-c", "echo broken >&2; exit 3"]),
    )
    .unwrap();
    let exit = wait_exit(&mut ex, AllocId(2));
    assert_eq!(exit.code, Some(3));
    assert_eq!(exit.message, "exited 3: broken");

    ex.start(
        AllocId(3),
        &JobId::new("t").unwrap(),
        &task(&["no-such-program-here"]),
    )
    .unwrap();
    assert_eq!(wait_exit(&mut ex, AllocId(3)).code, Some(127));
}

#[test]
fn env_and_working_directory_are_the_tasks_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = executor(dir.path());
    let mut spec = task(&["sh", "-c", "echo \"$GREETING $(pwd)\"; touch made-here"]);
    spec.env = BTreeMap::from([("GREETING".into(), "hi".into())]);
    ex.start(AllocId(7), &JobId::new("t").unwrap(), &spec)
        .unwrap();
    assert!(wait_exit(&mut ex, AllocId(7)).success());
    let work = dir.path().join("a000007/work");
    let out = String::from_utf8(ex.output(AllocId(7), false, 0, 4096).unwrap()).unwrap();
    assert_eq!(
        out.trim(),
        format!("hi {}", work.canonicalize().unwrap().display())
    );
    assert!(work.join("made-here").exists());
}

#[test]
fn stop_sends_sigterm_then_sigkill_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = executor(dir.path());
    ex.start(
        AllocId(1),
        &JobId::new("t").unwrap(),
        &task(&["sleep", "60"]),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    ex.stop(AllocId(1), Duration::from_secs(5));
    let exit = wait_exit(&mut ex, AllocId(1));
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "SIGTERM was enough"
    );
    assert_eq!(exit.code, Some(143), "{exit:?}");

    // A task that ignores SIGTERM is killed once the grace period ends.
    ex.start(
        AllocId(2),
        &JobId::new("t").unwrap(),
        &task(&["sh", "-c", "trap '' TERM; echo ready; sleep 60 & wait"]),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    ex.stop(AllocId(2), Duration::from_millis(700));
    let exit = wait_exit(&mut ex, AllocId(2));
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_ne!(exit.code, Some(0));
}

#[test]
fn the_memory_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = executor(dir.path());
    let mut spec = task(&["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]);
    spec.resources.memory_mb = 32;
    ex.start(AllocId(1), &JobId::new("t").unwrap(), &spec)
        .unwrap();
    let exit = wait_exit(&mut ex, AllocId(1));
    assert!(
        !exit.success(),
        "a 256 MiB buffer under a 32 MiB limit: {exit:?}"
    );
    spec.resources.memory_mb = 1024;
    ex.start(AllocId(2), &JobId::new("t").unwrap(), &spec)
        .unwrap();
    assert!(wait_exit(&mut ex, AllocId(2)).success());
}

#[test]
fn a_restarted_worker_adopts_running_tasks_and_learns_how_they_ended() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = executor(dir.path());
    first
        .start(
            AllocId(9),
            &JobId::new("t").unwrap(),
            &task(&["sh", "-c", "sleep 1; exit 4"]),
        )
        .unwrap();
    drop(first);
    let mut second = executor(dir.path());
    assert_eq!(second.running(), [AllocId(9)], "adopted, not restarted");
    let exit = wait_exit(&mut second, AllocId(9));
    assert_eq!(exit.code, Some(4));
    assert_eq!(second.recorded_exit(AllocId(9)).unwrap().code, Some(4));
}

#[test]
fn docker_tasks_are_refused_by_the_exec_driver() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = executor(dir.path());
    let mut spec = task(&["true"]);
    spec.driver = drover_core::Driver::Docker;
    assert!(
        ex.start(AllocId(1), &JobId::new("t").unwrap(), &spec)
            .unwrap_err()
            .contains("docker")
    );
}

#[test]
fn a_worker_without_the_exec_driver_neither_offers_nor_starts_it() {
    let dir = tempfile::tempdir().unwrap();
    let docker: Result<Box<dyn Executor + Send>, String> = Err("no engine here".into());
    let mut drivers = drover_adapters::exec::Drivers::new(Box::new(executor(dir.path())), docker)
        .without_exec("exec = \"off\" in node.toml");
    assert!(drivers.drivers().is_empty(), "{:?}", drivers.drivers());
    let marker = dir.path().join("ran");
    let command = format!("touch {}", marker.display());
    let refused = drivers
        .start(
            AllocId(1),
            &JobId::new("t").unwrap(),
            &task(&["sh", "-c", &command]),
        )
        .unwrap_err();
    assert!(
        refused.contains("does not offer the exec driver") && refused.contains("node.toml"),
        "{refused}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(drivers.running().is_empty());
    assert!(!marker.exists(), "the task ran");
}
