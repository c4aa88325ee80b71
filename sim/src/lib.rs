//! The deterministic simulator: whole Drover nodes — the same node code,
//! openraft and tonic included — inside madsim, with the disk and the
//! executor replaced by simulated ones. Build with `--cfg madsim`
//! (`scripts/sim` does); `docs/simulation.md` explains how to use it.

#[cfg(madsim)]
pub mod cli;
#[cfg(madsim)]
pub mod cluster;
pub mod executor;
pub mod fault;
pub mod history;
pub mod invariants;
pub mod isolated;
pub mod knobs;
pub mod network;
pub mod planted;
pub mod reality;
pub mod reproduce;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod shrink;
pub mod trace;
