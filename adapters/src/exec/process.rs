//! The `exec` driver: a task is a process group under a small `sh` wrapper
//! that applies the memory limit, runs the command, and records its exit
//! status in the allocation's directory. Because the status is on disk, a
//! worker that restarts can still learn how a task ended.
//!
//! Beside the output store's files, the allocation directory holds `work/`
//! (the task's working directory) and `pid`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drover_core::job::{Driver, TaskSpec};
use drover_core::{AllocId, JobId};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use super::{Executor, Exit, ExitWaker, LimitMechanism, OutputStore, expect_driver};

/// `$1` exit file, `$2` limit (cgroup directory or KiB), then the command.
/// The wrapper outlives a SIGTERM (passing it on) so that it can record
/// how the task ended; only SIGKILL after the grace period takes it too.
const WRAPPER: &str = r#"exit_file=$1; limit=$2; shift 2
LIMIT
"$@" &
task=$!
trap 'kill -TERM "$task" 2>/dev/null' TERM INT
wait "$task"; code=$?
while kill -0 "$task" 2>/dev/null; do wait "$task"; code=$?; done
printf '%s' "$code" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"
exit "$code""#;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Task {
    /// `None` for a task adopted after a worker restart.
    child: Option<Child>,
    pid: i32,
    kill_at: Option<Instant>,
}

pub struct ProcessExecutor {
    store: OutputStore,
    limits: LimitMechanism,
    tasks: BTreeMap<AllocId, Task>,
    wake: Option<ExitWaker>,
}

impl ProcessExecutor {
    /// Uses `root` for allocation directories, adopting tasks a previous
    /// worker process left running there.
    pub fn new(root: &Path, limits: LimitMechanism) -> Result<Self, String> {
        let mut executor = Self {
            store: OutputStore::open(root)?,
            limits,
            tasks: BTreeMap::new(),
            wake: None,
        };
        executor.adopt();
        Ok(executor)
    }

    pub fn limits(&self) -> &LimitMechanism {
        &self.limits
    }

    fn adopt(&mut self) {
        for (alloc, dir) in self.store.allocs() {
            let pid = std::fs::read_to_string(dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|pid| alive(*pid) && !dir.join("exit").exists()) {
                self.tasks.insert(
                    alloc,
                    Task {
                        child: None,
                        pid,
                        kill_at: None,
                    },
                );
            }
        }
    }

    fn spawn(&self, alloc: AllocId, task: &TaskSpec) -> Result<Task, String> {
        let (stdout, stderr) = self.store.prepare(alloc)?;
        let dir = self.store.dir(alloc);
        let work = self.store.data_dir(alloc);
        let work = std::fs::create_dir_all(&work)
            .and_then(|()| std::fs::canonicalize(&work))
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let memory_bytes = task.resources.memory_mb * 1024 * 1024;
        let (limit_line, limit) = match &self.limits {
            LimitMechanism::CgroupV2(groups) => {
                let group = groups.join(alloc.to_string());
                std::fs::create_dir_all(&group)
                    .map_err(|e| format!("cgroup {}: {e}", group.display()))?;
                let quota = task.resources.cpu_millis * 100;
                std::fs::write(group.join("memory.max"), memory_bytes.to_string())
                    .and_then(|()| std::fs::write(group.join("cpu.max"), format!("{quota} 100000")))
                    .map_err(|e| format!("cgroup {}: {e}", group.display()))?;
                (
                    r#"echo $$ > "$limit/cgroup.procs" || exit 125"#,
                    group.display().to_string(),
                )
            }
            LimitMechanism::Rlimit => (
                r#"ulimit -v "$limit" || exit 125"#,
                (memory_bytes / 1024).to_string(),
            ),
        };
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(WRAPPER.replace("LIMIT", limit_line))
            .arg("drover-task")
            .arg(dir.join("exit"))
            .arg(limit)
            .args(&task.command)
            .current_dir(&work)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", &work)
            .env("DROVER_ALLOC_ID", alloc.to_string())
            .env("DROVER_DATA_DIR", &work)
            .envs(&task.env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start /bin/sh for the task: {e}"))?;
        let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("pid"), pid.to_string()).map_err(|e| e.to_string())?;
        Ok(Task {
            child: Some(child),
            pid,
            kill_at: None,
        })
    }

    fn cleanup(&self, alloc: AllocId) {
        if let LimitMechanism::CgroupV2(groups) = &self.limits {
            let _ = std::fs::remove_dir(groups.join(alloc.to_string()));
        }
    }
}

/// Running, as opposed to gone or a zombie awaiting a parent that is no
/// longer this process.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Waits on the task's wrapper in a thread of its own, leaving it for
/// `poll` to reap (`WNOWAIT`), and wakes the worker the moment it exits.
fn wake_on_exit(pid: i32, wake: ExitWaker) {
    let spawned = std::thread::Builder::new()
        .name(format!("exit-{pid}"))
        .spawn(move || {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
            if waitid(Id::Pid(Pid::from_raw(pid)), flags).is_ok() {
                wake();
            }
        });
    if let Err(e) = spawned {
        // The worker's next turn still finds the exit.
        tracing::warn!("cannot watch task {pid} for its exit: {e}");
    }
}

impl Executor for ProcessExecutor {
    fn drivers(&self) -> Vec<Driver> {
        vec![Driver::Exec]
    }

    fn store(&self) -> Option<&OutputStore> {
        Some(&self.store)
    }

    fn on_exit(&mut self, wake: ExitWaker) {
        self.wake = Some(wake);
    }

    fn start(&mut self, alloc: AllocId, _job: &JobId, task: &TaskSpec) -> Result<(), String> {
        expect_driver(task, Driver::Exec)?;
        if task.command.is_empty() {
            return Err("the task has no command".into());
        }
        if self.tasks.contains_key(&alloc) {
            return Ok(());
        }
        let started = self.spawn(alloc, task)?;
        if let Some(wake) = &self.wake {
            wake_on_exit(started.pid, wake.clone());
        }
        self.tasks.insert(alloc, started);
        Ok(())
    }

    fn stop(&mut self, alloc: AllocId, grace: Duration) {
        let task = self.tasks.get_mut(&alloc).filter(|t| t.kill_at.is_none());
        if let Some(task) = task {
            let _ = killpg(Pid::from_raw(task.pid), Signal::SIGTERM);
            task.kill_at = Some(Instant::now() + grace);
        }
    }

    fn poll(&mut self) -> Vec<(AllocId, Exit)> {
        let now = Instant::now();
        let mut ended = Vec::new();
        for (alloc, task) in &mut self.tasks {
            let status = match &mut task.child {
                Some(child) => match child.try_wait() {
                    Ok(Some(status)) => Some(status.code()),
                    Ok(None) => None,
                    Err(_) => Some(None),
                },
                None => (self.store.has_exit(*alloc) || !alive(task.pid)).then_some(None),
            };
            match status {
                Some(fallback) => ended.push((*alloc, fallback)),
                None => {
                    if task.kill_at.is_some_and(|at| now >= at) {
                        let _ = killpg(Pid::from_raw(task.pid), Signal::SIGKILL);
                    }
                }
            }
        }
        ended
            .into_iter()
            .map(|(alloc, fallback)| {
                self.tasks.remove(&alloc);
                self.cleanup(alloc);
                (alloc, self.store.read_exit(alloc, fallback))
            })
            .collect()
    }

    fn running(&self) -> Vec<AllocId> {
        self.tasks.keys().copied().collect()
    }
}
