//! Drover's pure core: the model, job specs and their extensions, ports, host volumes, local data that migrates, health checks, access control, the replicated state machine
//! and its events, the scheduler and reconciler, and the worker's decisions.
//!
//! Nothing here performs I/O, reads a clock or draws OS randomness: time and
//! seeds arrive as arguments, and every map whose order can reach an output
//! is ordered. That is what lets the same logic run in production and,
//! byte for byte, in the deterministic simulator.

pub mod acl;
pub mod alloc;
pub mod diff;
pub mod dry_run;
pub mod events;
pub mod extensions;
pub mod gc;
pub mod health;
pub mod ids;
pub mod job;
pub mod migrate;
pub mod node;
pub mod planted;
pub mod ports;
pub mod reconcile;
pub mod resources;
pub mod scheduler;
pub mod spec;
pub mod state;
pub mod units;
pub mod version;
pub mod volumes;
pub mod worker;

pub use alloc::{AllocStatus, Allocation, DesiredStatus};
pub use ids::{AllocId, JobId, NodeId};
pub use job::{Driver, JobKind, JobSpec};
pub use node::{Node, NodeRegistration, NodeRole, NodeStatus};
pub use resources::Resources;
pub use state::{ClusterState, Command, CommandKind, Response};
