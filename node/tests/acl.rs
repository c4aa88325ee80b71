//! ACL tokens on real processes: three control nodes, a worker and an
//! edge node with `[acl] enabled`; the CLI and the REST API as users call
//! them. What is checked is what a caller gets back and what lies on disk.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{cluster_each, drover, free_ports, wait_for};
use serde_json::Value;

fn as_token(addr: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = drover();
    command
        .args(args)
        .env("DROVER_ADDR", addr)
        .env_remove("DROVER_TOKEN");
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command.output().unwrap()
}

fn refused(out: &Output, wanted: &str) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    !out.status.success() && stderr.contains(wanted)
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The token a create or bootstrap answered with, as callers pass it.
fn secret_of(doc: &Value) -> String {
    let token = doc["secret"].as_str().unwrap();
    assert!(token.starts_with(doc["accessor"].as_str().unwrap()));
    token.to_string()
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut request = ureq::request(method, url);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let answer = match body {
        Some(body) => request.send_string(body),
        None => request.call(),
    };
    match answer {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Whether any file under `dir` holds `needle`.
fn anywhere_under(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            anywhere_under(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[test]
#[allow(clippy::too_many_lines)]
fn tokens_decide_who_may_do_what_on_every_node_and_revocation_holds_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let (rest_port, worker_rest) = (ports[0], ports[1]);
    let mut agents = cluster_each(
        dir.path(),
        &["control", "control", "control", "worker", "edge"],
        |id| {
            let http = match id {
                1 => format!("http = \"127.0.0.1:{rest_port}\"\n"),
                4 => format!("http = \"127.0.0.1:{worker_rest}\"\n"),
                _ => String::new(),
            };
            format!("{http}[acl]\nenabled = true\n")
        },
    );
    let edge = agents[4].addr();
    let rest = format!("http://127.0.0.1:{rest_port}");

    // Before bootstrap nothing but bootstrap is answered.
    wait_for(
        "a refusal before bootstrap",
        Duration::from_secs(30),
        || refused(&as_token(&edge, None, &["job", "list"]), "not bootstrapped").then_some(()),
    );
    let root = secret_of(&wait_for("bootstrap", Duration::from_secs(30), || {
        let out = as_token(&edge, None, &["acl", "bootstrap", "--json"]);
        out.status.success().then(|| json_of(&out))
    }));
    assert!(refused(
        &as_token(&agents[1].addr(), None, &["acl", "bootstrap"]),
        "bootstrapped at log index"
    ));

    let create = |name: &str, policy: &str, pools: &[&str]| {
        let mut args = vec![
            "acl", "token", "create", "--name", name, "--policy", policy, "--json",
        ];
        for pool in pools {
            args.extend(["--pool", pool]);
        }
        secret_of(&json_of(&as_token(&edge, Some(&root), &args)))
    };
    let reader = create("dashboards", "read", &[]);
    let gpu_writer = create("gpu-ci", "job-write", &["gpu"]);
    let writer = create("ci", "job-write", &[]);

    assert!(refused(
        &as_token(&edge, None, &["acl", "token", "list"]),
        "requires an ACL token"
    ));
    assert!(refused(
        &as_token(&edge, Some("0123456789abcdef.00"), &["job", "list"]),
        "malformed"
    ));
    let listed = as_token(&edge, Some(&root), &["acl", "token", "list", "--json"]);
    let tokens = json_of(&listed);
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 4, "{tokens}");
    let stdout = String::from_utf8_lossy(&listed.stdout);
    for secret in [&root, &reader, &gpu_writer, &writer] {
        let (_, secret) = secret.split_once('.').unwrap();
        assert!(!stdout.contains(secret), "a list shows a secret");
    }

    // Job write is per pool; read is read.
    let spec = dir.path().join("hello.toml");
    std::fs::write(
        &spec,
        "id = \"hello\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"allowed\"]\n",
    )
    .unwrap();
    let run = ["job", "run", "--detach", spec.to_str().unwrap()];
    assert!(refused(
        &as_token(&edge, Some(&reader), &run),
        "lacks job write on pool \"default\""
    ));
    assert!(refused(
        &as_token(&edge, Some(&gpu_writer), &run),
        "lacks job write on pool \"default\""
    ));
    assert!(as_token(&edge, Some(&writer), &run).status.success());
    wait_for("the job to complete", Duration::from_secs(30), || {
        let doc = json_of(&as_token(
            &edge,
            Some(&reader),
            &["job", "status", "hello", "--json"],
        ));
        (doc["status"] == "complete").then_some(())
    });
    let logs = as_token(&edge, Some(&reader), &["job", "logs", "hello"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "allowed\n");
    assert!(refused(
        &as_token(&edge, Some(&reader), &["job", "stop", "hello"]),
        "lacks job write"
    ));
    assert!(refused(
        &as_token(&edge, Some(&writer), &["node", "drain", "node-4"]),
        "lacks management"
    ));

    // The REST API and the metrics page ask the same.
    let (code, body) = http("GET", &format!("{rest}/v1/jobs"), None, None);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("unauthenticated"), "{body}");
    assert_eq!(
        http("GET", &format!("{rest}/v1/jobs"), Some(&reader), None).0,
        200
    );
    let (code, body) = http(
        "POST",
        &format!("{rest}/v1/jobs"),
        Some(&reader),
        Some("id = \"rest\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n"),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("permission_denied"), "{body}");
    assert_eq!(http("GET", &format!("{rest}/metrics"), None, None).0, 401);
    assert_eq!(
        http("GET", &format!("{rest}/metrics"), Some(&reader), None).0,
        200
    );
    let events = format!("{rest}/v1/events?token={reader}");
    assert_eq!(http("GET", &events, None, None).0, 200);

    // Revoked through one node, refused by every node.
    let (accessor, _) = writer.split_once('.').unwrap();
    assert!(
        as_token(
            &agents[1].addr(),
            Some(&root),
            &["acl", "token", "revoke", accessor]
        )
        .status
        .success()
    );
    assert!(refused(
        &as_token(&agents[1].addr(), Some(&writer), &run),
        "unknown or revoked"
    ));
    for agent in &agents[..3] {
        wait_for(
            "every control node to refuse the revoked token",
            Duration::from_secs(2),
            || {
                refused(
                    &as_token(&agent.addr(), Some(&writer), &run),
                    "unknown or revoked",
                )
                .then_some(())
            },
        );
    }

    // Tokens survive a restart; no secret is on any disk.
    agents[2].kill();
    agents[2].start();
    wait_for(
        "the restarted node to honour a token",
        Duration::from_secs(30),
        || {
            as_token(
                &agents[2].addr(),
                Some(&reader),
                &["job", "list", "--stale"],
            )
            .status
            .success()
            .then_some(())
        },
    );
    for agent in &agents {
        for token in [&root, &reader, &writer] {
            let (_, secret) = token.split_once('.').unwrap();
            assert!(
                !anywhere_under(&agent.data, secret.as_bytes()),
                "a secret is stored under {}",
                agent.data.display()
            );
        }
    }
}
