//! Damage to a log that had been made durable is told apart from a write a
//! crash tore: the first refuses to open and cuts nothing (those records
//! were acknowledged), the second is cut off and reported.

use std::path::{Path, PathBuf};

use drover_adapters::disk::{DiskError, DiskLog, LogRecord, RealFs, Recovery, Upgrade};

const FILE_HEADER_LEN: usize = 16;
const RECORD_HEADER_LEN: usize = 12;
const END_MARK_LEN: usize = 1;

fn record(index: u64, payload_len: usize) -> LogRecord {
    let text = format!("entry {index} ");
    LogRecord {
        index,
        term: 1,
        payload: text
            .bytes()
            .cycle()
            .take(payload_len.max(text.len()))
            .collect(),
    }
}

/// A log of `count` fsynced records; returns the file and each record's
/// start offset.
fn durable_log(dir: &Path, count: u64, payload_len: usize) -> (PathBuf, Vec<usize>) {
    let (mut log, _) = DiskLog::open(RealFs, dir).unwrap();
    let mut starts = Vec::new();
    for index in 1..=count {
        starts.push(usize::try_from(std::fs::metadata(log.path()).unwrap().len()).unwrap());
        log.append(&[record(index, payload_len)]).unwrap();
    }
    (log.path().to_path_buf(), starts)
}

fn file_len(path: &Path) -> usize {
    std::fs::read(path).unwrap().len()
}

fn reopen(dir: &Path) -> Result<(Vec<LogRecord>, Recovery), DiskError> {
    DiskLog::open(RealFs, dir)
        .map(|(log, recovery)| (log.range(0, u64::MAX).cloned().collect(), recovery))
}

fn damage(path: &Path, at: usize, mask: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= mask;
    std::fs::write(path, &bytes).unwrap();
    bytes
}

fn assert_refused_untouched(dir: &Path, path: &Path, damaged: &[u8], at: usize) {
    let error = reopen(dir)
        .err()
        .unwrap_or_else(|| panic!("damage at byte {at} was accepted"));
    assert!(error.is_corruption(), "{error}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert_eq!(std::fs::read(path).unwrap(), damaged, "nothing is cut");
}

#[test]
fn a_damaged_length_early_in_the_log_is_damage_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, starts) = durable_log(dir.path(), 30, 40);
    // The length's high byte flipped: it now points far past the end.
    let at = starts[5] + 4 + 3;
    let damaged = damage(&path, at, 0x01);
    assert_refused_untouched(dir.path(), &path, &damaged, at);
    let error = reopen(dir.path()).err().unwrap();
    assert_eq!(error.offset, Some(starts[5] as u64));
    assert!(error.to_string().contains("header checksum"), "{error}");
}

#[test]
fn a_bit_flip_in_the_last_fsynced_record_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (path, starts) = durable_log(dir.path(), 5, 40);
    let last = starts[4];
    for at in [last + 4, last + RECORD_HEADER_LEN + 3, file_len(&path) - 1] {
        let damaged = damage(&path, at, 0x10);
        assert_refused_untouched(dir.path(), &path, &damaged, at);
        damage(&path, at, 0x10);
        assert_eq!(reopen(dir.path()).unwrap().0.len(), 5, "undamaged again");
    }
}

#[test]
fn every_single_byte_of_damage_anywhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = durable_log(dir.path(), 4, 20);
    let len = file_len(&path);
    for at in 0..len {
        for mask in [0x01, 0x80, 0xff] {
            let damaged = damage(&path, at, mask);
            assert_refused_untouched(dir.path(), &path, &damaged, at);
            damage(&path, at, mask);
        }
    }
    assert_eq!(reopen(dir.path()).unwrap().0.len(), 4);
}

/// What a crash during an append leaves: any prefix of the new bytes.
#[test]
fn every_prefix_of_an_unfinished_append_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = durable_log(dir.path(), 3, 20);
    let durable = std::fs::read(&path).unwrap();
    let unsynced = {
        let scratch = tempfile::tempdir().unwrap();
        let (full, starts) = durable_log(scratch.path(), 5, 20);
        std::fs::read(full).unwrap()[starts[3]..].to_vec()
    };
    let first_record_len = RECORD_HEADER_LEN + 16 + record(4, 20).payload.len() + END_MARK_LEN;
    for kept in 1..unsynced.len() {
        let mut bytes = durable.clone();
        bytes.extend_from_slice(&unsynced[..kept]);
        std::fs::write(&path, &bytes).unwrap();
        let (records, recovery) =
            reopen(dir.path()).unwrap_or_else(|e| panic!("prefix {kept}: {e}"));
        assert!(
            (3..=4).contains(&records.len()),
            "prefix {kept}: {} records",
            records.len()
        );
        let whole_record = kept == first_record_len;
        assert_eq!(recovery.truncated.is_none(), whole_record, "prefix {kept}");
        assert_eq!(
            recovery.torn_because.is_none(),
            whole_record,
            "prefix {kept}"
        );
    }
}

#[test]
fn sectors_a_crash_left_unwritten_are_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = durable_log(dir.path(), 3, 20);
    let durable_len = std::fs::metadata(&path).unwrap().len();
    // An append of two large records, of which only the first sector
    // reached the disk while the file grew to its full length.
    let big = {
        let scratch = tempfile::tempdir().unwrap();
        let (full, _) = durable_log(scratch.path(), 3, 20);
        let (mut log, _) = DiskLog::open(RealFs, scratch.path()).unwrap();
        log.append(&[record(4, 3000), record(5, 3000)]).unwrap();
        std::fs::read(full).unwrap()[usize::try_from(durable_len).unwrap()..].to_vec()
    };
    let mut bytes = std::fs::read(&path).unwrap();
    let written_upto = (bytes.len() / 512 + 1) * 512;
    bytes.extend_from_slice(&big);
    bytes[written_upto..].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let (records, recovery) = reopen(dir.path()).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(recovery.truncated, Some((durable_len, big.len() as u64)));

    // Zeros where a record should start, the file grown past the data.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 700]);
    std::fs::write(&path, &bytes).unwrap();
    let (records, recovery) = reopen(dir.path()).unwrap();
    assert_eq!(records.len(), 3);
    assert!(recovery.torn_because.unwrap().contains("zero"));
}

/// Writes a format-1 log (no header checksums, no end marks) holding
/// `(index, payload)` records of term 1 into `dir`.
fn write_format_1_log(dir: &Path, records: &[(u64, Vec<u8>)]) {
    let mut bytes = b"DRVRLOG\0".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    for (index, payload) in records {
        let mut body = index.to_le_bytes().to_vec();
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(payload);
        bytes.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
    }
    std::fs::write(dir.join("raft.log"), &bytes).unwrap();
}

/// A format-1 file (no header checksums) is read and rewritten in format 3.
#[test]
fn a_format_1_log_is_read_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<(u64, Vec<u8>)> = (1..=3)
        .map(|i| (i, format!("old entry {i}").into_bytes()))
        .collect();
    write_format_1_log(dir.path(), &records);
    let (records, recovery) = reopen(dir.path()).unwrap();
    assert_eq!(recovery.upgraded_from, Some(1));
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].payload, b"old entry 3");
    let rewritten = std::fs::read(dir.path().join("raft.log")).unwrap();
    assert_eq!(rewritten[8..12], 3u32.to_le_bytes());
    let (again, recovery) = reopen(dir.path()).unwrap();
    assert_eq!(again, records);
    assert_eq!(recovery.upgraded_from, None);
    assert!(rewritten.len() > FILE_HEADER_LEN);
}

/// A format-1 data directory that had purged (so holds `raft.log.meta`,
/// whose own format did not change) upgrades too.
#[test]
fn a_format_1_log_with_a_purge_point_is_read_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<(u64, Vec<u8>)> = (4..=6).map(|i| (i, b"old".to_vec())).collect();
    write_format_1_log(dir.path(), &records);
    let mut meta = 4u64.to_le_bytes().to_vec();
    meta.extend_from_slice(&1u64.to_le_bytes());
    drover_adapters::disk::write_small_file(
        &RealFs,
        &dir.path().join("raft.log.meta"),
        b"DRVRLMET",
        1,
        &meta,
    )
    .unwrap();
    let (log, recovery) = DiskLog::open(RealFs, dir.path()).unwrap();
    assert_eq!(recovery.upgraded_from, Some(1));
    assert_eq!(log.purged(), Some((4, 1)));
    assert_eq!(log.first_index(), Some(5));
    assert_eq!(log.last(), Some((6, 1)));
}

/// Format 1 had no header checksum, but an impossible length is damage
/// even there, never a torn tail.
#[test]
fn a_format_1_record_with_an_impossible_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"DRVRLOG\0".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 40]);
    std::fs::write(dir.path().join("raft.log"), &bytes).unwrap();
    let error = reopen(dir.path()).expect_err("refused");
    assert!(
        error.to_string().contains("impossible record length"),
        "{error}"
    );
}

/// A format-2 file has every payload passed through the caller's upgrade
/// once, and is rewritten as format 3; an upgrade that fails names the
/// record and changes nothing.
#[test]
fn a_format_2_log_has_its_payloads_upgraded_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = DiskLog::open(RealFs, dir.path()).unwrap();
        let records: Vec<LogRecord> = (1..=3)
            .map(|i| LogRecord {
                index: i,
                term: 1,
                payload: format!("entry {i}").into_bytes(),
            })
            .collect();
        log.append(&records).unwrap();
    }
    let path = dir.path().join("raft.log");
    // Format 2: the same records after a header without its checksum.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.drain(12..16);
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let refuse: Upgrade<'_> = &|p| {
        if p == b"entry 2" {
            Err("no".into())
        } else {
            Ok(p.to_vec())
        }
    };
    let error = DiskLog::open_upgrading(RealFs, dir.path(), refuse)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("record 2") && error.contains("raft.log"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a failed upgrade changed the file"
    );

    let upper: Upgrade<'_> = &|p| Ok(p.to_ascii_uppercase());
    let (log, recovery) = DiskLog::open_upgrading(RealFs, dir.path(), upper).unwrap();
    assert_eq!(recovery.upgraded_from, Some(2));
    assert_eq!(log.get(3).unwrap().payload, b"ENTRY 3");
    drop(log);
    assert_eq!(std::fs::read(&path).unwrap()[8..12], 3u32.to_le_bytes());
    let twice: Upgrade<'_> = &|_| Err("upgraded twice".into());
    let (log, recovery) = DiskLog::open_upgrading(RealFs, dir.path(), twice).unwrap();
    assert_eq!(recovery.upgraded_from, None);
    assert_eq!(log.get(1).unwrap().payload, b"ENTRY 1");
}
