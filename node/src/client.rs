//! Talking to a node's public API, for the CLI.

use std::time::Duration;

use drover_proto::v1::api_client::ApiClient;
use tonic::transport::Channel;

/// `DROVER_ADDR`'s default: the first node of `drover dev`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7401";

pub async fn connect(addr: &str) -> Result<ApiClient<Channel>, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("bad address {addr}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot reach a Drover node at {addr}: {e} (is `drover dev` or `drover agent` running? set DROVER_ADDR)"))?;
    Ok(ApiClient::new(channel))
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
        _ => "error",
    }
}
