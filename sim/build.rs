//! Names the build a trace comes from: a hash of every source file the
//! simulator runs (the workspace's crates and the lock file) and the build
//! profile, so that a trace replayed by a different build says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SOURCES: [&str; 6] = ["core", "adapters", "node", "proto", "sim", "Cargo.lock"];

fn collect(path: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            if entry.file_name().is_some_and(|n| n != "target") {
                collect(&entry, files);
            }
        }
    } else if is_source(path)
        && let Ok(bytes) = std::fs::read(path)
    {
        files.insert(path.to_path_buf(), bytes);
    }
}

fn is_source(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name == "Cargo.lock"
        || [".rs", ".toml", ".proto"]
            .iter()
            .any(|ending| name.ends_with(ending))
}

/// FNV-1a, 64 bits: enough to tell builds apart, no dependency.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = BTreeMap::new();
    for source in SOURCES {
        let path = root.join(source);
        println!("cargo:rerun-if-changed={}", path.display());
        collect(&path, &mut files);
    }
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for (path, bytes) in &files {
        let relative = path.strip_prefix(&root).unwrap_or(path);
        hash = fnv(hash, relative.to_string_lossy().as_bytes());
        hash = fnv(hash, bytes);
    }
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=DROVER_SIM_BUILD={hash:016x}-{profile}");
}
