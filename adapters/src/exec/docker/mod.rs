//! The `docker` driver, through bollard. The worker's calls return at once:
//! each container is driven by its own supervisor task on the node's
//! runtime (create, start, copy output, wait, record the exit, remove),
//! and what ended is handed back through `poll`.
//!
//! Containers carry labels naming their allocation, job, node and output
//! store, so a worker that restarts adopts its running containers instead
//! of starting duplicates, and removes the ones that have nothing left to
//! tell. Output goes to the same store as the exec driver's.

mod config;
mod in_container;
mod supervise;
#[doc(hidden)]
pub mod testing;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use drover_core::job::{Driver, TaskSpec};
use drover_core::{AllocId, JobId};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::{info, warn};

pub use config::{
    LABEL_ALLOC, LABEL_JOB, LABEL_NODE, LABEL_STORE, Owner, TMP_SIZE, UNPRIVILEGED_USER,
    container_config, effective_user,
};

use super::{Executor, Exit, ExitWaker, OutputStore, expect_driver};
use supervise::{Launch, Supervisor};

/// How long an image pull may take before the allocation fails.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// What the driver and its supervisors share.
#[derive(Default)]
struct Board {
    /// Live containers, with the channel that asks each to stop.
    tasks: BTreeMap<AllocId, watch::Sender<Option<Duration>>>,
    ended: Vec<(AllocId, Exit)>,
}

type SharedBoard = Arc<Mutex<Board>>;

fn lock<T>(shared: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct DockerExecutor {
    docker: Docker,
    runtime: Handle,
    store: OutputStore,
    node: String,
    board: SharedBoard,
    /// Read when a task ends, so containers adopted before the worker
    /// asked to be woken wake it too.
    wake: std::sync::Arc<std::sync::Mutex<Option<ExitWaker>>>,
}

impl DockerExecutor {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket),
    /// then adopts the containers a previous worker process left for the
    /// store at `root`. Must be called on the runtime that will drive the
    /// containers.
    pub async fn connect(root: &Path, node: &str) -> Result<Self, String> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| format!("docker: {e}"))?
            .negotiate_version()
            .await
            .map_err(|e| format!("docker engine not answering: {e}"))?;
        docker
            .ping()
            .await
            .map_err(|e| format!("docker engine not answering: {e}"))?;
        let executor = Self {
            docker,
            runtime: Handle::current(),
            store: OutputStore::open(root)?,
            node: node.to_string(),
            board: SharedBoard::default(),
            wake: std::sync::Arc::default(),
        };
        executor.adopt().await?;
        Ok(executor)
    }

    /// The allocation's local data directory (it may hold data migrated
    /// from the allocation it replaces), made writable by whichever user
    /// the container runs as, and named as the engine needs: absolute.
    fn data_dir(&self, alloc: AllocId) -> Result<String, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.store.data_dir(alloc);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)))
            .and_then(|()| std::fs::canonicalize(&dir))
            .map(|dir| dir.display().to_string())
            .map_err(|e| format!("cannot prepare {}: {e}", dir.display()))
    }

    fn store_label(&self) -> String {
        self.store.root().display().to_string()
    }

    /// Takes over this store's containers: running or exited ones are
    /// supervised again (an exited one has its output and exit recorded,
    /// then is removed); one created but not yet started when the previous
    /// worker died is started, since its allocation was started. The
    /// worker stops any whose allocation it no longer owns. A container
    /// with no allocation label is removed.
    async fn adopt(&self) -> Result<(), String> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_STORE}={}", self.store_label())],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| format!("docker: listing containers: {e}"))?;
        for container in found {
            let Some(id) = container.id else { continue };
            let alloc = container
                .labels
                .as_ref()
                .and_then(|labels| labels.get(LABEL_ALLOC))
                .and_then(|a| a.strip_prefix('a'))
                .and_then(|n| n.parse().ok())
                .map(AllocId);
            let Some(alloc) = alloc else {
                info!(container = %id, "removing a container that names no allocation");
                let force = RemoveContainerOptionsBuilder::default().force(true).build();
                if let Err(e) = self.docker.remove_container(&id, Some(force)).await {
                    warn!(container = %id, "could not remove: {e}");
                }
                continue;
            };
            if container.state == Some(ContainerSummaryStateEnum::CREATED)
                && let Err(e) = self.docker.start_container(&id, None).await
            {
                warn!(%alloc, container = %id, "could not start the adopted container: {e}");
            }
            info!(%alloc, container = %id, "adopting container");
            self.supervise(alloc, Launch::Adopt { container: id });
        }
        Ok(())
    }

    fn supervise(&self, alloc: AllocId, launch: Launch) {
        let (stop_tx, stop_rx) = watch::channel(None);
        lock(&self.board).tasks.insert(alloc, stop_tx);
        let supervisor = Supervisor {
            docker: self.docker.clone(),
            store: self.store.clone(),
            alloc,
            stop: stop_rx,
        };
        let board = self.board.clone();
        let wake = self.wake.clone();
        self.runtime.spawn(async move {
            let exit = supervisor.run(launch).await;
            {
                let mut board = lock(&board);
                board.tasks.remove(&alloc);
                board.ended.push((alloc, exit));
            }
            if let Some(wake) = lock(&wake).as_ref() {
                wake();
            }
        });
    }

    /// A container name unique to this store, so that creating the same
    /// allocation twice fails instead of running it twice.
    fn container_name(&self, alloc: AllocId) -> String {
        let store = crc32c::crc32c(self.store_label().as_bytes());
        format!("drover-{alloc}-{store:08x}")
    }
}

impl Executor for DockerExecutor {
    fn drivers(&self) -> Vec<Driver> {
        vec![Driver::Docker]
    }

    fn on_exit(&mut self, wake: ExitWaker) {
        *lock(&self.wake) = Some(wake);
    }

    fn store(&self) -> Option<&OutputStore> {
        Some(&self.store)
    }

    fn start(&mut self, alloc: AllocId, job: &JobId, task: &TaskSpec) -> Result<(), String> {
        expect_driver(task, Driver::Docker)?;
        if task.image.is_none() {
            return Err("a docker task needs an image".into());
        }
        if lock(&self.board).tasks.contains_key(&alloc) {
            return Ok(());
        }
        let owner = Owner {
            alloc,
            job: job.to_string(),
            node: self.node.clone(),
            store: self.store_label(),
            data: self.data_dir(alloc)?,
        };
        let name = self.container_name(alloc);
        self.supervise(
            alloc,
            Launch::Create {
                name,
                owner,
                task: Box::new(task.clone()),
            },
        );
        Ok(())
    }

    fn stop(&mut self, alloc: AllocId, grace: Duration) {
        if let Some(stop) = lock(&self.board).tasks.get(&alloc) {
            stop.send_if_modified(|asked| {
                let first = asked.is_none();
                if first {
                    *asked = Some(grace);
                }
                first
            });
        }
    }

    fn poll(&mut self) -> Vec<(AllocId, Exit)> {
        std::mem::take(&mut lock(&self.board).ended)
    }

    fn running(&self) -> Vec<AllocId> {
        lock(&self.board).tasks.keys().copied().collect()
    }

    fn command_in_task(&self, alloc: AllocId) -> Option<super::InTask> {
        if !lock(&self.board).tasks.contains_key(&alloc) {
            return None;
        }
        Some(in_container::command(
            self.docker.clone(),
            self.container_name(alloc),
        ))
    }
}
