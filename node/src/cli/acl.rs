//! `drover acl …`: the first management token, and tokens made, listed
//! and revoked.

use clap::Subcommand;
use drover_node::client::{WRITE_PATIENCE, connect_any, status_message, write_any};
use drover_proto::v1::{AclRevokeRequest, AclTokenRequest, Empty};
use serde_json::Value;

use super::Target;
use super::cluster::{parse, print_list, show, text};

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Make the cluster's first management token and print it, once: it
    /// is kept nowhere in plain text.
    Bootstrap {
        #[command(flatten)]
        target: Target,
    },
    /// Tokens (needs a management token).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print its secret, once.
    Create {
        /// What the token is for (shown in lists and in refusals).
        #[arg(long)]
        name: String,
        /// `management` (everything), `job-write` (jobs in its pools, and
        /// reads) or `read`.
        #[arg(long)]
        policy: String,
        /// For job-write: a pool it may write to; repeat for more; none
        /// for every pool.
        #[arg(long = "pool")]
        pools: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Every token's accessor, name and policy.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a token by its accessor: every node stops honouring it.
    Revoke {
        accessor: String,
        #[command(flatten)]
        target: Target,
    },
    /// The token this command carries (--token, DROVER_TOKEN).
    #[command(name = "self")]
    Itself {
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(cmd: AclCommand) -> Result<(), String> {
    match cmd {
        AclCommand::Bootstrap { target } => {
            let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| async move {
                api.acl_bootstrap(Empty {}).await
            })
            .await?;
            print_secret(&parse(&reply.json)?, target.json);
            Ok(())
        }
        AclCommand::Token(TokenCommand::Create {
            name,
            policy,
            pools,
            target,
        }) => {
            let request = AclTokenRequest {
                name,
                policy,
                pools,
            };
            let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
                let request = request.clone();
                async move { api.acl_create_token(request).await }
            })
            .await?;
            print_secret(&parse(&reply.json)?, target.json);
            Ok(())
        }
        AclCommand::Token(TokenCommand::List { target }) => {
            let mut api = connect_any(&target.addrs()).await?;
            let reply = api
                .acl_list_tokens(Empty {})
                .await
                .map_err(|e| status_message(&e))?;
            let doc = parse(&reply.into_inner().json)?;
            show(&doc, target.json, |doc| {
                print_list(doc, "tokens", &["accessor", "name", "policy", "pools"]);
            });
            Ok(())
        }
        AclCommand::Token(TokenCommand::Revoke { accessor, target }) => {
            let request = AclRevokeRequest { accessor };
            let reply = write_any(&target.addrs(), WRITE_PATIENCE, |mut api| {
                let request = request.clone();
                async move { api.acl_revoke_token(request).await }
            })
            .await?;
            let doc = parse(&reply.json)?;
            show(&doc, target.json, |doc| {
                println!(
                    "revoked {} at index {}",
                    text(&doc["accessor"]),
                    text(&doc["index"])
                );
            });
            Ok(())
        }
        AclCommand::Token(TokenCommand::Itself { target }) => {
            let mut api = connect_any(&target.addrs()).await?;
            let reply = api
                .acl_self(Empty {})
                .await
                .map_err(|e| status_message(&e))?;
            let doc = parse(&reply.into_inner().json)?;
            show(&doc, target.json, |doc| {
                if doc["enabled"] == Value::Bool(false) {
                    println!("ACLs are not enabled on this cluster's node");
                } else {
                    print_token(doc);
                }
            });
            Ok(())
        }
    }
}

fn print_token(doc: &Value) {
    println!("accessor  {}", text(&doc["accessor"]));
    println!("name      {}", text(&doc["name"]));
    println!("policy    {}", text(&doc["policy"]));
    if doc["pools"].as_array().is_some_and(|p| !p.is_empty()) {
        println!("pools     {}", text(&doc["pools"]));
    }
}

/// A new token, with the only sight of its secret there will be.
fn print_secret(doc: &Value, json: bool) {
    show(doc, json, |doc| {
        print_token(doc);
        println!("secret    {}", text(&doc["secret"]));
        println!();
        println!("The secret is shown this once. Use it as --token or DROVER_TOKEN.");
    });
}
