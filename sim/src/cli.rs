//! `drover-sim run --seed N [--trace FILE]` and `drover-sim swarm --seeds A..B`.
//! The first line of a run is `SEED=` and every knob; the last says pass,
//! or which invariant failed and how to reproduce it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::knobs::{Knobs, parse_faults};
use crate::scenario;
use crate::trace::Trace;

/// What one seed came to.
pub struct Run {
    pub knobs: Knobs,
    pub failure: Option<String>,
    pub virtual_time: Duration,
    pub trace: String,
}

pub fn run_seed(seed: u64) -> Run {
    run_knobs(Knobs::from_seed(seed))
}

/// Runs a simulation with these knobs (tests vary them, e.g. to plant bugs).
pub fn run_knobs(knobs: Knobs) -> Run {
    let seed = knobs.seed;
    let mut runtime =
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.set_time_limit(Duration::from_secs(
        knobs.safety_phase_s + knobs.liveness_bound_s + 120,
    ));
    let inner = knobs.clone();
    // A panic ends the run and is reported as its failure, without a dump.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            let trace = Trace::new(&inner);
            let result = scenario::run(&inner, &trace).await;
            (result, trace.elapsed(), trace.text())
        })
    }));
    std::panic::set_hook(previous_hook);
    match outcome {
        Ok((result, virtual_time, trace)) => Run {
            knobs,
            failure: result.err().map(|v| v.to_string()),
            virtual_time,
            trace,
        },
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_default();
            let failure = if what.contains("time limit") {
                format!("liveness: no convergence within the time limit ({what})")
            } else {
                format!("a node panicked: {what}")
            };
            Run {
                knobs,
                failure: Some(failure),
                virtual_time: Duration::ZERO,
                trace: String::new(),
            }
        }
    }
}

/// The command that re-runs exactly these knobs.
fn reproduce(knobs: &Knobs) -> String {
    let defaults = Knobs::from_seed(knobs.seed);
    let mut command = format!("scripts/sim run --seed {}", knobs.seed);
    if knobs.bugs.lying_fsync {
        command.push_str(" --plant lying-fsync");
    }
    if knobs.jobs != defaults.jobs {
        command.push_str(&format!(" --jobs {}", knobs.jobs));
    }
    if knobs.faults != defaults.faults {
        let faults: Vec<String> = knobs.faults.iter().map(ToString::to_string).collect();
        command.push_str(&format!(" --faults \"{}\"", faults.join(",")));
    }
    command
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: drover-sim run --seed N [--jobs N] [--faults LIST] [--plant lying-fsync] [--trace FILE]\n       drover-sim replay FILE\n       drover-sim shrink --seed N [--plant lying-fsync]\n       drover-sim swarm --seeds A..B"
    );
    ExitCode::from(2)
}

/// The seed's knobs with the command line's overrides.
fn knobs_from(flag: &dyn Fn(&str) -> Option<String>) -> Result<Knobs, String> {
    let seed = flag("--seed")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("--seed N is required")?;
    let mut knobs = Knobs::from_seed(seed);
    if let Some(jobs) = flag("--jobs") {
        knobs.jobs = jobs
            .parse()
            .map_err(|_| format!("--jobs {jobs:?} is not a number"))?;
    }
    if let Some(faults) = flag("--faults") {
        knobs.faults = parse_faults(&faults)?;
    }
    match flag("--plant").as_deref() {
        None => {}
        Some("lying-fsync") => knobs.bugs.lying_fsync = true,
        Some(other) => return Err(format!("unknown planted bug {other:?}; known: lying-fsync")),
    }
    Ok(knobs)
}

fn report(knobs: &Knobs, run: &Run, wall: Instant) -> ExitCode {
    match &run.failure {
        None => {
            println!(
                "PASS seed={}: {:.1}s virtual in {:.1}s",
                knobs.seed,
                run.virtual_time.as_secs_f64(),
                wall.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Some(failure) => {
            println!(
                "FAIL seed={}: {failure} — reproduce: {}",
                knobs.seed,
                reproduce(knobs)
            );
            ExitCode::FAILURE
        }
    }
}

/// Re-runs a trace's seed and knobs and names the first line that differs.
fn replay(path: &str) -> ExitCode {
    let Ok(recorded) = std::fs::read_to_string(path) else {
        eprintln!("cannot read {path}");
        return ExitCode::from(2);
    };
    let header: serde_json::Value = recorded
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    let Some(seed) = header["seed"].as_u64() else {
        eprintln!("{path}: line 1 is not a trace header with a seed");
        return ExitCode::from(2);
    };
    let mut knobs = Knobs::from_seed(seed);
    if let Some(jobs) = header["config"]["jobs"].as_u64() {
        knobs.jobs = jobs;
    }
    if let Some(faults) = header["config"]["faults"].as_array() {
        let listed: Vec<&str> = faults.iter().filter_map(|f| f.as_str()).collect();
        knobs.faults = parse_faults(&listed.join(",")).unwrap_or(knobs.faults);
    }
    println!("{knobs}");
    let run = run_knobs(knobs);
    let fresh: Vec<&str> = run.trace.lines().collect();
    for (i, line) in recorded.lines().enumerate() {
        if fresh.get(i) != Some(&line) {
            println!(
                "DIVERGED at line {}:\n  recorded: {line}\n  replayed: {}",
                i + 1,
                fresh.get(i).unwrap_or(&"(end of trace)")
            );
            return ExitCode::FAILURE;
        }
    }
    if fresh.len() != recorded.lines().count() {
        println!(
            "DIVERGED at line {}: the replay has more events",
            recorded.lines().count() + 1
        );
        return ExitCode::FAILURE;
    }
    println!("REPLAYED {} lines identically", fresh.len());
    ExitCode::SUCCESS
}

/// Greedily removes faults and halves the workload while the same
/// invariant still fails; prints the smallest reproducer found.
fn shrink(mut knobs: Knobs) -> ExitCode {
    let Some(failure) = run_knobs(knobs.clone()).failure else {
        println!("seed {} passes: nothing to shrink", knobs.seed);
        return ExitCode::FAILURE;
    };
    let invariant = failure.split(':').next().unwrap_or_default().to_string();
    println!("shrinking: {failure}");
    let still_fails = |k: &Knobs| {
        run_knobs(k.clone())
            .failure
            .is_some_and(|f| f.split(':').next() == Some(invariant.as_str()))
    };
    loop {
        let mut smaller = None;
        for i in 0..knobs.faults.len() {
            let mut candidate = knobs.clone();
            candidate.faults.remove(i);
            if still_fails(&candidate) {
                smaller = Some(candidate);
                break;
            }
        }
        if smaller.is_none() && knobs.jobs > 1 {
            let mut candidate = knobs.clone();
            candidate.jobs /= 2;
            smaller = still_fails(&candidate).then_some(candidate);
        }
        match smaller {
            Some(k) => knobs = k,
            None => break,
        }
    }
    println!("smallest: {knobs}");
    println!("reproduce: {}", reproduce(&knobs));
    ExitCode::SUCCESS
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("run") => {
            let knobs = match knobs_from(&flag) {
                Ok(knobs) => knobs,
                Err(e) => {
                    eprintln!("{e}");
                    return usage();
                }
            };
            println!("{knobs}");
            let wall = Instant::now();
            let run = run_knobs(knobs.clone());
            let written = flag("--trace").map(|path| (std::fs::write(&path, &run.trace), path));
            if let Some((Err(e), path)) = written {
                eprintln!("cannot write the trace to {path}: {e}");
            }
            report(&knobs, &run, wall)
        }
        Some("replay") => match args.get(1) {
            Some(path) => replay(path),
            None => usage(),
        },
        Some("shrink") => match knobs_from(&flag) {
            Ok(knobs) => shrink(knobs),
            Err(e) => {
                eprintln!("{e}");
                usage()
            }
        },
        Some("swarm") => {
            let Some((from, to)) = flag("--seeds").and_then(|r| {
                let (a, b) = r.split_once("..")?;
                Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
            }) else {
                return usage();
            };
            let wall = Instant::now();
            let mut simulated = Duration::ZERO;
            let mut failures = Vec::new();
            for seed in from..to {
                let run = run_seed(seed);
                simulated += run.virtual_time;
                if let Some(failure) = run.failure {
                    println!(
                        "FAIL seed={seed}: {failure} — reproduce: {}",
                        reproduce(&run.knobs)
                    );
                    failures.push(seed);
                }
            }
            let total = to.saturating_sub(from);
            println!(
                "swarm: {:.0}s virtual in {:.1}s wall ({:.0}x)",
                simulated.as_secs_f64(),
                wall.elapsed().as_secs_f64(),
                simulated.as_secs_f64() / wall.elapsed().as_secs_f64().max(1e-9)
            );
            println!(
                "{} passed, {} failed",
                total - failures.len() as u64,
                failures.len()
            );
            if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => usage(),
    }
}
