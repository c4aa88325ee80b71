//! `job run` of a new version of a service follows its rollout: it
//! returns only once every instance wanted runs the new version, with
//! three real agents on loopback and real `sleep` processes.

mod common;

use common::{cli, cluster, kill_tasks, leader, status, write_spec};

fn write(dir: &std::path::Path, seconds: u32) -> String {
    write_spec(
        dir,
        &format!("svc-{seconds}"),
        &format!(
            "id = \"svc\"\nkind = \"service\"\nreplicas = 3\n[task]\ndriver = \"exec\"\ncommand = [\"sleep\", \"{seconds}\"]\n"
        ),
    )
}

#[test]
fn job_run_of_a_new_version_returns_once_every_instance_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    let addr = agents[0].addr();
    leader(&agents);
    for (version, seconds) in [(1, 1000), (2, 999)] {
        let out = cli(
            &addr,
            &["job", "run", "--wait", "60", &write(dir.path(), seconds)],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "version {version}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // What `job run` saw when it returned, read again right after.
        let doc = status(&addr, "svc").unwrap();
        let wanted: Vec<(u64, String)> = doc["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["desired"] == "run")
            .map(|a| {
                (
                    a["version"].as_u64().unwrap(),
                    a["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            wanted,
            vec![(version, "running".to_string()); 3],
            "version {version}: job run printed\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("svc v{version}: 3 running")),
            "the last progress line names the version: {stdout}"
        );
    }
    for agent in &agents {
        kill_tasks(&agent.data);
    }
}
