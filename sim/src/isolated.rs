//! Simulations in child processes, one each: what swarms, shrinking and
//! the simulator's own tests use. A process carries state from one madsim
//! runtime to the next (std's hash-map keys, which madsim seeds only once
//! per process, among it), so a seed run after others in one process can
//! differ from the same seed run alone; a child process per seed makes
//! every reported seed replay exactly with `scripts/sim run`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::knobs::Knobs;
use crate::reproduce;

/// How a child's run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub failure: Option<String>,
    pub virtual_time: Duration,
}

/// Runs simulations with a `drover-sim` binary.
#[derive(Debug, Clone)]
pub struct Runner {
    binary: PathBuf,
}

impl Runner {
    /// This very program: for the command line.
    pub fn current() -> Result<Self, String> {
        let binary = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        Ok(Self { binary })
    }

    /// A given `drover-sim` binary: for tests.
    pub fn with_binary(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
        }
    }

    pub fn run(&self, knobs: &Knobs) -> Verdict {
        let output = Command::new(&self.binary)
            .arg("run")
            .args(reproduce::args(knobs))
            .output();
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                return Verdict {
                    failure: Some(format!("cannot start {}: {e}", self.binary.display())),
                    virtual_time: Duration::ZERO,
                };
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        parse_verdict(last).unwrap_or_else(|| Verdict {
            failure: Some(format!(
                "the simulator ended without a verdict ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            )),
            virtual_time: Duration::ZERO,
        })
    }
}

/// Reads `PASS seed=N (35.2s virtual): …` or `FAIL seed=N (35.2s
/// virtual): <failure> — reproduce: …`.
pub fn parse_verdict(line: &str) -> Option<Verdict> {
    let (head, rest) = line.split_once("s virtual): ")?;
    let virtual_s: f64 = head.rsplit_once('(')?.1.parse().ok()?;
    let virtual_time = Duration::from_secs_f64(virtual_s);
    if line.starts_with("PASS ") {
        Some(Verdict {
            failure: None,
            virtual_time,
        })
    } else if line.starts_with("FAIL ") {
        let failure = rest.split(" — reproduce: ").next().unwrap_or(rest);
        Some(Verdict {
            failure: Some(failure.to_string()),
            virtual_time,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines_parse() {
        let pass = parse_verdict("PASS seed=4 (35.5s virtual): in 0.4s wall").unwrap();
        assert_eq!(pass.failure, None);
        assert_eq!(pass.virtual_time, Duration::from_millis(35_500));
        let fail = parse_verdict(
            "FAIL seed=4 (60.0s virtual): no mass eviction: in r0, a and b — reproduce: scripts/sim run --seed 4",
        )
        .unwrap();
        assert_eq!(
            fail.failure.as_deref(),
            Some("no mass eviction: in r0, a and b")
        );
        assert!(parse_verdict("SEED=4 jobs=3").is_none());
    }
}
