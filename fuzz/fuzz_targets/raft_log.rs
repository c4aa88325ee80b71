//! The Raft log's recovery over arbitrary files (the log, its purge record
//! and its failed-fsync record): it never panics; what it refuses it
//! refuses naming the file; what it accepts is a log that works — its
//! records consecutive, and one more appended survives a reopen.
//!
//! The input is the files as they lie in a data directory, one after the
//! other (`drover_fuzz::Files`): so the seed corpus is simply files copied
//! from real nodes.
#![no_main]

use std::path::Path;

use drover_adapters::disk::{DiskLog, LogRecord, SimFs};
use drover_fuzz::{Files, put};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let files = Files::split(bytes);
    let fs = SimFs::new();
    let dir = Path::new("/data");
    for (name, content) in files.named(&["raft.log", "raft.log.meta", "raft.log.unsynced"]) {
        put(&fs, &dir.join(name), content);
    }
    let (mut log, _) = match DiskLog::open(fs.clone(), dir) {
        Ok(opened) => opened,
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("/data/raft.log"), "{message}");
            return;
        }
    };
    let records: Vec<LogRecord> = log.range(0, u64::MAX).cloned().collect();
    for pair in records.windows(2) {
        assert_eq!(pair[0].index + 1, pair[1].index, "a gap in an accepted log");
    }
    let Some((last, term)) = log.last() else {
        return;
    };
    let Some(index) = last.checked_add(1) else {
        return;
    };
    let next = LogRecord {
        index,
        term,
        payload: b"appended after recovery".to_vec(),
    };
    log.append(std::slice::from_ref(&next))
        .expect("an accepted log takes appends");
    drop(log);
    let (reopened, _) = DiskLog::open(fs, dir).expect("a log this process wrote reopens");
    let mut expected = records;
    expected.push(next);
    let again: Vec<LogRecord> = reopened.range(0, u64::MAX).cloned().collect();
    assert_eq!(
        again, expected,
        "the reopened log differs from what was written"
    );
});
