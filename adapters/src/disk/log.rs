//! The Raft log on disk: one append-only file of checksummed records, plus
//! a small metadata file recording how far the log was purged.
//!
//! File layout: header `DRVRLOG\0` + format version (u32 LE), then records:
//! body length (u32 LE), CRC32C of the body (u32 LE), body = index (u64 LE),
//! term (u64 LE), payload. Indexes are consecutive.
//!
//! Recovery reads the whole file. A record cut short at the end of the file,
//! or whose checksum fails while it ends exactly at the end of the file, is
//! what a crash during an un-acknowledged append leaves: it is cut off and
//! reported. A bad record with valid bytes after it is damage: opening fails
//! with the file and offset.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::small_file::{read_small_file, write_small_file};
use super::{DiskError, FileSystem, LogFile};

const MAGIC: &[u8; 8] = b"DRVRLOG\0";
const VERSION: u32 = 1;
const FILE_HEADER_LEN: u64 = 12;
const RECORD_HEADER_LEN: u64 = 8;
const BODY_PREFIX_LEN: usize = 16;
/// No record is larger; a length beyond it is damage, not data.
pub const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;
const META_MAGIC: &[u8; 8] = b"DRVRLMET";
/// Compaction rewrites the file once purged records take more than this.
const REWRITE_AFTER_BYTES: u64 = 4 * 1024 * 1024;

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
    /// A torn tail was cut off: (offset, bytes removed).
    pub truncated: Option<(u64, u64)>,
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
}

fn encode(record: &LogRecord) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_PREFIX_LEN + record.payload.len());
    body.extend_from_slice(&record.index.to_le_bytes());
    body.extend_from_slice(&record.term.to_le_bytes());
    body.extend_from_slice(&record.payload);
    let len = u32::try_from(body.len()).expect("record below MAX_RECORD_BYTES");
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
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
    TornTail,
    Corrupt(String),
}

fn scan_record(bytes: &[u8], pos: u64) -> Scan {
    let file_len = bytes.len() as u64;
    if file_len - pos < RECORD_HEADER_LEN {
        return Scan::TornTail;
    }
    let at = usize::try_from(pos).expect("in memory");
    let len = u32_at(bytes, at);
    let end = pos + RECORD_HEADER_LEN + u64::from(len);
    if end > file_len {
        return Scan::TornTail;
    }
    if len > MAX_RECORD_BYTES || (len as usize) < BODY_PREFIX_LEN {
        return Scan::Corrupt(format!("impossible record length {len}"));
    }
    let body = &bytes[at + 8..usize::try_from(end).expect("in memory")];
    if crc32c::crc32c(body) != u32_at(bytes, at + 4) {
        return if end == file_len {
            Scan::TornTail
        } else {
            Scan::Corrupt("record checksum mismatch".into())
        };
    }
    let record = LogRecord {
        index: u64_at(body, 0),
        term: u64_at(body, 8),
        payload: body[BODY_PREFIX_LEN..].to_vec(),
    };
    Scan::Record(record, end)
}

impl<F: FileSystem> DiskLog<F> {
    /// Opens (or creates) the log in `dir`, recovering from a crash.
    pub fn open(fs: F, dir: &Path) -> Result<(Self, Recovery), DiskError> {
        fs.create_dir_all(dir).map_err(|e| DiskError::io(dir, e))?;
        let path = dir.join("raft.log");
        let meta_path = dir.join("raft.log.meta");
        let purged = read_small_file(&fs, &meta_path, META_MAGIC, VERSION)?
            .map(|body| decode_meta(&meta_path, &body))
            .transpose()?;
        let mut file = fs.open(&path).map_err(|e| DiskError::io(&path, e))?;
        let bytes = file.read_all().map_err(|e| DiskError::io(&path, e))?;
        let mut recovery = Recovery::default();
        if (bytes.len() as u64) < FILE_HEADER_LEN {
            // New, or a crash while creating it: nothing was ever acknowledged.
            file.truncate(0).map_err(|e| DiskError::io(&path, e))?;
            let mut header = MAGIC.to_vec();
            header.extend_from_slice(&VERSION.to_le_bytes());
            file.append(&header).map_err(|e| DiskError::io(&path, e))?;
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
            };
            return Ok((log, recovery));
        }
        check_header(&path, &bytes)?;
        let mut records = VecDeque::new();
        let mut pos = FILE_HEADER_LEN;
        let mut previous: Option<u64> = None;
        while pos < bytes.len() as u64 {
            match scan_record(&bytes, pos) {
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
                Scan::TornTail => {
                    let removed = bytes.len() as u64 - pos;
                    file.truncate(pos).map_err(|e| DiskError::io(&path, e))?;
                    file.sync().map_err(|e| DiskError::io(&path, e))?;
                    recovery.truncated = Some((pos, removed));
                    break;
                }
                Scan::Corrupt(what) => return Err(DiskError::corrupt(&path, pos, what)),
            }
        }
        recovery.records = records.len();
        let mut log = Self {
            fs,
            path,
            meta_path,
            file,
            records,
            purged,
            len: pos,
        };
        if log.records.is_empty() && log.len > FILE_HEADER_LEN {
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
            if record.payload.len() + BODY_PREFIX_LEN > MAX_RECORD_BYTES as usize {
                return refuse(format!(
                    "a record of {} bytes is over the limit",
                    record.payload.len()
                ));
            }
            starts.push(self.len + bytes.len() as u64);
            bytes.extend_from_slice(&encode(record));
        }
        self.file
            .append(&bytes)
            .map_err(|e| DiskError::io(&self.path, e))?;
        self.file.sync().map_err(|e| DiskError::io(&self.path, e))?;
        self.len += bytes.len() as u64;
        for (start, record) in starts.into_iter().zip(batch) {
            self.records.push_back((start, record.clone()));
        }
        Ok(())
    }

    /// Removes every record with index >= `index` (a conflicting suffix).
    pub fn truncate_from(&mut self, index: u64) -> Result<(), DiskError> {
        let Some(at) = self.records.iter().position(|(_, r)| r.index >= index) else {
            return Ok(());
        };
        let offset = self.records[at].0;
        self.file
            .truncate(offset)
            .map_err(|e| DiskError::io(&self.path, e))?;
        self.file.sync().map_err(|e| DiskError::io(&self.path, e))?;
        self.records.truncate(at);
        self.len = offset;
        Ok(())
    }

    /// Drops every record with index <= `index` (behind a snapshot).
    pub fn purge_upto(&mut self, index: u64, term: u64) -> Result<(), DiskError> {
        if self.purged.is_some_and(|(p, _)| p >= index) {
            return Ok(());
        }
        let mut body = index.to_le_bytes().to_vec();
        body.extend_from_slice(&term.to_le_bytes());
        write_small_file(&self.fs, &self.meta_path, META_MAGIC, VERSION, &body)?;
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
    fn rewrite(&mut self) -> Result<(), DiskError> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        let mut offsets = Vec::with_capacity(self.records.len());
        for (_, record) in &self.records {
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(&encode(record));
        }
        self.fs
            .write_atomic(&self.path, &bytes)
            .map_err(|e| DiskError::io(&self.path, e))?;
        self.file = self
            .fs
            .open(&self.path)
            .map_err(|e| DiskError::io(&self.path, e))?;
        for ((offset, _), new) in self.records.iter_mut().zip(offsets) {
            *offset = new;
        }
        self.len = bytes.len() as u64;
        Ok(())
    }
}

fn check_header(path: &Path, bytes: &[u8]) -> Result<(), DiskError> {
    if &bytes[..8] != MAGIC {
        return Err(DiskError::corrupt(
            path,
            0,
            "not a Drover Raft log (bad magic)",
        ));
    }
    let version = u32_at(bytes, 8);
    if version != VERSION {
        return Err(DiskError::corrupt(
            path,
            8,
            format!("log format version {version}; this build reads {VERSION}"),
        ));
    }
    Ok(())
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
