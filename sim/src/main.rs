//! The simulator's command line; see `scripts/sim`.

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    drover_sim::cli::main()
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "drover-sim runs only in a simulator build: use scripts/sim (RUSTFLAGS=\"--cfg madsim\")"
    );
    std::process::ExitCode::from(2)
}
