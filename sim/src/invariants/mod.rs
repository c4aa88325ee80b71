//! The properties every simulation checks, one per file, each with its
//! source. A violation names the invariant and what was seen.

mod acknowledged;
mod agreement;
mod batch_results_are_real;
mod capacity;
mod committed_prefixes;
mod constraints;
mod convergence;
mod cut_off_nodes_stop;
mod cut_off_region_keeps_working;
mod damaged_disks_refused;
mod linearizable;
mod mass_eviction;
mod no_gap_on_replace;
mod one_leader;
mod ports;
mod replica_digests;
mod service_instances;
mod services;
mod stopped_jobs_stop;
mod work_stays_in_its_region;

use std::fmt;

pub use acknowledged::no_acknowledged_submission_lost;
pub use batch_results_are_real::batch_results_are_real;
pub use capacity::node_within_capacity;
pub use committed_prefixes::CommittedPrefixes;
pub use constraints::placements_in_region;
pub use convergence::every_batch_job_finishes;
pub use cut_off_nodes_stop::{STOP_BOUND_MS, cut_off_node_ran_nothing};
pub use cut_off_region_keeps_working::{Cut, cut_off_region_keeps_working};
pub use damaged_disks_refused::damaged_disk_refused;
pub use linearizable::history_is_linearizable;
pub use mass_eviction::liveness_decisions_paced;
pub use no_gap_on_replace::no_gap_on_replace;
pub use one_leader::OneLeaderPerTerm;
pub use ports::no_port_held_twice;
pub use replica_digests::ReplicaDigests;
pub use service_instances::service_within_bound;
pub use services::service_has_its_replicas;
pub use stopped_jobs_stop::stopped_jobs_run_nothing;
pub use work_stays_in_its_region::work_stays_in_its_region;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}
