//! Ports on real processes: an exec service asking a dynamic port gets it
//! in its environment, listens there, and answers at the address `job
//! status` gives; a static port is held once per host — the three nodes
//! here share one, as `drover dev`'s do — and the rest wait, saying why.

mod common;

use std::time::Duration;

use common::{Agent, cli, cluster, free_ports, run_job, status, wait_for};

/// The addresses of the job's running allocations' `label` ports.
fn addresses(agents: &[Agent], job: &str, label: &str) -> Option<Vec<String>> {
    let doc = status(&agents[0].addr(), job)?;
    let running: Vec<String> = doc["allocations"]
        .as_array()?
        .iter()
        .filter(|a| a["status"] == "running" && a["desired"] == "run")
        .filter_map(|a| {
            a["ports"]
                .as_array()?
                .iter()
                .find(|p| p["label"] == label)
                .and_then(|p| p["address"].as_str().map(String::from))
        })
        .collect();
    Some(running)
}

fn get(address: &str) -> Option<String> {
    ureq::get(&format!("http://{address}/"))
        .timeout(Duration::from_secs(2))
        .call()
        .ok()?
        .into_string()
        .ok()
}

#[test]
fn an_exec_service_listens_on_its_dynamic_port_and_answers_there() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let spec = r#"id = "web"
kind = "service"
replicas = 2
[task]
driver = "exec"
command = ["sh", "-c", "echo port $DROVER_PORT_HTTP at $DROVER_ADDR_HTTP > index.html && exec python3 -m http.server --bind 127.0.0.1 $DROVER_PORT_HTTP"]
[[task.port]]
label = "http"
"#;
    assert!(run_job(dir.path(), &agents[0].addr(), "web", spec));
    let answers = wait_for("both instances answering", Duration::from_secs(30), || {
        let addresses = addresses(&agents, "web", "http")?;
        (addresses.len() == 2).then_some(())?;
        let answers: Vec<(String, String)> = addresses
            .iter()
            .map(|a| get(a).map(|body| (a.clone(), body)))
            .collect::<Option<_>>()?;
        Some(answers)
    });
    for (address, body) in &answers {
        let port = address.rsplit_once(':').unwrap().1;
        assert_eq!(
            body.trim(),
            format!("port {port} at {address}"),
            "the task's environment names the port it was given"
        );
        let port: u16 = port.parse().unwrap();
        assert!((20_000..=32_000).contains(&port), "{port}");
    }
    assert_ne!(answers[0].0, answers[1].0, "two instances, two addresses");
    let table = cli(&agents[0].addr(), &["job", "status", "web"]);
    let table = String::from_utf8_lossy(&table.stdout);
    for (address, _) in &answers {
        assert!(table.contains(&format!("http={address}")), "{table}");
    }
}

#[test]
fn a_static_port_runs_once_per_host_and_the_rest_wait_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let port = free_ports(1)[0];
    let spec = format!(
        r#"id = "fixed"
kind = "service"
replicas = 2
[task]
driver = "exec"
command = ["sh", "-c", "test $DROVER_PORT_P = {port} && exec python3 -m http.server --bind 127.0.0.1 {port}"]
[[task.port]]
label = "p"
static = {port}
"#
    );
    assert!(run_job(dir.path(), &agents[0].addr(), "fixed", &spec));
    let doc = wait_for("one running, one waiting", Duration::from_secs(30), || {
        let doc = status(&agents[0].addr(), "fixed")?;
        let placed = doc["allocations"]
            .as_array()?
            .iter()
            .filter(|a| a["desired"] == "run" && a["status"] == "running")
            .count();
        (placed == 1 && doc.to_string().contains("static port")).then_some(doc)
    });
    // It stays so: no second instance is placed on another node of the
    // host, where it could not bind.
    std::thread::sleep(Duration::from_secs(3));
    let later = status(&agents[0].addr(), "fixed").unwrap();
    let failed = later["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "failed")
        .count();
    assert_eq!(failed, 0, "{later}");
    assert!(get(&format!("127.0.0.1:{port}")).is_some(), "{doc}");
}

/// A node's `[ports] dynamic` range is where its tasks' dynamic ports
/// come from: with a range of one port on each of three nodes sharing a
/// host, one instance runs, on that port, and the other is never started.
#[test]
fn dynamic_ports_come_from_the_range_each_node_configures() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let agents = common::cluster_with(
        dir.path(),
        &format!("[ports]\ndynamic = \"{port}-{port}\"\n"),
    );
    let spec = r#"id = "ranged"
kind = "service"
replicas = 2
[task]
driver = "exec"
command = ["sh", "-c", "exec python3 -m http.server --bind 127.0.0.1 $DROVER_PORT_HTTP"]
[[task.port]]
label = "http"
"#;
    assert!(run_job(dir.path(), &agents[0].addr(), "ranged", spec));
    let running = wait_for("one instance running", Duration::from_secs(60), || {
        let running = addresses(&agents, "ranged", "http")?;
        (running.len() == 1).then_some(running)
    });
    assert_eq!(running[0], format!("127.0.0.1:{port}"));
    wait_for("an answer", Duration::from_secs(20), || get(&running[0]));
    std::thread::sleep(Duration::from_secs(3));
    let again = addresses(&agents, "ranged", "http").unwrap();
    assert_eq!(again, running, "no second instance: the range is held");
}
