//! A simulated executor: a task "runs" for a time read from its command and
//! then exits, all in the simulator's virtual time. `["sim", "<ms>",
//! "<exit code>"]` runs for that long and exits so; any other command runs
//! for 100 ms and exits 0. Output is a line naming the allocation. Every
//! start and end is recorded in the run's `Reality`, which the reality
//! invariants read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_adapters::exec::{Executor, Exit};
use drover_core::job::{Driver, TaskSpec};
use drover_core::{AllocId, JobId};

use crate::reality::{Reality, Started};

struct Task {
    ends_at: Instant,
    code: i32,
    stop_at: Option<Instant>,
}

pub struct SimExecutor {
    node: u64,
    reality: Reality,
    running: BTreeMap<AllocId, Task>,
    ended: BTreeMap<AllocId, Exit>,
}

impl SimExecutor {
    /// The executor of `node`, recording what it runs in `reality`.
    pub fn new(node: u64, reality: Reality) -> Self {
        Self {
            node,
            reality,
            running: BTreeMap::new(),
            ended: BTreeMap::new(),
        }
    }
}

fn plan(task: &TaskSpec) -> (Duration, i32) {
    match task.command.as_slice() {
        [sim, ms, code] if sim == "sim" => (
            Duration::from_millis(ms.parse().unwrap_or(100)),
            code.parse().unwrap_or(0),
        ),
        _ => (Duration::from_millis(100), 0),
    }
}

impl Executor for SimExecutor {
    /// The simulated machine runs any task.
    fn drivers(&self) -> Vec<Driver> {
        vec![Driver::Docker, Driver::Exec]
    }

    fn start(&mut self, alloc: AllocId, job: &JobId, task: &TaskSpec) -> Result<(), String> {
        let (runs_for, code) = plan(task);
        let started = Started {
            resources: task.resources,
            runs_for,
            exit_code: code,
            ports: task
                .env
                .iter()
                .filter(|(key, _)| key.starts_with("DROVER_PORT_"))
                .filter_map(|(_, port)| port.parse().ok())
                .collect(),
        };
        self.reality.started(self.node, alloc, job, started);
        self.running.insert(
            alloc,
            Task {
                ends_at: Instant::now() + runs_for,
                code,
                stop_at: None,
            },
        );
        Ok(())
    }

    fn stop(&mut self, alloc: AllocId, _grace: Duration) {
        if let Some(task) = self.running.get_mut(&alloc) {
            task.stop_at.get_or_insert_with(Instant::now);
            self.reality.stopped(self.node, alloc);
        }
    }

    fn poll(&mut self) -> Vec<(AllocId, Exit)> {
        let now = Instant::now();
        let done: Vec<AllocId> = self
            .running
            .iter()
            .filter(|(_, t)| t.ends_at <= now || t.stop_at.is_some())
            .map(|(id, _)| *id)
            .collect();
        done.into_iter()
            .filter_map(|id| {
                let task = self.running.remove(&id)?;
                let code = if task.stop_at.is_some_and(|at| at < task.ends_at) {
                    143
                } else {
                    task.code
                };
                let exit = Exit {
                    code: Some(code),
                    message: format!("exited {code}"),
                };
                self.ended.insert(id, exit.clone());
                Some((id, exit))
            })
            .collect()
    }

    fn running(&self) -> Vec<AllocId> {
        self.running.keys().copied().collect()
    }

    fn output(
        &self,
        alloc: AllocId,
        _stderr: bool,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Vec<u8>, String> {
        let text = format!("output of {alloc}\n").into_bytes();
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        Ok(text[from..].iter().copied().take(max_bytes).collect())
    }

    fn recorded_exit(&self, alloc: AllocId) -> Option<Exit> {
        self.ended.get(&alloc).cloned()
    }

    fn kept(&self) -> Vec<AllocId> {
        self.ended.keys().copied().collect()
    }

    fn forget(&mut self, alloc: AllocId) {
        self.ended.remove(&alloc);
    }
}
