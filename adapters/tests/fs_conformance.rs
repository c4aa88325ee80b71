//! The file-system contract the storage code relies on, checked against
//! both the real file system and the simulated disk; then what only the
//! simulated disk can show: crashes.

use std::path::Path;

use drover_adapters::disk::{CrashMode, DiskLog, FileSystem, LogFile, LogRecord, RealFs, SimFs};
use proptest::prelude::*;

fn contract<F: FileSystem>(fs: &F, dir: &Path) {
    fs.create_dir_all(dir).unwrap();
    let a = dir.join("a");
    assert_eq!(fs.read(&a).unwrap(), None, "missing files read as None");
    let mut file = fs.open(&a).unwrap();
    file.append(b"hello ").unwrap();
    file.append(b"world").unwrap();
    file.sync().unwrap();
    assert_eq!(file.read_all().unwrap(), b"hello world");
    file.truncate(5).unwrap();
    file.append(b"!").unwrap();
    assert_eq!(fs.read(&a).unwrap().unwrap(), b"hello!");
    let mut again = fs.open(&a).unwrap();
    assert_eq!(again.read_all().unwrap(), b"hello!", "open keeps contents");
    let b = dir.join("b");
    fs.rename(&a, &b).unwrap();
    assert_eq!(fs.read(&a).unwrap(), None);
    assert_eq!(fs.read(&b).unwrap().unwrap(), b"hello!");
    fs.write_atomic(&b, b"replaced").unwrap();
    assert_eq!(fs.read(&b).unwrap().unwrap(), b"replaced");
    fs.remove(&b).unwrap();
    fs.remove(&b).unwrap();
    assert_eq!(fs.read(&b).unwrap(), None, "remove is idempotent");
}

#[test]
fn the_real_file_system_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&RealFs, &dir.path().join("d"));
}

#[test]
fn the_simulated_disk_keeps_the_contract() {
    contract(&SimFs::new(), Path::new("/sim/d"));
}

#[test]
fn a_crash_loses_exactly_what_was_not_made_durable() {
    let fs = SimFs::new();
    let dir = Path::new("/d");
    let durable = dir.join("durable");
    let mut file = fs.open(&durable).unwrap();
    file.append(b"kept").unwrap();
    file.sync().unwrap();
    fs.sync_dir(dir).unwrap();
    file.append(b" lost").unwrap();
    let unnamed = dir.join("never-synced-dir");
    let mut other = fs.open(&unnamed).unwrap();
    other.append(b"x").unwrap();
    other.sync().unwrap();
    fs.crash(CrashMode::Clean);
    assert_eq!(fs.read(&durable).unwrap().unwrap(), b"kept");
    assert_eq!(
        fs.read(&unnamed).unwrap(),
        None,
        "its name was never made durable"
    );
}

#[test]
fn atomic_replacement_survives_a_crash_whole() {
    let fs = SimFs::new();
    let path = Path::new("/d/vote");
    fs.write_atomic(path, b"old").unwrap();
    fs.write_atomic(path, b"new").unwrap();
    fs.crash(CrashMode::Torn(7));
    assert_eq!(fs.read(path).unwrap().unwrap(), b"new");
}

fn record(index: u64, term: u64) -> LogRecord {
    LogRecord {
        index,
        term,
        payload: vec![u8::try_from(index % 251).unwrap(); usize::try_from(index % 37).unwrap()],
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Truncate(u8),
    Purge(u8),
    /// Power goes while a write is on its way: some bytes reached the
    /// file, none were fsynced.
    CrashMidWrite(u8, u64),
    Crash(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1..6u8).prop_map(Op::Append),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        2 => (1..200u8, any::<u64>()).prop_map(|(len, seed)| Op::CrashMidWrite(len, seed)),
        2 => any::<u64>().prop_map(Op::Crash),
    ]
}

/// How `count` records from index `first` look on disk, written by the
/// log itself on a scratch disk.
fn encoded(first: u64, count: u64) -> (Vec<u8>, Vec<LogRecord>) {
    let scratch = SimFs::new();
    let dir = Path::new("/scratch");
    let mut log = DiskLog::open(scratch.clone(), dir).unwrap().0;
    let batch: Vec<LogRecord> = (first..first + count).map(|i| record(i, 1)).collect();
    log.append(&batch).unwrap();
    let mut file = scratch.open(&dir.join("raft.log")).unwrap();
    // After the file header: magic, format, checksum.
    (file.read_all().unwrap()[16..].to_vec(), batch)
}

/// Runs the ops; returns whether every crash recovered exactly the
/// acknowledged records.
fn survives(fs: &SimFs, ops: &[Op]) -> Result<(), String> {
    let dir = Path::new("/node/raft");
    let mut log = DiskLog::open(fs.clone(), dir).map_err(|e| e.to_string())?.0;
    let mut acknowledged: Vec<LogRecord> = Vec::new();
    let mut purged: Option<u64> = None;
    for op in ops {
        match op {
            Op::Append(n) => {
                let next = acknowledged.last().map(|r| r.index).or(purged).unwrap_or(0) + 1;
                let batch: Vec<LogRecord> =
                    (next..next + u64::from(*n)).map(|i| record(i, 1)).collect();
                log.append(&batch).map_err(|e| e.to_string())?;
                acknowledged.extend(batch);
            }
            Op::Truncate(at) => {
                if let Some(first) = acknowledged.first().map(|r| r.index) {
                    let index = first + u64::from(*at) % (acknowledged.len() as u64 + 1);
                    log.truncate_from(index).map_err(|e| e.to_string())?;
                    acknowledged.retain(|r| r.index < index);
                }
            }
            Op::Purge(at) => {
                if let Some(first) = acknowledged.first().map(|r| r.index) {
                    let upto = first + u64::from(*at) % acknowledged.len() as u64;
                    log.purge_upto(upto, 1).map_err(|e| e.to_string())?;
                    acknowledged.retain(|r| r.index > upto);
                    purged = Some(upto);
                }
            }
            Op::CrashMidWrite(len, seed) => {
                // An append of records that never reached its fsync (or,
                // for odd lengths, a file grown by sectors never written).
                let next = acknowledged.last().map(|r| r.index).or(purged).unwrap_or(0) + 1;
                let (unsynced, records) = if len % 2 == 0 {
                    encoded(next, 1 + u64::from(*len) % 4)
                } else {
                    (vec![0; usize::from(*len)], Vec::new())
                };
                let mut file = fs.open(&dir.join("raft.log")).map_err(|e| e.to_string())?;
                file.append(&unsynced).map_err(|e| e.to_string())?;
                log = recover(fs, log, dir, *seed, &mut acknowledged, &records)?;
            }
            Op::Crash(seed) => log = recover(fs, log, dir, *seed, &mut acknowledged, &[])?,
        }
    }
    Ok(())
}

/// Crashes the disk under `log`, reopens it, and checks it holds every
/// acknowledged record and nothing else but a prefix of `unsynced` (whole
/// records of an interrupted append may reach the disk; they then count).
fn recover(
    fs: &SimFs,
    log: DiskLog<SimFs>,
    dir: &Path,
    seed: u64,
    acknowledged: &mut Vec<LogRecord>,
    unsynced: &[LogRecord],
) -> Result<DiskLog<SimFs>, String> {
    drop(log);
    fs.crash(CrashMode::Torn(seed));
    let log = DiskLog::open(fs.clone(), dir)
        .map_err(|e| format!("recovery failed: {e}"))?
        .0;
    let found: Vec<LogRecord> = log.range(0, u64::MAX).cloned().collect();
    let survived = found.len().saturating_sub(acknowledged.len());
    if !found.starts_with(acknowledged)
        || survived > unsynced.len()
        || found[acknowledged.len()..] != unsynced[..survived]
    {
        return Err(format!(
            "after a crash: {} records, {} acknowledged",
            found.len(),
            acknowledged.len()
        ));
    }
    acknowledged.extend_from_slice(&unsynced[..survived]);
    Ok(log)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Power loss at any point, torn writes included: the log recovers
    /// every acknowledged record and nothing else.
    #[test]
    fn acknowledged_records_survive_any_crash(ops in prop::collection::vec(op(), 1..40)) {
        let result = survives(&SimFs::new(), &ops);
        prop_assert!(result.is_ok(), "{result:?}");
    }
}

/// The check above must be able to fail: on a disk whose fsync lies,
/// acknowledged records are lost, and some short history shows it.
#[test]
fn a_disk_that_lies_about_fsync_is_caught() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let caught = (0..200).any(|_| {
        let ops = prop::collection::vec(op(), 1..40)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        survives(&SimFs::lying(), &ops).is_err()
    });
    assert!(caught, "200 histories on a lying disk and no loss detected");
}
