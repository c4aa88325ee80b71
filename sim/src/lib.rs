//! The deterministic simulator: whole Drover nodes — the same node code,
//! openraft and tonic included — inside madsim, with the disk and the
//! executor replaced by simulated ones. Build with `--cfg madsim`.

#[cfg(madsim)]
pub mod cluster;
pub mod executor;
