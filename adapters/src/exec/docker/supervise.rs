//! One container's life, driven to its end by one task: make sure the
//! image is here, create and start the container (or take over one a
//! previous worker left), copy its output into the store while it runs,
//! stop it when asked, record how it ended, then remove it.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use drover_core::AllocId;
use drover_core::job::TaskSpec;
use futures_util::StreamExt;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::{Owner, PULL_TIMEOUT, container_config, effective_user};
use crate::exec::{Exit, OutputStore};

pub enum Launch {
    Create {
        name: String,
        owner: Owner,
        task: Box<TaskSpec>,
    },
    /// A container a previous worker process started.
    Adopt { container: String },
}

pub struct Supervisor {
    pub docker: Docker,
    pub store: OutputStore,
    pub alloc: AllocId,
    /// `Some(grace)` once the worker asks the task to stop.
    pub stop: watch::Receiver<Option<Duration>>,
}

/// How the container ended, as the engine tells it.
struct Ended {
    code: i32,
    oom_killed: bool,
    memory_limit_bytes: Option<i64>,
}

fn status_of(error: &DockerError) -> Option<u16> {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl Supervisor {
    pub async fn run(mut self, launch: Launch) -> Exit {
        let container = match launch {
            Launch::Create { name, owner, task } => {
                match self.create_and_start(&name, &owner, &task).await {
                    Ok(container) => container,
                    Err(message) => {
                        return Exit {
                            code: None,
                            message,
                        };
                    }
                }
            }
            Launch::Adopt { container } => container,
        };
        self.follow(&container).await
    }

    async fn create_and_start(
        &self,
        name: &str,
        owner: &Owner,
        task: &TaskSpec,
    ) -> Result<String, String> {
        let image = task.image.as_deref().unwrap_or_default();
        let image_user = self.ensure_image(image).await?;
        let config = container_config(owner, task, effective_user(task, image_user.as_deref()));
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let container = match self.docker.create_container(Some(options), config).await {
            Ok(created) => created.id,
            // This allocation's container exists already (created by an
            // earlier attempt): use it rather than run the task twice.
            Err(e) if status_of(&e) == Some(409) => name.to_string(),
            Err(e) => {
                return Err(format!(
                    "docker could not create a container from {image}: {e}"
                ));
            }
        };
        if self.stop.borrow().is_some() {
            self.remove(&container).await;
            return Err("stopped before it started".into());
        }
        if let Err(e) = self.docker.start_container(&container, None).await {
            self.remove(&container).await;
            return Err(format!(
                "docker could not start a container from {image}: {e}"
            ));
        }
        Ok(container)
    }

    /// The image's configured user, pulling the image first if it is not
    /// here. Fails with a message naming the image, within `PULL_TIMEOUT`.
    async fn ensure_image(&self, image: &str) -> Result<Option<String>, String> {
        match self.docker.inspect_image(image).await {
            Ok(found) => return Ok(found.config.and_then(|c| c.user)),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(format!("docker could not inspect image {image}: {e}")),
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let pull = async {
            let mut progress = self.docker.create_image(Some(options), None, None);
            while let Some(step) = progress.next().await {
                step.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        let pulled = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer in {}s", PULL_TIMEOUT.as_secs())),
        };
        if let Err(e) = pulled {
            return Err(format!(
                "image {image} is not on this node and could not be pulled: {e}"
            ));
        }
        let found = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| format!("image {image} was pulled but cannot be inspected: {e}"))?;
        Ok(found.config.and_then(|c| c.user))
    }

    /// Copies output until the container has stopped, stopping it if
    /// asked; then records the exit and removes the container.
    async fn follow(&mut self, container: &str) -> Exit {
        let mut stop_channel_open = true;
        let ended = loop {
            let copy = copy_output(&self.docker, &self.store, self.alloc, container);
            tokio::pin!(copy);
            let copied = loop {
                tokio::select! {
                    copied = &mut copy => break copied,
                    changed = self.stop.changed(), if stop_channel_open => match changed {
                        Ok(()) => self.request_stop(container),
                        Err(_) => stop_channel_open = false,
                    },
                }
            };
            if let Err(e) = copied {
                debug!(alloc = %self.alloc, "output stream ended early, following again: {e}");
            }
            // The log stream ends when the container stops, or when the
            // connection breaks: only the engine can say which.
            match self.docker.inspect_container(container, None).await {
                Ok(inspected) => {
                    if let Some(ended) = ended_state(&inspected) {
                        break Ok(ended);
                    }
                }
                Err(e) => break Err(format!("container {container} disappeared: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let ended = match ended {
            Ok(ended) => ended,
            Err(message) => {
                return Exit {
                    code: None,
                    message,
                };
            }
        };
        let note = ended.oom_killed.then(|| match ended.memory_limit_bytes {
            Some(limit) if limit > 0 => format!(
                "killed: out of memory (limit {} MiB)",
                limit / (1024 * 1024)
            ),
            _ => "killed: out of memory".to_string(),
        });
        match self
            .store
            .record_exit(self.alloc, ended.code, note.as_deref())
        {
            // Output and exit are safe on disk: the container has nothing
            // more to tell.
            Ok(()) => self.remove(container).await,
            Err(e) => warn!(alloc = %self.alloc, "{e}; keeping container {container}"),
        }
        let mut exit = self.store.read_exit(self.alloc, Some(ended.code));
        if let Some(note) = note {
            exit.message = format!("exited {}: {note}", ended.code);
        }
        exit
    }

    fn request_stop(&self, container: &str) {
        let Some(grace) = *self.stop.borrow() else {
            return;
        };
        let docker = self.docker.clone();
        let container = container.to_string();
        let grace_secs = i32::try_from(grace.as_secs().max(1)).unwrap_or(i32::MAX);
        tokio::spawn(async move {
            let options = StopContainerOptionsBuilder::default().t(grace_secs).build();
            if let Err(e) = docker.stop_container(&container, Some(options)).await {
                warn!(container, "docker could not stop the container: {e}");
            }
        });
    }

    async fn remove(&self, container: &str) {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        if let Err(e) = self.docker.remove_container(container, Some(options)).await {
            warn!(alloc = %self.alloc, container, "could not remove the container: {e}");
        }
    }
}

fn ended_state(inspected: &ContainerInspectResponse) -> Option<Ended> {
    let state = inspected.state.as_ref()?;
    if state.running == Some(true) {
        return None;
    }
    Some(Ended {
        code: state
            .exit_code
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(-1),
        oom_killed: state.oom_killed == Some(true),
        memory_limit_bytes: inspected.host_config.as_ref().and_then(|h| h.memory),
    })
}

/// Writes the container's whole output, from its start, into the store;
/// returns when the container stops (or the stream breaks). Starting from
/// the beginning each time keeps the files a faithful copy whatever a
/// previous worker process managed to write.
async fn copy_output(
    docker: &Docker,
    store: &OutputStore,
    alloc: AllocId,
    container: &str,
) -> Result<(), String> {
    let (mut stdout, mut stderr) = store.prepare(alloc)?;
    let options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut stream = docker.logs(container, Some(options));
    while let Some(chunk) = stream.next().await {
        let written = match chunk.map_err(|e| e.to_string())? {
            LogOutput::StdErr { message } => stderr.write_all(&message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                stdout.write_all(&message)
            }
            LogOutput::StdIn { .. } => Ok(()),
        };
        written.map_err(|e| format!("writing output of {alloc}: {e}"))?;
    }
    sync(&stdout).and(sync(&stderr))
}

fn sync(file: &File) -> Result<(), String> {
    file.sync_all().map_err(|e| e.to_string())
}
