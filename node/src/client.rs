//! Talking to a node's public API, for the CLI: any of several nodes
//! will do, and a write that certainly did not apply is sent to the next.

use std::future::Future;
use std::time::{Duration, Instant};

use std::sync::OnceLock;

use drover_proto::v1::api_client::ApiClient;
#[cfg(not(madsim))]
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::propose::OUTCOME_KEY;

/// `DROVER_ADDR`'s default: the first node of `drover dev`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7401";

/// A connection to a node's public API that carries the process's ACL
/// token and region on every call that does not carry its own.
#[cfg(not(madsim))]
pub type Connection = ApiClient<InterceptedService<Channel, AddToken>>;
/// The simulator's gRPC keeps an interceptor inside the client.
#[cfg(madsim)]
pub type Connection = ApiClient<Channel>;
pub type AddToken = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

static TOKEN: OnceLock<String> = OnceLock::new();
static REGION: OnceLock<String> = OnceLock::new();

/// The ACL token every call from this process carries (`--token`,
/// `DROVER_TOKEN`); set once, before the first call.
pub fn use_token(token: String) {
    let _ = TOKEN.set(token);
}

/// The region every call from this process is for (`--region`,
/// `DROVER_REGION`); set once, before the first call.
pub fn use_region(region: String) {
    let _ = REGION.set(region);
}

fn add_token(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    let carried = [
        (
            crate::access::TOKEN_KEY,
            TOKEN.get().map(|t| format!("Bearer {t}")),
            "the ACL token (--token, DROVER_TOKEN)",
        ),
        (
            crate::federation::REGION_KEY,
            REGION.get().cloned(),
            "the region (--region, DROVER_REGION)",
        ),
    ];
    for (key, value, what) in carried {
        if let Some(value) = value
            && !request.metadata().contains_key(key)
        {
            let value = value.parse().map_err(|_| {
                tonic::Status::invalid_argument(format!("{what} is not visible ASCII text"))
            })?;
            request.metadata_mut().insert(key, value);
        }
    }
    Ok(request)
}

/// `channel` as a connection that carries the process's token.
pub fn over(channel: Channel) -> Connection {
    ApiClient::with_interceptor(channel, add_token as AddToken)
}

pub async fn connect(addr: &str) -> Result<Connection, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("bad address {addr}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    let channel = crate::channel::connect(&endpoint)
        .await
        .map_err(|e| format!("cannot reach a Drover node at {addr}: {e} (is `drover dev` or `drover agent` running? set DROVER_ADDR)"))?;
    Ok(over(channel))
}

/// `--addr` as given: one address or several, comma-separated.
pub fn addr_list(given: &str) -> Vec<String> {
    given
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect()
}

/// The first of `addrs` that answers.
pub async fn connect_any(addrs: &[String]) -> Result<Connection, String> {
    let mut errors = Vec::new();
    for addr in addrs {
        match connect(addr).await {
            Ok(client) => return Ok(client),
            Err(e) => errors.push(e),
        }
    }
    Err(match errors.len() {
        0 => "no node address given (--addr or DROVER_ADDR)".into(),
        1 => errors.remove(0),
        _ => format!("no node answered: {}", errors.join("; ")),
    })
}

/// How long a write keeps looking for a node that takes it: longer than
/// an election takes.
pub const WRITE_PATIENCE: Duration = Duration::from_secs(10);

/// What a failed call says about a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The node said it never applied and never will: send it again.
    NotApplied,
    /// It may have committed: the node said so, or the answer was lost.
    Unknown,
    /// A definite answer (invalid, not found, refused).
    Answered,
}

pub fn outcome(status: &tonic::Status) -> Outcome {
    let said = status
        .metadata()
        .get(OUTCOME_KEY)
        .and_then(|v| v.to_str().ok());
    match (said, status.code()) {
        (Some("not-applied"), _) => Outcome::NotApplied,
        (Some(_), _)
        | (
            None,
            tonic::Code::Unknown
            | tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Internal,
        ) => Outcome::Unknown,
        (None, _) => Outcome::Answered,
    }
}

/// Sends a write to one node after another until one answers, for as
/// long as every failure certainly left it unapplied (a node that cannot
/// be reached, or that says `not-applied`); stops at the first answer
/// that may have applied it, and says so.
pub async fn write_any<T, F, Fut>(
    addrs: &[String],
    patience: Duration,
    call: F,
) -> Result<T, String>
where
    F: FnMut(Connection) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    write(addrs, patience, Unknown::Report, call).await
}

/// What [`write`] does with an answer that leaves the outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Stop and say so: sending again could write twice.
    Report,
    /// Send again: the write carries an idempotency key, so a repeat
    /// yields the first write's result instead of writing twice.
    SendAgain,
}

/// Sends a write to one node after another until one answers, for as
/// long as every failure certainly left it unapplied, or (with
/// [`Unknown::SendAgain`]) may have.
pub async fn write<T, F, Fut>(
    addrs: &[String],
    patience: Duration,
    unknown: Unknown,
    mut call: F,
) -> Result<T, String>
where
    F: FnMut(Connection) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let mut last = String::from("no node address given (--addr or DROVER_ADDR)");
        for addr in addrs {
            let client = match connect(addr).await {
                Ok(client) => client,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match call(client).await {
                Ok(reply) => return Ok(reply.into_inner()),
                Err(status) => match outcome(&status) {
                    Outcome::NotApplied => last = format!("{addr}: {}", status_message(&status)),
                    Outcome::Unknown if unknown == Unknown::SendAgain => {
                        last = format!(
                            "{addr}: outcome unknown, sent again under the same key: {}",
                            status.message().trim_end()
                        );
                    }
                    Outcome::Unknown => {
                        return Err(format!(
                            "outcome unknown (it may have been applied; check before sending it again): {addr}: {}",
                            status.message().trim_end()
                        ));
                    }
                    Outcome::Answered => return Err(status_message(&status)),
                },
            }
        }
        if started.elapsed() + pause > patience {
            return Err(format!(
                "not applied after {}s of trying every node: {last}",
                patience.as_secs()
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// How [`status_message`] begins for input the user must fix.
pub const INVALID: &str = "invalid: ";

/// A gRPC error as one line for a terminal.
pub fn status_message(status: &tonic::Status) -> String {
    format!(
        "{}: {}",
        code_name(status.code()),
        status.message().trim_end()
    )
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::InvalidArgument => INVALID.trim_end_matches(": "),
        tonic::Code::NotFound => "not found",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::FailedPrecondition => "refused",
        tonic::Code::DeadlineExceeded => "timed out",
        tonic::Code::Unauthenticated => "not allowed",
        tonic::Code::PermissionDenied => "forbidden",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propose::NotCommitted;

    #[test]
    fn only_a_nodes_own_not_applied_answer_is_safe_to_send_again() {
        let not_applied = NotCommitted::NotApplied("no leader".into()).into_status();
        assert_eq!(not_applied.code(), tonic::Code::Unavailable);
        assert_eq!(outcome(&not_applied), Outcome::NotApplied);
        let unknown = NotCommitted::Unknown("timed out".into()).into_status();
        assert_eq!(unknown.code(), tonic::Code::Unknown);
        assert_eq!(outcome(&unknown), Outcome::Unknown);
        // The transport's own UNAVAILABLE (a connection that broke after
        // the request went out) says nothing about the write.
        let transport = tonic::Status::unavailable("connection reset");
        assert_eq!(outcome(&transport), Outcome::Unknown);
        let cancelled = tonic::Status::cancelled("deadline");
        assert_eq!(outcome(&cancelled), Outcome::Unknown);
        let invalid = tonic::Status::invalid_argument("bad spec");
        assert_eq!(outcome(&invalid), Outcome::Answered);
    }

    #[test]
    fn several_addresses_are_comma_separated() {
        assert_eq!(
            addr_list("a:1, b:2,,c:3 "),
            vec!["a:1".to_string(), "b:2".into(), "c:3".into()]
        );
        assert_eq!(addr_list("a:1"), vec!["a:1".to_string()]);
    }
}
