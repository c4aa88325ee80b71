//! Running one check: an HTTP `GET`, a TCP connection or a command, each
//! bounded by the check's timeout. The answer is whether it passed and a
//! line saying what was seen, for `job status` and for the reason a task
//! is restarted.

use std::collections::BTreeMap;
use std::time::Duration;

use drover_adapters::exec::InTask;
use drover_core::health::{CheckKind, CheckSpec, clip};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of an HTTP answer read: the status line is in its first bytes.
const MAX_ANSWER: usize = 4096;

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub passed: bool,
    pub output: String,
}

impl Outcome {
    fn pass(output: impl Into<String>) -> Self {
        Self {
            passed: true,
            output: output.into(),
        }
    }

    fn fail(output: impl Into<String>) -> Self {
        Self {
            passed: false,
            output: output.into(),
        }
    }
}

/// Where a task's exec checks run.
#[derive(Clone)]
pub enum CommandsRun {
    /// On the host, as the task does (an exec task).
    OnHost,
    /// Inside the task's container, if it can be reached; never on the
    /// host, where a container's command would run as the agent.
    InContainer(Option<InTask>),
}

/// Runs `check` against a task whose environment is `env` (its
/// `DROVER_ADDR_<LABEL>` say where each port is reached); an exec check
/// runs where `commands` says.
pub async fn run(
    check: &CheckSpec,
    env: &BTreeMap<String, String>,
    commands: &CommandsRun,
) -> Outcome {
    let timeout = Duration::from_millis(check.timeout_ms);
    let probe = async {
        match &check.kind {
            CheckKind::Http { port, path, status } => match address(env, port) {
                Ok(addr) => http(&addr, path, *status).await,
                Err(missing) => missing,
            },
            CheckKind::Tcp { port } => match address(env, port) {
                Ok(addr) => tcp(&addr).await,
                Err(missing) => missing,
            },
            CheckKind::Exec { command } => match commands {
                CommandsRun::OnHost => exec(command, env).await,
                CommandsRun::InContainer(Some(in_task)) => match in_task(command.clone()).await {
                    Ok((code, said)) => exited(Some(code), &said),
                    Err(e) => Outcome::fail(e),
                },
                CommandsRun::InContainer(None) => {
                    Outcome::fail("the task's container cannot be reached to run the check in")
                }
            },
        }
    };
    match tokio::time::timeout(timeout, probe).await {
        Ok(outcome) => Outcome {
            passed: outcome.passed,
            output: clip(&outcome.output),
        },
        Err(_) => Outcome::fail(format!(
            "no answer within {}",
            drover_core::units::format_duration_ms(check.timeout_ms)
        )),
    }
}

fn address(env: &BTreeMap<String, String>, label: &str) -> Result<String, Outcome> {
    let key = format!("DROVER_ADDR_{}", label.to_ascii_uppercase());
    env.get(&key)
        .cloned()
        .ok_or_else(|| Outcome::fail(format!("the task holds no port {label:?}")))
}

async fn tcp(addr: &str) -> Outcome {
    match tokio::net::TcpStream::connect(addr).await {
        Ok(_) => Outcome::pass(format!("connected to {addr}")),
        Err(e) => Outcome::fail(format!("connecting to {addr}: {e}")),
    }
}

async fn http(addr: &str, path: &str, expected: Option<u16>) -> Outcome {
    let answer = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: drover-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        // Up to the status line: a server that keeps the connection open
        // or streams its body has answered once that line is in.
        let mut answer = Vec::with_capacity(512);
        let mut chunk = [0u8; 512];
        while answer.len() < MAX_ANSWER && !answer.contains(&b'\n') {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match answer.await {
        Ok(answer) => answer,
        Err(e) => return Outcome::fail(format!("GET http://{addr}{path}: {e}")),
    };
    match status_line(&answer) {
        Ok((status, reason)) => {
            let passed = expected.map_or((200..300).contains(&status), |want| status == want);
            let said = format!("GET http://{addr}{path}: HTTP {status} {reason}");
            match expected {
                Some(want) if !passed => Outcome::fail(format!("{said} (expected {want})")),
                _ if passed => Outcome::pass(said),
                _ => Outcome::fail(format!("{said} (expected 2xx)")),
            }
        }
        Err(e) => Outcome::fail(format!("GET http://{addr}{path}: {e}")),
    }
}

/// The status code and reason of an HTTP/1 answer's first line.
pub fn status_line(answer: &[u8]) -> Result<(u16, String), String> {
    if answer.is_empty() {
        return Err("the connection closed without an answer".into());
    }
    let end = answer
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no complete status line in the answer")?;
    let line = String::from_utf8_lossy(&answer[..end]);
    let line = line.trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 answer: {:?}", clip(line)));
    }
    let code = parts.next().unwrap_or_default();
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=599).contains(s) && code.len() == 3)
        .ok_or_else(|| format!("no status code in {:?}", clip(line)))?;
    Ok((status, parts.next().unwrap_or_default().trim().to_string()))
}

#[cfg(not(madsim))]
async fn exec(command: &[String], env: &BTreeMap<String, String>) -> Outcome {
    let Some((program, args)) = command.split_first() else {
        return Outcome::fail("no command");
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(env)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match child.await {
        Ok(out) => {
            let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
            said.push_str(&String::from_utf8_lossy(&out.stderr));
            exited(out.status.code().map(i64::from), &said)
        }
        Err(e) => Outcome::fail(format!("could not run {program:?}: {e}")),
    }
}

/// A command's outcome: passed on exit 0, with what it printed.
fn exited(code: Option<i64>, said: &str) -> Outcome {
    let said = said.trim();
    let status = match code {
        Some(code) => format!("exit {code}"),
        None => "killed by a signal".into(),
    };
    let output = if said.is_empty() {
        status
    } else {
        format!("{status}: {said}")
    };
    if code == Some(0) {
        Outcome::pass(output)
    } else {
        Outcome::fail(output)
    }
}

/// The simulator has no processes to run: its tasks ask for no exec checks.
#[cfg(madsim)]
#[expect(clippy::unused_async, reason = "the real one's signature")]
async fn exec(_command: &[String], _env: &BTreeMap<String, String>) -> Outcome {
    Outcome::fail("exec checks do not run in the simulator")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn status_lines_are_read_or_refused_saying_why() {
        assert_eq!(
            status_line(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"),
            Ok((200, "OK".into()))
        );
        assert_eq!(
            status_line(b"HTTP/1.1 503 Service Unavailable\n"),
            Ok((503, "Service Unavailable".into()))
        );
        assert_eq!(status_line(b"HTTP/1.1 204\r\n"), Ok((204, String::new())));
        assert!(status_line(b"").unwrap_err().contains("closed without"));
        assert!(
            status_line(b"HTTP/1.1 200 OK")
                .unwrap_err()
                .contains("no complete")
        );
        assert!(
            status_line(b"SSH-2.0-OpenSSH\r\n")
                .unwrap_err()
                .contains("not an HTTP/1")
        );
        assert!(
            status_line(b"HTTP/1.1 2000 OK\r\n")
                .unwrap_err()
                .contains("no status code")
        );
        assert!(
            status_line(b"HTTP/1.1 +20 OK\r\n")
                .unwrap_err()
                .contains("no status code")
        );
    }

    proptest! {
        /// Whatever bytes a task answers with, reading them neither panics
        /// nor yields a status outside HTTP's.
        #[test]
        fn any_answer_reads_as_a_status_or_an_error(answer in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok((status, _)) = status_line(&answer) {
                prop_assert!((100..=599).contains(&status));
            }
        }

        #[test]
        fn well_formed_status_lines_read_back(status in 100u16..=599, reason in "[A-Za-z ]{0,20}") {
            let line = format!("HTTP/1.1 {status} {reason}\r\n\r\n");
            let (read, said) = status_line(line.as_bytes()).unwrap();
            prop_assert_eq!(read, status);
            prop_assert_eq!(said, reason.trim());
        }
    }
}
