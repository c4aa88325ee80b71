//! Reproducers: the command line that re-runs exactly a simulation's
//! knobs (`--seed`, `--plant`, `--set`, `--faults`), and reading it back.

use crate::knobs::{Knobs, PlantedBugs, parse_faults};

/// Knobs a reproducer may set away from the seed's (shrinking changes
/// these): `--set workers=2,services=0,weather=none`.
pub const SETTABLE: [&str; 14] = [
    "control_nodes",
    "jobs",
    "workers",
    "services",
    "clients",
    "system_job",
    "weather",
    "drain",
    "stop_service_at_ms",
    "update_service_at_ms",
    "clock_skew",
    "buggify",
    "snapshot_every",
    "federated",
];

/// A knob's value as `--set` spells it.
pub fn setting(knobs: &Knobs, key: &str) -> String {
    spelled(&knobs.to_json()[key])
}

pub fn spelled(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "none".into(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Applies `key=value` to the knobs; only what shrinking changes can be
/// set (a drain, weather or stop can be removed, not invented).
pub fn set(knobs: &mut Knobs, key: &str, value: &str) -> Result<(), String> {
    let number = || {
        value
            .parse::<u64>()
            .map_err(|_| format!("--set {key}={value}: not a number"))
    };
    let removed = || {
        (value == "none")
            .then_some(())
            .ok_or_else(|| format!("--set {key}={value}: only \"none\" can be set"))
    };
    match key {
        "control_nodes" => match number()? {
            n @ (3 | 5) => knobs.control_nodes = n,
            _ => return Err(format!("--set {key}={value}: 3 or 5")),
        },
        "jobs" => knobs.jobs = number()?,
        "workers" => knobs.workers = number()?,
        "services" => knobs.services = number()?,
        "clients" => knobs.clients = number()?.max(1),
        "system_job" => knobs.system_job = value == "true",
        "buggify" => knobs.buggify = value == "true",
        "snapshot_every" => knobs.snapshot_every = number()?.max(10),
        "weather" => removed().map(|()| knobs.weather = None)?,
        "drain" => removed().map(|()| knobs.drain = None)?,
        "stop_service_at_ms" => removed().map(|()| knobs.stop_service_at_ms = None)?,
        "update_service_at_ms" => removed().map(|()| knobs.update_service_at_ms = None)?,
        "federated" => match value {
            "none" | "0" => knobs.federated = 0,
            _ => match number()? {
                n @ 2..=4 => knobs.federated = n,
                _ => return Err(format!("--set {key}={value}: 2, 3 or 4 regions")),
            },
        },
        "clock_skew" => removed().map(|()| knobs.clock_skew_ms.clear())?,
        _ => return Err(format!("--set {key}: can set {}", SETTABLE.join(", "))),
    }
    knobs.keep_feasible();
    Ok(())
}

/// Applies a `--set` list: `workers=50,weather=none`.
pub fn apply_sets(knobs: &mut Knobs, sets: &str) -> Result<(), String> {
    for pair in sets.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
        set(knobs, key.trim(), value.trim())?;
    }
    Ok(())
}

/// The `run` arguments that re-create exactly these knobs.
pub fn args(knobs: &Knobs) -> Vec<String> {
    let defaults = Knobs::from_seed(knobs.seed);
    let mut args = vec!["--seed".to_string(), knobs.seed.to_string()];
    if let Some(bug) = knobs.bugs.name() {
        args.extend(["--plant".to_string(), bug.to_string()]);
    }
    let changed: Vec<String> = SETTABLE
        .iter()
        .filter(|key| setting(knobs, key) != setting(&defaults, key))
        .map(|key| format!("{key}={}", setting(knobs, key)))
        .collect();
    if !changed.is_empty() {
        args.extend(["--set".to_string(), changed.join(",")]);
    }
    if knobs.faults != defaults.faults {
        let faults: Vec<String> = knobs.faults.iter().map(ToString::to_string).collect();
        args.extend(["--faults".to_string(), faults.join(",")]);
    }
    args
}

/// The command that re-runs exactly these knobs.
pub fn command(knobs: &Knobs) -> String {
    let quoted: Vec<String> = args(knobs)
        .into_iter()
        .map(|a| {
            if a.contains(['@', ' ']) {
                format!("\"{a}\"")
            } else {
                a
            }
        })
        .collect();
    format!("scripts/sim run {}", quoted.join(" "))
}

/// The seed's knobs with the command line's overrides.
pub fn knobs_from(flag: &dyn Fn(&str) -> Option<String>) -> Result<Knobs, String> {
    let seed = flag("--seed")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("--seed N is required")?;
    let mut knobs = Knobs::from_seed(seed);
    if let Some(sets) = flag("--set") {
        apply_sets(&mut knobs, &sets)?;
    }
    if let Some(faults) = flag("--faults") {
        knobs.faults = parse_faults(&faults)?;
    }
    if let Some(bug) = flag("--plant") {
        knobs.bugs = PlantedBugs::parse(&bug)?;
    }
    Ok(knobs)
}
