//! The job spec parser (TOML and JSON: the CLI's files, the API's and the
//! REST body): never a panic; every refusal renders with the file's name,
//! and in TOML every error has a position; a spec accepted passes or fails
//! the submission check without a panic either.
#![no_main]

use drover_core::spec::{Format, check, parse_job_spec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&selector, text)) = bytes.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let format = match selector % 3 {
        0 => Format::Toml,
        1 => Format::Json,
        _ => Format::detect("spec", text),
    };
    match parse_job_spec(text, format) {
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal with no error");
            let rendered = errors.render("fuzzed.spec");
            assert!(rendered.contains("fuzzed.spec"), "{rendered}");
            if matches!(format, Format::Toml) {
                for error in errors.iter() {
                    assert!(error.pos.is_some(), "no position for {error}");
                }
            }
        }
        Ok(spec) => {
            let _ = check(&spec);
        }
    }
});
