//! Command-line interface: one module per verb group.

mod job;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for input the user must fix (an invalid spec).
pub const EXIT_INVALID: u8 = 1;
/// Exit status for a command that could not run (unreadable file, bad usage).
pub const EXIT_TROUBLE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version,
    about = "Drover runs containers on a fleet of machines."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Work with jobs.
    #[command(subcommand)]
    Job(job::JobCommand),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Top::Job(cmd) => job::run(cmd),
    }
}

/// A bug must still end in one readable line, never a backtrace dump.
pub fn install_panic_message() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("drover: internal error{location}: {payload} (this is a bug; please report it)");
    }));
}
