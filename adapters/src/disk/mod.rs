//! Durable storage on files: every record checksummed (CRC32C), every
//! acknowledged write fsynced, every replace atomic (temp file, fsync,
//! rename, fsync of the directory). A torn tail left by a crash is cut off
//! and reported; a damaged record anywhere else stops the node with the
//! file and byte offset — never served.

mod error;
mod fs;
mod log;
mod sim_fs;
mod small_file;

pub use error::{DiskError, DiskErrorKind};
pub use fs::{FileSystem, LogFile, RealFs};
pub use log::{DiskLog, LogRecord, MIN_RECORD_BYTES, Recovery, Upgrade};
pub use sim_fs::{CrashMode, SimFile, SimFs, WriteFault};
pub use small_file::{read_small_file, write_small_file};
