//! The rules a [`JobSpec`] must satisfy whatever way it arrived: ranges,
//! required combinations, well-formed names, patterns and versions.
//! Paths name fields the way job spec files do.

use std::collections::BTreeSet;

use crate::ids::check_name;
use crate::job::{Attribute, ConstraintOp, Driver, JobKind, JobSpec};
use crate::version::VersionReq;

pub const MAX_REPLICAS: u32 = 100_000;
pub const MAX_CPU_MILLIS: u64 = 1_000_000;
/// Docker refuses memory limits below 6 MB; the same floor for every driver
/// keeps a spec portable between them.
pub const MIN_MEMORY_MB: u64 = 6;
pub const MAX_MEMORY_MB: u64 = 16 * 1024 * 1024;
pub const MAX_GPUS: u32 = 64;
pub const MAX_CONSTRAINTS: usize = 64;
pub const MAX_DELAY_MS: u64 = 24 * 3_600_000;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A broken rule: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

#[derive(Default)]
pub(super) struct Rules(Vec<Violation>);

impl Rules {
    pub(super) fn check(
        &mut self,
        ok: bool,
        path: impl Into<String>,
        message: impl FnOnce() -> String,
    ) {
        if !ok {
            self.0.push(Violation {
                path: path.into(),
                message: message(),
            });
        }
    }

    pub(super) fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        path: &str,
        value: T,
        min: T,
        max: T,
    ) {
        self.check(value >= min && value <= max, path, || {
            format!("{value} is out of range; expected {min} to {max}")
        });
    }
}

/// Every violated rule, in field order; empty when the spec is valid.
pub fn validate(spec: &JobSpec) -> Vec<Violation> {
    let mut rules = Rules::default();
    if let JobKind::Service { replicas } = spec.kind {
        rules.range("replicas", replicas, 0, MAX_REPLICAS);
    }
    rules.range("priority", spec.priority, 1, 100);
    if let Err(e) = check_name(&spec.pool) {
        rules.check(false, "pool", || format!("pool name {e}"));
    }
    if let Some(max) = spec.max_per_node {
        rules.range("max_per_node", max, 1, u32::MAX);
    }
    task(&mut rules, spec);
    constraints(&mut rules, spec);
    spreads(&mut rules, spec);
    policies(&mut rules, spec);
    multiregion(&mut rules, spec);
    ports(&mut rules, spec);
    volumes(&mut rules, spec);
    ephemeral_disk(&mut rules, spec);
    super::checks::validate(&mut rules, spec);
    rules.0
}

/// Labels that name environment variables, once each; static numbers
/// once each and not 0; a container's ports need a network to be
/// published on, named in the sandbox (its default is none).
fn ports(rules: &mut Rules, spec: &JobSpec) {
    let asks = &spec.ext.ports;
    for (i, ask) in asks.iter().enumerate() {
        let path = format!("task.port[{i}]");
        let label = &ask.label;
        rules.check(crate::ids::names_a_variable(label), format!("{path}.label"), || {
            format!("{label:?} is not a port label; use up to 32 letters, digits and '_', starting with a letter (it names DROVER_PORT_<LABEL>)")
        });
        rules.check(
            asks[..i]
                .iter()
                .all(|a| !a.label.eq_ignore_ascii_case(label)),
            format!("{path}.label"),
            || format!("port {label:?} is asked for twice"),
        );
        if let Some(port) = ask.fixed {
            rules.check(port != 0, format!("{path}.static"), || {
                "0 is no port; leave static out for a dynamic one".into()
            });
            rules.check(
                asks[..i].iter().all(|a| a.fixed != Some(port)),
                format!("{path}.static"),
                || format!("port {port} is asked for twice"),
            );
        }
        if let Some(to) = ask.to {
            rules.check(to != 0, format!("{path}.to"), || "0 is no port".into());
            let bridged = spec.task.driver == Driver::Docker
                && spec.task.sandbox.network == crate::job::NetworkMode::Bridge;
            rules.check(bridged, format!("{path}.to"), || {
                "only a container on a bridge network listens on a port of its own; a process, or a container on the host's network, listens on the one held ($DROVER_PORT_<LABEL>)".into()
            });
        }
        let reachable = spec.task.driver == Driver::Exec
            || spec.task.sandbox.network != crate::job::NetworkMode::None;
        rules.check(reachable, path.clone(), || {
            "a docker task's ports are published on its network, and its sandbox has none: set [task.sandbox] network = \"bridge\" (or \"host\")".into()
        });
    }
    for key in spec.task.env.keys() {
        let ours = ["DROVER_PORT_", "DROVER_ADDR_", "DROVER_HOST_PORT_"]
            .iter()
            .any(|prefix| key.starts_with(prefix));
        rules.check(!ours, format!("task.env.{key}"), || {
            "DROVER_PORT_*, DROVER_HOST_PORT_* and DROVER_ADDR_* are set by Drover for the task's ports".into()
        });
    }
}

/// Names that name environment variables, once each; a container mounts
/// each at its own absolute destination, an exec task (a process on the
/// host) at none.
fn volumes(rules: &mut Rules, spec: &JobSpec) {
    let asks = &spec.ext.volumes;
    let docker = spec.task.driver == Driver::Docker;
    for (i, ask) in asks.iter().enumerate() {
        let path = format!("volume[{i}]");
        let name = &ask.name;
        rules.check(crate::ids::names_a_variable(name), format!("{path}.name"), || {
            format!("{name:?} is not a volume name; use up to 32 letters, digits and '_', starting with a letter (it names DROVER_VOLUME_<NAME>)")
        });
        rules.check(
            asks[..i].iter().all(|a| !a.name.eq_ignore_ascii_case(name)),
            format!("{path}.name"),
            || format!("volume {name:?} is asked for twice"),
        );
        match (&ask.destination, docker) {
            (None, true) => rules.check(false, format!("{path}.destination"), || {
                "missing: where the container mounts the volume, like \"/data\"".into()
            }),
            (Some(_), false) => rules.check(false, format!("{path}.destination"), || {
                "an exec task runs on the host and mounts nothing: it finds the volume's path in DROVER_VOLUME_<NAME>".into()
            }),
            (Some(dest), true) => {
                let clean = dest.starts_with('/')
                    && dest.len() > 1
                    && !dest.chars().any(|c| c.is_control() || c == ':' || c == ',')
                    && dest.split('/').all(|part| part != "..");
                rules.check(clean, format!("{path}.destination"), || {
                    format!("{dest:?} is not an absolute path inside the container (no '..', ':' or ',')")
                });
                rules.check(
                    asks[..i].iter().all(|a| a.destination.as_ref() != Some(dest)),
                    format!("{path}.destination"),
                    || format!("{dest:?} is the destination of two volumes"),
                );
            }
            (None, false) => {}
        }
    }
    for key in spec.task.env.keys() {
        rules.check(
            !crate::volumes::is_ours(key),
            format!("task.env.{key}"),
            || "DROVER_VOLUME_* and DROVER_BIND_* are set by Drover for the task's volumes".into(),
        );
    }
}

/// Services only (a count is replicas), each region named once.
fn multiregion(rules: &mut Rules, spec: &JobSpec) {
    let parts = &spec.ext.multiregion;
    if parts.is_empty() {
        return;
    }
    rules.check(
        matches!(spec.kind, JobKind::Service { .. }),
        "multiregion",
        || {
            format!(
                "a {} job runs in one region; multiregion is for services",
                spec.kind.name()
            )
        },
    );
    for (i, part) in parts.iter().enumerate() {
        let path = format!("multiregion.region[{i}]");
        if let Err(e) = check_name(&part.name) {
            rules.check(false, format!("{path}.name"), || format!("region name {e}"));
        }
        rules.check(
            parts[..i].iter().all(|p| p.name != part.name),
            format!("{path}.name"),
            || format!("region {:?} is listed twice", part.name),
        );
        rules.range(&format!("{path}.count"), part.count, 0, MAX_REPLICAS);
    }
}

fn task(rules: &mut Rules, spec: &JobSpec) {
    let task = &spec.task;
    match (task.driver, &task.image) {
        (Driver::Docker, None) => rules.check(false, "task.image", || {
            "missing; the docker driver needs an image, like \"busybox:latest\"".into()
        }),
        (Driver::Docker, Some(image)) => rules.check(
            !image.is_empty() && !image.contains(char::is_whitespace),
            "task.image",
            || format!("{image:?} is not an image reference"),
        ),
        (Driver::Exec, Some(_)) => rules.check(false, "task.image", || {
            "the exec driver runs a command on the host and takes no image; remove it or use driver = \"docker\"".into()
        }),
        (Driver::Exec, None) => rules.check(!task.command.is_empty(), "task.command", || {
            "missing; the exec driver needs a command, like [\"echo\", \"hello\"]".into()
        }),
    }
    if let Some(program) = task.command.first() {
        rules.check(!program.is_empty(), "task.command[0]", || {
            "the program name is empty".into()
        });
    }
    for (i, arg) in task.command.iter().enumerate() {
        rules.check(!arg.contains('\0'), format!("task.command[{i}]"), || {
            "contains a NUL byte".into()
        });
    }
    for (key, value) in &task.env {
        let valid_key = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        rules.check(valid_key, format!("task.env.{key}"), || {
            format!("{key:?} is not a variable name; use letters, digits and '_', not starting with a digit")
        });
        rules.check(!value.contains('\0'), format!("task.env.{key}"), || {
            "contains a NUL byte".into()
        });
    }
    let res = task.resources;
    rules.range(
        "task.resources.cpu_millis",
        res.cpu_millis,
        1,
        MAX_CPU_MILLIS,
    );
    rules.range(
        "task.resources.memory_mb",
        res.memory_mb,
        MIN_MEMORY_MB,
        MAX_MEMORY_MB,
    );
    rules.range("task.resources.gpus", res.gpus, 0, MAX_GPUS);
    rules.range(
        "task.sandbox.pids_limit",
        task.sandbox.pids_limit,
        1,
        1_000_000,
    );
    if let Some(user) = &task.sandbox.user {
        rules.check(!user.trim().is_empty(), "task.sandbox.user", || {
            "is empty; remove it to keep the image's user".into()
        });
    }
}

fn attribute(rules: &mut Rules, path: &str, attribute: &Attribute) {
    if let Attribute::Label(key) = attribute {
        rules.check(
            !key.is_empty() && !key.contains(char::is_whitespace),
            path,
            || format!("label key {key:?} is empty or contains whitespace"),
        );
    }
}

fn constraints(rules: &mut Rules, spec: &JobSpec) {
    rules.check(
        spec.constraints.len() <= MAX_CONSTRAINTS,
        "constraint",
        || {
            format!(
                "{} constraints; the limit is {MAX_CONSTRAINTS}",
                spec.constraints.len()
            )
        },
    );
    for (i, constraint) in spec.constraints.iter().enumerate() {
        attribute(
            rules,
            &format!("constraint[{i}].attribute"),
            &constraint.attribute,
        );
        let path = format!("constraint[{i}].value");
        match &constraint.op {
            ConstraintOp::In(values) | ConstraintOp::NotIn(values) => {
                rules.check(!values.is_empty(), path, || {
                    "is an empty list; name at least one value".into()
                });
            }
            ConstraintOp::Version(range) => {
                if let Err(e) = VersionReq::parse(range) {
                    rules.check(false, path, || e);
                }
            }
            ConstraintOp::Regex(pattern) => {
                let compiled = regex::RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build();
                if let Err(e) = compiled {
                    let reason = e.to_string().lines().last().unwrap_or_default().to_string();
                    rules.check(false, path, || {
                        format!("invalid regular expression: {reason}")
                    });
                }
            }
            ConstraintOp::Eq(_) | ConstraintOp::NotEq(_) | ConstraintOp::Exists => {}
        }
    }
}

fn spreads(rules: &mut Rules, spec: &JobSpec) {
    for (i, spread) in spec.spread.iter().enumerate() {
        attribute(rules, &format!("spread[{i}].attribute"), &spread.attribute);
        rules.range(&format!("spread[{i}].weight"), spread.weight, 1, 100);
        let mut seen = BTreeSet::new();
        let mut total: u32 = 0;
        for (j, target) in spread.targets.iter().enumerate() {
            let path = format!("spread[{i}].target[{j}]");
            rules.range(&format!("{path}.percent"), target.percent, 0, 100);
            rules.check(seen.insert(&target.value), format!("{path}.value"), || {
                format!("{:?} has a target already", target.value)
            });
            total += u32::from(target.percent);
        }
        rules.check(total <= 100, format!("spread[{i}].target"), || {
            format!("target percentages add up to {total}; at most 100")
        });
    }
}

fn policies(rules: &mut Rules, spec: &JobSpec) {
    rules.range("restart.attempts", spec.restart.attempts, 0, 100);
    rules.range("restart.delay", spec.restart.delay_ms, 0, MAX_DELAY_MS);
    let r = spec.reschedule;
    rules.range("reschedule.attempts", r.attempts, 0, 1000);
    rules.range("reschedule.delay", r.delay_ms, 0, MAX_DELAY_MS);
    rules.range("reschedule.max_delay", r.max_delay_ms, 0, MAX_DELAY_MS);
    rules.check(r.delay_ms <= r.max_delay_ms, "reschedule.max_delay", || {
        "is shorter than reschedule.delay".into()
    });
    rules.range("update.max_parallel", spec.update.max_parallel, 1, u32::MAX);
    let gate = spec.ext.update;
    rules.range(
        "update.min_healthy_time",
        gate.min_healthy_time_ms,
        0,
        MAX_DELAY_MS,
    );
    rules.range(
        "update.healthy_deadline",
        gate.healthy_deadline_ms,
        1,
        MAX_DELAY_MS,
    );
    rules.check(
        gate.min_healthy_time_ms < gate.healthy_deadline_ms,
        "update.healthy_deadline",
        || "is not longer than update.min_healthy_time: no instance could ever pass".into(),
    );
    if let Some(progress) = gate.progress_deadline_ms {
        rules.range("update.progress_deadline", progress, 0, MAX_DELAY_MS);
        rules.check(
            progress == 0 || progress >= gate.healthy_deadline_ms,
            "update.progress_deadline",
            || "is shorter than update.healthy_deadline (0 turns it off)".into(),
        );
    }
    deployment_shape(rules, spec);
}

/// Data moves with work that moves: a system job's instance never leaves
/// its node. A migrating instance is stopped before its replacement starts
/// (the copy must hold everything it wrote), so no canary can run beside
/// it.
fn ephemeral_disk(rules: &mut Rules, spec: &JobSpec) {
    rules.check(
        !spec.task.env.contains_key("DROVER_DATA_DIR"),
        "task.env.DROVER_DATA_DIR",
        || "is set by Drover: where the task keeps its local data".into(),
    );
    if !spec.ext.ephemeral_disk.migrate {
        return;
    }
    rules.check(
        spec.kind != JobKind::System,
        "ephemeral_disk.migrate",
        || "a system job's instances never move to another node".into(),
    );
    rules.check(spec.ext.update.canary == 0, "update.canary", || {
        "a job whose data migrates stops each instance before its replacement starts, so \
         no canary can run beside it"
            .into()
    });
}

/// Canaries and reverts are a service's: a batch job runs once and a
/// system job one instance per node.
fn deployment_shape(rules: &mut Rules, spec: &JobSpec) {
    let gate = spec.ext.update;
    if let crate::job::JobKind::Service { replicas } = spec.kind {
        rules.check(gate.canary <= replicas, "update.canary", || {
            format!(
                "is {}, more than the job's {replicas} replicas",
                gate.canary
            )
        });
        return;
    }
    rules.check(gate.canary == 0, "update.canary", || {
        "only services take canaries".into()
    });
    rules.check(!gate.auto_revert, "update.auto_revert", || {
        "only services are reverted by their deployments".into()
    });
}
