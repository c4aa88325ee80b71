//! The REST API on a real `drover dev` cluster, driven over HTTP as a
//! client would: submit, read, follow to completion, read the output,
//! drain, stop, and the errors — with the same documents `--json` prints.

mod common;

use std::time::Duration;

use common::{drover, free_ports, json, signal, wait_for};
use serde_json::Value;

struct Answer {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn call(method: &str, url: &str, body: Option<(&str, &str)>, headers: &[(&str, &str)]) -> Answer {
    try_call(method, url, body, headers).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// `Err` only when no HTTP answer came (nothing listening yet).
fn try_call(
    method: &str,
    url: &str,
    body: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let mut request = ureq::request(method, url).timeout(Duration::from_secs(30));
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let result = match body {
        Some((content_type, text)) => request.set("Content-Type", content_type).send_string(text),
        None => request.call(),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => return Err(e.to_string()),
    };
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_string();
            (n, v)
        })
        .collect();
    let status = response.status();
    Ok(Answer {
        status,
        body: response.into_string().unwrap(),
        headers,
    })
}

const BATCH: &str = "id = \"hello\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo hello from rest\"]\n";

#[test]
fn the_rest_api_serves_what_the_grpc_api_does() {
    let ports = free_ports(6);
    let (grpc, http) = (ports[0], ports[3]);
    let mut dev = drover()
        .args(["dev", "--port", &grpc.to_string()])
        .args(["--http-port", &http.to_string()])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = |node: u16| format!("http://127.0.0.1:{}", http + node);
    let addr = format!("127.0.0.1:{grpc}");
    wait_for("a leader, through REST", Duration::from_secs(30), || {
        let answer = try_call("GET", &format!("{}/v1/cluster", base(0)), None, &[]).ok()?;
        (answer.status == 200 && !answer.json()["leader"].is_null()).then_some(())
    });

    openapi_and_invalid_specs(&base);
    headers_sent_too_slowly_end_the_connection(http);

    // Submitted through a node that does not lead as often as one that
    // does: writes are forwarded. A retry with the same key writes nothing.
    let key = [("Idempotency-Key", "rest-test-1")];
    let submitted = call(
        "POST",
        &format!("{}/v1/jobs", base(2)),
        Some(("application/toml", BATCH)),
        &key,
    );
    assert_eq!(submitted.status, 200, "{}", submitted.body);
    let first = submitted.json();
    assert_eq!(first["job"], "hello");
    assert_eq!(first["version"], 1);
    let changed = BATCH.replace("hello from rest", "written twice");
    let again = call(
        "POST",
        &format!("{}/v1/jobs", base(1)),
        Some(("application/toml", &changed)),
        &key,
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.json()["version"],
        1,
        "the retry yields the first write's version"
    );

    let done = wait_for("the job to complete", Duration::from_secs(60), || {
        let doc = call("GET", &format!("{}/v1/jobs/hello", base(0)), None, &[]).json();
        (doc["status"] == "complete").then_some(doc)
    });
    // The same document the CLI's --json prints.
    let cli = json(&addr, &["job", "status", "hello"]).unwrap();
    for field in ["id", "kind", "version", "status", "summary", "allocations"] {
        assert_eq!(done[field], cli[field], "{field}");
    }
    let allocations = call(
        "GET",
        &format!("{}/v1/jobs/hello/allocations", base(1)),
        None,
        &[],
    )
    .json();
    assert_eq!(
        allocations["allocations"][0]["status"], "complete",
        "{allocations}"
    );

    let logs = call("GET", &format!("{}/v1/jobs/hello/logs", base(0)), None, &[]);
    assert_eq!(logs.status, 200);
    assert_eq!(logs.body, "hello from rest\n");
    assert_eq!(logs.header("drover-next-offset"), Some("16"));
    let followed = call(
        "GET",
        &format!("{}/v1/jobs/hello/logs?follow=true", base(2)),
        None,
        &[],
    );
    assert_eq!(
        followed.body, "hello from rest\n",
        "a finished allocation's stream ends"
    );

    events_over_sse(&base);
    metrics_pages(&base);

    let listed = call("GET", &format!("{}/v1/jobs?prefix=hel", base(0)), None, &[]).json();
    assert_eq!(listed["jobs"][0]["id"], "hello", "{listed}");
    nodes_and_errors(&base);

    let stopped = call("DELETE", &format!("{}/v1/jobs/hello", base(1)), None, &[]);
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let after = call("GET", &format!("{}/v1/jobs/hello", base(0)), None, &[]).json();
    assert_eq!(after["status"], "stopped", "{after}");

    signal(dev.id(), "-INT");
    let _ = dev.wait();
}

/// Nodes and drains; and errors as JSON, with the status a client acts on.
fn nodes_and_errors(base: &dyn Fn(u16) -> String) {
    let nodes = call("GET", &format!("{}/v1/nodes", base(0)), None, &[]).json();
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 3, "{nodes}");

    let drained = call(
        "POST",
        &format!("{}/v1/nodes/node-2/drain", base(0)),
        None,
        &[],
    );
    assert_eq!(drained.status, 200, "{}", drained.body);
    assert_eq!(drained.json()["draining"], true);
    let undrained = call(
        "POST",
        &format!("{}/v1/nodes/node-2/drain?enable=false", base(0)),
        None,
        &[],
    );
    assert_eq!(undrained.json()["draining"], false);

    // Errors say what is wrong, as JSON, with the status a client acts on.
    let missing = call("DELETE", &format!("{}/v1/jobs/nope", base(0)), None, &[]);
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    let bad_param = call(
        "GET",
        &format!("{}/v1/jobs?page_size=lots", base(0)),
        None,
        &[],
    );
    assert_eq!(bad_param.status, 400);
    assert!(
        bad_param.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("page_size")
    );
    let too_big = call(
        "GET",
        &format!("{}/v1/nodes?page_size=20000", base(0)),
        None,
        &[],
    );
    assert_eq!(too_big.status, 400, "{}", too_big.body);
    let nowhere = call("GET", &format!("{}/v2/jobs", base(0)), None, &[]);
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json()["error"]["code"], "not_found");
    let stale = call(
        "POST",
        &format!("{}/v1/jobs?check_index=7", base(0)),
        Some(("application/toml", BATCH)),
        &[],
    );
    assert_eq!(stale.status, 409, "{}", stale.body);
}

/// The document is served, and a spec that does not validate is answered
/// with every problem and where it is.
fn openapi_and_invalid_specs(base: &dyn Fn(u16) -> String) {
    let openapi = call("GET", &format!("{}/v1/openapi.json", base(0)), None, &[]);
    assert_eq!(openapi.status, 200);
    let paths = openapi.json()["paths"].clone();
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/nodes/{id}/drain",
        "/v1/cluster",
    ] {
        assert!(paths.get(path).is_some(), "{path} is documented");
    }

    // A spec that does not validate: every problem, with where it is.
    let bad = call(
        "POST",
        &format!("{}/v1/jobs", base(0)),
        Some((
            "application/toml",
            "id = \"x\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = []\nreplicas = \"two\"\n",
        )),
        &[],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let error = &bad.json()["error"];
    assert_eq!(error["code"], "invalid_spec", "{error}");
    let problems = error["problems"].as_array().unwrap();
    assert!(!problems.is_empty());
    assert!(
        problems.iter().any(|p| p["line"].is_u64()
            && p["column"].is_u64()
            && !p["path"].as_str().unwrap().is_empty()),
        "{problems:?}"
    );

    // A body over the limit is refused unread, as JSON that names it.
    let huge = format!("id = \"big\"\n# {}\n", "x".repeat(2 * 1024 * 1024));
    let refused = call(
        "POST",
        &format!("{}/v1/jobs", base(0)),
        Some(("application/toml", &huge)),
        &[],
    );
    assert_eq!(refused.status, 413, "{}", refused.body);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "too_large", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("over the limit"),
        "{error}"
    );
}

/// A client that sends part of a request's headers and then nothing is
/// cut off after the node's header timeout (10 s), not kept for ever.
fn headers_sent_too_slowly_end_the_connection(port: u16) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /v1/cluster HTTP/1.1\r\nHost: slow\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(
        read.is_ok()
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the connection did not end: {read:?} after {waited:?}"
    );
    assert!(
        waited >= Duration::from_secs(8) && waited < Duration::from_secs(20),
        "cut off after {waited:?}, not after the 10 s header timeout"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
}

/// Server-sent events: (id, page) per message.
fn sse_pages(body: &str) -> Vec<(u64, Value)> {
    body.split("\n\n")
        .filter(|m| m.contains("event: events"))
        .map(|message| {
            let field = |name: &str| {
                message
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {message:?}"))
                    .trim()
                    .to_string()
            };
            let page: Value = serde_json::from_str(&field("data:")).unwrap();
            (field("id:").parse().unwrap(), page)
        })
        .collect()
}

/// The event stream over SSE: the job's life, the same from every node,
/// resumed through `Last-Event-ID` without gap or repeat.
fn events_over_sse(base: &dyn Fn(u16) -> String) {
    let answer = call("GET", &format!("{}/v1/events", base(0)), None, &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    let pages = sse_pages(&answer.body);
    let events: Vec<Value> = pages
        .iter()
        .flat_map(|(_, p)| p["events"].as_array().unwrap().clone())
        .collect();
    let life: Vec<&str> = events
        .iter()
        .filter(|e| e["job"] == "hello")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(life, common::BATCH_LIFE);
    let elsewhere = call("GET", &format!("{}/v1/events", base(2)), None, &[]);
    let there: Vec<Value> = sse_pages(&elsewhere.body)
        .iter()
        .flat_map(|(_, p)| p["events"].as_array().unwrap().clone())
        .filter(|e| e["index"].as_u64() <= events.last().unwrap()["index"].as_u64())
        .collect();
    assert_eq!(there, events, "every node tells the same events");

    let after = events[events.len() / 2]["index"].as_u64().unwrap();
    let resumed = call(
        "GET",
        &format!("{}/v1/events", base(1)),
        None,
        &[("Last-Event-ID", &after.to_string())],
    );
    let tail: Vec<Value> = sse_pages(&resumed.body)
        .iter()
        .flat_map(|(_, p)| p["events"].as_array().unwrap().clone())
        .filter(|e| e["index"].as_u64() <= events.last().unwrap()["index"].as_u64())
        .collect();
    let expected: Vec<Value> = events
        .iter()
        .filter(|e| e["index"].as_u64().unwrap() > after)
        .cloned()
        .collect();
    assert_eq!(tail, expected);

    let nodes = call(
        "GET",
        &format!("{}/v1/events?topic=node", base(0)),
        None,
        &[],
    );
    assert!(
        sse_pages(&nodes.body)
            .iter()
            .flat_map(|(_, p)| p["events"].as_array().unwrap().clone())
            .all(|e| e["topic"] == "node")
    );
    let bad = call(
        "GET",
        &format!("{}/v1/events?topic=jobs", base(0)),
        None,
        &[],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

/// What a scrape says: the samples of `name` whose labels include
/// `labels`, summed (a histogram's `_count`, `_sum` are samples too).
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name}: {other:?}"),
        })
        .sum()
}

fn scrape(url: &str) -> prometheus_parse::Scrape {
    let page = call("GET", url, None, &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        page.header("content-type")
    );
    prometheus_parse::Scrape::parse(page.body.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("{url} does not parse: {e}"))
}

/// Every node's metrics page parses, and says what the run did: one
/// leader, a term, entries made durable, a placement, the job complete,
/// polls answered, requests counted by route and status.
fn metrics_pages(base: &dyn Fn(u16) -> String) {
    let missing = call("GET", &format!("{}/v1/jobs/nope", base(0)), None, &[]);
    assert_eq!(missing.status, 404);
    let scrapes: Vec<_> = (0..3)
        .map(|n| scrape(&format!("{}/metrics", base(n))))
        .collect();
    let leaders: f64 = scrapes
        .iter()
        .map(|s| sample(s, "drover_raft_leader", &[]))
        .sum();
    assert!(
        (leaders - 1.0).abs() < f64::EPSILON,
        "one leader, not {leaders}"
    );
    for page in &scrapes {
        assert!(sample(page, "drover_raft_term", &[]) >= 1.0);
        assert!(sample(page, "drover_raft_applied_index", &[]) >= 1.0);
        assert!(sample(page, "drover_log_fsync_duration_seconds_count", &[]) >= 1.0);
        assert!(sample(page, "drover_log_append_batch_entries_count", &[]) >= 1.0);
        assert!(sample(page, "drover_worker_poll_duration_seconds_count", &[]) >= 1.0);
        assert!(sample(page, "drover_proposal_duration_seconds_count", &[]) >= 1.0);
        assert!(sample(page, "drover_nodes", &[("status", "ready")]) >= 3.0);
    }
    let leader = scrapes
        .iter()
        .find(|s| sample(s, "drover_raft_leader", &[]) > 0.5)
        .unwrap();
    assert!(sample(leader, "drover_placements_total", &[]) >= 1.0);
    assert!(sample(leader, "drover_reconcile_pass_duration_seconds_count", &[]) >= 1.0);
    assert!(sample(&scrapes[0], "drover_allocations", &[("status", "complete")]) >= 1.0);
    let job_reads = sample(
        &scrapes[0],
        "drover_api_requests_total",
        &[
            ("api", "http"),
            ("method", "GET /v1/jobs/:id"),
            ("code", "200"),
        ],
    );
    assert!(job_reads >= 1.0, "GET /v1/jobs/:id counted by route");
    let not_found = sample(
        &scrapes[0],
        "drover_api_requests_total",
        &[
            ("api", "http"),
            ("method", "GET /v1/jobs/:id"),
            ("code", "404"),
        ],
    );
    assert!(not_found >= 1.0, "a 404 answer counted");
    let grpc_reads = sample(
        &scrapes[0],
        "drover_api_requests_total",
        &[("api", "grpc"), ("method", "JobStatus"), ("code", "Ok")],
    );
    assert!(
        grpc_reads >= 1.0,
        "the CLI's job status, over gRPC, counted"
    );
}
