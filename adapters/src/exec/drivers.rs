//! A worker's drivers behind one executor: each task goes to the driver
//! its spec names; a driver this worker lacks fails the allocation with
//! the reason it is missing.

use std::time::Duration;

use drover_core::job::{Driver, TaskSpec};
use drover_core::{AllocId, JobId};

use super::{Executor, Exit, ExitWaker, OutputStore};

type Boxed = Box<dyn Executor + Send>;

pub struct Drivers {
    /// Always there: it keeps every task's output and follows tasks it
    /// started before; it starts new ones only when offered.
    exec: Boxed,
    /// Why this worker does not offer the exec driver, if it does not.
    exec_off: Option<String>,
    /// The docker driver, or why this worker has none.
    docker: Result<Boxed, String>,
}

impl Drivers {
    pub fn new(exec: Boxed, docker: Result<Boxed, String>) -> Self {
        Self {
            exec,
            exec_off: None,
            docker,
        }
    }

    /// Stops offering the exec driver (`why`): no exec task is placed on
    /// this worker or started by it.
    #[must_use]
    pub fn without_exec(mut self, why: impl Into<String>) -> Self {
        self.exec_off = Some(why.into());
        self
    }

    fn each(&mut self) -> impl Iterator<Item = &mut Boxed> {
        std::iter::once(&mut self.exec).chain(self.docker.as_mut().ok())
    }

    fn holding(&mut self, alloc: AllocId) -> Option<&mut Boxed> {
        self.each().find(|driver| driver.running().contains(&alloc))
    }
}

impl Executor for Drivers {
    fn drivers(&self) -> Vec<Driver> {
        let mut drivers = if self.exec_off.is_some() {
            Vec::new()
        } else {
            self.exec.drivers()
        };
        if let Ok(docker) = &self.docker {
            drivers.extend(docker.drivers());
        }
        drivers
    }

    fn on_exit(&mut self, wake: ExitWaker) {
        for driver in self.each() {
            driver.on_exit(wake.clone());
        }
    }

    fn start(&mut self, alloc: AllocId, job: &JobId, task: &TaskSpec) -> Result<(), String> {
        match task.driver {
            Driver::Exec => match &self.exec_off {
                None => self.exec.start(alloc, job, task),
                Some(why) => Err(format!("this worker does not offer the exec driver: {why}")),
            },
            Driver::Docker => match &mut self.docker {
                Ok(docker) => docker.start(alloc, job, task),
                Err(why) => Err(format!("this worker has no docker driver: {why}")),
            },
        }
    }

    fn stop(&mut self, alloc: AllocId, grace: Duration) {
        if let Some(driver) = self.holding(alloc) {
            driver.stop(alloc, grace);
        }
    }

    fn poll(&mut self) -> Vec<(AllocId, Exit)> {
        self.each().flat_map(|driver| driver.poll()).collect()
    }

    fn running(&self) -> Vec<AllocId> {
        let mut running = self.exec.running();
        if let Ok(docker) = &self.docker {
            running.extend(docker.running());
        }
        running.sort_unstable();
        running
    }

    fn command_in_task(&self, alloc: AllocId) -> Option<super::InTask> {
        self.docker.as_ref().ok()?.command_in_task(alloc)
    }

    /// Both drivers write to the same output store.
    fn store(&self) -> Option<&OutputStore> {
        self.exec.store()
    }
}
