//! JSON-lines traces: a header (seed, knobs, build), then one line per
//! event with its virtual time. The same seed and build give the same bytes.

/// This build: a hash of the sources it was built from, and its profile.
pub const BUILD: &str = env!("DROVER_SIM_BUILD");

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::knobs::Knobs;

#[derive(Clone)]
pub struct Trace {
    lines: Arc<Mutex<Vec<String>>>,
    start: Instant,
}

impl Trace {
    pub fn new(knobs: &Knobs) -> Self {
        let header = json!({
            "seed": knobs.seed,
            "config": knobs.to_json(),
            "version": env!("CARGO_PKG_VERSION"),
            "build": BUILD,
        });
        Self {
            lines: Arc::new(Mutex::new(vec![header.to_string()])),
            start: Instant::now(),
        }
    }

    fn elapsed_ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    /// Records `event` (a JSON object) as seen by `node` now.
    pub fn event(&self, node: &str, event: &str, detail: &Value) {
        let line =
            json!({ "t_ms": self.elapsed_ms(), "node": node, "event": event, "detail": detail });
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_string());
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The virtual time of the last event: where a run that never
    /// finished (it panicked) got to.
    pub fn last_event_time(&self) -> Duration {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let last_ms = lines
            .last()
            .and_then(|line| serde_json::from_str::<Value>(line).ok())
            .and_then(|event| event["t_ms"].as_u64())
            .unwrap_or(0);
        Duration::from_millis(last_ms)
    }

    pub fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}
