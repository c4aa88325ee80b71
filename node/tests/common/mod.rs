//! A cluster of real `drover agent` processes on loopback for end-to-end
//! tests. Every process a test starts — agents and the tasks they ran — is
//! killed when the test ends.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What the event stream tells of a batch job that ran once and ended
/// well, in order.
pub const BATCH_LIFE: [&str; 4] = [
    "job_submitted",
    "alloc_placed",
    "alloc_running",
    "alloc_complete",
];

pub fn drover() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drover"))
}

/// The first port of this test process's block: below the kernel's
/// ephemeral range (32768 and up, where port-0 binds and outgoing
/// connections get their ports), in a block chosen by process id. Another
/// test process restarting one of its agents re-binds that agent's port;
/// a port the kernel handed out as "free" meanwhile would collide with it.
fn port_block() -> u16 {
    // Blocks 312-315 (ports 19984-20111) are skipped: the first ports of
    // the dynamic range (20000 and up) are where the tasks of a test with
    // dynamic ports listen.
    const BLOCKS: u32 = 600 - 4;
    let block = u16::try_from(std::process::id() % BLOCKS).unwrap_or(0);
    let block = if block >= 312 { block + 4 } else { block };
    10_000 + block * PORTS_PER_BLOCK
}

const PORTS_PER_BLOCK: u16 = 32;

static NEXT_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// `n` ports nothing listens on now, from this process's block.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    for _ in 0..PORTS_PER_BLOCK {
        if ports.len() == n {
            break;
        }
        let offset = NEXT_PORT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % PORTS_PER_BLOCK;
        let port = port_block() + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(ports.len(), n, "not enough free ports in this test's block");
    ports
}

/// A running agent; killed when dropped, so no test leaves a process behind.
pub struct Agent {
    pub id: u64,
    pub port: u16,
    pub config: PathBuf,
    pub data: PathBuf,
    pub child: Option<Child>,
}

impl Agent {
    pub fn start(&mut self) {
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

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        kill_tasks(&self.data);
        #[cfg(not(madsim))]
        drover_adapters::exec::docker::testing::remove_containers(&self.data.join("allocs"));
        if std::thread::panicking() {
            // The agent's own account is what explains a failed test.
            let log =
                std::fs::read_to_string(self.config.with_extension("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            eprintln!("--- node {} log (last lines) ---", self.id);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Kills the process groups of tasks an agent started (a SIGKILLed agent
/// leaves them running, as a crashed worker would).
pub fn kill_tasks(data: &Path) {
    let Ok(allocs) = std::fs::read_dir(data.join("allocs")) else {
        return;
    };
    for alloc in allocs.flatten() {
        if let Ok(pid) = std::fs::read_to_string(alloc.path().join("pid")) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", pid.trim())])
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn cluster(dir: &Path) -> Vec<Agent> {
    cluster_with(dir, "")
}

/// Three agents; `extra` is appended to every node's configuration.
pub fn cluster_with(dir: &Path, extra: &str) -> Vec<Agent> {
    cluster_of(dir, &["hybrid", "hybrid", "hybrid"], extra)
}

/// One agent per role; the first three are the Raft voters, the rest join
/// as worker or edge nodes that know the voters.
pub fn cluster_of(dir: &Path, roles: &[&str], extra: &str) -> Vec<Agent> {
    cluster_each(dir, roles, |_| extra.to_string())
}

/// As `cluster_of`, with each node's own addition: `extra(id)`.
pub fn cluster_each(dir: &Path, roles: &[&str], extra: impl Fn(u64) -> String) -> Vec<Agent> {
    let ports = free_ports(roles.len());
    let peers: Vec<String> = ports
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, p)| format!("[[peers]]\nid = {}\naddr = \"127.0.0.1:{p}\"\n", i + 1))
        .collect();
    let peers = peers.concat();
    ports
        .iter()
        .zip(roles)
        .enumerate()
        .map(|(i, (port, role))| {
            let id = i as u64 + 1;
            let extra = extra(id);
            let config = dir.join(format!("node-{id}.toml"));
            let data = dir.join(format!("data-{id}"));
            std::fs::write(
                &config,
                format!(
                    "id = {id}\nrole = \"{role}\"\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{extra}\n[capacity]\ncpu = \"64\"\nmemory = \"64GiB\"\n{peers}",
                    data.display()
                ),
            )
            .unwrap();
            let mut agent = Agent { id, port: *port, config, data, child: None };
            agent.start();
            agent
        })
        .collect()
}

pub fn cli(addr: &str, args: &[&str]) -> Output {
    drover()
        .args(args)
        .env("DROVER_ADDR", addr)
        .output()
        .unwrap()
}

pub fn json(addr: &str, args: &[&str]) -> Option<serde_json::Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cli(addr, &all);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// Sends `which` (like "-STOP") to process `pid`.
pub fn signal(pid: u32, which: &str) {
    Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn leader(agents: &[Agent]) -> u64 {
    wait_for("a leader", Duration::from_secs(20), || {
        agents
            .iter()
            .filter(|a| a.child.is_some())
            .find_map(|a| json(&a.addr(), &["cluster", "status"]))
            .and_then(|doc| doc["leader"].as_u64())
    })
}

pub fn job_ids(addr: &str) -> Option<Vec<String>> {
    let doc = json(addr, &["job", "list"])?;
    Some(
        doc["jobs"]
            .as_array()?
            .iter()
            .map(|j| j["id"].as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

/// Writes `body` to `<dir>/<name>.toml` and returns the file's path.
pub fn write_spec(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

pub fn submit(dir: &Path, addr: &str, n: usize) -> bool {
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

/// The spec issue 17 says must work as written: a service of two
/// instances on a dynamic port, checked over http.
pub const ISSUE_WEB_SPEC: &str = r#"id = "web"
kind = "service"
replicas = 2
[task]
driver = "exec"
command = ["sh", "-c", "exec python3 -m http.server $DROVER_PORT_HTTP"]
[[task.port]]
label = "http"            # dynamic: no `static`
[[task.check]]
type = "http"
port = "http"
path = "/"
interval = "1s"
timeout = "1s"
"#;

/// Short liveness settings, so node loss is noticed within seconds.
pub const FAST: &str =
    "[liveness]\nheartbeat_ttl = \"3s\"\nfailover_grace = \"2s\"\ndecision_interval = \"1s\"\n";

pub fn run_job(dir: &Path, addr: &str, name: &str, spec: &str) -> bool {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, spec).unwrap();
    cli(addr, &["job", "run", "--detach", path.to_str().unwrap()])
        .status
        .success()
}

pub fn status(addr: &str, job: &str) -> Option<serde_json::Value> {
    json(addr, &["job", "status", job])
}

/// (allocation, node) of the job's running allocations that should run.
pub fn running_allocs(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["allocations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == "running" && a["desired"] == "run")
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["node"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A 3-replica service whose `[task]` is `task`, on three nodes: a
/// follower that runs a replica is killed, and the replica is replaced on
/// the survivors while theirs keep running.
pub fn service_survives_worker_death(task: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster_with(dir.path(), FAST);
    let leader_id = leader(&agents);
    let addr = agents[usize::try_from(leader_id).unwrap() - 1].addr();
    // At most 2 per node: a follower always holds a replica to lose.
    let spec =
        format!("id = \"web\"\nkind = \"service\"\nreplicas = 3\nmax_per_node = 2\n[task]\n{task}");
    assert!(run_job(dir.path(), &addr, "web", &spec));
    let before = wait_for("3 running replicas", Duration::from_secs(30), || {
        let r = running_allocs(&status(&addr, "web")?);
        (r.len() == 3).then_some(r)
    });
    let victim = agents
        .iter_mut()
        .find(|a| {
            a.id != leader_id
                && before
                    .iter()
                    .any(|(_, node)| *node == format!("node-{}", a.id))
        })
        .expect("a replica on a follower");
    let victim_name = format!("node-{}", victim.id);
    victim.kill();
    let after = wait_for(
        "3 running replicas on the surviving nodes",
        Duration::from_secs(60),
        || {
            let r: Vec<_> = running_allocs(&status(&addr, "web")?)
                .into_iter()
                .filter(|(_, node)| *node != victim_name)
                .collect();
            (r.len() == 3).then_some(r)
        },
    );
    let kept: BTreeSet<_> = before
        .iter()
        .filter(|(_, n)| *n != victim_name)
        .map(|(id, _)| id)
        .collect();
    assert!(
        kept.iter().all(|id| after.iter().any(|(a, _)| a == *id)),
        "survivors were not restarted"
    );
}

/// Waits for batch job `job` to complete, calling `each_poll` on every
/// look; then checks that its one allocation `alloc` ran it, exited 0 and
/// wrote `output`.
pub fn completes_once(
    addr: &str,
    job: &str,
    alloc: &str,
    output: &str,
    mut each_poll: impl FnMut(),
) {
    let done = wait_for("the task to finish", Duration::from_secs(60), || {
        each_poll();
        let doc = status(addr, job)?;
        let allocs = doc["allocations"].as_array()?.clone();
        allocs
            .iter()
            .any(|a| a["status"] == "complete")
            .then_some(allocs)
    });
    assert_eq!(done.len(), 1, "no second allocation: {done:?}");
    assert_eq!(done[0]["id"], alloc);
    assert_eq!(done[0]["exit_code"], 0);
    let out = cli(addr, &["job", "logs", job]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), output);
}
