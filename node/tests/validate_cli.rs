//! `drover job validate` as a user runs it: the real binary, real files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn drover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .output()
        .expect("drover runs")
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drover-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_spec_exits_zero_with_a_summary() {
    for name in ["batch.toml", "service.toml", "system.toml", "batch.json"] {
        let out = drover(&["job", "validate", &example(name)]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stdout.contains(": valid: "), "{stdout}");
    }
}

#[test]
fn an_invalid_spec_lists_every_error_with_path_and_position() {
    let spec = b"id = \"j\"\nkind = \"servce\"\n[task]\ndriver = \"exec\"\ncommand = [\"x\"]\n[task.resources]\nmemroy = \"1GiB\"\n";
    let path = temp_file("bad.toml", spec);
    let out = drover(&["job", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let shown = path.display();
    assert!(
        stderr.contains(&format!(
            "{shown}:2:8: error: kind: unknown value \"servce\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{shown}:7:1: error: task.resources.memroy: unknown field; did you mean \"memory\"?"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("invalid: 2 errors"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn json_output_is_machine_readable() {
    let path = temp_file(
        "bad.json",
        br#"{"id": "j", "kind": "batch", "task": {"driver": "docker"}}"#,
    );
    let out = drover(&["job", "validate", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "task.image");

    let out = drover(&["job", "validate", "--json", &example("batch.toml")]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["job"]["id"], "hello");
}

#[test]
fn unreadable_input_is_trouble_not_a_crash() {
    let out = drover(&["job", "validate", "/nonexistent/spec.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/spec.toml"));

    let path = temp_file("binary.toml", b"id = \"j\"\n\xff\xfe");
    let out = drover(&["job", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not UTF-8 text (invalid byte at offset 9)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_verb_has_help() {
    for args in [
        &["--help"][..],
        &["job", "--help"],
        &["job", "validate", "--help"],
    ] {
        let out = drover(args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
}
