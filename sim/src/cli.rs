//! `drover-sim run --seed N [--trace FILE]` and `drover-sim swarm --seeds A..B`.
//! The first line of a run is `SEED=` and every knob; the last says pass,
//! or which invariant failed and how to reproduce it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::knobs::Knobs;
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

fn reproduce(seed: u64) -> String {
    format!("scripts/sim run --seed {seed}")
}

fn usage() -> ExitCode {
    eprintln!("usage: drover-sim run --seed N [--trace FILE] | drover-sim swarm --seeds A..B");
    ExitCode::from(2)
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
            let Some(seed) = flag("--seed").and_then(|s| s.parse::<u64>().ok()) else {
                return usage();
            };
            println!("{}", Knobs::from_seed(seed));
            let wall = Instant::now();
            let run = run_seed(seed);
            let trace_file = flag("--trace");
            if let Some((path, Err(e))) = trace_file.map(|p| {
                let written = std::fs::write(&p, &run.trace);
                (p, written)
            }) {
                eprintln!("cannot write the trace to {path}: {e}");
            }
            match run.failure {
                None => {
                    println!(
                        "PASS seed={seed}: {:.1}s virtual in {:.1}s",
                        run.virtual_time.as_secs_f64(),
                        wall.elapsed().as_secs_f64()
                    );
                    ExitCode::SUCCESS
                }
                Some(failure) => {
                    println!(
                        "FAIL seed={seed}: {failure} — reproduce: {}",
                        reproduce(seed)
                    );
                    ExitCode::FAILURE
                }
            }
        }
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
                        reproduce(seed)
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
