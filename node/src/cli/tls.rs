//! `drover tls`: a private CA for a cluster and the certificates it signs,
//! and the client identity every other command presents (`DROVER_CA`,
//! `DROVER_CERT`, `DROVER_KEY`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use drover_node::tls::ca::{Subject, create_ca, create_cert};
use drover_node::tls::{Tls, TlsFiles};

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// The cluster's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Certificates signed by the cluster's CA.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA: `ca.pem` and `ca-key.pem` (keep this one safe: it
    /// signs every node and client of the cluster).
    Create {
        /// Where to write them.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Valid for this many days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create a node's certificate (`node-<ID>.pem`, `node-<ID>-key.pem`)
    /// or a client's (`client-<NAME>.pem`, `client-<NAME>-key.pem`).
    Create(CertArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["node", "client"])))]
pub struct CertArgs {
    /// A node's Raft id: its certificate lets it serve and call every
    /// service, the internal one included.
    #[arg(long)]
    node: Option<u64>,
    /// The addresses the node is reached at (IP addresses or DNS names,
    /// comma-separated; a port is ignored); clients check them.
    #[arg(long, value_delimiter = ',', requires = "node")]
    addr: Vec<String>,
    /// A client's name (an operator, a CI job): its certificate may call
    /// the public API only.
    #[arg(long)]
    client: Option<String>,
    /// The directory holding `ca.pem` and `ca-key.pem`.
    #[arg(long, default_value = ".")]
    ca_dir: PathBuf,
    /// Where to write the certificate and its key.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Valid for this many days.
    #[arg(long, default_value_t = 365)]
    days: u32,
}

pub fn run(command: TlsCommand) -> Result<(), String> {
    let written = match command {
        TlsCommand::Ca(CaCommand::Create { dir, days }) => create_ca(&dir, days)?,
        TlsCommand::Cert(CertCommand::Create(args)) => {
            let subject = match (&args.node, &args.client) {
                (Some(id), _) => Subject::Node {
                    id: *id,
                    addrs: &args.addr,
                },
                (None, Some(name)) => Subject::Client { name },
                (None, None) => unreachable!("clap requires --node or --client"),
            };
            create_cert(&args.ca_dir, &args.dir, &subject, args.days)?
        }
    };
    println!(
        "wrote {} and {}",
        written.cert.display(),
        written.key.display()
    );
    Ok(())
}

/// The client identity in the environment, made this process's own: all
/// three of `DROVER_CA`, `DROVER_CERT` and `DROVER_KEY`, or none.
pub fn install_client_identity() -> Result<(), String> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let (ca, cert, key) = (var("DROVER_CA"), var("DROVER_CERT"), var("DROVER_KEY"));
    let files = match (ca, cert, key) {
        (None, None, None) => return Ok(()),
        (Some(ca), Some(cert), Some(key)) => TlsFiles { ca, cert, key },
        (ca, cert, key) => {
            let missing: Vec<&str> = [
                ("DROVER_CA", ca),
                ("DROVER_CERT", cert),
                ("DROVER_KEY", key),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| name)
            .collect();
            return Err(format!(
                "TLS: {} not set; set all three of DROVER_CA, DROVER_CERT and DROVER_KEY, or none",
                missing.join(" and ")
            ));
        }
    };
    drover_node::tls::install(Tls::load(files).map_err(|e| format!("TLS: {e}"))?);
    Ok(())
}
