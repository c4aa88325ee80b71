//! Conditional and repeated writes through the CLI against real agents:
//! `--check-index` (concurrent updates of one job cannot overwrite each
//! other unseen, Nomad's -check-index) and idempotency keys (a retried
//! write yields the first one's result instead of writing again).

mod common;

use common::{cli, cluster_of, status, write_spec};

fn spec(echo: &str) -> String {
    format!(
        "id = \"web\"\nkind = \"service\"\nreplicas = 1\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"{echo}\"]\n"
    )
}

fn run(addr: &str, file: &str, check_index: &str) -> std::process::Output {
    cli(
        addr,
        &["job", "run", "--detach", "--check-index", check_index, file],
    )
}

#[test]
fn a_write_is_refused_unless_the_job_is_at_the_version_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster_of(dir.path(), &["control", "control", "control"], "");
    common::leader(&agents);
    let addr = format!("{},{}", agents[0].addr(), agents[1].addr());
    let first = write_spec(dir.path(), "v1", &spec("one"));
    let second = write_spec(dir.path(), "v2", &spec("two"));
    let third = write_spec(dir.path(), "v3", &spec("three"));

    // 0: only a new job.
    let created = run(&addr, &first, "0");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let again = run(&addr, &first, "0");
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("already exists"), "{said}");

    // Two operators read version 1; the first update wins, the second is
    // refused and told the version it would overwrite.
    let updated = run(&addr, &second, "1");
    assert!(
        updated.status.success(),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    let stale = run(&addr, &third, "1");
    assert!(!stale.status.success());
    let said = String::from_utf8_lossy(&stale.stderr);
    assert!(
        said.contains("at version 2") && said.contains("--check-index 2"),
        "{said}"
    );
    let doc = status(&agents[0].addr(), "web").expect("job status");
    assert_eq!(
        doc["version"], 2,
        "the refused write changed the job: {doc}"
    );

    // With the version it now names, it goes through.
    let retried = run(&addr, &third, "2");
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let doc = status(&agents[0].addr(), "web").expect("job status");
    assert_eq!(doc["version"], 3, "{doc}");
}

fn run_keyed(addr: &str, file: &str, key: &str) -> std::process::Output {
    cli(
        addr,
        &[
            "job",
            "run",
            "--detach",
            "--json",
            "--idempotency-key",
            key,
            file,
        ],
    )
}

fn version_of(out: &std::process::Output) -> u64 {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["version"].as_u64().expect("a version")
}

#[test]
fn a_write_repeated_under_its_idempotency_key_yields_the_first_result() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster_of(dir.path(), &["control", "control", "control"], "");
    common::leader(&agents);
    let first = write_spec(dir.path(), "v1", &spec("one"));
    let second = write_spec(dir.path(), "v2", &spec("two"));

    assert_eq!(
        version_of(&run_keyed(&agents[0].addr(), &first, "deploy-42")),
        1
    );
    // The same key through another node — a client retrying after a lost
    // answer — writes nothing, even with another spec, and is told what
    // the first write yielded.
    assert_eq!(
        version_of(&run_keyed(&agents[1].addr(), &second, "deploy-42")),
        1
    );
    let doc = status(&agents[2].addr(), "web").expect("job status");
    assert_eq!(doc["version"], 1, "the repeat wrote: {doc}");
    // Another key is another write.
    assert_eq!(
        version_of(&run_keyed(&agents[2].addr(), &second, "deploy-43")),
        2
    );
    // An unusable key is refused, naming what is wrong with it.
    let long = "k".repeat(200);
    let refused = run_keyed(&agents[0].addr(), &first, &long);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("idempotency key"), "{said}");
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn history_plan_and_revert_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster_of(dir.path(), &["control", "control", "control"], "");
    common::leader(&agents);
    let addr = format!("{},{}", agents[0].addr(), agents[1].addr());
    for (n, echo) in ["one", "two", "three"].iter().enumerate() {
        let file = write_spec(dir.path(), &format!("v{}", n + 1), &spec(echo));
        let out = cli(&addr, &["job", "run", "--detach", &file]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let history = json_of(&cli(&addr, &["job", "history", "web", "--json"]));
    let versions: Vec<u64> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(history["versions"][0]["current"], true);
    let change = &history["versions"][0]["changes"][0];
    assert_eq!(change["path"], "task.command[1]", "{history}");
    assert_eq!(change["old"], "\"two\"");
    assert_eq!(change["new"], "\"three\"");

    // A plan commits nothing and names the version to check against.
    let bigger = write_spec(
        dir.path(),
        "v4",
        &spec("four").replace("replicas = 1", "replicas = 2"),
    );
    let plan = json_of(&cli(&addr, &["job", "plan", "--json", &bigger]));
    assert_eq!(plan["check_index"], 3, "{plan}");
    assert_eq!(plan["new_version"], 4, "{plan}");
    assert!(
        plan["unplaced"].as_array().is_some_and(|r| !r.is_empty()),
        "no node runs work here, and the plan says so: {plan}"
    );
    let text = cli(&addr, &["job", "plan", &bigger]);
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(said.contains("--check-index 3"), "{said}");
    assert_eq!(status(&agents[2].addr(), "web").unwrap()["version"], 3);

    // Revert to version 1: a new version 4 with version 1's spec.
    let reverted = json_of(&cli(&addr, &["job", "revert", "--json", "web", "1"]));
    assert_eq!(reverted["version"], 4, "{reverted}");
    let history = json_of(&cli(&addr, &["job", "history", "web", "--json"]));
    let change = &history["versions"][0]["changes"][0];
    assert_eq!(change["new"], "\"one\"", "{history}");
    let missing = cli(&addr, &["job", "revert", "web", "9"]);
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("no version 9 kept"), "{said}");
}
