//! Host volumes: directories a node offers by name (`[[volume]]` in
//! node.toml) and a job asks for by name (`[[volume]]` in its spec). A
//! node announces each as the label `volume.<name>` (`read-write` or
//! `read-only`), so the log and snapshots carry no new format; the
//! scheduler places a job only where every volume it asks for is offered,
//! writable if it writes. The worker resolves names to paths from its own
//! configuration when it starts the task.

use serde::{Deserialize, Serialize};

use crate::node::Node;

/// What a node's labels start with for each volume it offers.
pub const LABEL_PREFIX: &str = "volume.";
pub const READ_WRITE: &str = "read-write";
pub const READ_ONLY: &str = "read-only";

/// One host volume a job asks for. Plain serde, nothing skipped: it
/// crosses the internal wire in a worker's assignments, in postcard,
/// which reads every field in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAsk {
    /// The volume's name on the node; the task sees it as
    /// `DROVER_VOLUME_<NAME>`.
    pub name: String,
    /// Where a container mounts it; exec tasks take none.
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

/// The label a node offering `name` carries.
pub fn label(name: &str) -> String {
    format!("{LABEL_PREFIX}{name}")
}

/// The label's value for a volume offered `read_only` or not.
pub fn access(read_only: bool) -> &'static str {
    if read_only { READ_ONLY } else { READ_WRITE }
}

/// The environment variable naming the volume's path to the task.
pub fn variable(name: &str) -> String {
    format!("DROVER_VOLUME_{}", name.to_ascii_uppercase())
}

/// What the worker hands a docker task's driver for each volume, in the
/// task's environment as for its ports: `DROVER_BIND_<NAME>` =
/// `<host path>:<destination>:<ro|rw>`, a bind the driver makes and keeps
/// out of the container's environment.
pub const BIND_PREFIX: &str = "DROVER_BIND_";

/// A volume as the node offers it (`[[volume]]` in its node.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub path: String,
    pub read_only: bool,
}

/// The environment a task gets for its volumes, given how the node offers
/// each: `DROVER_VOLUME_<NAME>`, the path the task reaches it at (the host
/// path for exec, the destination in a container); and for a container
/// the bind its driver makes, read-only where the task asks it or the
/// node offers no more.
pub fn environment(asks: &[VolumeAsk], offered: impl Fn(&str) -> Offered) -> Vec<(String, String)> {
    asks.iter()
        .flat_map(|ask| {
            let Offered {
                path: host,
                read_only,
            } = offered(&ask.name);
            match &ask.destination {
                None => vec![(variable(&ask.name), host)],
                Some(dest) => {
                    let mode = if ask.read_only || read_only {
                        "ro"
                    } else {
                        "rw"
                    };
                    vec![
                        (variable(&ask.name), dest.clone()),
                        (
                            format!("{BIND_PREFIX}{}", ask.name.to_ascii_uppercase()),
                            format!("{host}:{dest}:{mode}"),
                        ),
                    ]
                }
            }
        })
        .collect()
}

/// Whether `key` is a variable Drover sets for volumes: a task's own
/// environment never carries one to the driver.
pub fn is_ours(key: &str) -> bool {
    key.starts_with("DROVER_VOLUME_") || key.starts_with(BIND_PREFIX)
}

/// Why `node` cannot give the task `asks`, naming the first volume it
/// lacks (or offers read-only to a task that writes).
pub fn missing(node: &Node, asks: &[VolumeAsk]) -> Option<String> {
    asks.iter().find_map(
        |ask| match node.labels.get(&label(&ask.name)).map(String::as_str) {
            None => Some(format!("no host volume {}", ask.name)),
            Some(READ_ONLY) if !ask.read_only => {
                Some(format!("host volume {} is read-only", ask.name))
            }
            Some(READ_ONLY | READ_WRITE) => None,
            Some(other) => Some(format!(
                "host volume {} is offered as {other:?}, neither {READ_WRITE} nor {READ_ONLY}",
                ask.name
            )),
        },
    )
}
