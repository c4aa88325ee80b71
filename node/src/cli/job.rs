//! `drover job …`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use drover_core::spec::{Format, SpecErrors, parse_job_spec};
use serde_json::json;

use super::{EXIT_INVALID, EXIT_TROUBLE};

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Check a job spec (TOML or JSON) without submitting it.
    ///
    /// Exits 0 and prints a summary when the spec is valid; otherwise prints
    /// every error with its field path and line:column, and exits 1.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The job spec file; `.json` files are read as JSON, others as TOML.
    file: PathBuf,
    /// Print the result as JSON for scripts.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: JobCommand) -> ExitCode {
    match cmd {
        JobCommand::Validate(args) => validate(&args),
    }
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let text = match read_spec(&args.file) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("drover: {message}");
            return ExitCode::from(EXIT_TROUBLE);
        }
    };
    match parse_job_spec(&text, Format::detect(&name, &text)) {
        Ok(spec) => {
            if args.json {
                println!("{}", json!({ "file": name, "valid": true, "job": spec }));
            } else {
                println!("{name}: valid: {}", spec.summary());
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            if args.json {
                println!(
                    "{}",
                    json!({ "file": name, "valid": false, "errors": errors_json(&errors) })
                );
            } else {
                eprint!("{}", errors.render(&name));
                let n = errors.len();
                eprintln!(
                    "{name}: invalid: {n} error{}",
                    if n == 1 { "" } else { "s" }
                );
            }
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn errors_json(errors: &SpecErrors) -> serde_json::Value {
    errors
        .iter()
        .map(|e| {
            json!({
                "path": e.path,
                "line": e.pos.map(|p| p.line),
                "column": e.pos.map(|p| p.column),
                "message": e.message,
            })
        })
        .collect()
}

/// Reads a spec file, refusing what is not text with the byte offset of the problem.
fn read_spec(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
