//! The agent's log as an operator reads it: plain text without colour
//! codes unless stderr is a terminal (and `NO_COLOR` is unset), or one
//! JSON object per line; and routine conditions that a library logs as
//! errors left out, said instead at the level they deserve by the code
//! that knows why they happen.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the process's log: `RUST_LOG` if set, else info (openraft's
/// own lines from warn up).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            registry
                .with(fmt.with_ansi(colour).with_filter(Routine))
                .try_init()
        }
        LogFormat::Json => registry
            .with(fmt.json().with_ansi(false).with_filter(Routine))
            .try_init(),
    };
}

/// openraft's lines for routine conditions: (level, how the message
/// starts). A candidate that could not reach a voter (one starting up,
/// one down) is logged as an error and retried, and the network layer
/// says it at debug; answers to a vote that arrive after the election
/// was decided are ignored, as they should be.
const ROUTINE: &[(Level, &str)] = &[
    (Level::ERROR, "while requesting vote"),
    (
        Level::WARN,
        "A message will be ignored because vote changed",
    ),
];

/// Drops the [`ROUTINE`] lines.
struct Routine;

impl<S> Filter<S> for Routine {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        !is_routine(event)
    }
}

fn is_routine(event: &Event<'_>) -> bool {
    let meta = event.metadata();
    if !meta.target().starts_with("openraft") {
        return false;
    }
    let mut message = Message(String::new());
    event.record(&mut message);
    ROUTINE
        .iter()
        .any(|(level, start)| meta.level() == level && message.0.starts_with(start))
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
