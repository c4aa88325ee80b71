//! The docker driver against the real engine, with the image
//! `scripts/docker-test-image` builds. Without an engine each test prints
//! a SKIP line and does not run (CI sets DROVER_REQUIRE_DOCKER=1, which
//! makes a missing engine a failure instead).

#![cfg(not(madsim))]

use std::path::Path;
use std::time::{Duration, Instant};

use drover_adapters::exec::docker::testing::{containers_labelled, remove_containers, test_image};
use drover_adapters::exec::docker::{DockerExecutor, LABEL_ALLOC, LABEL_STORE};
use drover_adapters::exec::{Executor, Exit};
use drover_core::job::{Driver, JobSpec, NetworkMode, TaskSpec};
use drover_core::{AllocId, JobId, Resources};
use tokio::runtime::Runtime;

/// A temporary store whose containers are removed when the test ends,
/// whatever happens.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn containers(&self) -> Vec<String> {
        containers_labelled(LABEL_STORE, &self.root().display().to_string())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        remove_containers(self.root());
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn connect(runtime: &Runtime, scratch: &Scratch) -> DockerExecutor {
    runtime
        .block_on(DockerExecutor::connect(scratch.root(), "n1"))
        .expect("the engine answers")
}

fn job() -> JobId {
    JobId::new("docker-test").unwrap()
}

fn task(image: &str, script: &str, memory_mb: u64) -> TaskSpec {
    let mut spec = JobSpec::batch(
        job(),
        vec!["sh".into(), "-c".into(), script.into()],
        Resources::new(500, memory_mb, 0),
    );
    spec.task.driver = Driver::Docker;
    spec.task.image = Some(image.into());
    spec.task
}

fn wait_exit(executor: &mut DockerExecutor, alloc: AllocId, within: Duration) -> Exit {
    let start = Instant::now();
    loop {
        if let Some((_, exit)) = executor.poll().into_iter().find(|(a, _)| *a == alloc) {
            return exit;
        }
        assert!(
            start.elapsed() < within,
            "{alloc} did not end within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stdout(executor: &DockerExecutor, alloc: AllocId) -> String {
    String::from_utf8(executor.output(alloc, false, 0, 1 << 20).unwrap()).unwrap()
}

/// Output so far: none until the driver has created the store's files.
fn started(executor: &DockerExecutor, alloc: AllocId) -> bool {
    executor
        .output(alloc, false, 0, 1 << 20)
        .is_ok_and(|bytes| !bytes.is_empty())
}

fn stderr(executor: &DockerExecutor, alloc: AllocId) -> String {
    String::from_utf8(executor.output(alloc, true, 0, 1 << 20).unwrap()).unwrap()
}

const QUICK: Duration = Duration::from_secs(30);

#[test]
fn a_batch_task_runs_and_its_output_and_exit_code_are_kept() {
    let Some(image) = test_image("a_batch_task_runs_and_its_output_and_exit_code_are_kept") else {
        return;
    };
    let scratch = Scratch::new();
    let rt = runtime();
    let mut ex = connect(&rt, &scratch);
    let alloc = AllocId(1);
    let script =
        "echo hello from $DROVER_ALLOC_ID; echo GREETING=$GREETING; echo broken >&2; exit 3";
    let mut spec = task(&image, script, 64);
    spec.env.insert("GREETING".into(), "hi".into());
    ex.start(alloc, &job(), &spec).unwrap();
    let exit = wait_exit(&mut ex, alloc, QUICK);
    assert_eq!(exit.code, Some(3));
    assert_eq!(exit.message, "exited 3: broken");
    assert_eq!(stdout(&ex, alloc), "hello from a000001\nGREETING=hi\n");
    assert_eq!(stderr(&ex, alloc), "broken\n");
    assert_eq!(ex.recorded_exit(alloc), Some(exit));
    assert!(ex.running().is_empty());
    assert!(
        scratch.containers().is_empty(),
        "a finished container is removed once its output is saved"
    );

    ex.start(AllocId(2), &job(), &task(&image, "exit 0", 64))
        .unwrap();
    assert!(wait_exit(&mut ex, AllocId(2), QUICK).success());
}

#[test]
fn the_memory_limit_is_enforced_and_an_oom_kill_reported() {
    let Some(image) = test_image("the_memory_limit_is_enforced_and_an_oom_kill_reported") else {
        return;
    };
    let scratch = Scratch::new();
    let rt = runtime();
    let mut ex = connect(&rt, &scratch);
    // dd holds one block of `bs` bytes in memory: 96 MiB.
    let hog = "dd if=/dev/zero of=/dev/null bs=96M count=1 && echo survived";
    ex.start(AllocId(1), &job(), &task(&image, hog, 32))
        .unwrap();
    let killed = wait_exit(&mut ex, AllocId(1), QUICK);
    assert_eq!(killed.code, Some(137), "{killed:?}");
    assert!(
        killed.message.contains("out of memory (limit 32 MiB)"),
        "{killed:?}"
    );
    assert_eq!(stdout(&ex, AllocId(1)), "");

    // The same task under a limit it fits in: it was the limit that killed it.
    ex.start(AllocId(2), &job(), &task(&image, hog, 256))
        .unwrap();
    let fits = wait_exit(&mut ex, AllocId(2), QUICK);
    assert!(fits.success(), "{fits:?}");
    assert_eq!(stdout(&ex, AllocId(2)), "survived\n");
}

#[test]
fn the_sandbox_has_no_network_a_read_only_root_and_no_root_user() {
    let Some(image) = test_image("the_sandbox_has_no_network_a_read_only_root_and_no_root_user")
    else {
        return;
    };
    let scratch = Scratch::new();
    let rt = runtime();
    let mut ex = connect(&rt, &scratch);
    let probe = "echo net: $(ls /sys/class/net); \
                 echo user: $(id -u); \
                 touch /etc/x 2>/dev/null && echo root: writable || echo root: read-only; \
                 touch /tmp/x && echo tmp: writable; \
                 grep -q '^CapEff:.0000000000000000' /proc/self/status && echo caps: none; \
                 grep -q '^NoNewPrivs:.1' /proc/self/status && echo no-new-privileges";
    ex.start(AllocId(1), &job(), &task(&image, probe, 64))
        .unwrap();
    let exit = wait_exit(&mut ex, AllocId(1), QUICK);
    assert!(exit.success(), "{exit:?}: {}", stderr(&ex, AllocId(1)));
    assert_eq!(
        stdout(&ex, AllocId(1)),
        "net: lo\nuser: 65534\nroot: read-only\ntmp: writable\ncaps: none\nno-new-privileges\n"
    );

    // Relaxed by name in the spec, each one changes.
    let mut relaxed = task(&image, probe, 64);
    relaxed.sandbox.network = NetworkMode::Bridge;
    relaxed.sandbox.read_only_root = false;
    relaxed.sandbox.user = Some("0".into());
    ex.start(AllocId(2), &job(), &relaxed).unwrap();
    assert!(wait_exit(&mut ex, AllocId(2), QUICK).success());
    let out = stdout(&ex, AllocId(2));
    assert!(out.contains("eth0"), "{out}");
    assert!(out.contains("user: 0\nroot: writable\n"), "{out}");
}

#[test]
fn stop_asks_then_kills_after_the_grace_period() {
    let Some(image) = test_image("stop_asks_then_kills_after_the_grace_period") else {
        return;
    };
    let scratch = Scratch::new();
    let rt = runtime();
    let mut ex = connect(&rt, &scratch);
    let polite = "trap 'echo terminated; exit 0' TERM; echo up; while :; do sleep 0.1; done";
    let stubborn = "trap '' TERM; echo up; while :; do sleep 0.1; done";
    ex.start(AllocId(1), &job(), &task(&image, polite, 64))
        .unwrap();
    ex.start(AllocId(2), &job(), &task(&image, stubborn, 64))
        .unwrap();
    for alloc in [AllocId(1), AllocId(2)] {
        let start = Instant::now();
        while !started(&ex, alloc) {
            assert!(start.elapsed() < QUICK, "{alloc} never started");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let grace = Duration::from_secs(3);
    let asked = Instant::now();
    ex.stop(AllocId(1), grace);
    ex.stop(AllocId(2), grace);
    let polite_exit = wait_exit(&mut ex, AllocId(1), QUICK);
    let polite_took = asked.elapsed();
    let stubborn_exit = wait_exit(&mut ex, AllocId(2), QUICK);
    let stubborn_took = asked.elapsed();
    assert_eq!(polite_exit.code, Some(0));
    assert_eq!(stdout(&ex, AllocId(1)), "up\nterminated\n");
    assert!(
        polite_took < grace,
        "a task that heeds SIGTERM ends at once ({polite_took:?})"
    );
    assert_eq!(stubborn_exit.code, Some(137), "{stubborn_exit:?}");
    assert!(
        stubborn_took >= grace && stubborn_took < grace + Duration::from_secs(10),
        "killed once the grace period ran out ({stubborn_took:?})"
    );
    assert!(scratch.containers().is_empty());
}

#[test]
fn a_restarted_worker_adopts_its_containers_and_removes_unowned_ones() {
    let Some(image) =
        test_image("a_restarted_worker_adopts_its_containers_and_removes_unowned_ones")
    else {
        return;
    };
    let scratch = Scratch::new();
    let alloc = AllocId(5);
    let script = "echo started; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo finishing; exit 7";
    let first = runtime();
    let mut ex = connect(&first, &scratch);
    ex.start(alloc, &job(), &task(&image, script, 64)).unwrap();
    let start = Instant::now();
    while !started(&ex, alloc) {
        assert!(start.elapsed() < QUICK, "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The worker process dies: its runtime and every supervisor with it.
    drop(ex);
    drop(first);
    let running = scratch.containers();
    assert_eq!(running.len(), 1, "the container outlives its worker");

    // A container of this store that names no allocation: nothing owns it.
    let leftover = std::process::Command::new("docker")
        .args(["create", "--label"])
        .arg(format!("{LABEL_STORE}={}", scratch.root().display()))
        .args([&image, "true"])
        .output()
        .unwrap();
    assert!(leftover.status.success());
    // One its worker created but died before starting: its allocation was
    // started, so the container is.
    let created = std::process::Command::new("docker")
        .args(["create", "--label"])
        .arg(format!("{LABEL_STORE}={}", scratch.root().display()))
        .args(["--label", &format!("{LABEL_ALLOC}=a000009")])
        .args([&image, "echo", "late"])
        .output()
        .unwrap();
    assert!(created.status.success());

    let second = runtime();
    let mut ex = connect(&second, &scratch);
    let late = wait_exit(&mut ex, AllocId(9), QUICK);
    assert!(late.success(), "{late:?}");
    assert_eq!(stdout(&ex, AllocId(9)), "late\n");
    assert_eq!(
        ex.running(),
        vec![alloc],
        "the running container is adopted"
    );
    assert_eq!(
        scratch.containers(),
        running,
        "no duplicate, and the others removed"
    );
    // Starting it again (the control plane still wants it) is a no-op.
    ex.start(alloc, &job(), &task(&image, script, 64)).unwrap();
    assert_eq!(scratch.containers(), running);

    let go = std::process::Command::new("docker")
        .args(["exec", &running[0], "touch", "/tmp/go"])
        .status()
        .unwrap();
    assert!(go.success());
    let exit = wait_exit(&mut ex, alloc, QUICK);
    assert_eq!(exit.code, Some(7));
    assert_eq!(
        stdout(&ex, alloc),
        "started\nfinishing\n",
        "output from before and after the restart"
    );
    assert!(scratch.containers().is_empty());
}

#[test]
fn a_missing_image_fails_the_allocation_naming_the_image() {
    let Some(_) = test_image("a_missing_image_fails_the_allocation_naming_the_image") else {
        return;
    };
    let scratch = Scratch::new();
    let rt = runtime();
    let mut ex = connect(&rt, &scratch);
    let image = "drover-test/no-such-image:1";
    ex.start(AllocId(1), &job(), &task(image, "true", 64))
        .unwrap();
    let exit = wait_exit(&mut ex, AllocId(1), Duration::from_secs(330));
    assert_eq!(exit.code, None);
    assert!(
        exit.message.contains(
            "image drover-test/no-such-image:1 is not on this node and could not be pulled"
        ),
        "{}",
        exit.message
    );
    assert!(ex.running().is_empty());
    assert!(scratch.containers().is_empty());
}
