//! For tests that need a real engine: the local test image, built by
//! `scripts/docker-test-image` when missing. Where no engine answers the
//! caller is told to skip — loudly — unless `DROVER_REQUIRE_DOCKER=1`
//! (set by CI), which turns a missing engine into a failure.

use std::path::Path;
use std::process::Command;

/// The test image's name, or `None` after printing a SKIP line saying why.
pub fn test_image(test: &str) -> Option<String> {
    image_from_script(test, "docker-test-image", &[])
}

/// Runs `scripts/<script> <args>`, which prints an image name, exits 3
/// when no engine answers, and fails otherwise; `None` means skip.
pub fn image_from_script(test: &str, script: &str, args: &[&str]) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Some(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        Some(3) if std::env::var("DROVER_REQUIRE_DOCKER").as_deref() != Ok("1") => {
            eprintln!(
                "SKIP {test}: {} — this test needs a Docker engine and did NOT run",
                stderr.trim()
            );
            None
        }
        _ => panic!(
            "{test}: {} failed ({}): {}",
            script.display(),
            out.status,
            stderr.trim()
        ),
    }
}

/// Ids of containers carrying `label=value`, stopped ones included.
pub fn containers_labelled(label: &str, value: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!("label={label}={value}"))
        .output()
        .expect("docker ps runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Removes every container of the output store at `root`.
pub fn remove_containers(root: &Path) {
    let ids = containers_labelled(super::LABEL_STORE, &root.display().to_string());
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&ids)
            .output();
    }
}
