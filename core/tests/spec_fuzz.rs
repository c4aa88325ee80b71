//! The spec parser on hostile input: never a panic, and in TOML every error
//! carries a position.

use drover_core::spec::{Format, parse_job_spec};
use proptest::prelude::*;

const EXAMPLES: &[&str] = &[
    include_str!("../../examples/batch.toml"),
    include_str!("../../examples/service.toml"),
    include_str!("../../examples/system.toml"),
    include_str!("../../examples/batch.json"),
];

fn check_toml(text: &str) {
    if let Err(errors) = parse_job_spec(text, Format::Toml) {
        assert!(!errors.is_empty());
        for e in errors.iter() {
            assert!(e.pos.is_some(), "no position for {e} in {text:?}");
        }
    }
}

/// An example with a few bytes replaced, inserted or removed.
fn mutated_example() -> impl Strategy<Value = String> {
    (
        0..EXAMPLES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<u8>()), 1..6),
    )
        .prop_map(|(which, edits)| {
            let mut bytes = EXAMPLES[which].as_bytes().to_vec();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len());
                match op {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
}

/// Lines of the TOML examples shuffled and recombined: plausible structure,
/// wrong places.
fn spliced_lines() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = EXAMPLES[..3].iter().flat_map(|e| e.lines()).collect();
    prop::collection::vec(prop::sample::select(lines), 0..40).prop_map(|ls| ls.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_toml(&text);
        let _ = parse_job_spec(&text, Format::Json);
    }

    #[test]
    fn mutated_examples_never_panic(text in mutated_example()) {
        check_toml(&text);
        let _ = parse_job_spec(&text, Format::Json);
    }

    #[test]
    fn spliced_examples_never_panic(text in spliced_lines()) {
        check_toml(&text);
    }

    #[test]
    fn units_never_panic(text in "[0-9.]{0,25}[KMGTkib]{0,4}") {
        let _ = drover_core::units::parse_memory_mb(&text);
        let _ = drover_core::units::parse_cpu_cores(&text);
        let _ = drover_core::units::parse_duration_ms(&text);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let toml = format!("id = {}{}", "[".repeat(10_000), "]".repeat(10_000));
    check_toml(&toml);
    let json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse_job_spec(&json, Format::Json).is_err());
}

/// Found by the `job_spec` fuzz target: a key of a few hundred dots hits
/// the TOML parser's recursion limit, an error it gives no span.
#[test]
fn a_recursion_limit_in_a_key_still_has_a_position() {
    let toml = format!("{}## A oA", ".".repeat(116));
    check_toml(&toml);
    let errors = parse_job_spec(&toml, Format::Toml).unwrap_err();
    assert!(errors.to_string().contains("recursion limit"), "{errors}");
}
