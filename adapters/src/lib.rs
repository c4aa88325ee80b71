//! Drover's adapters to the outside world. So far: the disk — a Raft log
//! with checksummed records, small atomic files for the vote and log
//! metadata, and snapshots — all over a file-system trait so the simulator
//! can put a faulty disk beneath the very same code.

pub mod disk;
