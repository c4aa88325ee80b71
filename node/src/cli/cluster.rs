//! `drover node …` and `drover cluster …`

use clap::Subcommand;
use drover_node::client::{WRITE_PATIENCE, connect_any, status_message, write_any};
use std::time::{Duration, Instant};

use drover_proto::v1::{DrainRequest, Empty, MemberRequest};
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
    /// Voters and learners as the leader sees them (state, how far each
    /// has the log), and nodes started with `join` that wait to be added.
    Members {
        #[command(flatten)]
        target: Target,
    },
    /// Add a node (started with `join` and an empty data directory): it
    /// becomes a learner, catches up, then a voter.
    Add {
        /// Its Raft id (`id` in its node.toml); never one a removed node had.
        id: u64,
        /// The address other nodes reach it at (its `advertise` or `listen`).
        node_addr: String,
        /// Keep it a learner: it receives the log but does not vote.
        #[arg(long)]
        learner: bool,
        /// Seconds to wait for it to catch up before giving up (it stays a
        /// learner, catching up; run the command again to wait on).
        #[arg(long, default_value_t = 120)]
        wait: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a voter or learner, running or dead.
    Remove {
        /// Its Raft id.
        id: u64,
        /// Remove a voter even if fewer than a majority of the voters that
        /// remain answer now (the cluster then takes no writes until
        /// enough of them are back).
        #[arg(long)]
        force: bool,
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
    match cmd {
        ClusterCommand::Status { target } => status(&target).await,
        ClusterCommand::Members { target } => members(&target).await,
        ClusterCommand::Add {
            id,
            node_addr,
            learner,
            wait,
            target,
        } => add(id, &node_addr, learner, Duration::from_secs(wait), &target).await,
        ClusterCommand::Remove { id, force, target } => {
            let request = MemberRequest {
                id,
                force,
                ..MemberRequest::default()
            };
            let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
                let request = request.clone();
                async move { api.remove_member(request).await }
            })
            .await?;
            let doc = parse(&reply.json)?;
            show(&doc, target.json, |_| println!("node {id}: removed"));
            Ok(())
        }
    }
}

async fn members(target: &Target) -> Result<(), String> {
    let mut api = connect_any(&target.addrs()).await?;
    let reply = api
        .cluster_members(Empty {})
        .await
        .map_err(|e| status_message(&e))?;
    let doc = parse(&reply.into_inner().json)?;
    show(&doc, target.json, |doc| {
        println!(
            "leader {}; term {}; last log index {}{}",
            text(&doc["leader"]),
            text(&doc["term"]),
            text(&doc["last_log_index"]),
            if doc["joint"] == Value::Bool(true) {
                "; a membership change is under way (joint configuration)"
            } else {
                ""
            }
        );
        print_list(
            doc,
            "members",
            &["id", "addr", "voter", "state", "matched_index", "lag"],
        );
        if doc["waiting"].as_array().is_some_and(|w| !w.is_empty()) {
            println!("\nwaiting to be added (`drover cluster add ID ADDR`):");
            print_list(doc, "waiting", &["id", "addr", "announced_ms_ago"]);
        }
    });
    Ok(())
}

/// Asks again while the learner catches up, each call within a client's
/// usual deadline, until it is a voter or `wait` has passed.
async fn add(
    id: u64,
    node_addr: &str,
    learner: bool,
    wait: Duration,
    target: &Target,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let left = wait.saturating_sub(started.elapsed());
        let request = MemberRequest {
            id,
            addr: node_addr.to_string(),
            learner,
            wait_seconds: u32::try_from(left.as_secs().clamp(1, 20)).unwrap_or(20),
            force: false,
        };
        let answer = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
            let request = request.clone();
            async move { api.add_member(request).await }
        })
        .await;
        match answer {
            Ok(reply) => {
                let doc = parse(&reply.json)?;
                show(&doc, target.json, |doc| {
                    let role = if doc["voter"] == Value::Bool(true) {
                        "voter"
                    } else {
                        "learner"
                    };
                    if doc["changed"] == Value::Bool(false) {
                        println!("node {id}: already a {role} at {node_addr}");
                    } else {
                        println!("node {id}: caught up; now a {role} at {node_addr}");
                    }
                });
                return Ok(());
            }
            Err(e) if e.contains("has not caught up") && started.elapsed() < wait => {
                if !target.json {
                    eprintln!(
                        "node {id}: a learner, still catching up ({}s so far)",
                        started.elapsed().as_secs()
                    );
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Every region with its leader and term, or why it cannot be reached.
fn print_regions(doc: &Value) {
    let Some(others) = doc["regions"].as_array().filter(|r| !r.is_empty()) else {
        return;
    };
    let mut rows = vec![vec![
        text(&doc["region"]),
        "yes (this node's)".to_string(),
        text(&doc["leader"]),
        text(&doc["term"]),
    ]];
    rows.extend(others.iter().map(|r| {
        let reachable = if r["reachable"] == Value::Bool(true) {
            "yes".to_string()
        } else {
            format!("no: {}", text(&r["error"]))
        };
        vec![
            text(&r["region"]),
            reachable,
            text(&r["leader"]),
            text(&r["term"]),
        ]
    }));
    println!();
    table::print(&["region", "reachable", "leader", "term"], &rows);
}

async fn status(target: &Target) -> Result<(), String> {
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
        "region {}: node {} is {}; leader {}; term {}; commit index {}",
        text(&doc["region"]),
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
    print_regions(&doc);
    let insecure: Vec<String> = doc["transport"]["insecure"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !insecure.is_empty() {
        let transport = &doc["transport"];
        let missing: Vec<&str> = [("TLS", "tls"), ("ACLs", "acl")]
            .into_iter()
            .filter(|(_, key)| transport[*key] != Value::Bool(true))
            .map(|(name, _)| name)
            .collect();
        println!(
            "WARNING: node {} serves without {} on {} (started with --insecure): anyone who reaches it controls the cluster",
            text(&doc["node"]),
            missing.join(" and "),
            insecure.join(", ")
        );
    }
    Ok(())
}
