//! Same seed, same build: the same trace, byte for byte — each run in its
//! own process, as `scripts/sim run` and the swarm run them.

#![cfg(madsim)]

use std::process::Command;

fn trace_of(seed: u64, dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_drover-sim"))
        .args(["run", "--seed", &seed.to_string(), "--trace"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "seed {seed}: {stdout}");
    assert!(stdout.starts_with(&format!("SEED={seed} ")), "{stdout}");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn a_seed_replays_to_the_same_trace_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [3, 42] {
        let first = trace_of(seed, dir.path(), "first.jsonl");
        let second = trace_of(seed, dir.path(), "second.jsonl");
        assert!(first.lines().count() > 5, "a trace with events");
        assert_eq!(first, second, "seed {seed} diverged");
    }
}

#[test]
fn replay_names_no_divergence_for_a_faithful_trace_and_the_line_of_a_doctored_one() {
    let dir = tempfile::tempdir().unwrap();
    let trace = trace_of(7, dir.path(), "t.jsonl");
    let replay = |path: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_drover-sim"))
            .arg("replay")
            .arg(path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (ok, said) = replay(&dir.path().join("t.jsonl"));
    assert!(ok && said.contains("REPLAYED"), "{said}");
    let mut lines: Vec<&str> = trace.lines().collect();
    let doctored = lines[3].replace("\"t_ms\":", "\"t_ms\":1");
    lines[3] = &doctored;
    std::fs::write(dir.path().join("d.jsonl"), lines.join("\n") + "\n").unwrap();
    let (ok, said) = replay(&dir.path().join("d.jsonl"));
    assert!(!ok && said.contains("DIVERGED at line 4"), "{said}");
}
