//! The Raft log on a real disk: round trips, crash recovery, damage.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use drover_adapters::disk::{DiskLog, LogRecord, RealFs};
use proptest::prelude::*;

fn record(index: u64, term: u64) -> LogRecord {
    LogRecord {
        index,
        term,
        payload: format!("entry {index} of term {term}").into_bytes(),
    }
}

fn records(from: u64, to: u64, term: u64) -> Vec<LogRecord> {
    (from..to).map(|i| record(i, term)).collect()
}

fn open(dir: &Path) -> DiskLog<RealFs> {
    DiskLog::open(RealFs, dir).expect("log opens").0
}

fn all(log: &DiskLog<RealFs>) -> Vec<LogRecord> {
    log.range(0, u64::MAX).cloned().collect()
}

fn append_raw(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn appended_records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&records(1, 4, 1)).unwrap();
    log.append(&records(4, 6, 2)).unwrap();
    drop(log);
    let (log, recovery) = DiskLog::open(RealFs, dir.path()).unwrap();
    assert_eq!(recovery.records, 5);
    assert_eq!(recovery.truncated, None);
    assert_eq!(log.last(), Some((5, 2)));
    assert_eq!(log.get(3), Some(&record(3, 1)));
    assert_eq!(log.range(2, 4).count(), 2);
}

#[test]
fn a_torn_tail_is_cut_off_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&records(1, 4, 1)).unwrap();
    let path = log.path().to_path_buf();
    let good_len = std::fs::metadata(&path).unwrap().len();
    drop(log);
    // A crash halfway through writing a record: a header promising more
    // bytes than reached the disk.
    append_raw(&path, &[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    let (mut log, recovery) = DiskLog::open(RealFs, dir.path()).unwrap();
    assert_eq!(recovery.truncated, Some((good_len, 10)));
    assert_eq!(all(&log), records(1, 4, 1));
    log.append(&[record(4, 1)]).unwrap();
    drop(log);
    assert_eq!(all(&open(dir.path())), records(1, 5, 1));
}

#[test]
fn damage_in_the_middle_refuses_to_open_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&records(1, 2, 1)).unwrap();
    let path = log.path().to_path_buf();
    let second = std::fs::metadata(&path).unwrap().len();
    log.append(&records(2, 5, 1)).unwrap();
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[usize::try_from(second).unwrap() + 20] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let error = DiskLog::open(RealFs, dir.path())
        .err()
        .expect("refuses to open");
    assert!(error.is_corruption());
    assert_eq!(error.offset, Some(second));
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("at byte {second}")), "{message}");
    // Nothing was cut: the damaged file is left for the operator.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("raft.log"), b"hello, this is not a log").unwrap();
    let error = DiskLog::open(RealFs, dir.path()).err().unwrap();
    assert_eq!(error.offset, Some(0));
    assert!(error.to_string().contains("bad magic"));
}

#[test]
fn truncation_and_purge_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&records(1, 11, 1)).unwrap();
    log.truncate_from(8).unwrap();
    log.append(&records(8, 10, 2)).unwrap();
    log.purge_upto(3, 1).unwrap();
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.purged(), Some((3, 1)));
    assert_eq!(log.first_index(), Some(4));
    assert_eq!(log.last(), Some((9, 2)));
    assert_eq!(log.get(8), Some(&record(8, 2)));
}

#[test]
fn purging_past_the_end_lets_the_log_restart_after_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&records(1, 4, 1)).unwrap();
    log.purge_upto(50, 3).unwrap();
    assert_eq!(log.last(), Some((50, 3)));
    log.append(&records(51, 53, 3)).unwrap();
    drop(log);
    let log = open(dir.path());
    assert_eq!(all(&log), records(51, 53, 3));
    assert_eq!(log.purged(), Some((50, 3)));
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8, u64),
    Truncate(u8),
    Purge(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..5u8, 0..3u64).prop_map(|(n, bump)| Op::Append(n, bump)),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        2 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The log behaves like a list of records, across reopens.
    #[test]
    fn matches_a_model_across_reopens(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let mut model: Vec<LogRecord> = Vec::new();
        let mut purged: Option<(u64, u64)> = None;
        let mut term = 1;
        for op in ops {
            match op {
                Op::Append(n, bump) => {
                    term += bump;
                    let next = model.last().map(|r| r.index).or(purged.map(|p| p.0)).unwrap_or(0) + 1;
                    let batch = records(next, next + u64::from(n), term);
                    log.append(&batch).unwrap();
                    model.extend(batch);
                }
                Op::Truncate(at) => {
                    if let Some(first) = model.first().map(|r| r.index) {
                        let index = first + u64::from(at) % (model.len() as u64 + 1);
                        log.truncate_from(index).unwrap();
                        model.retain(|r| r.index < index);
                    }
                }
                Op::Purge(at) => {
                    if let Some(first) = model.first().map(|r| r.index) {
                        let upto = first + u64::from(at) % model.len() as u64;
                        let t = model.iter().find(|r| r.index == upto).unwrap().term;
                        log.purge_upto(upto, t).unwrap();
                        model.retain(|r| r.index > upto);
                        purged = Some((upto, t));
                    }
                }
                Op::Reopen => {
                    drop(log);
                    log = open(dir.path());
                }
            }
            prop_assert_eq!(&all(&log), &model);
            prop_assert_eq!(log.purged(), purged);
        }
    }
}

#[test]
fn out_of_order_appends_are_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&records(1, 3, 1)).unwrap();
    assert!(log.append(&[record(5, 1)]).is_err());
    drop(log);
    assert_eq!(all(&open(dir.path())), records(1, 3, 1));
}
