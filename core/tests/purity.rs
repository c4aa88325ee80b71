//! The core stays pure (DESIGN §1): no async runtime, network, disk, clock or
//! OS randomness, and no hash-ordered maps whose order could reach an output.

use std::path::{Path, PathBuf};

const FORBIDDEN_DEPENDENCIES: &[&str] = &[
    "tokio",
    "openraft",
    "tonic",
    "bollard",
    "rand",
    "getrandom",
    "hyper",
    "axum",
    "madsim",
];

const FORBIDDEN_SOURCE: &[&str] = &[
    "HashMap",
    "HashSet",
    "Instant::now",
    "SystemTime",
    "thread_rng",
    "std::fs",
    "std::net",
    "std::thread",
    "std::env",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_depends_on_nothing_impure() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] section");
    for line in deps.lines() {
        let name = line.split(['=', '.']).next().unwrap_or_default().trim();
        assert!(
            !FORBIDDEN_DEPENDENCIES.contains(&name),
            "core must not depend on {name}"
        );
    }
}

#[test]
fn core_source_reads_no_clock_and_iterates_no_hash_map() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "found the sources");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in FORBIDDEN_SOURCE {
                assert!(
                    !line.contains(word),
                    "{}:{}: uses {word}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}
