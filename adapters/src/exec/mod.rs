//! Executors run allocations' tasks on a worker. The worker drives them
//! without blocking: `start` and `stop` return at once, and `poll` reports
//! what finished. The process executor (`exec` driver) and the `docker`
//! driver are here, with the output store both write to; the simulator's
//! executor implements the same trait.

mod data;
#[cfg(not(madsim))]
pub mod docker;
mod drivers;
mod limits;
mod process;
mod store;

use std::time::Duration;

use drover_core::job::{Driver, TaskSpec};
use drover_core::{AllocId, JobId};

pub use data::{DATA_DIR, Unpacked};
pub use drivers::Drivers;
pub use drover_core::worker::Exit;
pub use limits::{LimitMechanism, detect_limits};
pub use process::ProcessExecutor;
pub use store::OutputStore;

/// Runs a command inside one task (a container's namespaces and
/// filesystem), answering its exit code and what it printed: how an exec
/// check reaches a task that is not a host process.
pub type InTask = std::sync::Arc<
    dyn Fn(
            Vec<String>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(i64, String), String>> + Send>,
        > + Send
        + Sync,
>;

/// Called by an executor as soon as one of its tasks has ended, so the
/// worker can `poll` for it at once instead of at its next turn.
pub type ExitWaker = std::sync::Arc<dyn Fn() + Send + Sync>;

pub trait Executor {
    /// The task drivers this executor runs; the node advertises them.
    fn drivers(&self) -> Vec<Driver>;
    /// Asks to be woken when a task started from now on ends. Executors
    /// that cannot tell leave it to `poll`.
    fn on_exit(&mut self, _wake: ExitWaker) {}
    /// Starts the task; an error says why it could not start. A failure
    /// found later (an image that cannot be pulled) comes back from `poll`.
    fn start(&mut self, alloc: AllocId, job: &JobId, task: &TaskSpec) -> Result<(), String>;
    /// Asks the task to stop: SIGTERM now, SIGKILL once `grace` has passed.
    fn stop(&mut self, alloc: AllocId, grace: Duration);
    /// Tasks that ended since the last poll.
    fn poll(&mut self) -> Vec<(AllocId, Exit)>;
    /// Allocations with a live task.
    fn running(&self) -> Vec<AllocId>;
    /// Where this executor keeps its tasks' output and exit records.
    fn store(&self) -> Option<&OutputStore> {
        None
    }
    /// A slice of the task's output (`stderr` or stdout) from `offset`.
    fn output(
        &self,
        alloc: AllocId,
        stderr: bool,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Vec<u8>, String> {
        self.store()
            .ok_or_else(|| "this executor keeps no output".to_string())?
            .output(alloc, stderr, offset, max_bytes)
    }
    /// Ended allocations this executor keeps something of (output, exit
    /// records), oldest first.
    fn kept(&self) -> Vec<AllocId> {
        self.store().map_or_else(Vec::new, |store| {
            store.allocs().into_iter().map(|(alloc, _)| alloc).collect()
        })
    }
    /// Removes what is kept of an ended allocation the control plane has
    /// collected.
    fn forget(&mut self, alloc: AllocId) {
        if let Some(store) = self.store() {
            store.remove(alloc);
        }
    }
    /// How to run a command inside `alloc`'s task, where the task is
    /// isolated from its host; `None` where commands for it run on the
    /// host (a process), or it does not run here.
    fn command_in_task(&self, _alloc: AllocId) -> Option<InTask> {
        None
    }
    /// How a task that is no longer running ended, if this worker knows:
    /// what a restarted worker reports for tasks that ended while it was down.
    fn recorded_exit(&self, alloc: AllocId) -> Option<Exit> {
        self.store()?.recorded_exit(alloc)
    }
}

/// An error unless `task` is one for `driver` to run.
fn expect_driver(task: &TaskSpec, driver: Driver) -> Result<(), String> {
    if task.driver == driver {
        Ok(())
    } else {
        Err(format!(
            "the {driver} driver cannot run a {} task",
            task.driver
        ))
    }
}

/// An executor shared by the worker loop and the output service.
pub type SharedExecutor = std::sync::Arc<std::sync::Mutex<dyn Executor + Send>>;
