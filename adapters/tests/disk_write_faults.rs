//! Write faults of a failing disk, on the simulated disk: an fsync that
//! fails with EIO, a write silently lost, a write that lands at the wrong
//! offset. A failed fsync stops the log taking writes (nothing it covered
//! was acknowledged, and a retry would report success without writing);
//! a lost or misplaced write that later durable writes follow is damage,
//! refused on the next start. A lost *last* write cannot be told from a
//! write a crash tore, and is cut like one (decision 0006).

use std::path::Path;

use drover_adapters::disk::{
    CrashMode, DiskError, DiskLog, LogRecord, Recovery, SimFs, WriteFault,
};

const DIR: &str = "/data/raft";
const LOG: &str = "/data/raft/raft.log";

fn record(index: u64) -> LogRecord {
    LogRecord {
        index,
        term: 1,
        payload: format!("entry {index} with some bytes").into_bytes(),
    }
}

/// A simulated disk holding a log of records `1..=count`, each fsynced.
fn log_of(count: u64) -> (SimFs, DiskLog<SimFs>) {
    let fs = SimFs::new();
    let (mut log, _) = DiskLog::open(fs.clone(), Path::new(DIR)).unwrap();
    for index in 1..=count {
        log.append(&[record(index)]).unwrap();
    }
    (fs, log)
}

/// Power loss, then the log opened again.
fn after_power_loss(fs: &SimFs) -> Result<(Vec<u64>, Recovery), DiskError> {
    fs.crash(CrashMode::Clean);
    DiskLog::open(fs.clone(), Path::new(DIR))
        .map(|(log, recovery)| (log.range(0, u64::MAX).map(|r| r.index).collect(), recovery))
}

#[test]
fn after_a_failed_fsync_the_log_takes_no_more_writes() {
    let (fs, mut log) = log_of(3);
    fs.arm(Path::new(LOG), WriteFault::FsyncError).unwrap();
    let failed = log.append(&[record(4)]).unwrap_err();
    assert!(failed.to_string().contains(LOG), "{failed}");
    assert!(fs.struck().unwrap().contains("EIO"));
    // The disk would take the next write and fsync; the log must not.
    let refused = log.append(&[record(4)]).unwrap_err().to_string();
    assert!(refused.contains("takes no more writes"), "{refused}");
    assert!(refused.contains("restart the node"), "{refused}");
    assert!(log.truncate_from(2).is_err());
    let (indexes, _) = after_power_loss(&fs).unwrap();
    assert_eq!(indexes, [1, 2, 3]);
}

/// The process restarts after the failed fsync (the node exits on it and
/// its supervisor starts it again) without a power loss: the bytes the
/// fsync covered are still in the page cache, readable, but will never
/// reach the disk. The new process must not build on them, or the next
/// power loss leaves a hole under durable records and the node can never
/// start again.
#[test]
fn a_restart_after_a_failed_fsync_keeps_only_what_was_durable() {
    let (fs, mut log) = log_of(3);
    fs.arm(Path::new(LOG), WriteFault::FsyncError).unwrap();
    log.append(&[record(4)]).unwrap_err();
    drop(log);
    let (mut log, recovery) = DiskLog::open(fs.clone(), Path::new(DIR)).unwrap();
    let indexes: Vec<u64> = log.range(0, u64::MAX).map(|r| r.index).collect();
    assert_eq!(
        indexes,
        [1, 2, 3],
        "records past the failed fsync were kept"
    );
    let because = recovery.torn_because.expect("the cut is reported");
    assert!(because.contains("fsync failed"), "{because}");
    assert!(recovery.truncated.is_some());
    log.append(&[record(4)]).unwrap();
    log.append(&[record(5)]).unwrap();
    let (indexes, recovery) = after_power_loss(&fs).expect("the log opens after power loss");
    assert_eq!(indexes, [1, 2, 3, 4, 5]);
    assert_eq!(recovery.truncated, None);
}

/// The record of a failed fsync never licenses cutting a damaged log:
/// damage under the durable bytes is refused with the file untouched.
#[test]
fn damage_below_a_failed_fsync_is_refused_untouched() {
    use drover_adapters::disk::FileSystem;
    let (fs, mut log) = log_of(5);
    fs.arm(Path::new(LOG), WriteFault::FsyncError).unwrap();
    log.append(&[record(6)]).unwrap_err();
    drop(log);
    fs.corrupt(Path::new(LOG), 40, 0x04).unwrap();
    let damaged = fs.read(Path::new(LOG)).unwrap().unwrap();
    let error = DiskLog::open(fs.clone(), Path::new(DIR))
        .err()
        .expect("a damaged log was opened");
    assert!(error.is_corruption(), "{error}");
    assert_eq!(
        fs.read(Path::new(LOG)).unwrap().unwrap(),
        damaged,
        "nothing is cut"
    );
}

/// What a failed fsync dropped never reaches the disk, whatever a crash
/// keeps of unsynced bytes: the simulated disk must not let them survive
/// as a torn tail, or damage "to durable bytes" could strike bytes never
/// acknowledged.
#[test]
fn a_torn_crash_keeps_nothing_a_failed_fsync_dropped() {
    use drover_adapters::disk::FileSystem;
    for seed in 0..32 {
        let (fs, mut log) = log_of(3);
        let durable = fs.read(Path::new(LOG)).unwrap().unwrap();
        fs.arm(Path::new(LOG), WriteFault::FsyncError).unwrap();
        log.append(&[record(4)]).unwrap_err();
        drop(log);
        fs.crash(CrashMode::Torn(seed));
        assert_eq!(
            fs.read(Path::new(LOG)).unwrap().unwrap(),
            durable,
            "seed {seed}"
        );
    }
}

#[test]
fn a_lost_write_followed_by_durable_ones_is_refused() {
    let (fs, mut log) = log_of(3);
    fs.arm(Path::new(LOG), WriteFault::Lost).unwrap();
    log.append(&[record(4)]).unwrap();
    log.append(&[record(5)]).unwrap();
    assert!(fs.struck().unwrap().contains("lost"));
    let error = after_power_loss(&fs).expect_err("a hole in the log was accepted");
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains(LOG), "{error}");
}

#[test]
fn a_misdirected_write_is_refused() {
    let (fs, mut log) = log_of(5);
    fs.arm(Path::new(LOG), WriteFault::Misdirected(100))
        .unwrap();
    log.append(&[record(6)]).unwrap();
    assert!(fs.struck().unwrap().contains("landed at byte"));
    let error = after_power_loss(&fs).expect_err("a misplaced write was accepted");
    assert!(error.is_corruption(), "{error}");
}

#[test]
fn a_lost_last_write_reads_as_a_torn_one() {
    let (fs, mut log) = log_of(3);
    fs.arm(Path::new(LOG), WriteFault::Lost).unwrap();
    log.append(&[record(4)]).unwrap();
    let (indexes, recovery) = after_power_loss(&fs).unwrap();
    assert_eq!(indexes, [1, 2, 3]);
    assert!(recovery.truncated.is_some());
}

#[test]
fn a_fault_armed_for_the_log_strikes_no_other_file() {
    let (fs, mut log) = log_of(1);
    fs.arm(Path::new(LOG), WriteFault::Lost).unwrap();
    drover_adapters::disk::FileSystem::write_atomic(&fs, Path::new("/data/raft/raft.vote"), b"v")
        .unwrap();
    assert!(fs.struck().is_none());
    log.append(&[record(2)]).unwrap();
    assert!(fs.struck().is_some());
}
