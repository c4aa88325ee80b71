//! `drover-sim run|replay|shrink|swarm`. A run's first line is `SEED=` and
//! every knob; its last says pass, or which invariant failed and the
//! command that reproduces it.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::isolated::{Runner, Verdict};
use crate::knobs::{Knobs, PlantedBugs, parse_faults};
use crate::reproduce::{self, SETTABLE, knobs_from, set, setting, spelled};
use crate::run::{Run, run_knobs};
use crate::shrink::shrink_knobs;

fn usage() -> ExitCode {
    eprintln!(
        "usage: drover-sim run --seed N [--set KEY=VALUE,..] [--faults LIST] [--plant BUG] [--trace FILE]\n       drover-sim replay FILE\n       drover-sim shrink --seed N [--set ..] [--faults ..] [--plant BUG]\n       drover-sim swarm --seeds A..B [--jobs N] [--budget SECONDS] [--set KEY=VALUE,..] [--plant BUG]\n\nBUG: {}\nKEY: {}",
        PlantedBugs::NAMES.join(", "),
        SETTABLE.join(", ")
    );
    ExitCode::from(2)
}

/// The verdict line `isolated::parse_verdict` reads back.
fn report(knobs: &Knobs, run: &Run, wall: Instant) -> ExitCode {
    let virtual_s = run.virtual_time.as_secs_f64();
    match &run.failure {
        None => {
            println!(
                "PASS seed={} ({virtual_s:.1}s virtual): in {:.1}s wall",
                knobs.seed,
                wall.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Some(failure) => {
            println!(
                "FAIL seed={} ({virtual_s:.1}s virtual): {failure} — reproduce: {}",
                knobs.seed,
                reproduce::command(knobs)
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
    let recorded_by = header["build"].as_str().unwrap_or("unknown");
    if recorded_by != crate::trace::BUILD {
        println!(
            "NOT REPLAYED: {path} was recorded by build {recorded_by}; this is build {}. A different build may run the same seed differently, so a difference would mean nothing. Replay it with the build that wrote it, or run the seed again here: scripts/sim run --seed {seed} ...",
            crate::trace::BUILD
        );
        return ExitCode::from(2);
    }
    let mut knobs = Knobs::from_seed(seed);
    for key in SETTABLE {
        let value = spelled(&header["config"][key]);
        if value != setting(&knobs, key) {
            let _ = set(&mut knobs, key, &value);
        }
    }
    if let Some(faults) = header["config"]["faults"].as_array() {
        let listed: Vec<&str> = faults.iter().filter_map(|f| f.as_str()).collect();
        knobs.faults = parse_faults(&listed.join(",")).unwrap_or(knobs.faults);
    }
    if let Some(bug) = header["config"]["planted"].as_str() {
        knobs.bugs = PlantedBugs::parse(bug).unwrap_or_default();
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

fn shrink(runner: &Runner, knobs: Knobs) -> ExitCode {
    let seed = knobs.seed;
    let Some((failure, smallest)) = shrink_knobs(runner, knobs) else {
        println!("seed {seed} passes: nothing to shrink");
        return ExitCode::FAILURE;
    };
    println!("smallest failure: {failure}");
    println!("smallest: {smallest}");
    println!("reproduce: {}", reproduce::command(&smallest));
    ExitCode::SUCCESS
}

/// Runs seeds `from..to`, `jobs` child processes at a time, and prints
/// the failures in seed order and a summary. With a `budget`, no seed
/// starts once it has passed; the summary says how many were left.
fn swarm(
    runner: &Runner,
    seeds: std::ops::Range<u64>,
    knobs_of: &(dyn Fn(u64) -> Knobs + Sync),
    jobs: usize,
    budget: Option<Duration>,
) -> ExitCode {
    let (from, to) = (seeds.start, seeds.end);
    let wall = Instant::now();
    let next = AtomicU64::new(from);
    let verdicts: Mutex<Vec<(u64, Verdict)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    if budget.is_some_and(|b| wall.elapsed() >= b) {
                        break;
                    }
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= to {
                        break;
                    }
                    let verdict = runner.run(&knobs_of(seed));
                    if let Ok(mut all) = verdicts.lock() {
                        all.push((seed, verdict));
                    }
                }
            });
        }
    });
    let mut verdicts = verdicts.into_inner().unwrap_or_default();
    verdicts.sort_by_key(|(seed, _)| *seed);
    let simulated: Duration = verdicts.iter().map(|(_, v)| v.virtual_time).sum();
    let mut failed = 0;
    for (seed, verdict) in &verdicts {
        if let Some(failure) = &verdict.failure {
            failed += 1;
            println!(
                "FAIL seed={seed}: {failure} — reproduce: {}",
                reproduce::command(&knobs_of(*seed))
            );
        }
    }
    let elapsed = wall.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let per_minute = verdicts.len() as f64 * 60.0 / elapsed.max(1e-9);
    println!(
        "swarm: {} seeds, {:.0}s virtual in {elapsed:.1}s wall ({:.0}x real time, {per_minute:.0} seeds/min, {jobs} at a time)",
        verdicts.len(),
        simulated.as_secs_f64(),
        simulated.as_secs_f64() / elapsed.max(1e-9),
    );
    println!("{} passed, {failed} failed", verdicts.len() - failed);
    let left = (to - from).saturating_sub(verdicts.len() as u64);
    if left > 0 {
        println!(
            "budget of {}s reached: {left} of {} seeds not run",
            budget.map_or(0, |b| b.as_secs()),
            to - from
        );
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub fn main() -> ExitCode {
    // The nodes' own logs, for reading a failure: DROVER_SIM_LOG=info.
    if let Ok(filter) = std::env::var("DROVER_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runner = match Runner::current() {
        Ok(runner) => runner,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
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
            Ok(knobs) => shrink(&runner, knobs),
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
            let jobs = match flag("--jobs").map(|j| j.parse::<usize>()) {
                None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                Some(Ok(jobs)) if jobs > 0 => jobs,
                Some(_) => return usage(),
            };
            // The same overrides for every seed (e.g. a fixed topology, or
            // a planted bug to count the seeds that catch it).
            let overrides = flag("--set");
            let bugs = match flag("--plant").map(|b| PlantedBugs::parse(&b)) {
                None => PlantedBugs::default(),
                Some(Ok(bugs)) => bugs,
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return usage();
                }
            };
            if let Some(Err(e)) = overrides
                .as_ref()
                .map(|o| reproduce::apply_sets(&mut Knobs::from_seed(0), o))
            {
                eprintln!("{e}");
                return usage();
            }
            let knobs_of = |seed: u64| {
                let mut knobs = Knobs::from_seed(seed);
                if let Some(o) = &overrides {
                    let _ = reproduce::apply_sets(&mut knobs, o);
                }
                knobs.bugs = bugs;
                knobs
            };
            let budget = match flag("--budget").map(|b| b.parse::<u64>()) {
                None => None,
                Some(Ok(secs)) if secs > 0 => Some(Duration::from_secs(secs)),
                Some(_) => return usage(),
            };
            swarm(&runner, from..to, &knobs_of, jobs, budget)
        }
        _ => usage(),
    }
}
