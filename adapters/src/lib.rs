//! Drover's adapters to the outside world: the disk — a Raft log with
//! checksummed records, small atomic files for the vote, log metadata and
//! snapshots, over a file-system trait so the simulator can put a faulty
//! disk beneath the very same code — and the executors that run tasks.

pub mod disk;
pub mod exec;
