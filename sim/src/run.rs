//! One simulation in this process: one madsim runtime, the scenario, its
//! trace. A process should run one (see `isolated`): dependencies keep
//! state across runtimes (std's hash-map keys among it), so only the first
//! run in a process is exactly what its seed says.

use std::time::Duration;

use crate::knobs::Knobs;
use crate::scenario;
use crate::trace::Trace;

/// What one seed came to.
pub struct Run {
    pub knobs: Knobs,
    pub failure: Option<String>,
    pub virtual_time: Duration,
    pub trace: String,
}

/// Runs a simulation with these knobs here, in this process.
pub fn run_knobs(knobs: Knobs) -> Run {
    let inner = knobs.clone();
    drover_core::planted::plant(knobs.bugs.core);
    drover_node::buggify::enable(knobs.buggify);
    drover_node::region_link::set_latency(
        (knobs.federated > 0).then_some(crate::scenario::federated::REGION_LATENCY_MS),
    );
    // A panic ends the run and is reported as its failure, without a dump.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // On a thread of its own, so a panicking node ends only this run.
    // The trace so far is kept when the run panics (a node, or the time
    // limit): what led there is what a failure needs to be read.
    let (trace_out, trace_in) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let mut runtime =
            madsim::runtime::Runtime::with_seed_and_config(inner.seed, madsim::Config::default());
        runtime.set_time_limit(Duration::from_secs(
            inner.safety_phase_s + inner.liveness_bound_s + 120,
        ));
        runtime.block_on(async move {
            let trace = Trace::new(&inner);
            let _ = trace_out.send(trace.clone());
            let result = scenario::run(&inner, &trace).await;
            (result, trace.elapsed(), trace.text())
        })
    })
    .join();
    std::panic::set_hook(previous_hook);
    drover_core::planted::plant(None);
    drover_node::buggify::enable(false);
    drover_node::region_link::set_latency(None);
    match outcome {
        Ok((result, virtual_time, trace)) => Run {
            knobs,
            failure: result.err().map(|v| v.to_string()),
            virtual_time,
            trace,
        },
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_default();
            let failure = if what.contains("time limit") {
                format!("liveness: no convergence within the time limit ({what})")
            } else {
                format!("a node panicked: {what}")
            };
            let trace = trace_in.try_recv().ok();
            Run {
                knobs,
                failure: Some(failure),
                virtual_time: trace
                    .as_ref()
                    .map_or(Duration::ZERO, Trace::last_event_time),
                trace: trace.map_or_else(String::new, |t| t.text()),
            }
        }
    }
}
