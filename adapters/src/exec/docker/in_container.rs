//! A command run inside a running container (the engine's exec API), as
//! an exec check of a docker task runs: in the container's namespaces,
//! as its user, with its filesystem.

use std::sync::Arc;

use bollard::Docker;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures_util::StreamExt;

use crate::exec::InTask;

/// The most of a command's output kept: a check's line is clipped anyway.
const MAX_OUTPUT: usize = 4096;

pub(super) fn command(docker: Docker, container: String) -> InTask {
    Arc::new(move |command: Vec<String>| {
        let docker = docker.clone();
        let container = container.clone();
        Box::pin(async move { run(&docker, &container, command).await })
    })
}

async fn run(
    docker: &Docker,
    container: &str,
    command: Vec<String>,
) -> Result<(i64, String), String> {
    let config = ExecConfig {
        cmd: Some(command),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..ExecConfig::default()
    };
    let exec = docker
        .create_exec(container, config)
        .await
        .map_err(|e| format!("docker exec in {container}: {e}"))?;
    let mut said = Vec::new();
    if let StartExecResults::Attached { mut output, .. } =
        docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| format!("docker exec in {container}: {e}"))?
    {
        while let Some(chunk) = output.next().await {
            let chunk = chunk.map_err(|e| format!("docker exec in {container}: {e}"))?;
            let bytes = chunk.into_bytes();
            let room = MAX_OUTPUT.saturating_sub(said.len());
            said.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
    let inspected = docker
        .inspect_exec(&exec.id)
        .await
        .map_err(|e| format!("docker exec in {container}: {e}"))?;
    let code = inspected
        .exit_code
        .ok_or_else(|| format!("docker exec in {container}: the engine gave no exit code"))?;
    Ok((code, String::from_utf8_lossy(&said).into_owned()))
}
