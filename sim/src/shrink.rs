//! Shrinking: simplify a failing simulation's knobs, one step at a time,
//! while the same invariant still fails.

use crate::isolated::Runner;
use crate::knobs::Knobs;

/// Smaller variants of `knobs`: one fault fewer, or a simpler workload
/// or topology.
fn simpler(knobs: &Knobs) -> Vec<Knobs> {
    let mut candidates = Vec::new();
    for i in 0..knobs.faults.len() {
        let mut k = knobs.clone();
        k.faults.remove(i);
        candidates.push(k);
    }
    let mut push = |change: &dyn Fn(&mut Knobs)| {
        let mut k = knobs.clone();
        change(&mut k);
        k.keep_feasible();
        if k != *knobs {
            candidates.push(k);
        }
    };
    push(&|k| k.weather = None);
    push(&|k| k.clock_skew_ms.clear());
    push(&|k| k.drain = None);
    push(&|k| k.stop_service_at_ms = None);
    push(&|k| k.update_service_at_ms = None);
    push(&|k| k.system_job = false);
    push(&|k| k.buggify = false);
    push(&|k| k.services = 0);
    push(&|k| k.clients = 1);
    push(&|k| k.jobs /= 2);
    // Workers go only from the end, so fault targets keep their meaning.
    push(&|k| {
        let highest = k
            .faults
            .iter()
            .flat_map(crate::fault::Fault::nodes)
            .max()
            .unwrap_or(0);
        let keep = highest.saturating_sub(k.control_nodes).max(k.workers / 2);
        k.workers = keep.min(k.workers);
        if k.drain.is_some_and(|(_, n)| n > k.nodes()) {
            k.drain = None;
        }
    });
    candidates
}

/// Greedily simplifies the knobs while the same invariant still fails;
/// `None` if they pass to begin with. Returns the smallest knobs' failure.
pub fn shrink_knobs(runner: &Runner, mut knobs: Knobs) -> Option<(String, Knobs)> {
    let mut failure = runner.run(&knobs).failure?;
    let invariant = failure.split(':').next().unwrap_or_default().to_string();
    'simplify: loop {
        for candidate in simpler(&knobs) {
            if let Some(f) = runner.run(&candidate).failure
                && f.split(':').next() == Some(invariant.as_str())
            {
                knobs = candidate;
                failure = f;
                continue 'simplify;
            }
        }
        return Some((failure, knobs));
    }
}
