//! Job specs from text: TOML (primary) or JSON, into a validated [`JobSpec`].
//!
//! Two passes, each reporting every problem it finds: structure (syntax,
//! unknown fields, types, units), then rules (`validate`). Every error names
//! the field path, and the line and column where the format gives one.

mod checks;
mod decode;
mod doc;
mod error;
mod reader;
mod suggest;
mod validate;

pub use decode::{DEFAULT_CPU_MILLIS, DEFAULT_MEMORY_MB, DEFAULT_REPLICAS, DEFAULT_SPREAD_WEIGHT};
pub use error::{Pos, SpecError, SpecErrors};
pub use validate::{
    MAX_CONSTRAINTS, MAX_CPU_MILLIS, MAX_GPUS, MAX_MEMORY_MB, MAX_REPLICAS, MIN_MEMORY_MB,
    Violation, validate,
};

use crate::job::JobSpec;

/// Specs larger than this are refused before parsing.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// By extension (`.json`), else by content: a document starting with `{` is JSON.
    pub fn detect(file_name: &str, text: &str) -> Self {
        let by_extension = std::path::Path::new(file_name)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if by_extension || text.trim_start().starts_with('{') {
            Self::Json
        } else {
            Self::Toml
        }
    }
}

/// Parses and validates a job spec.
pub fn parse_job_spec(text: &str, format: Format) -> Result<JobSpec, SpecErrors> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(SpecErrors(vec![SpecError {
            path: String::new(),
            pos: None,
            message: format!(
                "the spec is {} bytes; the limit is {MAX_SPEC_BYTES}",
                text.len()
            ),
        }]));
    }
    let root = match format {
        Format::Toml => doc::from_toml(text),
        Format::Json => doc::from_json(text),
    }
    .map_err(SpecErrors)?;
    let mut decoder = reader::Decoder::default();
    let spec = decode::job(&mut decoder, &root);
    let spec = match spec {
        Some(spec) if decoder.errors.is_empty() => spec,
        _ => return Err(sorted(decoder.errors)),
    };
    let violations = validate(&spec);
    if violations.is_empty() {
        return Ok(spec);
    }
    let errors = violations
        .into_iter()
        .map(|v| locate(&decoder.positions, v))
        .collect();
    Err(sorted(errors))
}

/// Validates a spec that did not come from text (no positions to give).
pub fn check(spec: &JobSpec) -> Result<(), SpecErrors> {
    let violations = validate(spec);
    if violations.is_empty() {
        return Ok(());
    }
    Err(SpecErrors(
        violations
            .into_iter()
            .map(|v| SpecError {
                path: v.path,
                pos: None,
                message: v.message,
            })
            .collect(),
    ))
}

/// Rules speak of base-unit fields (`memory_mb`); when the file used the
/// human form (`memory = "4MiB"`), the error names the field the user wrote.
const HUMAN_FORMS: &[(&str, &str)] = &[
    ("task.resources.memory_mb", "task.resources.memory"),
    ("task.resources.cpu_millis", "task.resources.cpu"),
];

fn locate(positions: &std::collections::BTreeMap<String, Pos>, v: Violation) -> SpecError {
    let path = HUMAN_FORMS
        .iter()
        .find(|(base, human)| v.path == *base && positions.contains_key(*human))
        .map_or(v.path, |(_, human)| (*human).to_string());
    let pos = nearest_position(positions, &path);
    SpecError {
        path,
        pos,
        message: v.message,
    }
}

/// The position of `path`, or of its closest ancestor that has one (a rule
/// about a defaulted field points at the table that omitted it).
fn nearest_position(
    positions: &std::collections::BTreeMap<String, Pos>,
    path: &str,
) -> Option<Pos> {
    let mut current = path;
    loop {
        if let Some(pos) = positions.get(current) {
            return Some(*pos);
        }
        let cut = current.rfind(['.', '['])?;
        current = &current[..cut];
    }
}

fn sorted(mut errors: Vec<SpecError>) -> SpecErrors {
    errors.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.path.cmp(&b.path)));
    SpecErrors(errors)
}
