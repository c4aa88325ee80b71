//! `drover`: the node agent and the operator's command line.

#[cfg(not(madsim))]
mod cli;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    cli::install_panic_message();
    cli::run(cli::Cli::parse())
}

/// Under the simulator the node runs inside `drover-sim`, not as this binary.
#[cfg(madsim)]
fn main() {
    eprintln!("drover: this build is for the simulator; run simulations with scripts/sim");
}
