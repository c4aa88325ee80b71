//! `drover service …`: discovery — the services (jobs whose task holds
//! ports) and the endpoints of their instances that serve.

use clap::Subcommand;
use drover_node::client::{connect_any, status_message};
use drover_proto::v1::ReadJob;
use serde_json::Value;

use super::cluster::{parse, print_list, show, text};
use super::pages::read_list;
use super::{Filter, Target, table};

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Every service: its port labels, checks, and how many of its
    /// instances serve (running, and healthy where it has checks).
    List {
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        target: Target,
    },
    /// A service's endpoints that serve (`address` is IP:PORT), and every
    /// instance with its health and last check output.
    Show {
        /// The service's name: its job id.
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(cmd: ServiceCommand) -> Result<(), String> {
    match cmd {
        ServiceCommand::List { filter, target } => {
            let api = connect_any(&target.addrs()).await?;
            let doc = read_list(
                &api,
                "services",
                &filter,
                target.stale,
                |mut api, read| async move { api.list_services(read).await },
            )
            .await?;
            show(&doc, target.json, |doc| {
                let rows: Vec<Vec<String>> = doc["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        let i = &s["instances"];
                        let live = ["serving", "health_pending", "unhealthy", "not_running"]
                            .iter()
                            .filter_map(|k| i[*k].as_u64())
                            .sum::<u64>();
                        vec![
                            text(&s["service"]),
                            text(&s["kind"]),
                            labels(&s["ports"]),
                            text(&s["checks"]),
                            format!("{}/{live}", text(&i["serving"])),
                        ]
                    })
                    .collect();
                table::print(&["service", "kind", "ports", "checks", "serving"], &rows);
            });
            Ok(())
        }
        ServiceCommand::Show { name, target } => {
            let mut api = connect_any(&target.addrs()).await?;
            let request = ReadJob {
                job: name,
                stale: target.stale,
                page_size: 0,
                page_token: String::new(),
            };
            let reply = api
                .service_status(request)
                .await
                .map_err(|e| status_message(&e))?;
            let doc = parse(&reply.into_inner().json)?;
            show(&doc, target.json, |doc| {
                print_list(doc, "endpoints", &["label", "address", "alloc", "node"]);
                println!();
                let rows: Vec<Vec<String>> = doc["allocations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let health = &a["health"];
                        vec![
                            text(&a["alloc"]),
                            text(&a["node"]),
                            text(&a["status"]),
                            text(&a["serves"]),
                            text(&health["status"]),
                            text(&health["output"]),
                        ]
                    })
                    .collect();
                table::print(
                    &["alloc", "node", "status", "serves", "health", "last check"],
                    &rows,
                );
            });
            Ok(())
        }
    }
}

fn labels(ports: &Value) -> String {
    ports
        .as_array()
        .map(|p| p.iter().map(text).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}
