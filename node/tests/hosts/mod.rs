//! Drover nodes as containers on private Docker networks, built from the
//! `drover` binary under test (`scripts/docker-node-image`): their own
//! addresses, and real partitions with `docker network disconnect`.
//! Containers are removed when dropped (with their last log lines when a
//! test failed), then networks: declare networks before containers.

#![allow(dead_code)]

use std::process::{Command, Output};

pub const PORT: u16 = 7401;

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A private bridge network with a /24 of its own.
pub struct Network {
    pub name: String,
    /// `a.b.c.` of the network's /24.
    prefix: String,
}

impl Network {
    /// A network named after this process and `label`.
    pub fn create(label: &str) -> Self {
        let tag = std::process::id();
        let name = format!("drover-{label}-{tag}");
        let salt: u32 = label.bytes().map(u32::from).sum();
        // A /24 from 172.16.0.0/12 that no other network holds.
        for attempt in 0..64 {
            let seed = tag + salt * 7 + attempt;
            let prefix = format!("172.{}.{}.", 16 + seed % 16, (seed / 16) % 256);
            let created = docker(&[
                "network",
                "create",
                "--subnet",
                &format!("{prefix}0/24"),
                &name,
            ]);
            if created.status.success() {
                return Self { name, prefix };
            }
        }
        panic!("no free /24 for a docker network");
    }

    /// `[[peers]]` for hosts 1 to `count` as Raft voters.
    pub fn peers(&self, count: usize) -> String {
        use std::fmt::Write;
        (1..=count).fold(String::new(), |mut out, i| {
            let _ = write!(
                out,
                "[[peers]]\nid = {i}\naddr = \"{}:{PORT}\"\n",
                self.ip(i)
            );
            out
        })
    }

    /// The address of host `n` (from 1) on this network.
    pub fn ip(&self, n: usize) -> String {
        format!("{}{}", self.prefix, 10 + n)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.name]);
    }
}

/// One `drover agent` in a container.
pub struct Node {
    pub name: String,
    /// Where the node is reached, `ip:7401`, on its first network.
    pub addr: String,
}

impl Node {
    /// Starts `drover agent` with `config` (a node.toml) on `network` at
    /// host `n`'s address.
    pub fn start(image: &str, name: String, network: &Network, n: usize, config: &str) -> Self {
        let ip = network.ip(n);
        docker_ok(&[
            "create",
            "--name",
            &name,
            "--hostname",
            &name,
            "--network",
            &network.name,
            "--ip",
            &ip,
            "-e",
            "RUST_LOG=info,openraft=warn",
            image,
            "agent",
            // Private Docker network addresses, not loopback: these tests
            // are about partitions, not TLS (tests/tls.rs).
            "--insecure",
            "--config",
            "/etc/drover.toml",
        ]);
        let file = std::env::temp_dir().join(format!("{name}.toml"));
        std::fs::write(&file, config).unwrap();
        docker_ok(&[
            "cp",
            file.to_str().unwrap(),
            &format!("{name}:/etc/drover.toml"),
        ]);
        let _ = std::fs::remove_file(&file);
        docker_ok(&["start", &name]);
        Self {
            name,
            addr: format!("{ip}:{PORT}"),
        }
    }

    pub fn connect(&self, network: &Network, ip: &str) {
        docker_ok(&["network", "connect", "--ip", ip, &network.name, &self.name]);
    }

    pub fn disconnect(&self, network: &Network) {
        docker_ok(&["network", "disconnect", &network.name, &self.name]);
    }

    /// Gone at once, as a machine that loses power.
    pub fn kill(&self) {
        docker_ok(&["kill", &self.name]);
    }

    /// Runs the CLI inside the container, against this node.
    pub fn cli_inside(&self, script: &str) -> Output {
        docker(&[
            "exec",
            "-e",
            &format!("DROVER_ADDR=127.0.0.1:{PORT}"),
            &self.name,
            "sh",
            "-c",
            script,
        ])
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = docker(&["logs", "--tail", "20", &self.name]);
            eprintln!(
                "--- {} (last lines) ---\n{}",
                self.name,
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        let _ = docker(&["rm", "-f", &self.name]);
    }
}
