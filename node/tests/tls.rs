//! Mutual TLS on real agents: a CA and certificates made by `drover tls`,
//! three agents that talk to each other only over TLS (Raft, forwarded
//! writes, workers' polls) and run a job, clients admitted by a
//! certificate of the cluster's CA and refused without one or with a
//! stranger's, a client certificate refused by the internal service, the
//! REST API over TLS, and a node's renewed certificate served without a
//! restart.

#![cfg(not(madsim))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::{Agent, cluster_each, drover, free_ports, wait_for};
use drover_node::membership::Acknowledged;
use drover_node::raft::{Rpc, call_internal, connect};
use drover_node::tls::{Tls, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn run_ok(args: &[&str]) {
    let out = drover().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "drover {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pki(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let p = pki.to_str().unwrap();
    run_ok(&["tls", "ca", "create", "--dir", p]);
    for id in ["1", "2", "3", "4", "5"] {
        run_ok(&[
            "tls",
            "cert",
            "create",
            "--node",
            id,
            "--addr",
            "127.0.0.1",
            "--ca-dir",
            p,
            "--dir",
            p,
        ]);
    }
    run_ok(&[
        "tls", "cert", "create", "--client", "ops", "--ca-dir", p, "--dir", p,
    ]);
    // A stranger: a client of another cluster's CA.
    let other = dir.join("other");
    let o = other.to_str().unwrap();
    run_ok(&["tls", "ca", "create", "--dir", o]);
    run_ok(&[
        "tls", "cert", "create", "--client", "ops", "--ca-dir", o, "--dir", o,
    ]);
    pki
}

/// The CLI with the client identity of `dir` (`client-ops` signed by the
/// CA in `ca_dir`), or none.
fn cli(addr: &str, identity: Option<(&Path, &Path)>, args: &[&str]) -> Output {
    let mut command = drover();
    command.args(args).env("DROVER_ADDR", addr);
    for name in ["DROVER_CA", "DROVER_CERT", "DROVER_KEY"] {
        command.env_remove(name);
    }
    if let Some((ca_dir, dir)) = identity {
        command
            .env("DROVER_CA", ca_dir.join("ca.pem"))
            .env("DROVER_CERT", dir.join("client-ops.pem"))
            .env("DROVER_KEY", dir.join("client-ops-key.pem"));
    }
    command.output().unwrap()
}

fn status_of(out: &Output) -> Option<serde_json::Value> {
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

const BATCH: &str = "id = \"over-tls\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo ran over tls\"]\n";

#[test]
fn a_cluster_serves_mutual_tls_to_its_clients_and_its_internal_service_to_nodes_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let other = dir.path().join("other");
    let http = free_ports(1)[0];
    // Three voters that run nothing, a worker that runs everything, and an
    // edge node that only relays: every kind of hop, over TLS.
    let roles = ["control", "control", "control", "worker", "edge"];
    let agents: Vec<Agent> = cluster_each(dir.path(), &roles, |id| {
        let http = if id == 1 {
            format!("http = \"127.0.0.1:{http}\"\n")
        } else {
            String::new()
        };
        format!(
            "{http}[tls]\nca = \"{p}/ca.pem\"\ncert = \"{p}/node-{id}.pem\"\nkey = \"{p}/node-{id}-key.pem\"\n",
            p = pki.display()
        )
    });
    let addr = agents[0].addr();
    let ours = Some((pki.as_path(), pki.as_path()));

    // Nodes elect a leader over TLS; a client of the cluster's CA sees it.
    let status = wait_for("a leader, seen over TLS", Duration::from_secs(30), || {
        let status = status_of(&cli(&addr, ours, &["cluster", "status", "--json"]))?;
        status["leader"].as_u64().filter(|l| *l > 0).map(|_| status)
    });
    assert_eq!(status["transport"]["tls"], true, "{status}");
    assert_eq!(
        status["transport"]["insecure"],
        serde_json::json!([]),
        "{status}"
    );

    // A job submitted to the edge node goes to a control node, the leader,
    // and the worker's poll, and its output comes back the same way —
    // every hop over TLS.
    let edge = agents[4].addr();
    let spec = dir.path().join("job.toml");
    std::fs::write(&spec, BATCH).unwrap();
    let run = cli(&edge, ours, &["job", "run", spec.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let job = status_of(&cli(&edge, ours, &["job", "status", "over-tls", "--json"])).unwrap();
    assert_eq!(job["allocations"][0]["node"], "node-4", "{job}");
    let logs = cli(&edge, ours, &["job", "logs", "over-tls"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("ran over tls"),
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );

    refusals(&addr, &pki, &other);
    rest_over_tls(http, &pki);
    internal_service_and_renewal(dir.path(), &addr, &pki);
}

fn refusals(addr: &str, pki: &Path, other: &Path) {
    // No certificate, or a stranger's: refused.
    for (who, identity) in [
        ("no certificate", None),
        ("another CA's", Some((other, other))),
    ] {
        let out = cli(addr, identity, &["cluster", "status", "--json"]);
        assert!(
            !out.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Half an identity is refused before anything is sent, naming what is missing.
    let out = drover()
        .args(["cluster", "status"])
        .env("DROVER_ADDR", addr)
        .env("DROVER_CA", pki.join("ca.pem"))
        .env_remove("DROVER_CERT")
        .env_remove("DROVER_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DROVER_CERT and DROVER_KEY not set"),
        "{stderr}"
    );
}

fn rest_over_tls(port: u16, pki: &Path) {
    // The REST API over TLS, with the client's certificate and without.
    let url = format!("https://127.0.0.1:{port}/v1/cluster");
    let curl = |with_cert: bool| {
        let mut command = std::process::Command::new("curl");
        command.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]);
        command.arg(pki.join("ca.pem"));
        if with_cert {
            command.arg("--cert").arg(pki.join("client-ops.pem"));
            command.arg("--key").arg(pki.join("client-ops-key.pem"));
        }
        command.arg(&url).output().expect("curl runs")
    };
    let answered = curl(true);
    assert_eq!(
        String::from_utf8_lossy(&answered.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    assert!(
        !curl(false).status.success(),
        "the REST API answered a client without a certificate"
    );
}

fn internal_service_and_renewal(dir: &Path, addr: &str, pki: &Path) {
    let ours = Some((pki, pki));
    // From here this process holds the client's identity: the internal
    // service refuses it, naming whose certificate it was.
    let client = Tls::load(TlsFiles {
        ca: pki.join("ca.pem"),
        cert: pki.join("client-ops.pem"),
        key: pki.join("client-ops-key.pem"),
    })
    .unwrap();
    drover_node::tls::install(client.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refused = runtime.block_on(async {
        let mut internal = connect(addr).await.expect("connects over TLS");
        call_internal::<(), Acknowledged>(&mut internal, Rpc::Ping, &(), Duration::from_secs(5))
            .await
    });
    let error = refused
        .expect_err("a client certificate called the internal service")
        .to_string();
    assert!(
        error.contains("admits nodes only") && error.contains("client ops"),
        "{error}"
    );

    // Node 1's certificate renewed in place: new connections get the new
    // one, with no restart.
    let renewed = dir.join("renewed");
    let r = renewed.to_str().unwrap();
    run_ok(&[
        "tls",
        "cert",
        "create",
        "--node",
        "1",
        "--addr",
        "127.0.0.1",
        "--ca-dir",
        pki.to_str().unwrap(),
        "--dir",
        r,
    ]);
    for name in ["node-1.pem", "node-1-key.pem"] {
        let staged = pki.join(format!("{name}.new"));
        std::fs::copy(renewed.join(name), &staged).unwrap();
        std::fs::rename(&staged, pki.join(name)).unwrap();
    }
    let expected = CertificateDer::from_pem_file(renewed.join("node-1.pem")).unwrap();
    let config = client.client();
    wait_for(
        "node 1 to serve its renewed certificate",
        Duration::from_secs(20),
        || {
            let presented = runtime.block_on(served_certificate(addr, config.clone()))?;
            (presented == expected).then_some(())
        },
    );
    // And it still works with the renewed one.
    assert!(status_of(&cli(addr, ours, &["cluster", "status", "--json"])).is_some());
}

async fn served_certificate(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
) -> Option<CertificateDer<'static>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = ServerName::try_from("127.0.0.1").ok()?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .ok()?;
    stream
        .get_ref()
        .1
        .peer_certificates()?
        .first()
        .map(|c| c.clone().into_owned())
}

#[test]
fn an_agent_reachable_from_elsewhere_refuses_to_start_without_tls_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "id = 1\nlisten = \"0.0.0.0:{port}\"\nadvertise = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nrole = \"control\"\n[[peers]]\nid = 1\naddr = \"127.0.0.1:{port}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = drover()
        .args(["agent", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("listen = \"0.0.0.0:{port}\""))
            && stderr.contains("[tls]")
            && stderr.contains("[acl] enabled = true")
            && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "it wrote data before refusing"
    );

    // With --insecure it starts, and says so.
    let mut agent = Agent {
        id: 1,
        port,
        config: config.clone(),
        data: dir.path().join("data"),
        child: None,
    };
    let log = std::fs::File::create(dir.path().join("insecure.log")).unwrap();
    agent.child = Some(
        drover()
            .args(["agent", "--insecure", "--config"])
            .arg(&config)
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for(
        "the insecure agent to warn",
        Duration::from_secs(20),
        || {
            let log = std::fs::read_to_string(dir.path().join("insecure.log")).ok()?;
            log.contains("INSECURE").then_some(())
        },
    );
}
