//! Document tree → [`JobSpec`]: structure, types and units. Range and
//! cross-field rules live in `validate`, which also guards specs that never
//! were text (a command arriving over the wire).

use std::collections::BTreeMap;

use super::doc::{Node, Value};
use super::reader::{Decoder, Fields};
use crate::extensions::RegionPart;
use crate::extensions::UpdateGate;
use crate::health::CheckSpec;
use crate::ids::JobId;
use crate::job::{
    Attribute, Constraint, ConstraintOp, DEFAULT_POOL, DEFAULT_PRIORITY, Driver, JobKind, JobSpec,
    NetworkMode, ReschedulePolicy, RestartPolicy, Sandbox, Spread, SpreadTarget, TaskSpec,
    UpdatePolicy,
};
use crate::migrate::EphemeralDisk;
use crate::ports::PortAsk;
use crate::resources::Resources;
use crate::units::{parse_cpu_cores, parse_duration_ms, parse_memory_mb};

/// Applied when a spec gives no `task.resources` value for a dimension.
pub const DEFAULT_CPU_MILLIS: u64 = 100;
pub const DEFAULT_MEMORY_MB: u64 = 128;
pub const DEFAULT_REPLICAS: u32 = 1;

const JOB_FIELDS: &[&str] = &[
    "id",
    "kind",
    "replicas",
    "priority",
    "pool",
    "max_per_node",
    "task",
    "constraint",
    "spread",
    "restart",
    "reschedule",
    "update",
    "multiregion",
    "volume",
    "ephemeral_disk",
];

/// `None` when any field could not be read; the decoder then holds the errors.
pub(crate) fn job(d: &mut Decoder, root: &Node) -> Option<JobSpec> {
    let mut f = d.table(root, "")?;
    let id = f
        .require(d, "id", "the job's name, like \"web\"")
        .and_then(|n| {
            d.parsed(n, "id", |s| {
                JobId::new(s).map_err(|e| format!("job id {e}"))
            })
        });
    let kind = kind(d, &mut f);
    let priority = f
        .get("priority")
        .map_or(Some(DEFAULT_PRIORITY), |n| d.whole(n, "priority"));
    let pool = f
        .get("pool")
        .map_or(Some(DEFAULT_POOL.to_string()), |n| d.string(n, "pool"));
    let max_per_node = optional(f.get("max_per_node"), |n| d.whole(n, "max_per_node"));
    let task = f
        .require(d, "task", "a [task] table")
        .and_then(|n| task(d, n, "task"));
    let constraints = f.get("constraint").map_or(Some(Vec::new()), |n| {
        all(d.tables(n, "constraint"), |c| constraint(d, c))
    });
    let spread = f.get("spread").map_or(Some(Vec::new()), |n| {
        all(d.tables(n, "spread"), |s| spread(d, s))
    });
    let restart = f
        .get("restart")
        .map_or(Some(RestartPolicy::default()), |n| restart(d, n));
    let reschedule = f
        .get("reschedule")
        .map_or(Some(ReschedulePolicy::default()), |n| reschedule(d, n));
    let update = f.get("update").map_or(
        Some((UpdatePolicy::default(), UpdateGate::default())),
        |n| update(d, n),
    );
    let multiregion = f
        .get("multiregion")
        .map_or(Some(Vec::new()), |n| multiregion(d, n));
    let volumes = f.get("volume").map_or(Some(Vec::new()), |n| {
        all(d.tables(n, "volume"), |v| volume(d, v))
    });
    let ephemeral_disk = f
        .get("ephemeral_disk")
        .map_or(Some(EphemeralDisk::default()), |n| ephemeral_disk(d, n));
    f.finish(d, JOB_FIELDS);
    let (task, ports, checks) = task?;
    Some(JobSpec {
        id: id?,
        kind: kind?,
        task,
        constraints: constraints?,
        spread: spread?,
        max_per_node: max_per_node?,
        pool: pool?,
        priority: priority?,
        restart: restart?,
        reschedule: reschedule?,
        update: update?.0,
        version: 0,
        ext: crate::extensions::Extensions {
            multiregion: multiregion?,
            ports,
            checks,
            update: update?.1,
            volumes: volumes?,
            ephemeral_disk: ephemeral_disk?,
        },
    })
}

/// `[ephemeral_disk]`: whether a replacement starts with its
/// predecessor's local data.
fn ephemeral_disk(d: &mut Decoder, node: &Node) -> Option<EphemeralDisk> {
    let mut f = d.table(node, "ephemeral_disk")?;
    let migrate = f
        .get("migrate")
        .map_or(Some(false), |n| d.boolean(n, "ephemeral_disk.migrate"));
    f.finish(d, &["migrate"]);
    Some(EphemeralDisk { migrate: migrate? })
}

/// `[[volume]]`: a host volume by name, where a container mounts it, and
/// whether the task only reads it.
fn volume(d: &mut Decoder, mut f: Fields<'_>) -> Option<crate::volumes::VolumeAsk> {
    let name = f
        .require(
            d,
            "name",
            "the host volume's name, as the node's [[volume]] gives it",
        )
        .and_then(|n| d.string(n, &f.child("name")));
    let destination = optional(f.get("destination"), |n| {
        d.string(n, &f.child("destination"))
    });
    let read_only = f
        .get("read_only")
        .map_or(Some(false), |n| d.boolean(n, &f.child("read_only")));
    f.finish(d, &["name", "destination", "read_only"]);
    Some(crate::volumes::VolumeAsk {
        name: name?,
        destination: destination?,
        read_only: read_only?,
    })
}

/// Reads an optional field: `Some(None)` when absent, `None` when malformed.
pub(super) fn optional<T>(
    node: Option<&Node>,
    read: impl FnOnce(&Node) -> Option<T>,
) -> Option<Option<T>> {
    match node {
        None => Some(None),
        Some(n) => read(n).map(Some),
    }
}

/// Reads every item (so every item's errors are reported), then `None` if any failed.
pub(super) fn all<I, T>(items: Vec<I>, mut read: impl FnMut(I) -> Option<T>) -> Option<Vec<T>> {
    let read: Vec<Option<T>> = items.into_iter().map(&mut read).collect();
    read.into_iter().collect()
}

fn kind(d: &mut Decoder, f: &mut Fields<'_>) -> Option<JobKind> {
    #[derive(Clone, Copy, PartialEq)]
    enum Word {
        Batch,
        Service,
        System,
    }
    let word = f
        .require(d, "kind", "\"batch\", \"service\" or \"system\"")
        .and_then(|n| {
            d.choice(
                n,
                "kind",
                &[
                    ("batch", Word::Batch),
                    ("service", Word::Service),
                    ("system", Word::System),
                ],
            )
        });
    let replicas_node = f.get("replicas");
    let replicas = optional(replicas_node, |n| d.whole::<u32>(n, "replicas"));
    match word? {
        Word::Service => Some(JobKind::Service {
            replicas: replicas?.unwrap_or(DEFAULT_REPLICAS),
        }),
        other => {
            if let Some(node) = replicas_node {
                let name = if other == Word::Batch {
                    "batch"
                } else {
                    "system"
                };
                let why = if other == Word::Batch {
                    "a batch job runs once; submit several jobs for parallel runs"
                } else {
                    "a system job runs one instance on every eligible node"
                };
                d.fail(
                    "replicas",
                    node.pos,
                    format!("only service jobs have replicas, and this is a {name} job: {why}"),
                );
                return None;
            }
            Some(if other == Word::Batch {
                JobKind::Batch
            } else {
                JobKind::System
            })
        }
    }
}

const TASK_FIELDS: &[&str] = &[
    "driver",
    "image",
    "command",
    "env",
    "resources",
    "sandbox",
    "port",
    "check",
];

/// The task, and the ports and checks it asks for (kept in the spec's extensions).
fn task(
    d: &mut Decoder,
    node: &Node,
    path: &str,
) -> Option<(TaskSpec, Vec<PortAsk>, Vec<CheckSpec>)> {
    let mut f = d.table(node, path)?;
    let driver = f
        .require(d, "driver", "\"docker\" or \"exec\"")
        .and_then(|n| {
            d.choice(
                n,
                &f.child("driver"),
                &[("docker", Driver::Docker), ("exec", Driver::Exec)],
            )
        });
    let image = optional(f.get("image"), |n| d.string(n, &f.child("image")));
    let command = f
        .get("command")
        .map_or(Some(Vec::new()), |n| d.strings(n, &f.child("command")));
    let env = f
        .get("env")
        .map_or(Some(BTreeMap::new()), |n| d.string_map(n, &f.child("env")));
    let resources = f.get("resources").map_or(
        Some(Resources::new(DEFAULT_CPU_MILLIS, DEFAULT_MEMORY_MB, 0)),
        |n| resources(d, n, &f.child("resources")),
    );
    let sandbox = f.get("sandbox").map_or(Some(Sandbox::default()), |n| {
        sandbox(d, n, &f.child("sandbox"))
    });
    let port_path = f.child("port");
    let ports = f.get("port").map_or(Some(Vec::new()), |n| {
        all(d.tables(n, &port_path), |mut p| {
            let label = p
                .require(d, "label", "the port's name, like \"http\"")
                .and_then(|n| d.string(n, &p.child("label")));
            let fixed = optional(p.get("static"), |n| d.whole(n, &p.child("static")));
            let to = optional(p.get("to"), |n| d.whole(n, &p.child("to")));
            p.finish(d, &["label", "static", "to"]);
            Some(PortAsk {
                label: label?,
                fixed: fixed?,
                to: to?,
            })
        })
    });
    let checks = f.get("check").map_or(Some(Vec::new()), |n| {
        super::checks::decode(d, n, &f.child("check"))
    });
    f.finish(d, TASK_FIELDS);
    Some((
        TaskSpec {
            driver: driver?,
            image: image?,
            command: command?,
            env: env?,
            resources: resources?,
            sandbox: sandbox?,
        },
        ports?,
        checks?,
    ))
}

const RESOURCE_FIELDS: &[&str] = &["cpu", "cpu_millis", "memory", "memory_mb", "gpus"];

fn resources(d: &mut Decoder, node: &Node, path: &str) -> Option<Resources> {
    let mut f = d.table(node, path)?;
    let cpu = one_of_two(
        d,
        &mut f,
        ("cpu", |d, n, p| cpu_cores(d, n, p)),
        ("cpu_millis", |d, n, p| d.whole(n, p)),
    );
    let memory = one_of_two(
        d,
        &mut f,
        ("memory", |d, n, p| d.parsed(n, p, parse_memory_mb)),
        ("memory_mb", |d, n, p| d.whole(n, p)),
    );
    let gpus = f
        .get("gpus")
        .map_or(Some(0), |n| d.whole(n, &f.child("gpus")));
    f.finish(d, RESOURCE_FIELDS);
    Some(Resources::new(
        cpu?.unwrap_or(DEFAULT_CPU_MILLIS),
        memory?.unwrap_or(DEFAULT_MEMORY_MB),
        gpus?,
    ))
}

type Reader = fn(&mut Decoder, &Node, &str) -> Option<u64>;

/// A quantity that may be written in human units or in the base unit, not both.
fn one_of_two(
    d: &mut Decoder,
    f: &mut Fields<'_>,
    (human, read_human): (&str, Reader),
    (base, read_base): (&str, Reader),
) -> Option<Option<u64>> {
    match (f.get(human), f.get(base)) {
        (Some(_), Some(n)) => {
            d.fail(
                &f.child(base),
                n.pos,
                format!("give either {human} or {base}, not both"),
            );
            None
        }
        (Some(n), None) => read_human(d, n, &f.child(human)).map(Some),
        (None, Some(n)) => read_base(d, n, &f.child(base)).map(Some),
        (None, None) => Some(None),
    }
}

/// CPU in cores: a string (`"0.5"`) or a number (`0.5`, `2`).
fn cpu_cores(d: &mut Decoder, node: &Node, path: &str) -> Option<u64> {
    d.seen(node, path);
    let text = match &node.value {
        Value::Int(i) => i.to_string(),
        Value::Float(x) if x.is_finite() && *x >= 0.0 => format!("{x}"),
        _ => return d.parsed(node, path, parse_cpu_cores),
    };
    match parse_cpu_cores(&text) {
        Ok(millis) => Some(millis),
        Err(message) => {
            d.fail(path, node.pos, message);
            None
        }
    }
}

const SANDBOX_FIELDS: &[&str] = &[
    "network",
    "read_only_root",
    "no_new_privileges",
    "drop_all_capabilities",
    "user",
    "pids_limit",
];

fn sandbox(d: &mut Decoder, node: &Node, path: &str) -> Option<Sandbox> {
    let mut f = d.table(node, path)?;
    let defaults = Sandbox::default();
    let network = f.get("network").map_or(Some(defaults.network), |n| {
        d.choice(
            n,
            &f.child("network"),
            &[
                ("none", NetworkMode::None),
                ("bridge", NetworkMode::Bridge),
                ("host", NetworkMode::Host),
            ],
        )
    });
    let mut flag = |key: &str, default: bool| {
        f.get(key)
            .map_or(Some(default), |n| d.boolean(n, &child_of(path, key)))
    };
    let read_only_root = flag("read_only_root", defaults.read_only_root);
    let no_new_privileges = flag("no_new_privileges", defaults.no_new_privileges);
    let drop_all_capabilities = flag("drop_all_capabilities", defaults.drop_all_capabilities);
    let user = optional(f.get("user"), |n| d.string(n, &child_of(path, "user")));
    let pids_limit = f.get("pids_limit").map_or(Some(defaults.pids_limit), |n| {
        d.whole(n, &child_of(path, "pids_limit"))
    });
    f.finish(d, SANDBOX_FIELDS);
    Some(Sandbox {
        network: network?,
        read_only_root: read_only_root?,
        no_new_privileges: no_new_privileges?,
        drop_all_capabilities: drop_all_capabilities?,
        user: user?,
        pids_limit: pids_limit?,
    })
}

fn child_of(path: &str, key: &str) -> String {
    super::reader::child(path, key)
}

/// `node.id`, `node.region`, `node.pool` or `label.<key>`.
pub(crate) fn parse_attribute(text: &str) -> Result<Attribute, String> {
    match text {
        "node.id" => Ok(Attribute::NodeId),
        "node.region" => Ok(Attribute::Region),
        "node.pool" => Ok(Attribute::Pool),
        _ => match text.strip_prefix("label.") {
            Some(key) if !key.is_empty() => Ok(Attribute::Label(key.to_string())),
            _ => {
                let hint = match text {
                    "region" | "node.datacenter" | "datacenter" => {
                        "; did you mean \"node.region\"?"
                    }
                    "pool" => "; did you mean \"node.pool\"?",
                    "id" | "node" | "node.name" => "; did you mean \"node.id\"?",
                    _ => "",
                };
                Err(format!(
                    "unknown attribute {text:?}; expected \"node.id\", \"node.region\", \"node.pool\" or \"label.<key>\"{hint}"
                ))
            }
        },
    }
}

const CONSTRAINT_FIELDS: &[&str] = &["attribute", "operator", "value"];

#[derive(Clone, Copy)]
enum OpWord {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    Version,
    Regex,
}

fn constraint(d: &mut Decoder, mut f: Fields<'_>) -> Option<Constraint> {
    let attribute = f
        .require(
            d,
            "attribute",
            "\"node.region\", \"node.pool\", \"node.id\" or \"label.<key>\"",
        )
        .and_then(|n| d.parsed(n, &f.child("attribute"), parse_attribute));
    let op = f.get("operator").map_or(Some(OpWord::Eq), |n| {
        d.choice(
            n,
            &f.child("operator"),
            &[
                ("=", OpWord::Eq),
                ("==", OpWord::Eq),
                ("!=", OpWord::NotEq),
                ("in", OpWord::In),
                ("not_in", OpWord::NotIn),
                ("exists", OpWord::Exists),
                ("version", OpWord::Version),
                ("regex", OpWord::Regex),
            ],
        )
    });
    let value = f.get("value");
    let value_path = f.child("value");
    let op = match (op?, value) {
        (OpWord::Exists, None) => Some(ConstraintOp::Exists),
        (OpWord::Exists, Some(n)) => {
            d.fail(&value_path, n.pos, "the exists operator takes no value");
            None
        }
        (_, None) => {
            d.fail(
                &value_path,
                f.pos(),
                "missing; this operator compares against a value",
            );
            None
        }
        (OpWord::In, Some(n)) => d.strings(n, &value_path).map(ConstraintOp::In),
        (OpWord::NotIn, Some(n)) => d.strings(n, &value_path).map(ConstraintOp::NotIn),
        (word, Some(n)) => d.string(n, &value_path).map(|s| match word {
            OpWord::NotEq => ConstraintOp::NotEq(s),
            OpWord::Version => ConstraintOp::Version(s),
            OpWord::Regex => ConstraintOp::Regex(s),
            _ => ConstraintOp::Eq(s),
        }),
    };
    f.finish(d, CONSTRAINT_FIELDS);
    Some(Constraint {
        attribute: attribute?,
        op: op?,
    })
}

const SPREAD_FIELDS: &[&str] = &["attribute", "weight", "target"];
const TARGET_FIELDS: &[&str] = &["value", "percent"];
pub const DEFAULT_SPREAD_WEIGHT: u8 = 50;

fn spread(d: &mut Decoder, mut f: Fields<'_>) -> Option<Spread> {
    let attribute = f
        .require(
            d,
            "attribute",
            "the node attribute to spread over, like \"node.region\"",
        )
        .and_then(|n| d.parsed(n, &f.child("attribute"), parse_attribute));
    let weight = f.get("weight").map_or(Some(DEFAULT_SPREAD_WEIGHT), |n| {
        d.whole(n, &f.child("weight"))
    });
    let targets = f.get("target").map_or(Some(Vec::new()), |n| {
        all(d.tables(n, &f.child("target")), |mut t| {
            let value = t
                .require(d, "value", "the attribute value this target is for")
                .and_then(|n| d.string(n, &t.child("value")));
            let percent = t
                .require(d, "percent", "a share from 0 to 100")
                .and_then(|n| d.whole(n, &t.child("percent")));
            t.finish(d, TARGET_FIELDS);
            Some(SpreadTarget {
                value: value?,
                percent: percent?,
            })
        })
    });
    f.finish(d, SPREAD_FIELDS);
    Some(Spread {
        attribute: attribute?,
        weight: weight?,
        targets: targets?,
    })
}

pub(super) fn duration(
    d: &mut Decoder,
    f: &mut Fields<'_>,
    key: &str,
    default: u64,
) -> Option<u64> {
    f.get(key).map_or(Some(default), |n| {
        d.parsed(n, &f.child(key), parse_duration_ms)
    })
}

fn restart(d: &mut Decoder, node: &Node) -> Option<RestartPolicy> {
    let mut f = d.table(node, "restart")?;
    let defaults = RestartPolicy::default();
    let attempts = f
        .get("attempts")
        .map_or(Some(defaults.attempts), |n| d.whole(n, "restart.attempts"));
    let delay_ms = duration(d, &mut f, "delay", defaults.delay_ms);
    f.finish(d, &["attempts", "delay"]);
    Some(RestartPolicy {
        attempts: attempts?,
        delay_ms: delay_ms?,
    })
}

fn reschedule(d: &mut Decoder, node: &Node) -> Option<ReschedulePolicy> {
    let mut f = d.table(node, "reschedule")?;
    let defaults = ReschedulePolicy::default();
    let attempts = f.get("attempts").map_or(Some(defaults.attempts), |n| {
        d.whole(n, "reschedule.attempts")
    });
    let delay_ms = duration(d, &mut f, "delay", defaults.delay_ms);
    let max_delay_ms = duration(d, &mut f, "max_delay", defaults.max_delay_ms);
    f.finish(d, &["attempts", "delay", "max_delay"]);
    Some(ReschedulePolicy {
        attempts: attempts?,
        delay_ms: delay_ms?,
        max_delay_ms: max_delay_ms?,
    })
}

/// `[[multiregion.region]]`: each region's name and replica count.
fn multiregion(d: &mut Decoder, node: &Node) -> Option<Vec<RegionPart>> {
    let mut f = d.table(node, "multiregion")?;
    let regions = f
        .require(
            d,
            "region",
            "[[multiregion.region]] tables, each a name and a count",
        )
        .and_then(|n| {
            all(d.tables(n, "multiregion.region"), |mut r| {
                let name = r
                    .require(d, "name", "the region's name, like \"eu-1\"")
                    .and_then(|n| d.string(n, &r.child("name")));
                let count = r
                    .require(d, "count", "the replicas this region keeps")
                    .and_then(|n| d.whole(n, &r.child("count")));
                r.finish(d, &["name", "count"]);
                Some(RegionPart {
                    name: name?,
                    count: count?,
                })
            })
        });
    f.finish(d, &["region"]);
    regions
}

/// `[update]`: the rollout's pace, and its health gate (kept in the
/// spec's extensions).
fn update(d: &mut Decoder, node: &Node) -> Option<(UpdatePolicy, UpdateGate)> {
    let mut f = d.table(node, "update")?;
    let max_parallel = f
        .get("max_parallel")
        .map_or(Some(UpdatePolicy::default().max_parallel), |n| {
            d.whole(n, "update.max_parallel")
        });
    let gate = UpdateGate::default();
    let min_healthy = duration(d, &mut f, "min_healthy_time", gate.min_healthy_time_ms);
    let deadline = duration(d, &mut f, "healthy_deadline", gate.healthy_deadline_ms);
    let progress = optional(f.get("progress_deadline"), |n| {
        d.parsed(n, &f.child("progress_deadline"), parse_duration_ms)
    });
    let canary = f
        .get("canary")
        .map_or(Some(gate.canary), |n| d.whole(n, "update.canary"));
    let auto_revert = f.get("auto_revert").map_or(Some(gate.auto_revert), |n| {
        d.boolean(n, "update.auto_revert")
    });
    f.finish(
        d,
        &[
            "max_parallel",
            "min_healthy_time",
            "healthy_deadline",
            "progress_deadline",
            "canary",
            "auto_revert",
        ],
    );
    Some((
        UpdatePolicy {
            max_parallel: max_parallel?,
        },
        UpdateGate {
            min_healthy_time_ms: min_healthy?,
            healthy_deadline_ms: deadline?,
            progress_deadline_ms: progress?,
            canary: canary?,
            auto_revert: auto_revert?,
        },
    ))
}
