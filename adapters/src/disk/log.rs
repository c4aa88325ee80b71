//! The Raft log on disk: one append-only file of checksummed records, plus
//! a small metadata file recording how far the log was purged.
//!
//! File layout: header `DRVRLOG\0` + format version (u32 LE) + (from
//! format 3) CRC32C of those 12 bytes, so that a damaged version is
//! refused rather than read as another format; then records.
//! Format 2 and 3: header CRC32C (u32 LE, over the next
//! 8 bytes), body length (u32 LE), body CRC32C (u32 LE), body = index
//! (u64 LE), term (u64 LE), payload, end mark `0xA5`. Indexes are
//! consecutive. The end mark means a complete record never ends in a zero
//! byte, so zeros at the end of the file are never mistaken for data.
//! Format 3 is format 2 whose payloads are in the caller's current
//! encoding: opening a format 2 file hands every payload to the caller's
//! upgrade (`open_upgrading`) and rewrites the file as format 3, at once.
//! Format 1 lacked the header checksum and end mark; it is read, upgraded
//! and rewritten the same way.
//!
//! Recovery reads the whole file and tells a write torn by a crash from
//! damage to bytes that had been made durable, because only the first may
//! be cut off: a record fsynced was acknowledged, and a voter that forgets
//! what it acknowledged breaks Raft's guarantee that committed entries
//! survive. Torn (cut off and reported): a header cut short at the end of
//! the file; a header whose checksum holds but whose body runs past the
//! end; a last record whose failure is explained by unwritten, zero-filled
//! sectors running to the end of the file. Anything else — a header whose
//! checksum fails (so its length cannot be trusted), a body that fails its
//! checksum, even in the last record — is damage: opening fails with the
//! file, offset and what was found, and nothing is cut.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use drover_core::planted::{self, Bug};

use super::small_file::{read_small_file, write_small_file};
use super::{DiskError, FileSystem, LogFile};

const MAGIC: &[u8; 8] = b"DRVRLOG\0";
const VERSION: u32 = 3;
/// The format before record headers had their own checksum.
const VERSION_UNCHECKED_HEADERS: u32 = 1;
/// Format 3's file header; formats 1 and 2 end theirs before the CRC.
const FILE_HEADER_LEN: u64 = 16;
const UNCHECKED_FILE_HEADER_LEN: u64 = 12;
const RECORD_HEADER_LEN: u64 = 12;
const V1_RECORD_HEADER_LEN: u64 = 8;
/// The unit a disk writes whole or not at all; a torn write leaves whole
/// sectors unwritten.
const SECTOR: u64 = 512;
const BODY_PREFIX_LEN: usize = 16;
const END_MARK: u8 = 0xA5;
/// No record is smaller (header, index and term, end mark): a tail of `n`
/// bytes held at most `n / MIN_RECORD_BYTES` records.
pub const MIN_RECORD_BYTES: u64 = RECORD_HEADER_LEN + BODY_PREFIX_LEN as u64 + 1;
/// No record is larger; a length beyond it is damage, not data.
pub const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;
const META_MAGIC: &[u8; 8] = b"DRVRLMET";
/// The metadata file's own format, unchanged since the log's format 1.
const META_VERSION: u32 = 1;
/// Written when a write or fsync fails: how much of the file was durable
/// then. The failed bytes stay readable in the page cache after the
/// process exits, but never reach the disk; the next process cuts them.
const UNSYNCED_MAGIC: &[u8; 8] = b"DRVRUNSY";
const UNSYNCED_VERSION: u32 = 1;
/// Compaction rewrites the file once purged records take more than this.
const REWRITE_AFTER_BYTES: u64 = 4 * 1024 * 1024;

/// What turns a payload of an earlier format into this format's.
pub type Upgrade<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub index: u64,
    pub term: u64,
    pub payload: Vec<u8>,
}

/// What opening the log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub records: usize,
    /// A tail never acknowledged was cut off: (offset, bytes removed).
    pub truncated: Option<(u64, u64)>,
    /// Why the tail was taken for one never acknowledged: a torn write, or
    /// bytes a failed fsync left behind.
    pub torn_because: Option<String>,
    /// The file was in an older format and has been rewritten in this one.
    pub upgraded_from: Option<u32>,
}

pub struct DiskLog<F: FileSystem> {
    fs: F,
    path: PathBuf,
    meta_path: PathBuf,
    file: F::File,
    /// Live records (after the purge point), with the offset each starts at.
    records: VecDeque<(u64, LogRecord)>,
    /// The last purged (index, term), if any.
    purged: Option<(u64, u64)>,
    len: u64,
    /// How much of the file the last successful fsync made durable.
    synced_len: u64,
    /// Why a write failed, once one did: then no more are taken.
    failed: Option<String>,
}

fn encode(record: &LogRecord) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_PREFIX_LEN + record.payload.len() + 1);
    body.extend_from_slice(&record.index.to_le_bytes());
    body.extend_from_slice(&record.term.to_le_bytes());
    body.extend_from_slice(&record.payload);
    body.push(END_MARK);
    let len = u32::try_from(body.len()).expect("record below MAX_RECORD_BYTES");
    let mut header = [0u8; 12];
    header[4..8].copy_from_slice(&len.to_le_bytes());
    header[8..12].copy_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    let header_crc = crc32c::crc32c(&header[4..12]);
    header[0..4].copy_from_slice(&header_crc.to_le_bytes());
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    out
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// How the scan of one record ended.
enum Scan {
    Record(LogRecord, u64),
    /// A write a crash interrupted: never acknowledged, safe to cut. Says why.
    TornTail(String),
    Corrupt(String),
}

/// Whether the bad bytes of `start..end` are explained by sectors a crash
/// left unwritten: the file grew, but from a sector boundary inside that
/// range to the end of the file nothing but zeros reached the disk
/// (sectors are written whole or not at all, so a written one holds no
/// stray zeros past the data, and zeros that start after `end` cannot
/// explain damage before it).
fn unwritten_sectors_within(bytes: &[u8], start: u64, end: u64) -> bool {
    let zeros_from = bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |last| last as u64 + 1);
    if zeros_from <= start {
        return true;
    }
    let first_zero_sector = zeros_from.div_ceil(SECTOR) * SECTOR;
    first_zero_sector < end.min(bytes.len() as u64)
}

fn scan_record(bytes: &[u8], pos: u64) -> Scan {
    let file_len = bytes.len() as u64;
    if file_len - pos < RECORD_HEADER_LEN {
        return Scan::TornTail(format!(
            "a record header cut short ({} of {RECORD_HEADER_LEN} bytes)",
            file_len - pos
        ));
    }
    let at = usize::try_from(pos).expect("in memory");
    let header = &bytes[at..at + 12];
    if planted::active(Bug::LengthAsTorn)
        && pos + RECORD_HEADER_LEN + u64::from(u32_at(header, 4)) > file_len
    {
        return Scan::TornTail("a record body cut short".into());
    }
    if crc32c::crc32c(&header[4..12]) != u32_at(header, 0) {
        if unwritten_sectors_within(bytes, pos, pos + RECORD_HEADER_LEN) {
            return Scan::TornTail("a record header in unwritten (zero) sectors".into());
        }
        return Scan::Corrupt(
            "record header checksum mismatch (its length cannot be trusted)".into(),
        );
    }
    let len = u32_at(header, 4);
    if len > MAX_RECORD_BYTES || (len as usize) < BODY_PREFIX_LEN + 1 {
        return Scan::Corrupt(format!("impossible record length {len}"));
    }
    let end = pos + RECORD_HEADER_LEN + u64::from(len);
    if end > file_len {
        return Scan::TornTail(format!(
            "a record body cut short ({} of {len} bytes)",
            file_len - pos - RECORD_HEADER_LEN
        ));
    }
    let body = &bytes[at + 12..usize::try_from(end).expect("in memory")];
    if crc32c::crc32c(body) != u32_at(header, 8) {
        if unwritten_sectors_within(bytes, pos, end) {
            return Scan::TornTail("a record ending in unwritten (zero) sectors".into());
        }
        return Scan::Corrupt("record checksum mismatch".into());
    }
    match body.split_last() {
        Some((&END_MARK, body)) => Scan::Record(decode_body(body), end),
        _ => Scan::Corrupt("record without its end mark".into()),
    }
}

fn decode_body(body: &[u8]) -> LogRecord {
    LogRecord {
        index: u64_at(body, 0),
        term: u64_at(body, 8),
        payload: body[BODY_PREFIX_LEN..].to_vec(),
    }
}

/// Format 1 had no header checksum, so a damaged length there is
/// indistinguishable from a torn write; its rules are kept only to read
/// such a file once before it is rewritten in format 2.
fn scan_record_v1(bytes: &[u8], pos: u64) -> Scan {
    let file_len = bytes.len() as u64;
    if file_len - pos < V1_RECORD_HEADER_LEN {
        return Scan::TornTail("a record header cut short (format 1)".into());
    }
    let at = usize::try_from(pos).expect("in memory");
    let len = u32_at(bytes, at);
    // An impossible length is damage, wherever it points.
    if len > MAX_RECORD_BYTES || (len as usize) < BODY_PREFIX_LEN {
        return Scan::Corrupt(format!("impossible record length {len}"));
    }
    let end = pos + V1_RECORD_HEADER_LEN + u64::from(len);
    if end > file_len {
        return Scan::TornTail("a record body cut short (format 1)".into());
    }
    let body = &bytes[at + 8..usize::try_from(end).expect("in memory")];
    if crc32c::crc32c(body) != u32_at(bytes, at + 4) {
        return if end == file_len {
            Scan::TornTail("a garbled last record (format 1)".into())
        } else {
            Scan::Corrupt("record checksum mismatch".into())
        };
    }
    Scan::Record(decode_body(body), end)
}

impl<F: FileSystem> DiskLog<F> {
    /// Opens (or creates) the log in `dir`, recovering from a crash.
    /// Opens a log whose payloads need no upgrade from older formats.
    pub fn open(fs: F, dir: &Path) -> Result<(Self, Recovery), DiskError> {
        Self::open_upgrading(fs, dir, &|payload| Ok(payload.to_vec()))
    }

    /// Opens the log; a file of an earlier format has each payload passed
    /// through `upgrade` (an error names the record) and is rewritten in
    /// this format before anything else happens.
    pub fn open_upgrading(
        fs: F,
        dir: &Path,
        upgrade: Upgrade<'_>,
    ) -> Result<(Self, Recovery), DiskError> {
        fs.create_dir_all(dir).map_err(|e| DiskError::io(dir, e))?;
        let path = dir.join("raft.log");
        let meta_path = dir.join("raft.log.meta");
        let purged = read_small_file(&fs, &meta_path, META_MAGIC, META_VERSION)?
            .map(|body| decode_meta(&meta_path, &body))
            .transpose()?;
        let mut file = fs.open(&path).map_err(|e| DiskError::io(&path, e))?;
        let mut bytes = file.read_all().map_err(|e| DiskError::io(&path, e))?;
        let mut recovery = Recovery::default();
        if let Some(durable) = read_unsynced(&fs, &unsynced_path(dir))?
            && (bytes.len() as u64) > durable
        {
            // Cut in what was read only: the file is cut once the rest has
            // been found sound, so a damaged log is refused untouched.
            recovery = unsynced_cut(&mut bytes, durable);
        }
        if creating(&bytes) {
            // New, or a crash while creating it: nothing was ever acknowledged.
            file.truncate(0).map_err(|e| DiskError::io(&path, e))?;
            file.append(&file_header())
                .map_err(|e| DiskError::io(&path, e))?;
            file.sync().map_err(|e| DiskError::io(&path, e))?;
            fs.sync_dir(dir).map_err(|e| DiskError::io(dir, e))?;
            if !bytes.is_empty() {
                recovery.truncated = Some((0, bytes.len() as u64));
            }
            let log = Self {
                fs,
                path,
                meta_path,
                file,
                records: VecDeque::new(),
                purged,
                len: FILE_HEADER_LEN,
                synced_len: FILE_HEADER_LEN,
                failed: None,
            };
            log.forget_unsynced(dir)?;
            return Ok((log, recovery));
        }
        let version = check_header(&path, &bytes)?;
        let (scan, mut pos) = layout(version);
        let mut records = VecDeque::new();
        let mut previous: Option<u64> = None;
        while pos < bytes.len() as u64 {
            match scan(&bytes, pos) {
                Scan::Record(record, end) => {
                    if previous.is_some_and(|p| record.index != p + 1) {
                        return Err(DiskError::corrupt(
                            &path,
                            pos,
                            format!("index {} follows {}", record.index, previous.unwrap_or(0)),
                        ));
                    }
                    previous = Some(record.index);
                    if purged.is_none_or(|(upto, _)| record.index > upto) {
                        records.push_back((pos, record));
                    }
                    pos = end;
                }
                Scan::TornTail(because) => {
                    let removed = bytes.len() as u64 - pos;
                    let cut_before = recovery.truncated.map_or(0, |(_, cut)| cut);
                    recovery.truncated = Some((pos, removed + cut_before));
                    recovery.torn_because =
                        Some(format!("a write interrupted by a crash ({because})"));
                    break;
                }
                Scan::Corrupt(what) => return Err(DiskError::corrupt(&path, pos, what)),
            }
        }
        if recovery.truncated.is_some() {
            file.truncate(pos).map_err(|e| DiskError::io(&path, e))?;
        }
        // What a crash left may include whole records that were never
        // fsynced; this node may acknowledge them from now on, so they
        // must not vanish at the next crash.
        file.sync().map_err(|e| DiskError::io(&path, e))?;
        recovery.records = records.len();
        let mut log = Self {
            fs,
            path,
            meta_path,
            file,
            records,
            purged,
            len: pos,
            synced_len: pos,
            failed: None,
        };
        // Only now that the cut is durable: a crash before this leaves the
        // record, and the next start cuts the same bytes again.
        log.forget_unsynced(dir)?;
        if version != VERSION {
            log.upgrade_payloads(version, upgrade)?;
            log.rewrite()?;
            recovery.upgraded_from = Some(version);
        } else if log.records.is_empty() && log.len > FILE_HEADER_LEN {
            // A crash between recording a purge and rewriting the file.
            log.rewrite()?;
        }
        Ok((log, recovery))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last purged (index, term).
    pub fn purged(&self) -> Option<(u64, u64)> {
        self.purged
    }

    /// The last record's (index, term), or the purge point if none remain.
    pub fn last(&self) -> Option<(u64, u64)> {
        self.records
            .back()
            .map(|(_, r)| (r.index, r.term))
            .or(self.purged)
    }

    pub fn first_index(&self) -> Option<u64> {
        self.records.front().map(|(_, r)| r.index)
    }

    pub fn get(&self, index: u64) -> Option<&LogRecord> {
        let first = self.first_index()?;
        let at = usize::try_from(index.checked_sub(first)?).ok()?;
        self.records.get(at).map(|(_, r)| r)
    }

    /// Records with `from <= index < to`.
    pub fn range(&self, from: u64, to: u64) -> impl Iterator<Item = &LogRecord> {
        self.records
            .iter()
            .map(|(_, r)| r)
            .skip_while(move |r| r.index < from)
            .take_while(move |r| r.index < to)
    }

    /// Appends records and makes them durable before returning. Indexes
    /// must continue the log.
    pub fn append(&mut self, batch: &[LogRecord]) -> Result<(), DiskError> {
        self.write(batch)?;
        self.sync()
    }

    /// Appends records without making them durable: until [`Self::sync`]
    /// returns, a crash may keep any prefix of them (a torn write), and
    /// nothing written may be acknowledged. Indexes must continue the log.
    pub fn write(&mut self, batch: &[LogRecord]) -> Result<(), DiskError> {
        self.writable()?;
        let first = self
            .last()
            .map_or(batch.first().map_or(1, |r| r.index), |(i, _)| i + 1);
        let mut bytes = Vec::new();
        let mut starts = Vec::with_capacity(batch.len());
        for (expected, record) in (first..).zip(batch) {
            let refuse = |why: String| {
                let error = std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
                Err(DiskError::io(&self.path, error))
            };
            if record.index != expected {
                return refuse(format!(
                    "append of index {} where {expected} is next",
                    record.index
                ));
            }
            if record.payload.len() + BODY_PREFIX_LEN + 1 > MAX_RECORD_BYTES as usize {
                return refuse(format!(
                    "a record of {} bytes is over the limit",
                    record.payload.len()
                ));
            }
            starts.push(self.len + bytes.len() as u64);
            bytes.extend_from_slice(&encode(record));
        }
        let appended = self.file.append(&bytes);
        self.failing(appended)?;
        self.len += bytes.len() as u64;
        for (start, record) in starts.into_iter().zip(batch) {
            self.records.push_back((start, record.clone()));
        }
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> Result<(), DiskError> {
        self.writable()?;
        let synced = self.file.sync();
        self.failing(synced)?;
        self.synced_len = self.len;
        Ok(())
    }

    /// Refuses every write once one failed. After a failed fsync the
    /// kernel may have dropped the dirty pages, and a later fsync reports
    /// success without writing them (PostgreSQL's "fsyncgate", 2018): no
    /// write since can be trusted to be durable. Nor can a restart read
    /// what the disk holds — the page cache still answers with the failed
    /// bytes — so the failure records how much was durable before it, and
    /// the next open cuts the rest.
    fn writable(&self) -> Result<(), DiskError> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(DiskError::io(
                &self.path,
                std::io::Error::other(format!(
                    "an earlier write or fsync failed ({why}); this log takes no more writes: restart the node, which re-reads the log from disk"
                )),
            )),
        }
    }

    fn failing<T>(&mut self, result: std::io::Result<T>) -> Result<T, DiskError> {
        result.map_err(|e| {
            if self.failed.is_none() {
                self.failed = Some(e.to_string());
                self.record_unsynced();
            }
            DiskError::io(&self.path, e)
        })
    }

    /// Writes down how much of the file was durable before the failure.
    /// If even that fails the disk is beyond trusting, and a start after
    /// the next power loss may refuse a damaged log.
    fn record_unsynced(&self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let body = self.synced_len.to_le_bytes();
        let path = unsynced_path(dir);
        if let Err(e) = write_small_file(&self.fs, &path, UNSYNCED_MAGIC, UNSYNCED_VERSION, &body) {
            tracing::error!("{e}: after a failed write to {}", self.path.display());
        }
    }

    /// Durably removes the record of a failed write once its bytes are cut.
    fn forget_unsynced(&self, dir: &Path) -> Result<(), DiskError> {
        let path = unsynced_path(dir);
        if self
            .fs
            .read(&path)
            .map_err(|e| DiskError::io(&path, e))?
            .is_none()
        {
            return Ok(());
        }
        self.fs.remove(&path).map_err(|e| DiskError::io(&path, e))?;
        self.fs.sync_dir(dir).map_err(|e| DiskError::io(dir, e))
    }

    /// Removes every record with index >= `index` (a conflicting suffix).
    pub fn truncate_from(&mut self, index: u64) -> Result<(), DiskError> {
        let Some(at) = self.records.iter().position(|(_, r)| r.index >= index) else {
            return Ok(());
        };
        let offset = self.records[at].0;
        self.writable()?;
        let truncated = self.file.truncate(offset);
        self.failing(truncated)?;
        let synced = self.file.sync();
        self.failing(synced)?;
        self.records.truncate(at);
        self.len = offset;
        self.synced_len = offset;
        Ok(())
    }

    /// Drops every record with index <= `index` (behind a snapshot).
    pub fn purge_upto(&mut self, index: u64, term: u64) -> Result<(), DiskError> {
        if self.purged.is_some_and(|(p, _)| p >= index) {
            return Ok(());
        }
        self.writable()?;
        let mut body = index.to_le_bytes().to_vec();
        body.extend_from_slice(&term.to_le_bytes());
        write_small_file(&self.fs, &self.meta_path, META_MAGIC, META_VERSION, &body)?;
        self.purged = Some((index, term));
        while self.records.front().is_some_and(|(_, r)| r.index <= index) {
            self.records.pop_front();
        }
        let dead = self.records.front().map_or(self.len, |(offset, _)| *offset) - FILE_HEADER_LEN;
        // With nothing left, rewrite at once: the next append may jump past
        // the old records, and the file must never hold a gap.
        if dead > REWRITE_AFTER_BYTES || self.records.is_empty() {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Rewrites the file without purged records: new file, fsync, rename.
    /// Every record's payload through `upgrade`, in memory; the caller
    /// rewrites the file, so a failure leaves it as it was.
    fn upgrade_payloads(&mut self, version: u32, upgrade: Upgrade<'_>) -> Result<(), DiskError> {
        for (offset, record) in &mut self.records {
            record.payload = upgrade(&record.payload).map_err(|e| {
                DiskError::corrupt(
                    &self.path,
                    *offset,
                    format!(
                        "record {}: cannot be upgraded from format {version}: {e}",
                        record.index
                    ),
                )
            })?;
        }
        Ok(())
    }

    fn rewrite(&mut self) -> Result<(), DiskError> {
        let mut bytes = file_header();
        let mut offsets = Vec::with_capacity(self.records.len());
        for (_, record) in &self.records {
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(&encode(record));
        }
        let written = self.fs.write_atomic(&self.path, &bytes);
        self.failing(written)?;
        self.file = self
            .fs
            .open(&self.path)
            .map_err(|e| DiskError::io(&self.path, e))?;
        for ((offset, _), new) in self.records.iter_mut().zip(offsets) {
            *offset = new;
        }
        self.len = bytes.len() as u64;
        self.synced_len = self.len;
        Ok(())
    }
}

/// Cuts what a failed write left past `durable` bytes from `bytes` as
/// read, and says so.
fn unsynced_cut(bytes: &mut Vec<u8>, durable: u64) -> Recovery {
    let removed = bytes.len() as u64 - durable;
    bytes.truncate(usize::try_from(durable).expect("within the file read"));
    Recovery {
        truncated: Some((durable, removed)),
        torn_because: Some(format!(
            "an fsync failed before this start: the {removed} bytes past byte {durable} were never durable"
        )),
        ..Recovery::default()
    }
}

fn unsynced_path(dir: &Path) -> PathBuf {
    dir.join("raft.log.unsynced")
}

/// The durable length a failed write recorded, if one did.
fn read_unsynced<F: FileSystem>(fs: &F, path: &Path) -> Result<Option<u64>, DiskError> {
    let Some(body) = read_small_file(fs, path, UNSYNCED_MAGIC, UNSYNCED_VERSION)? else {
        return Ok(None);
    };
    let bytes = <[u8; 8]>::try_from(body.as_slice())
        .map_err(|_| DiskError::corrupt(path, 24, format!("{} bytes, expected 8", body.len())))?;
    Ok(Some(u64::from_le_bytes(bytes)))
}

/// Reads the record at a position of the file's bytes.
type Scanner = fn(&[u8], u64) -> Scan;

/// How a file of `version` is read: its record scanner, and where its
/// first record starts.
fn layout(version: u32) -> (Scanner, u64) {
    match version {
        VERSION_UNCHECKED_HEADERS => (scan_record_v1, UNCHECKED_FILE_HEADER_LEN),
        VERSION => (scan_record, FILE_HEADER_LEN),
        _ => (scan_record, UNCHECKED_FILE_HEADER_LEN),
    }
}

/// This format's file header.
fn file_header() -> Vec<u8> {
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    header
}

/// Shorter than any header, or this format's header cut short: a file
/// being created when the node crashed (the header is its first write).
fn creating(bytes: &[u8]) -> bool {
    let len = bytes.len() as u64;
    len < UNCHECKED_FILE_HEADER_LEN
        || (len < FILE_HEADER_LEN && bytes[..8] == *MAGIC && u32_at(bytes, 8) == VERSION)
}

/// The file's format version, if this build reads it.
fn check_header(path: &Path, bytes: &[u8]) -> Result<u32, DiskError> {
    if &bytes[..8] != MAGIC {
        return Err(DiskError::corrupt(
            path,
            0,
            "not a Drover Raft log (bad magic)",
        ));
    }
    let version = u32_at(bytes, 8);
    if !(VERSION_UNCHECKED_HEADERS..=VERSION).contains(&version) {
        return Err(DiskError::corrupt(
            path,
            8,
            format!(
                "log format version {version}; this build reads {VERSION_UNCHECKED_HEADERS} to {VERSION}"
            ),
        ));
    }
    if version == VERSION {
        let expected = u32_at(bytes, 12);
        let actual = crc32c::crc32c(&bytes[..12]);
        if expected != actual {
            return Err(DiskError::corrupt(
                path,
                12,
                format!(
                    "file header checksum mismatch: stored {expected:#010x}, computed {actual:#010x}"
                ),
            ));
        }
    }
    Ok(version)
}

fn decode_meta(path: &Path, body: &[u8]) -> Result<(u64, u64), DiskError> {
    if body.len() != 16 {
        return Err(DiskError::corrupt(
            path,
            24,
            format!("metadata of {} bytes, expected 16", body.len()),
        ));
    }
    Ok((u64_at(body, 0), u64_at(body, 8)))
}
