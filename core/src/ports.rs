//! Network ports as a scheduled resource: what a task asks for
//! (`[[task.port]]`: a label, and a static number or none for a dynamic
//! one) and which numbers an allocation holds on its node. A port is held
//! from the plan that places the allocation until the allocation is
//! terminal — until its task has exited, not when a stop is decided — so
//! two allocations never hold one port on one node, however late a stop
//! is carried out. Dynamic ports come from [`DYNAMIC_PORTS`], the lowest
//! free number first: the same state always gives the same port.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// Where dynamic ports are taken from on every node (Nomad's default
/// range is 20000–32000 too).
pub const DYNAMIC_PORTS: RangeInclusive<u16> = 20_000..=32_000;

/// One port a task asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortAsk {
    /// How the task names it: `DROVER_PORT_<LABEL>` in its environment.
    pub label: String,
    /// A fixed number, or `None` for one from [`DYNAMIC_PORTS`].
    #[serde(rename = "static", default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<u16>,
    /// For a container on a bridge network: the port it listens on
    /// inside, to which the held one is published (Nomad's `to`); `None`:
    /// the same number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u16>,
}

/// One port an allocation holds on its node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HeldPort {
    pub label: String,
    pub port: u16,
}

/// Why an allocation cannot have its ports on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortConflict {
    /// Another allocation on the node holds this static port.
    Taken(u16),
    /// Every port of the node's dynamic range is held.
    Exhausted,
}

impl fmt::Display for PortConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Taken(port) => write!(f, "port {port} is held by another allocation on the node"),
            Self::Exhausted => f.write_str("every port of the node's dynamic range is held"),
        }
    }
}

/// The static ports among `asks`.
pub fn fixed(asks: &[PortAsk]) -> impl Iterator<Item = u16> + '_ {
    asks.iter().filter_map(|a| a.fixed)
}

/// Whether `asks`' static ports are all free where `held` are held.
pub fn fixed_free(asks: &[PortAsk], held: &BTreeSet<u16>) -> Result<(), PortConflict> {
    match fixed(asks).find(|p| held.contains(p)) {
        Some(port) => Err(PortConflict::Taken(port)),
        None => Ok(()),
    }
}

/// The label a node announces its dynamic port range with (`[ports]
/// dynamic` in node.toml), as `"20000-32000"`.
pub const RANGE_LABEL: &str = "ports.dynamic";

/// A range written `"FROM-TO"`, both ends ports and in order.
pub fn parse_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (from, to) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range like \"20000-32000\""))?;
    let port = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{s:?} is not a port (1-65535)"))
    };
    let (from, to) = (port(from)?, port(to)?);
    if from > to {
        return Err(format!("{text:?} ends before it starts"));
    }
    Ok(from..=to)
}

/// Where `node` hands out dynamic ports: its announced range, or
/// [`DYNAMIC_PORTS`].
pub fn dynamic_range(node: &crate::node::Node) -> RangeInclusive<u16> {
    node.labels
        .get(RANGE_LABEL)
        .and_then(|r| parse_range(r).ok())
        .unwrap_or(DYNAMIC_PORTS)
}

/// The ports an allocation asking `asks` gets on a node where `held` are
/// held: each static one if free, each dynamic one the lowest free number
/// of the node's `range` that no other ask of the same task names.
pub fn assign(
    asks: &[PortAsk],
    held: &BTreeSet<u16>,
    range: RangeInclusive<u16>,
) -> Result<Vec<HeldPort>, PortConflict> {
    fixed_free(asks, held)?;
    let mut taken: BTreeSet<u16> = held.iter().copied().chain(fixed(asks)).collect();
    let mut ports = Vec::with_capacity(asks.len());
    for ask in asks {
        let port = if let Some(port) = ask.fixed {
            port
        } else {
            let port = range
                .clone()
                .find(|p| !taken.contains(p))
                .ok_or(PortConflict::Exhausted)?;
            taken.insert(port);
            port
        };
        ports.push(HeldPort {
            label: ask.label.clone(),
            port,
        });
    }
    debug_assert!(
        ports.iter().all(|p| !held.contains(&p.port)),
        "an assigned port is held already"
    );
    Ok(ports)
}

/// The environment a task gets for its ports: `DROVER_PORT_<LABEL>` (the
/// number it listens on: the one held, or the port's `to` inside a
/// container), `DROVER_HOST_PORT_<LABEL>` (the number held on the node)
/// and `DROVER_ADDR_<LABEL>` (`host:held number`, `host` being the node's
/// address others reach it at).
pub fn environment(ports: &[HeldPort], asks: &[PortAsk], host: &str) -> Vec<(String, String)> {
    ports
        .iter()
        .flat_map(|p| {
            let name = p.label.to_ascii_uppercase();
            let listens = asks
                .iter()
                .find(|a| a.label == p.label)
                .and_then(|a| a.to)
                .unwrap_or(p.port);
            [
                (format!("DROVER_PORT_{name}"), listens.to_string()),
                (format!("DROVER_HOST_PORT_{name}"), p.port.to_string()),
                (format!("DROVER_ADDR_{name}"), format!("{host}:{}", p.port)),
            ]
        })
        .collect()
}

/// The task an allocation runs: the job's, with its ports in the
/// environment. `node_address` is the address its node registered with
/// (`host:port` of the agent); the host part is where others reach the
/// task's ports.
pub fn task_with_ports(
    task: &crate::job::TaskSpec,
    ports: &[HeldPort],
    asks: &[PortAsk],
    node_address: &str,
) -> crate::job::TaskSpec {
    let mut task = task.clone();
    task.env
        .extend(environment(ports, asks, host_of(node_address)));
    task
}

/// The host part of a node's registered address (`host:port`, or
/// `[v6]:port`): where others reach the ports its tasks hold.
pub fn host_of(node_address: &str) -> &str {
    node_address
        .rsplit_once(':')
        .map_or(node_address, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ask(label: &str, fixed: Option<u16>) -> PortAsk {
        PortAsk {
            label: label.into(),
            fixed,
            to: None,
        }
    }

    #[test]
    fn dynamic_ports_are_the_lowest_free_and_static_ones_must_be_free() {
        let held = BTreeSet::from([20_000, 20_002, 8080]);
        let asks = [
            ask("http", None),
            ask("admin", Some(9090)),
            ask("grpc", None),
        ];
        let ports = assign(&asks, &held, DYNAMIC_PORTS).unwrap();
        let numbers: Vec<u16> = ports.iter().map(|p| p.port).collect();
        assert_eq!(numbers, vec![20_001, 9090, 20_003]);
        assert_eq!(
            assign(&[ask("web", Some(8080))], &held, DYNAMIC_PORTS),
            Err(PortConflict::Taken(8080))
        );
        // A static port inside the dynamic range is not handed out twice.
        let ports = assign(
            &[ask("a", None), ask("b", Some(20_001))],
            &held,
            DYNAMIC_PORTS,
        )
        .unwrap();
        assert_eq!(ports[0].port, 20_003);
    }

    #[test]
    fn a_full_range_says_so() {
        let held: BTreeSet<u16> = DYNAMIC_PORTS.collect();
        assert_eq!(
            assign(&[ask("x", None)], &held, DYNAMIC_PORTS),
            Err(PortConflict::Exhausted)
        );
        assert!(assign(&[ask("x", Some(80))], &held, DYNAMIC_PORTS).is_ok());
    }

    #[test]
    fn the_environment_names_each_port_by_its_label() {
        let held = [HeldPort {
            label: "http".into(),
            port: 20_001,
        }];
        let env = environment(&held, &[ask("http", None)], "10.0.0.7");
        assert_eq!(
            env,
            vec![
                ("DROVER_PORT_HTTP".into(), "20001".into()),
                ("DROVER_HOST_PORT_HTTP".into(), "20001".into()),
                ("DROVER_ADDR_HTTP".into(), "10.0.0.7:20001".into()),
            ]
        );
        let mut inside = ask("http", None);
        inside.to = Some(80);
        let env = environment(&held, &[inside], "10.0.0.7");
        assert_eq!(
            env[..2],
            [
                ("DROVER_PORT_HTTP".into(), "80".into()),
                ("DROVER_HOST_PORT_HTTP".into(), "20001".into()),
            ],
            "a container listens on its `to` port, published at the one held"
        );
    }

    #[test]
    fn a_task_gets_its_ports_beside_its_own_environment() {
        let task = crate::job::JobSpec::batch(
            crate::ids::JobId::new("j").unwrap(),
            vec!["true".into()],
            crate::resources::Resources::new(100, 64, 0),
        )
        .task;
        let ports = [HeldPort {
            label: "web".into(),
            port: 20_000,
        }];
        let with = task_with_ports(&task, &ports, &[], "10.1.2.3:7401");
        assert_eq!(with.env["DROVER_PORT_WEB"], "20000");
        assert_eq!(with.env["DROVER_ADDR_WEB"], "10.1.2.3:20000");
        let v6 = task_with_ports(&task, &ports, &[], "[fd00::1]:7401");
        assert_eq!(v6.env["DROVER_ADDR_WEB"], "[fd00::1]:20000");
        assert_eq!(task_with_ports(&task, &[], &[], "x:1"), task);
    }

    proptest! {
        /// Whatever is held and asked, what is assigned is free, distinct,
        /// and the static numbers asked.
        #[test]
        fn assigned_ports_are_free_and_distinct(
            held in proptest::collection::btree_set(19_990u16..20_020, 0..30),
            fixed in proptest::collection::vec(proptest::option::of(19_990u16..20_020), 0..6),
        ) {
            let asks: Vec<PortAsk> = fixed
                .iter()
                .enumerate()
                .map(|(i, f)| ask(&format!("p{i}"), *f))
                .collect();
            let mut statics: Vec<u16> = fixed.iter().flatten().copied().collect();
            statics.sort_unstable();
            statics.dedup();
            prop_assume!(statics.len() == fixed.iter().flatten().count());
            match assign(&asks, &held, DYNAMIC_PORTS) {
                Ok(ports) => {
                    let numbers: BTreeSet<u16> = ports.iter().map(|p| p.port).collect();
                    prop_assert_eq!(numbers.len(), asks.len());
                    prop_assert!(numbers.is_disjoint(&held));
                    for (a, p) in asks.iter().zip(&ports) {
                        prop_assert_eq!(&a.label, &p.label);
                        if let Some(f) = a.fixed {
                            prop_assert_eq!(f, p.port);
                        }
                    }
                }
                Err(PortConflict::Taken(port)) => {
                    prop_assert!(held.contains(&port) && statics.contains(&port));
                }
                Err(PortConflict::Exhausted) => prop_assert!(false, "12001 ports cannot run out here"),
            }
        }
    }
}
