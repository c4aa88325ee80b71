//! `drover dev` ends for good on Ctrl-C: it stops every task its nodes
//! started before it removes their data, and says so. A real `drover dev`
//! process, a service of three real `sleep` processes, and SIGINT.

mod common;

use std::time::Duration;

use common::{cli, drover, free_ports, signal, status, wait_for};

fn alive(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn ctrl_c_on_drover_dev_stops_every_task_before_removing_its_data() {
    let ports = free_ports(6);
    assert!(
        ports.windows(2).all(|w| w[1] == w[0] + 1),
        "drover dev takes consecutive ports: {ports:?}"
    );
    let mut dev = drover()
        .args(["dev", "--port", &ports[0].to_string()])
        .args(["--http-port", &ports[3].to_string()])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let root = std::env::temp_dir().join(format!("drover-dev-{}", dev.id()));
    let addr = format!("127.0.0.1:{}", ports[0]);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("svc.toml");
    std::fs::write(
        &spec,
        "id = \"svc\"\nkind = \"service\"\nreplicas = 3\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    wait_for("drover dev to take a job", Duration::from_secs(30), || {
        cli(&addr, &["job", "run", spec.to_str().unwrap()])
            .status
            .success()
            .then_some(())
    });
    let running = status(&addr, "svc").unwrap()["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "running")
        .count();
    assert_eq!(running, 3);
    let pids: Vec<String> = (1..=3)
        .flat_map(|n| {
            std::fs::read_dir(root.join(format!("node-{n}/allocs")))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter_map(|alloc| std::fs::read_to_string(alloc.path().join("pid")).ok())
        .map(|pid| pid.trim().to_string())
        .collect();
    assert_eq!(pids.len(), 3, "one task per replica: {pids:?}");
    assert!(pids.iter().all(|p| alive(p)));

    signal(dev.id(), "-INT");
    let exited = wait_for("drover dev to exit", Duration::from_secs(30), || {
        dev.try_wait().unwrap()
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut dev.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(exited.success(), "{stdout}");
    let survivors: Vec<&String> = pids.iter().filter(|p| alive(p)).collect();
    assert!(
        survivors.is_empty(),
        "tasks outlived drover dev: {survivors:?}\n{stdout}"
    );
    assert!(stdout.contains("stopped 3 task(s)"), "{stdout}");
    assert!(
        !root.exists(),
        "the temporary data is removed once nothing runs"
    );
}

/// Starts `drover dev` on fresh ports with `data` kept, lets it elect a
/// leader and run for two seconds, and returns what it wrote to stderr
/// by then (what stopping its nodes one after another logs is not a
/// start); then stops it.
fn dev_log(data: &std::path::Path, extra: &[&str]) -> String {
    let ports = free_ports(6);
    let log = data.with_extension(format!("{}.log", ports[0]));
    let mut dev = drover()
        .args(["dev", "--port", &ports[0].to_string()])
        .args(["--http-port", &ports[3].to_string(), "--data-dir"])
        .arg(data)
        .args(extra)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{}", ports[0]);
    wait_for(
        "drover dev to elect a leader",
        Duration::from_secs(30),
        || {
            cli(&addr, &["cluster", "status"])
                .status
                .success()
                .then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let text = std::fs::read_to_string(&log).unwrap();
    signal(dev.id(), "-INT");
    let _ = dev.wait();
    text
}

#[test]
fn a_log_written_to_a_file_is_plain_and_a_normal_start_or_restart_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (start, text) in [
        ("first start", dev_log(&data, &[])),
        ("restart", dev_log(&data, &[])),
    ] {
        assert!(
            !text.contains('\u{1b}'),
            "{start}: colour codes in a file:\n{text}"
        );
        let loud: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
            .collect();
        assert!(
            loud.is_empty(),
            "{start}: a normal {start} logged {loud:#?}"
        );
        assert!(
            text.contains(" INFO "),
            "{start}: nothing logged at all:\n{text}"
        );
    }
    let json = dev_log(&dir.path().join("json"), &["--log-format", "json"]);
    for line in json.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            parsed["level"].is_string() && parsed["fields"]["message"].is_string(),
            "{line}"
        );
    }
}

/// `drover dev --regions 2`: two regions of three nodes, `dev-1` and
/// `dev-2`; a job run through a `dev-1` node with `--region dev-2` is
/// placed there, and `dev-1` holds none of it.
#[test]
fn drover_dev_with_two_regions_places_a_job_in_the_region_named() {
    let ports = free_ports(12);
    let mut dev = drover()
        .args(["dev", "--regions", "2", "--port", &ports[0].to_string()])
        .args(["--http-port", &ports[6].to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{}", ports[0]);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("far.toml");
    std::fs::write(
        &spec,
        "id = \"far\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    wait_for("a job taken for dev-2", Duration::from_secs(30), || {
        cli(
            &addr,
            &["job", "run", "--detach", "--region", "dev-2", spec],
        )
        .status
        .success()
        .then_some(())
    });
    // Reads fail while a region is still electing (a moment after it
    // started): asked again until one answers.
    let read = |what: &str, args: &[&str]| {
        wait_for(what, Duration::from_secs(30), || common::json(&addr, args))
    };
    let far = read("dev-2's jobs", &["job", "list", "--region", "dev-2"]);
    assert_eq!(far["jobs"][0]["id"], "far", "{far}");
    let near = read("dev-1's jobs", &["job", "list"]);
    assert_eq!(near["jobs"].as_array().unwrap().len(), 0, "{near}");
    let status = read("the cluster status", &["cluster", "status"]);
    assert_eq!(status["region"], "dev-1");
    assert_eq!(status["regions"][0]["region"], "dev-2", "{status}");
    signal(dev.id(), "-INT");
    let _ = dev.wait();
}
