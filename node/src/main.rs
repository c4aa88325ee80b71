//! `drover`: the node agent and the operator's command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::install_panic_message();
    let args = cli::Cli::parse();
    cli::run(args)
}
