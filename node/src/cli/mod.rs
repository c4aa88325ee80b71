//! Command-line interface: one module per verb group.

mod acl;
mod bench;
mod cluster;
mod dev;
mod events;
mod job;
mod pages;
mod service;
mod table;
mod tls;
mod versions;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use drover_node::client::DEFAULT_ADDR;
use drover_node::logs::LogFormat;

/// Exit status for input the user must fix (an invalid spec).
pub const EXIT_INVALID: u8 = 1;
/// Exit status for a command that could not run (unreadable file, no node).
pub const EXIT_TROUBLE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version,
    about = "Drover runs containers on a fleet of machines."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Top,
    /// The ACL token every call carries, `<accessor>.<secret>`, when the
    /// cluster has ACLs enabled.
    #[arg(long, env = "DROVER_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// The region a call is for; any node forwards it there. Default: the
    /// region of the node that answers.
    #[arg(long, env = "DROVER_REGION", global = true)]
    region: Option<String>,
}

/// Where the API is; any node will do.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Drover nodes' API addresses, comma-separated; any will do, and the
    /// next is tried when one cannot be reached.
    #[arg(long, env = "DROVER_ADDR", default_value = DEFAULT_ADDR, global = true)]
    addr: String,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Reads: answer from the node's own replica as it is, which may lag
    /// behind acknowledged writes (cheaper; works without a leader).
    #[arg(long, global = true)]
    stale: bool,
}

/// Which items of a list to show.
#[derive(Debug, Clone, Args)]
pub struct Filter {
    /// Only ids that start with this.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Only items in this status (jobs: pending, running, complete, failed,
    /// stopped, or active for any but stopped; nodes: ready, disconnected,
    /// down).
    #[arg(long, default_value = "")]
    status: String,
    /// Items per request (0: the node's default, 1000); every page is read.
    #[arg(long, default_value_t = 0)]
    page_size: u32,
}

impl Target {
    pub fn addrs(&self) -> Vec<String> {
        drover_node::client::addr_list(&self.addr)
    }
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Run a node.
    Agent {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// `text` (colour only on a terminal) or `json` (one object a line).
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Serve without TLS on an address that is not loopback: anyone
        /// who reaches it controls the cluster (docs/security.md).
        #[arg(long)]
        insecure: bool,
    },
    /// Run a local 3-node cluster on loopback with temporary data.
    Dev(dev::DevArgs),
    /// Work with jobs.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Work with nodes.
    #[command(subcommand)]
    Node(cluster::NodeCommand),
    /// Discovery: services and the endpoints of their instances that serve.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// The control plane.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Load generators: how many writes a cluster acknowledges, how fast.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// What happened: jobs, allocations, nodes and leaders, each under the
    /// log index that made it happen (`--follow` to watch).
    Events(events::EventsArgs),
    /// Mutual TLS: the cluster's CA and its certificates.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Access control: the first management token, and tokens.
    #[command(subcommand)]
    Acl(acl::AclCommand),
}

pub fn run(cli: Cli) -> ExitCode {
    let client = matches!(
        cli.command,
        Top::Job(_)
            | Top::Node(_)
            | Top::Service(_)
            | Top::Cluster(_)
            | Top::Bench(_)
            | Top::Events(_)
            | Top::Acl(_)
    );
    if client && let Err(message) = tls::install_client_identity() {
        return finish(Err(message));
    }
    if client && let Some(token) = cli.token.filter(|t| !t.trim().is_empty()) {
        drover_node::client::use_token(token.trim().to_string());
    }
    if client && let Some(region) = cli.region.filter(|r| !r.trim().is_empty()) {
        drover_node::client::use_region(region.trim().to_string());
    }
    match cli.command {
        Top::Agent {
            config,
            log_format,
            insecure,
        } => {
            drover_node::logs::init(log_format);
            block_on(agent(config, insecure))
        }
        Top::Tls(cmd) => finish(tls::run(cmd)),
        Top::Dev(args) => block_on(dev::run(args)),
        Top::Job(cmd) => job::run(cmd),
        Top::Node(cmd) => block_on(cluster::node(cmd)),
        Top::Service(cmd) => block_on(service::run(cmd)),
        Top::Cluster(cmd) => block_on(cluster::cluster(cmd)),
        Top::Bench(cmd) => block_on(bench::run(cmd)),
        Top::Events(args) => block_on(events::run(args)),
        Top::Acl(cmd) => block_on(acl::run(cmd)),
    }
}

/// Runs an async command on a fresh runtime; its error is one line.
fn block_on(command: impl Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("drover: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_TROUBLE);
        }
    };
    finish(runtime.block_on(command))
}

/// A command's result as the process's exit status, its error on stderr.
fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("drover: {message}");
            // Input the user must fix exits 1, as `job validate` does.
            let invalid = message.starts_with(drover_node::client::INVALID);
            ExitCode::from(if invalid { EXIT_INVALID } else { EXIT_TROUBLE })
        }
    }
}

async fn agent(path: PathBuf, insecure: bool) -> Result<(), String> {
    let config = drover_node::config::NodeConfig::load(&path)?;
    refuse_exposed_without_tls(&config, &path, insecure)?;
    drover_node::agent::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// An agent reachable from beyond its machine serves mutual TLS and
/// checks ACL tokens, or is told in so many words to serve without.
fn refuse_exposed_without_tls(
    config: &drover_node::config::NodeConfig,
    path: &std::path::Path,
    insecure: bool,
) -> Result<(), String> {
    let exposed = config.exposed();
    let missing = config.unprotected();
    if missing.is_empty() || exposed.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = exposed
        .iter()
        .map(|(key, addr)| format!("{key} = \"{addr}\""))
        .collect();
    let without = missing.join(" and ");
    if insecure {
        tracing::warn!(
            "INSECURE: serving without {without} on {} (--insecure): anyone who reaches it controls the cluster",
            named.join(", ")
        );
        return Ok(());
    }
    let mut keys = Vec::new();
    if config.tls.is_none() {
        keys.push(format!(
            "set [tls] ca, cert and key (drover tls ca create; drover tls cert create --node {} --addr ADDR)",
            config.id
        ));
    }
    if !config.acl.enabled {
        keys.push("set [acl] enabled = true (then drover acl bootstrap)".to_string());
    }
    Err(format!(
        "{}: {} {} not loopback, and the node has no {without}: {}; see docs/security.md. Or pass --insecure to serve without them",
        path.display(),
        named.join(", "),
        if named.len() == 1 { "is" } else { "are" },
        keys.join(", and ")
    ))
}

/// A bug must still end in one readable line, never a backtrace dump.
pub fn install_panic_message() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("drover: internal error{location}: {payload} (this is a bug; please report it)");
    }));
}
