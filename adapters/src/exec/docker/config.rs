//! What a task becomes in Docker: the container's configuration, with the
//! sandbox defaults applied unless the job spec relaxes them by name.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType, PortBinding, PortMap,
};
use drover_core::AllocId;
use drover_core::job::{NetworkMode, TaskSpec};
use drover_core::volumes::BIND_PREFIX;

/// `nobody`: the user a task runs as when neither the spec nor the image
/// names a non-root one.
pub const UNPRIVILEGED_USER: &str = "65534:65534";
/// The writable scratch space a read-only root filesystem keeps.
pub const TMP_SIZE: &str = "64m";

pub const LABEL_ALLOC: &str = "drover.alloc";
pub const LABEL_JOB: &str = "drover.job";
pub const LABEL_NODE: &str = "drover.node";
/// The worker's allocation directory: one Docker engine may serve several
/// workers (or clusters) on one machine, and each adopts only its own.
pub const LABEL_STORE: &str = "drover.store";

/// Who the container belongs to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub alloc: AllocId,
    pub job: String,
    pub node: String,
    pub store: String,
    /// The host directory of the allocation's local data, mounted at
    /// [`DATA_MOUNT`].
    pub data: String,
}

/// Where a container finds its allocation's local data (`DROVER_DATA_DIR`),
/// as Nomad's tasks find theirs at `/local`.
pub const DATA_MOUNT: &str = "/local";

impl Owner {
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_ALLOC.to_string(), self.alloc.to_string()),
            (LABEL_JOB.to_string(), self.job.clone()),
            (LABEL_NODE.to_string(), self.node.clone()),
            (LABEL_STORE.to_string(), self.store.clone()),
        ])
    }
}

/// The user to run as: the spec's if it names one (`root` included, as an
/// explicit relaxation); else the image's if that is not root; else nobody.
pub fn effective_user(task: &TaskSpec, image_user: Option<&str>) -> String {
    if let Some(user) = &task.sandbox.user {
        return user.clone();
    }
    match image_user.map(str::trim).filter(|u| !u.is_empty()) {
        Some(user) if !runs_as_root(user) => user.to_string(),
        _ => UNPRIVILEGED_USER.to_string(),
    }
}

fn runs_as_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user);
    name == "root" || name == "0"
}

/// The ports the task holds, from the environment the control plane gave
/// it: `DROVER_ADDR_<LABEL>` (`host:number held`) and `DROVER_PORT_<LABEL>`
/// (the number the task listens on: the one held, or the port's `to`), as
/// `(host, held, listens)`. Each is published at that host and held
/// number, to the number the container listens on.
pub fn held_ports(task: &TaskSpec) -> Vec<(String, u16, u16)> {
    task.env
        .iter()
        .filter_map(|(key, value)| {
            let label = key.strip_prefix("DROVER_PORT_")?;
            let listens: u16 = value.parse().ok()?;
            let address = task.env.get(&format!("DROVER_ADDR_{label}"))?;
            let (host, held) = address.rsplit_once(':')?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Some((host.to_string(), held.parse().ok()?, listens))
        })
        .collect()
}

/// The host volumes the worker resolved for the task, from
/// `DROVER_BIND_<NAME>` = `<host path>:<destination>:<ro|rw>`
/// (`drover_core::volumes`): each a bind mount. The destination and mode
/// hold no ':' (the spec refuses it), so the host path is what precedes
/// the last two.
fn binds(task: &TaskSpec) -> Vec<Mount> {
    task.env
        .iter()
        .filter(|(key, _)| key.starts_with(BIND_PREFIX))
        .filter_map(|(_, bind)| {
            let mut parts = bind.rsplitn(3, ':');
            let (mode, target, source) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Mount {
                target: Some(target.to_string()),
                source: Some(source.to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(mode == "ro"),
                ..Mount::default()
            })
        })
        .collect()
}

/// On a bridge network, each held port published at its host and number
/// to the one the container listens on;
/// on the host's network the task binds them itself; on none, nothing.
fn published(task: &TaskSpec) -> Option<(Vec<String>, PortMap)> {
    let ports = held_ports(task);
    if task.sandbox.network != NetworkMode::Bridge || ports.is_empty() {
        return None;
    }
    let exposed: std::collections::BTreeSet<String> = ports
        .iter()
        .map(|(_, _, listens)| format!("{listens}/tcp"))
        .collect();
    let exposed = exposed.into_iter().collect();
    let mut bindings = PortMap::new();
    for (host, held, listens) in ports {
        let binding = PortBinding {
            host_ip: Some(host),
            host_port: Some(held.to_string()),
        };
        // Two labels may lead to one port inside.
        bindings
            .entry(format!("{listens}/tcp"))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    Some((exposed, bindings))
}

pub fn container_config(owner: &Owner, task: &TaskSpec, user: String) -> ContainerCreateBody {
    let memory_bytes =
        i64::try_from(task.resources.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
    let sandbox = &task.sandbox;
    let mut env: Vec<String> = task
        .env
        .iter()
        .filter(|(k, _)| !k.starts_with(BIND_PREFIX))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("DROVER_ALLOC_ID={}", owner.alloc));
    env.push(format!("DROVER_DATA_DIR={DATA_MOUNT}"));
    let (exposed_ports, port_bindings) = published(task).unzip();
    let mut mounts = binds(task);
    mounts.push(Mount {
        target: Some(DATA_MOUNT.to_string()),
        source: Some(owner.data.clone()),
        typ: Some(MountType::BIND),
        read_only: Some(false),
        ..Mount::default()
    });
    let host_config = HostConfig {
        port_bindings,
        mounts: Some(mounts),
        memory: Some(memory_bytes),
        // Equal to the memory limit: no swap, so the limit is the limit.
        memory_swap: Some(memory_bytes),
        nano_cpus: (task.resources.cpu_millis > 0).then(|| {
            i64::try_from(task.resources.cpu_millis.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
        }),
        pids_limit: Some(i64::from(sandbox.pids_limit)),
        network_mode: Some(network_mode(sandbox.network).to_string()),
        readonly_rootfs: Some(sandbox.read_only_root),
        tmpfs: sandbox.read_only_root.then(|| {
            HashMap::from([(
                "/tmp".to_string(),
                format!("rw,nosuid,nodev,size={TMP_SIZE},mode=1777"),
            )])
        }),
        security_opt: sandbox
            .no_new_privileges
            .then(|| vec!["no-new-privileges".to_string()]),
        cap_drop: sandbox
            .drop_all_capabilities
            .then(|| vec!["ALL".to_string()]),
        // Output is copied from the engine's log, so the log must be one
        // the engine can read back, whatever the daemon's default.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: None,
        }),
        ..HostConfig::default()
    };
    ContainerCreateBody {
        image: task.image.clone(),
        cmd: (!task.command.is_empty()).then(|| task.command.clone()),
        env: Some(env),
        user: Some(user),
        labels: Some(owner.labels()),
        exposed_ports,
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    }
}

fn network_mode(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::None => "none",
        NetworkMode::Bridge => "bridge",
        NetworkMode::Host => "host",
    }
}

#[cfg(test)]
mod tests {
    use drover_core::job::{Driver, Sandbox};
    use drover_core::resources::Resources;

    use super::*;

    fn task() -> TaskSpec {
        TaskSpec {
            driver: Driver::Docker,
            image: Some("busybox:1".into()),
            command: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: [("GREETING".to_string(), "hello".to_string())].into(),
            resources: Resources {
                cpu_millis: 500,
                memory_mb: 64,
                gpus: 0,
            },
            sandbox: Sandbox::default(),
        }
    }

    fn owner() -> Owner {
        Owner {
            alloc: AllocId(7),
            job: "web".into(),
            node: "n1".into(),
            store: "/var/lib/drover/allocs".into(),
            data: "/var/lib/drover/allocs/a000007/work".into(),
        }
    }

    #[test]
    fn the_defaults_are_the_strict_sandbox() {
        let config = container_config(&owner(), &task(), UNPRIVILEGED_USER.into());
        let host = config.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert!(host.tmpfs.unwrap().contains_key("/tmp"));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.memory, Some(64 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.pids_limit, Some(256));
        assert_eq!(config.user.as_deref(), Some(UNPRIVILEGED_USER));
        let env = config.env.unwrap();
        assert!(env.contains(&"GREETING=hello".to_string()));
        assert!(env.contains(&"DROVER_ALLOC_ID=a000007".to_string()));
        let labels = config.labels.unwrap();
        assert_eq!(labels[LABEL_ALLOC], "a000007");
        assert_eq!(labels[LABEL_JOB], "web");
        assert_eq!(labels[LABEL_NODE], "n1");
    }

    #[test]
    fn each_relaxation_is_explicit() {
        let mut relaxed = task();
        relaxed.sandbox = Sandbox {
            network: NetworkMode::Bridge,
            read_only_root: false,
            no_new_privileges: false,
            drop_all_capabilities: false,
            user: Some("root".into()),
            pids_limit: 10,
        };
        let user = effective_user(&relaxed, Some("app"));
        let host = container_config(&owner(), &relaxed, user.clone())
            .host_config
            .unwrap();
        assert_eq!(user, "root");
        assert_eq!(host.network_mode.as_deref(), Some("bridge"));
        assert_eq!(host.readonly_rootfs, Some(false));
        assert_eq!(host.tmpfs, None);
        assert_eq!(host.security_opt, None);
        assert_eq!(host.cap_drop, None);
        assert_eq!(host.pids_limit, Some(10));
    }

    #[test]
    fn held_ports_are_published_at_their_host_on_a_bridge_network_only() {
        let mut task = task();
        task.env.extend([
            ("DROVER_PORT_HTTP".to_string(), "20001".to_string()),
            ("DROVER_ADDR_HTTP".to_string(), "10.0.0.5:20001".to_string()),
            ("DROVER_PORT_V6".to_string(), "20002".to_string()),
            ("DROVER_ADDR_V6".to_string(), "[::1]:20002".to_string()),
        ]);
        let none = container_config(&owner(), &task, "1".into());
        assert_eq!(none.exposed_ports, None, "no network, nothing published");
        task.sandbox.network = NetworkMode::Bridge;
        let bridged = container_config(&owner(), &task, "1".into());
        assert_eq!(
            bridged.exposed_ports,
            Some(vec!["20001/tcp".to_string(), "20002/tcp".to_string()])
        );
        let bindings = bridged.host_config.unwrap().port_bindings.unwrap();
        let http = bindings["20001/tcp"].as_ref().unwrap();
        assert_eq!(http[0].host_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(http[0].host_port.as_deref(), Some("20001"));
        let v6 = bindings["20002/tcp"].as_ref().unwrap();
        assert_eq!(v6[0].host_ip.as_deref(), Some("::1"));
        task.sandbox.network = NetworkMode::Host;
        let host = container_config(&owner(), &task, "1".into());
        assert_eq!(
            host.exposed_ports, None,
            "on the host's network it binds them itself"
        );
    }

    /// Nomad's `to`: the container listens on a port of its own, reached
    /// at the one its allocation holds.
    #[test]
    fn a_port_with_its_own_number_inside_is_published_to_it() {
        let mut task = task();
        task.sandbox.network = NetworkMode::Bridge;
        task.env.extend([
            ("DROVER_PORT_WEB".to_string(), "80".to_string()),
            ("DROVER_HOST_PORT_WEB".to_string(), "20003".to_string()),
            ("DROVER_ADDR_WEB".to_string(), "10.0.0.5:20003".to_string()),
            ("DROVER_PORT_ALT".to_string(), "80".to_string()),
            ("DROVER_ADDR_ALT".to_string(), "10.0.0.5:20004".to_string()),
        ]);
        let config = container_config(&owner(), &task, "1".into());
        assert_eq!(config.exposed_ports, Some(vec!["80/tcp".to_string()]));
        let bindings = config.host_config.unwrap().port_bindings.unwrap();
        let mut held: Vec<String> = bindings["80/tcp"]
            .as_ref()
            .unwrap()
            .iter()
            .map(|b| b.host_port.clone().unwrap())
            .collect();
        held.sort();
        assert_eq!(held, ["20003", "20004"]);
    }

    #[test]
    fn an_image_user_is_kept_unless_it_is_root() {
        let task = task();
        assert_eq!(effective_user(&task, Some("app:app")), "app:app");
        assert_eq!(effective_user(&task, Some("1000")), "1000");
        for root in [
            None,
            Some(""),
            Some("root"),
            Some("0"),
            Some("0:0"),
            Some("root:wheel"),
        ] {
            assert_eq!(effective_user(&task, root), UNPRIVILEGED_USER, "{root:?}");
        }
    }

    #[test]
    fn an_empty_command_keeps_the_image_default() {
        let mut task = task();
        task.command.clear();
        assert_eq!(container_config(&owner(), &task, "1".into()).cmd, None);
    }

    #[test]
    fn host_volumes_are_bind_mounts_kept_out_of_the_environment() {
        let mut task = task();
        task.env.insert("DROVER_VOLUME_DATA".into(), "/data".into());
        task.env
            .insert("DROVER_BIND_DATA".into(), "/srv/my data:/data:ro".into());
        task.env
            .insert("DROVER_BIND_LOGS".into(), "/var/log/x:/logs:rw".into());
        let config = container_config(&owner(), &task, "1".into());
        let mounts = config.host_config.unwrap().mounts.unwrap();
        let seen: Vec<(String, String, bool)> = mounts
            .iter()
            .map(|m| {
                assert_eq!(m.typ, Some(MountType::BIND));
                (
                    m.source.clone().unwrap(),
                    m.target.clone().unwrap(),
                    m.read_only.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("/srv/my data".into(), "/data".into(), true),
                ("/var/log/x".into(), "/logs".into(), false),
                (
                    "/var/lib/drover/allocs/a000007/work".into(),
                    "/local".into(),
                    false
                ),
            ],
            "the volumes, then the allocation's own data directory"
        );
        let env = config.env.unwrap();
        assert!(env.contains(&"DROVER_VOLUME_DATA=/data".to_string()));
        assert!(env.contains(&"DROVER_DATA_DIR=/local".to_string()));
        assert!(
            env.iter().all(|e| !e.starts_with("DROVER_BIND_")),
            "{env:?}"
        );
        let plain = container_config(&owner(), &self::task(), "1".into())
            .host_config
            .unwrap()
            .mounts
            .unwrap();
        assert_eq!(
            plain
                .iter()
                .map(|m| m.target.as_deref())
                .collect::<Vec<_>>(),
            [Some("/local")],
            "without volumes, only the data directory"
        );
    }
}
