//! Three real `drover agent` processes on loopback with real disks: jobs
//! acknowledged are never lost — not when the leader is killed with
//! SIGKILL, not when it comes back — and bad input changes nothing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn drover() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drover"))
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A running agent; killed when dropped, so no test leaves a process behind.
struct Agent {
    id: u64,
    port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl Agent {
    fn start(&mut self) {
        let log = std::fs::File::create(self.config.with_extension("log")).unwrap();
        let child = drover()
            .args(["agent", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,openraft=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("agent starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

fn cluster(dir: &Path) -> Vec<Agent> {
    let ports = free_ports(3);
    let peers: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("[[peers]]\nid = {}\naddr = \"127.0.0.1:{p}\"\n", i + 1))
        .collect();
    let peers = peers.concat();
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let id = i as u64 + 1;
            let config = dir.join(format!("node-{id}.toml"));
            let data = dir.join(format!("data-{id}"));
            std::fs::write(
                &config,
                format!(
                    "id = {id}\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[capacity]\ncpu = \"64\"\nmemory = \"64GiB\"\n{peers}",
                    data.display()
                ),
            )
            .unwrap();
            let mut agent = Agent { id, port: *port, config, child: None };
            agent.start();
            agent
        })
        .collect()
}

fn cli(addr: &str, args: &[&str]) -> Output {
    drover()
        .args(args)
        .env("DROVER_ADDR", addr)
        .output()
        .unwrap()
}

fn json(addr: &str, args: &[&str]) -> Option<serde_json::Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cli(addr, &all);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn leader(agents: &[Agent]) -> u64 {
    wait_for("a leader", Duration::from_secs(20), || {
        agents
            .iter()
            .filter(|a| a.child.is_some())
            .find_map(|a| json(&a.addr(), &["cluster", "status"]))
            .and_then(|doc| doc["leader"].as_u64())
    })
}

fn job_ids(addr: &str) -> Option<Vec<String>> {
    let doc = json(addr, &["job", "list"])?;
    Some(
        doc["jobs"]
            .as_array()?
            .iter()
            .map(|j| j["id"].as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

fn submit(dir: &Path, addr: &str, n: usize) -> bool {
    let spec = dir.join(format!("job-{n}.toml"));
    std::fs::write(
        &spec,
        format!("id = \"job-{n}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", \"{n}\"]\n"),
    )
    .unwrap();
    cli(addr, &["job", "run", "--detach", spec.to_str().unwrap()])
        .status
        .success()
}

#[test]
fn acknowledged_jobs_survive_the_leader_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    let first = leader(&agents);
    let mut acknowledged = Vec::new();
    for n in 0..40 {
        if n == 20 {
            agents[usize::try_from(first).unwrap() - 1].kill();
        }
        // Round-robin over the live nodes (followers forward to the
        // leader), retrying as a client would while a new leader is elected.
        let live: Vec<String> = agents
            .iter()
            .filter(|a| a.child.is_some())
            .map(Agent::addr)
            .collect();
        let accepted = (0..40).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250));
            }
            submit(dir.path(), &live[(n + attempt) % live.len()], n)
        });
        assert!(accepted, "job-{n} never acknowledged");
        acknowledged.push(format!("job-{n}"));
    }
    let second = leader(&agents);
    assert_ne!(first, second, "a new leader took over");
    let survivor = agents.iter().find(|a| a.child.is_some()).unwrap().addr();
    let ids = job_ids(&survivor).unwrap();
    for job in &acknowledged {
        assert!(ids.contains(job), "acknowledged {job} lost; have {ids:?}");
    }
    // The killed node restarts from its disk and catches up.
    let killed = agents.iter_mut().find(|a| a.id == first).unwrap();
    killed.start();
    let addr = killed.addr();
    wait_for(
        "the restarted node to catch up",
        Duration::from_secs(30),
        || {
            let ids = job_ids(&addr)?;
            acknowledged.iter().all(|j| ids.contains(j)).then_some(())
        },
    );
}

#[test]
fn a_malformed_spec_is_refused_with_its_field_path_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster(dir.path());
    leader(&agents);
    let addr = agents[1].addr();
    wait_for("the API", Duration::from_secs(20), || job_ids(&addr));
    let spec = dir.path().join("bad.toml");
    std::fs::write(&spec, "id = \"bad\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n[task.resources]\nmemory = \"512MB\"\n").unwrap();
    let out = cli(&addr, &["job", "run", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "invalid input exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("7:10: error: task.resources.memory"),
        "{stderr}"
    );
    assert_eq!(job_ids(&addr).unwrap(), Vec::<String>::new());
}

#[test]
fn a_corrupted_log_stops_the_node_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster(dir.path());
    leader(&agents);
    for n in 0..5 {
        assert!(submit(dir.path(), &agents[0].addr(), n));
    }
    for agent in &mut agents {
        agent.kill();
    }
    let log = dir.path().join("data-1/raft/raft.log");
    let mut bytes = std::fs::read(&log).unwrap();
    // Damage a record in the middle: the first record's body.
    bytes[12 + 8 + 4] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let out = drover()
        .args(["agent", "--config"])
        .arg(&agents[0].config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} at byte 12: corrupt", log.display())),
        "{stderr}"
    );
}
