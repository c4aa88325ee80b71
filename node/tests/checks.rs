//! Health checks and discovery on real processes: the issue's own spec (a
//! dynamic port and an http check) is discovered at addresses that answer
//! `GET`, and so is a container's (busybox `httpd` on a bridge network,
//! its port published at the node's address); an instance whose check
//! fails is left out of discovery and says why; a check that starts
//! failing restarts its task, which is replaced; a container's exec check
//! runs inside it.

#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use common::{Agent, cli, cluster, json, run_job, status, wait_for};
use drover_adapters::exec::docker::testing::test_image;
use serde_json::Value;

fn get(address: &str) -> Option<(u16, String)> {
    let answer = ureq::get(&format!("http://{address}/"))
        .timeout(Duration::from_secs(2))
        .call()
        .ok()?;
    Some((answer.status(), answer.into_string().ok()?))
}

/// The addresses of the service's endpoints that serve, once there are `n`.
fn endpoints(agents: &[Agent], name: &str, n: usize) -> Vec<String> {
    wait_for(
        &format!("{n} endpoints of {name}"),
        Duration::from_secs(60),
        || {
            let doc = service(agents, name)?;
            let endpoints: Vec<String> = doc["endpoints"]
                .as_array()?
                .iter()
                .filter_map(|e| e["address"].as_str().map(String::from))
                .collect();
            (endpoints.len() == n).then_some(endpoints)
        },
    )
}

fn service(agents: &[Agent], name: &str) -> Option<Value> {
    json(&agents[0].addr(), &["service", "show", name])
}

fn allocations(doc: &Value) -> Vec<Value> {
    doc["allocations"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_issue_spec_is_discovered_healthy_at_addresses_that_answer() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    assert!(run_job(
        dir.path(),
        &agents[0].addr(),
        "web",
        common::ISSUE_WEB_SPEC
    ));
    for address in &endpoints(&agents, "web", 2) {
        assert_eq!(
            get(address).map(|(code, _)| code),
            Some(200),
            "{address} answers"
        );
    }
    let doc = status(&agents[0].addr(), "web").unwrap();
    for alloc in allocations(&doc)
        .iter()
        .filter(|a| a["status"] == "running")
    {
        let health = &alloc["health"];
        assert_eq!(health["status"], "healthy", "{doc}");
        assert_eq!(health["check"], "http / on http");
        let output = health["output"].as_str().unwrap();
        assert!(output.contains("HTTP 200"), "{output}");
    }
    let list = json(&agents[0].addr(), &["service", "list"]).unwrap();
    assert_eq!(list["services"][0]["service"], "web", "{list}");
    assert_eq!(list["services"][0]["instances"]["serving"], 2, "{list}");
    let table = cli(&agents[0].addr(), &["job", "status", "web"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("healthy"), "{table}");
    // A job without ports is no service, and says so.
    let missing = cli(&agents[0].addr(), &["service", "show", "nothing"]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && said.contains("no service nothing"),
        "{said}"
    );
}

#[test]
fn an_instance_failing_its_check_is_not_discovered_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let spec = r#"id = "broken"
kind = "service"
replicas = 2
[task]
driver = "exec"
command = ["sh", "-c", "exec python3 -m http.server --bind 127.0.0.1 $DROVER_PORT_HTTP"]
[[task.port]]
label = "http"
[[task.check]]
type = "http"
port = "http"
path = "/ready"
interval = "500ms"
timeout = "1s"
grace = "0s"
"#;
    assert!(run_job(dir.path(), &agents[0].addr(), "broken", spec));
    // Unhealthy from the first check (nothing listened yet, no grace);
    // what the check says now comes within the refresh of its output.
    let doc = wait_for(
        "both instances unhealthy, answering 404",
        Duration::from_secs(40),
        || {
            let doc = service(&agents, "broken")?;
            let said_404 = allocations(&doc).iter().all(|a| {
                a["health"]["output"]
                    .as_str()
                    .is_some_and(|o| o.contains("HTTP 404"))
            });
            (doc["instances"]["unhealthy"] == 2 && said_404).then_some(doc)
        },
    );
    assert_eq!(doc["endpoints"], Value::Array(Vec::new()), "{doc}");
    for alloc in allocations(&doc) {
        assert_eq!(alloc["serves"], false);
        let output = alloc["health"]["output"].as_str().unwrap();
        assert!(
            output.contains("HTTP 404") && output.contains("/ready"),
            "{output}"
        );
    }
    // Unhealthy is not failed: without check_restart the tasks run on.
    let status = status(&agents[0].addr(), "broken").unwrap();
    let running = allocations(&status)
        .iter()
        .filter(|a| a["status"] == "running")
        .count();
    assert_eq!(running, 2, "{status}");
}

#[test]
fn a_check_that_starts_failing_restarts_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let healthy = dir.path().join("healthy");
    std::fs::write(&healthy, "").unwrap();
    let spec = format!(
        r#"id = "flaky"
kind = "service"
replicas = 1
[restart]
delay = "500ms"
[task]
driver = "exec"
command = ["sh", "-c", "exec sleep 600"]
[[task.check]]
type = "exec"
command = ["test", "-f", "{}"]
interval = "300ms"
timeout = "1s"
grace = "0s"
[task.check.check_restart]
limit = 3
"#,
        healthy.display()
    );
    assert!(run_job(dir.path(), &agents[0].addr(), "flaky", &spec));
    let first = wait_for("a healthy instance", Duration::from_secs(30), || {
        let doc = status(&agents[0].addr(), "flaky")?;
        allocations(&doc)
            .into_iter()
            .find(|a| a["health"]["status"] == "healthy")
            .map(|a| a["id"].as_str().unwrap().to_string())
    });
    std::fs::remove_file(&healthy).unwrap();
    let failed = wait_for("the instance restarted", Duration::from_secs(30), || {
        let doc = status(&agents[0].addr(), "flaky")?;
        allocations(&doc)
            .into_iter()
            .find(|a| a["id"] == first.as_str() && a["status"] == "failed")
    });
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("restarted: check exec test failed 3 times in a row: exit 1"),
        "{failed}"
    );
    std::fs::write(&healthy, "").unwrap();
    wait_for("its replacement healthy", Duration::from_secs(30), || {
        let doc = status(&agents[0].addr(), "flaky")?;
        allocations(&doc)
            .into_iter()
            .find(|a| a["id"] != first.as_str() && a["health"]["status"] == "healthy")
    });
}

#[test]
fn a_container_is_published_on_its_port_and_discovered_healthy() {
    let Some(image) = test_image("a_container_is_published_on_its_port_and_discovered_healthy")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let spec = format!(
        r#"id = "box"
kind = "service"
replicas = 2
[task]
driver = "docker"
image = "{image}"
command = ["sh", "-c", "mkdir -p /tmp/www && echo box at $DROVER_ADDR_HTTP > /tmp/www/index.html && exec httpd -f -p $DROVER_PORT_HTTP -h /tmp/www"]
[task.sandbox]
network = "bridge"
[[task.port]]
label = "http"
[[task.check]]
type = "http"
port = "http"
interval = "500ms"
timeout = "1s"
"#
    );
    assert!(run_job(dir.path(), &agents[0].addr(), "box", &spec));
    for address in &endpoints(&agents, "box", 2) {
        let (code, body) = get(address).expect("the container answers at its endpoint");
        assert_eq!(code, 200);
        assert_eq!(
            body.trim(),
            format!("box at {address}"),
            "its own address, from its environment"
        );
    }
    let doc = status(&agents[0].addr(), "box").unwrap();
    for alloc in allocations(&doc)
        .iter()
        .filter(|a| a["status"] == "running")
    {
        assert_eq!(alloc["health"]["status"], "healthy", "{doc}");
    }
}

/// An exec check of a container runs inside it: it sees a file only the
/// container has, and the task's own environment; one that exits non-zero
/// leaves the instance unhealthy, with what it printed.
#[test]
fn a_containers_exec_check_runs_inside_the_container() {
    let Some(image) = test_image("a_containers_exec_check_runs_inside_the_container") else {
        return;
    };
    let probe = "/tmp/drover-check-inside-only";
    assert!(
        !std::path::Path::new(probe).exists(),
        "{probe} exists on the host: the test could not tell where the check ran"
    );
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    let job = |id: &str, check: &str| {
        format!(
            r#"id = "{id}"
kind = "service"
replicas = 1
[task]
driver = "docker"
image = "{image}"
command = ["sh", "-c", "echo $DROVER_ALLOC_ID > {probe} && exec sleep 600"]
[[task.check]]
type = "exec"
command = {check}
interval = "500ms"
timeout = "2s"
"#
        )
    };
    let inside = format!(r#"["sh", "-c", "echo seen $(cat {probe}) as $DROVER_ALLOC_ID"]"#);
    assert!(run_job(
        dir.path(),
        &addr,
        "inside",
        &job("inside", &inside)
    ));
    let healthy = wait_for("the check to pass", Duration::from_secs(60), || {
        allocations(&status(&addr, "inside")?)
            .into_iter()
            .find(|a| a["health"]["status"] == "healthy")
    });
    let id = healthy["id"].as_str().unwrap();
    assert_eq!(
        healthy["health"]["output"].as_str().unwrap(),
        format!("exit 0: seen {id} as {id}"),
        "the check read the container's file, in the container's environment"
    );

    let failing = r#"["sh", "-c", "echo not ready; exit 3"]"#;
    assert!(run_job(
        dir.path(),
        &addr,
        "failing",
        &job("failing", failing)
    ));
    let unhealthy = wait_for("the check to fail", Duration::from_secs(60), || {
        allocations(&status(&addr, "failing")?)
            .into_iter()
            .find(|a| a["health"]["status"] == "unhealthy")
    });
    assert_eq!(
        unhealthy["health"]["output"].as_str().unwrap(),
        "exit 3: not ready"
    );
}

/// A container listening on a port of its own (`to`, as Nomad's) is
/// published at the port its allocation holds: discovery lists the held
/// one, the check passes through it, and it answers there.
#[test]
fn a_container_listening_on_its_own_port_is_reached_at_the_one_held() {
    let Some(image) =
        test_image("a_container_listening_on_its_own_port_is_reached_at_the_one_held")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let spec = format!(
        r#"id = "inside"
kind = "service"
replicas = 1
[task]
driver = "docker"
image = "{image}"
command = ["sh", "-c", "mkdir -p /tmp/www && echo $DROVER_PORT_HTTP held $DROVER_HOST_PORT_HTTP > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
[task.sandbox]
network = "bridge"
[[task.port]]
label = "http"
to = 8080
[[task.check]]
type = "http"
port = "http"
interval = "500ms"
timeout = "1s"
"#
    );
    assert!(run_job(dir.path(), &agents[0].addr(), "inside", &spec));
    let address = endpoints(&agents, "inside", 1).remove(0);
    let held = address.rsplit_once(':').unwrap().1.to_string();
    assert_ne!(held, "8080", "a dynamic port is held, not the one inside");
    let (code, body) = get(&address).expect("the container answers at the held port");
    assert_eq!(code, 200);
    assert_eq!(body.trim(), format!("8080 held {held}"));
}

/// A rolling update to a version whose check never passes replaces no
/// old instance: past `healthy_deadline` it halts, saying why, and the
/// old instances keep serving; a version that passes then rolls through.
#[test]
fn an_update_that_never_passes_its_check_halts_and_the_old_instances_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let version = |path: &str| {
        format!(
            r#"id = "web"
kind = "service"
replicas = 2
[update]
max_parallel = 1
min_healthy_time = "1s"
healthy_deadline = "4s"
[task]
driver = "exec"
command = ["sh", "-c", "exec python3 -m http.server --bind 127.0.0.1 $DROVER_PORT_HTTP"]
[[task.port]]
label = "http"
[[task.check]]
type = "http"
port = "http"
path = "{path}"
interval = "500ms"
timeout = "1s"
grace = "0s"
"#
        )
    };
    assert!(run_job(dir.path(), &agents[0].addr(), "web", &version("/")));
    let first = endpoints(&agents, "web", 2);
    assert!(run_job(
        dir.path(),
        &agents[0].addr(),
        "web",
        &version("/missing")
    ));
    let doc = wait_for("the rollout halted", Duration::from_secs(40), || {
        let doc = status(&agents[0].addr(), "web")?;
        doc["rollout"]["halted"].is_string().then_some(doc)
    });
    let halted = doc["rollout"]["halted"].as_str().unwrap();
    assert!(
        halted.contains("not healthy within healthy_deadline 4s")
            && halted.contains("http /missing on http said GET"),
        "{halted}"
    );
    assert_eq!(doc["rollout"]["old"], 2, "{doc}");
    assert_eq!(
        doc["rollout"]["new"], 1,
        "max_parallel: one new instance at a time"
    );
    let serving = endpoints(&agents, "web", 2);
    assert_eq!(
        serving.iter().collect::<std::collections::BTreeSet<_>>(),
        first.iter().collect(),
        "the old instances serve on"
    );
    let table = cli(&agents[0].addr(), &["job", "status", "web"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("rollout halted: "), "{table}");
    assert!(run_job(dir.path(), &agents[0].addr(), "web", &version("/")));
    wait_for("version 3 everywhere", Duration::from_secs(60), || {
        let doc = status(&agents[0].addr(), "web")?;
        let live: Vec<&Value> = doc["allocations"]
            .as_array()?
            .iter()
            .filter(|a| a["desired"] == "run" && a["status"] == "running")
            .collect();
        let done = doc["rollout"].is_null()
            && live.len() == 2
            && live
                .iter()
                .all(|a| a["version"] == 3 && a["health"]["status"] == "healthy");
        done.then_some(())
    });
    for address in &endpoints(&agents, "web", 2) {
        assert_eq!(get(address).map(|(code, _)| code), Some(200));
    }
}

/// A two-instance python web service, version `tag`, whose check asks for
/// `path`, with `update` lines added to its `[update]`.
fn web_version(tag: &str, path: &str, update: &str) -> String {
    format!(
        r#"id = "web"
kind = "service"
replicas = 2
[update]
max_parallel = 1
min_healthy_time = "1s"
healthy_deadline = "4s"
{update}
[task]
driver = "exec"
command = ["sh", "-c", "exec python3 -m http.server --bind 127.0.0.1 $DROVER_PORT_HTTP"]
[task.env]
TAG = "{tag}"
[[task.port]]
label = "http"
[[task.check]]
type = "http"
port = "http"
path = "{path}"
interval = "500ms"
timeout = "1s"
grace = "0s"
"#
    )
}

/// The job's live, running instances' versions, sorted, once each is
/// healthy.
fn healthy_versions(doc: &Value) -> Option<Vec<u64>> {
    let mut versions = Vec::new();
    for a in allocations(doc)
        .iter()
        .filter(|a| a["desired"] == "run" && a["status"] != "stopped")
    {
        if a["status"] != "running" || a["health"]["status"] != "healthy" {
            return None;
        }
        versions.push(a["version"].as_u64()?);
    }
    versions.sort_unstable();
    Some(versions)
}

#[test]
fn an_update_that_never_passes_its_check_is_rolled_back_by_auto_revert() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    let auto_revert = "auto_revert = true";
    assert!(run_job(
        dir.path(),
        &addr,
        "web",
        &web_version("one", "/", auto_revert)
    ));
    wait_for("version 1 deployed", Duration::from_secs(40), || {
        let doc = status(&addr, "web")?;
        (doc["deployment"]["status"] == "succeeded").then_some(())
    });
    let first = endpoints(&agents, "web", 2);
    assert!(run_job(
        dir.path(),
        &addr,
        "web",
        &web_version("two", "/missing", auto_revert)
    ));
    let doc = wait_for(
        "version 1's spec back as version 3, deployed",
        Duration::from_secs(60),
        || {
            let doc = status(&addr, "web")?;
            let done = doc["version"] == 3
                && doc["deployment"]["status"] == "succeeded"
                && healthy_versions(&doc)? == [3, 3];
            done.then_some(doc)
        },
    );
    assert_eq!(doc["deployment"]["stable_version"], 3, "{doc}");
    let history = json(&addr, &["job", "history", "web"]).expect("history");
    let three = &history["versions"][0];
    assert_eq!(three["version"], 3, "{history}");
    let changes = three["changes"].as_array().expect("changes from 2");
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == "task.env.TAG" && c["new"] == "\"one\""),
        "version 3 has version 1's spec: {history}"
    );
    let events = cli(&addr, &["events", "--topic", "job"]);
    let events = String::from_utf8_lossy(&events.stdout);
    let failed = events
        .lines()
        .find(|l| l.contains("deployment_failed"))
        .unwrap_or_else(|| panic!("no deployment_failed event in:\n{events}"));
    assert!(
        failed.contains("version 2")
            && failed.contains("not healthy within healthy_deadline 4s")
            && failed.contains("auto_revert: version 1 is back as version 3"),
        "{failed}"
    );
    let serving = endpoints(&agents, "web", 2);
    for address in &serving {
        assert_eq!(get(address).map(|(code, _)| code), Some(200));
    }
    // The old instances served throughout; the reverted version replaced
    // them one at a time, so at least one address changed.
    assert_ne!(serving, first);
}

#[test]
fn a_canary_serves_beside_the_old_instances_until_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    assert!(run_job(
        dir.path(),
        &addr,
        "web",
        &web_version("one", "/", "canary = 1")
    ));
    wait_for("version 1 deployed", Duration::from_secs(40), || {
        let doc = status(&addr, "web")?;
        (doc["deployment"]["status"] == "succeeded").then_some(())
    });
    assert!(run_job(
        dir.path(),
        &addr,
        "web",
        &web_version("two", "/", "canary = 1")
    ));
    wait_for("one healthy canary", Duration::from_secs(40), || {
        let doc = status(&addr, "web")?;
        (healthy_versions(&doc)? == [1, 1, 2]).then_some(())
    });
    // Well past min_healthy_time: the old instances still run.
    std::thread::sleep(Duration::from_secs(3));
    let doc = status(&addr, "web").expect("status");
    assert_eq!(healthy_versions(&doc), Some(vec![1, 1, 2]), "{doc}");
    assert_eq!(doc["deployment"]["awaiting_promotion"], true, "{doc}");
    let table = cli(&addr, &["job", "status", "web"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("drover job promote web"), "{table}");
    assert_eq!(
        doc["deployment"]["versions"],
        serde_json::json!([
            {"version": 2, "placed": 1, "running": 1, "healthy": 1, "unhealthy": 0, "ready": 1},
            {"version": 1, "placed": 2, "running": 2, "healthy": 2, "unhealthy": 0, "ready": 2},
        ]),
        "{doc}"
    );
    assert!(
        table.contains("version 2: 1 placed, 1 running, 1 healthy, 0 unhealthy, 1 ready"),
        "{table}"
    );
    assert_eq!(
        endpoints(&agents, "web", 3).len(),
        3,
        "the canary serves too"
    );

    let promoted = cli(&addr, &["job", "promote", "web"]);
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );
    assert!(String::from_utf8_lossy(&promoted.stdout).contains("job web version 2 promoted"));
    wait_for("version 2 everywhere", Duration::from_secs(60), || {
        let doc = status(&addr, "web")?;
        let done = doc["deployment"]["status"] == "succeeded" && healthy_versions(&doc)? == [2, 2];
        done.then_some(())
    });
    let again = cli(&addr, &["job", "promote", "web"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already succeeded"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    for address in &endpoints(&agents, "web", 2) {
        assert_eq!(get(address).map(|(code, _)| code), Some(200));
    }
}
