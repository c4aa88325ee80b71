//! `drover node …` and `drover cluster …`

use clap::Subcommand;
use drover_node::client::{WRITE_PATIENCE, connect_any, status_message, write_any};
use drover_proto::v1::{DrainRequest, Empty};
use serde_json::Value;

use super::pages::read_list;
use super::{Filter, Target, table};

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List nodes, their status and use (every one, read a page at a
    /// time); `--status` is `ready`, `disconnected` or `down`.
    List {
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        target: Target,
    },
    /// Stop placing work on a node and move its work elsewhere.
    Drain {
        /// The node's name.
        id: String,
        /// End the drain instead.
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Members, leader, term and commit index, as this node sees them.
    Status {
        #[command(flatten)]
        target: Target,
    },
}

pub fn parse(json: &str) -> Result<Value, String> {
    serde_json::from_str(json).map_err(|e| format!("unreadable answer from the node: {e}"))
}

pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Prints an answer as JSON for `--json`, or `render`s it for people.
pub fn show(doc: &Value, json: bool, render: impl FnOnce(&Value)) {
    if json {
        println!("{doc}");
    } else {
        render(doc);
    }
}

/// A table of the objects in `doc[key]`, one column per field.
pub fn print_list(doc: &Value, key: &str, columns: &[&str]) {
    let rows: Vec<Vec<String>> = doc[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| columns.iter().map(|c| text(&item[*c])).collect())
        .collect();
    table::print(columns, &rows);
}

pub async fn node(cmd: NodeCommand) -> Result<(), String> {
    match cmd {
        NodeCommand::List { filter, target } => {
            let api = connect_any(&target.addrs()).await?;
            let doc = read_list(
                &api,
                "nodes",
                &filter,
                target.stale,
                |mut api, read| async move { api.list_nodes(read).await },
            )
            .await?;
            show(&doc, target.json, |doc| {
                print_list(
                    doc,
                    "nodes",
                    &[
                        "id", "region", "role", "status", "draining", "capacity", "used",
                    ],
                );
            });
            Ok(())
        }
        NodeCommand::Drain {
            id,
            disable,
            target,
        } => {
            let request = DrainRequest {
                node: id.clone(),
                enable: !disable,
            };
            let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
                let request = request.clone();
                async move { api.drain_node(request).await }
            })
            .await?;
            if target.json {
                println!("{}", reply.json);
            } else if disable {
                println!("node {id}: drain ended");
            } else {
                println!("node {id}: draining; its work moves elsewhere");
            }
            Ok(())
        }
    }
}

pub async fn cluster(cmd: ClusterCommand) -> Result<(), String> {
    let ClusterCommand::Status { target } = cmd;
    let mut api = connect_any(&target.addrs()).await?;
    let reply = api
        .cluster_status(Empty {})
        .await
        .map_err(|e| status_message(&e))?;
    let doc = parse(&reply.into_inner().json)?;
    if target.json {
        println!("{doc}");
        return Ok(());
    }
    println!(
        "node {} is {}; leader {}; term {}; commit index {}",
        text(&doc["node"]),
        text(&doc["state"]).to_lowercase(),
        text(&doc["leader"]),
        text(&doc["term"]),
        text(&doc["commit_index"]),
    );
    let rows: Vec<Vec<String>> = doc["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let leader = if m["id"] == doc["leader"] {
                "leader"
            } else {
                ""
            };
            vec![text(&m["id"]), text(&m["addr"]), leader.to_string()]
        })
        .collect();
    table::print(&["member", "addr", "role"], &rows);
    Ok(())
}
