//! `drover events`: what happened in the cluster, as the replicated state
//! machine applied it, and — with `--follow` — as it happens. A stream
//! that breaks (the node went away) resumes on the next address after the
//! last index printed: nothing is missed or printed twice.

use std::time::Duration;

use clap::Args;
use drover_node::client::{connect_any, status_message};
use drover_proto::v1::EventsRequest;
use serde_json::Value;

use super::Target;
use super::cluster::parse;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing events as they happen.
    #[arg(long, short)]
    follow: bool,
    /// Only events after this log index (the default: every event the
    /// node still holds; each line starts with its index).
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Only this topic: job, alloc, node or leader (repeat, or separate
    /// with commas, for several).
    #[arg(long = "topic")]
    topics: Vec<String>,
    #[command(flatten)]
    target: Target,
}

/// How long to wait before asking again after a stream broke.
const RETRY: Duration = Duration::from_millis(500);

pub async fn run(args: EventsArgs) -> Result<(), String> {
    let addrs = args.target.addrs();
    let mut after = args.from;
    loop {
        let mut client = connect_any(&addrs).await?;
        let request = EventsRequest {
            after,
            topics: args.topics.clone(),
            follow: args.follow,
        };
        let mut stream = match client.events(request).await {
            Ok(reply) => reply.into_inner(),
            Err(status) if is_refusal(&status) => return Err(status_message(&status)),
            Err(status) if args.follow => {
                eprintln!("drover: {}; asking again", status_message(&status));
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(status) => return Err(status_message(&status)),
        };
        loop {
            match stream.message().await {
                Ok(Some(reply)) => after = print_page(&reply.json, args.target.json)?.max(after),
                Ok(None) if !args.follow => return Ok(()),
                Ok(None) => break,
                Err(status) if is_refusal(&status) => return Err(status_message(&status)),
                Err(status) => {
                    if !args.follow {
                        return Err(status_message(&status));
                    }
                    eprintln!(
                        "drover: the event stream broke ({}); resuming after index {after}",
                        status_message(&status)
                    );
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Errors that asking again will not mend: a bad topic, events no longer
/// held.
fn is_refusal(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
    )
}

/// Prints one page; returns the index to resume after.
fn print_page(json: &str, as_json: bool) -> Result<u64, String> {
    let page = parse(json)?;
    for event in page["events"].as_array().into_iter().flatten() {
        if as_json {
            println!("{event}");
        } else {
            println!("{}", line(event));
        }
    }
    Ok(page["index"].as_u64().unwrap_or(0))
}

fn line(event: &Value) -> String {
    let text = |key: &str| event[key].as_str().unwrap_or("").to_string();
    let mut rest = Vec::new();
    for (label, key) in [("job", "job"), ("node", "node")] {
        let value = text(key);
        if !value.is_empty() && value != text("key") {
            rest.push(format!("{label}={value}"));
        }
    }
    let detail = text("detail");
    if !detail.is_empty() {
        rest.push(detail);
    }
    format!(
        "{:>8}  {}  {:<22}  {:<12}  {}",
        event["index"].as_u64().unwrap_or(0),
        clock(event["at_ms"].as_u64().unwrap_or(0)),
        text("type"),
        text("key"),
        rest.join("  ")
    )
    .trim_end()
    .to_string()
}

/// The time of day (UTC) of a millisecond timestamp; `-` for none.
fn clock(ms: u64) -> String {
    if ms == 0 {
        return format!("{:<12}", "-");
    }
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_index_time_type_key_and_the_rest() {
        let event = serde_json::json!({
            "index": 42, "type": "alloc_complete", "key": "a000003", "job": "report",
            "node": "node-2", "detail": "exit code 0", "at_ms": 1_700_000_123_456_u64,
        });
        assert_eq!(
            line(&event),
            "      42  22:15:23.456  alloc_complete          a000003       job=report  node=node-2  exit code 0"
        );
        let leader = serde_json::json!({
            "index": 7, "type": "leader_elected", "key": "3", "detail": "term 3", "at_ms": 0,
        });
        assert!(line(&leader).starts_with("       7  -             leader_elected"));
    }
}
