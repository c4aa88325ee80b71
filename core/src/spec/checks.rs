//! `[[task.check]]`: reading a task's health checks and the rules they
//! must satisfy. A check's fields depend on its type (`http`, `tcp`,
//! `exec`); a field another type would take is refused by name.

use super::decode::{all, duration, optional};
use super::doc::Node;
use super::reader::Decoder;
use super::validate::{MAX_DELAY_MS, Rules};
use crate::health::{CheckKind, CheckSpec};
use crate::job::JobSpec;
use crate::units::format_duration_ms;

pub const DEFAULT_INTERVAL_MS: u64 = 10_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// Time a task has to start listening before a failing check counts.
pub const DEFAULT_GRACE_MS: u64 = 1_000;
pub const MIN_INTERVAL_MS: u64 = 100;
pub const MAX_CHECKS: usize = 16;

const CHECK_FIELDS: &[&str] = &[
    "type",
    "port",
    "path",
    "status",
    "command",
    "interval",
    "timeout",
    "grace",
    "check_restart",
];

#[derive(Clone, Copy, PartialEq)]
enum Type {
    Http,
    Tcp,
    Exec,
}

/// Every `[[task.check]]` of the task table `f`, at `path`.
pub(super) fn decode(d: &mut Decoder, node: &Node, path: &str) -> Option<Vec<CheckSpec>> {
    all(d.tables(node, path), |mut c| {
        let kind = c
            .require(d, "type", "\"http\", \"tcp\" or \"exec\"")
            .and_then(|n| {
                d.choice(
                    n,
                    &c.child("type"),
                    &[
                        ("http", Type::Http),
                        ("tcp", Type::Tcp),
                        ("exec", Type::Exec),
                    ],
                )
            });
        let nodes = ["port", "path", "status", "command"].map(|key| (c.child(key), c.get(key)));
        let [
            (port_at, port),
            (path_at, check_path),
            (status_at, status),
            (command_at, command),
        ] = &nodes;
        let port = optional(*port, |n| d.string(n, port_at));
        let check_path = optional(*check_path, |n| d.string(n, path_at));
        let status = optional(*status, |n| d.whole::<u16>(n, status_at));
        let command = optional(*command, |n| d.strings(n, command_at));
        let interval_ms = duration(d, &mut c, "interval", DEFAULT_INTERVAL_MS);
        let timeout_ms = duration(d, &mut c, "timeout", DEFAULT_TIMEOUT_MS);
        let grace_ms = duration(d, &mut c, "grace", DEFAULT_GRACE_MS);
        let restart_path = c.child("check_restart");
        let restart_after = optional(c.get("check_restart"), |n| {
            let mut r = d.table(n, &restart_path)?;
            let limit = r
                .require(d, "limit", "the failures in a row that restart the task")
                .and_then(|n| d.whole::<u32>(n, &r.child("limit")));
            r.finish(d, &["limit"]);
            limit
        });
        c.finish(d, CHECK_FIELDS);
        let (port, check_path, status, command) = (port?, check_path?, status?, command?);
        let mut only = |field: &str, given: bool, types: &str| {
            let (at, node) = nodes
                .iter()
                .find(|(at, _)| at.ends_with(field))
                .expect("a field read above");
            if given {
                d.fail(
                    at,
                    node.and_then(|n| n.pos),
                    format!("only {types} checks take {field}"),
                );
            }
        };
        let kind = match kind? {
            Type::Http => {
                only("command", command.is_some(), "exec");
                CheckKind::Http {
                    port: port.unwrap_or_default(),
                    path: check_path.unwrap_or_else(|| "/".into()),
                    status,
                }
            }
            Type::Tcp => {
                only("path", check_path.is_some(), "http");
                only("status", status.is_some(), "http");
                only("command", command.is_some(), "exec");
                CheckKind::Tcp {
                    port: port.unwrap_or_default(),
                }
            }
            Type::Exec => {
                only("port", port.is_some(), "http and tcp");
                only("path", check_path.is_some(), "http");
                only("status", status.is_some(), "http");
                CheckKind::Exec {
                    command: command.unwrap_or_default(),
                }
            }
        };
        Some(CheckSpec {
            kind,
            interval_ms: interval_ms?,
            timeout_ms: timeout_ms?,
            grace_ms: grace_ms?,
            restart_after: restart_after?,
        })
    })
}

/// A check reaches one of the task's ports by label, or runs a command
/// (on the node for a process, inside the container for a docker task),
/// at a sane pace.
pub(super) fn validate(rules: &mut Rules, spec: &JobSpec) {
    let checks = &spec.ext.checks;
    rules.check(checks.len() <= MAX_CHECKS, "task.check", || {
        format!("{} checks; at most {MAX_CHECKS}", checks.len())
    });
    let labels: Vec<&str> = spec.ext.ports.iter().map(|p| p.label.as_str()).collect();
    for (i, check) in checks.iter().enumerate() {
        let path = format!("task.check[{i}]");
        match &check.kind {
            CheckKind::Http {
                port,
                path: p,
                status,
            } => {
                port_named(rules, &path, port, &labels);
                let plain = p.chars().all(|c| c.is_ascii_graphic());
                rules.check(p.starts_with('/') && plain, format!("{path}.path"), || {
                    format!("{p:?} is not a path; it starts with '/' and holds no spaces or control characters (escape them, as %20)")
                });
                if let Some(status) = status {
                    rules.range(&format!("{path}.status"), *status, 100, 599);
                }
            }
            CheckKind::Tcp { port } => port_named(rules, &path, port, &labels),
            CheckKind::Exec { command } => {
                rules.check(!command.is_empty(), format!("{path}.command"), || {
                    "an exec check needs a command, like [\"pg_isready\"]".into()
                });
            }
        }
        rules.check(
            check.interval_ms >= MIN_INTERVAL_MS,
            format!("{path}.interval"),
            || {
                format!(
                    "{} is too often; at least {}",
                    format_duration_ms(check.interval_ms),
                    format_duration_ms(MIN_INTERVAL_MS)
                )
            },
        );
        rules.check(check.timeout_ms > 0, format!("{path}.timeout"), || {
            "a check needs some time to answer; give a timeout above 0".into()
        });
        for (field, ms) in [
            ("interval", check.interval_ms),
            ("timeout", check.timeout_ms),
            ("grace", check.grace_ms),
        ] {
            rules.check(ms <= MAX_DELAY_MS, format!("{path}.{field}"), || {
                format!(
                    "{} is longer than a check may wait; at most {}",
                    format_duration_ms(ms),
                    format_duration_ms(MAX_DELAY_MS)
                )
            });
        }
        if let Some(limit) = check.restart_after {
            rules.check(limit >= 1, format!("{path}.check_restart.limit"), || {
                "0 failures would restart the task before any check; use 1 or more".into()
            });
        }
    }
}

fn port_named(rules: &mut Rules, path: &str, port: &str, labels: &[&str]) {
    rules.check(labels.contains(&port), format!("{path}.port"), || {
        if port.is_empty() {
            format!(
                "an http or tcp check names the port it reaches: one of the task's [[task.port]] labels ({})",
                list(labels)
            )
        } else {
            format!("{port:?} names no port of the task; its ports: {}", list(labels))
        }
    });
}

fn list(labels: &[&str]) -> String {
    if labels.is_empty() {
        "none".into()
    } else {
        labels.join(", ")
    }
}
