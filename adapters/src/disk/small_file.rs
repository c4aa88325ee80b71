//! Small files replaced atomically and checked on read: the Raft vote, the
//! log's metadata, snapshots.
//!
//! Layout (little-endian): magic (8 bytes), format version (u32), body
//! length (u64), CRC32C of the body (u32), body.

use std::path::Path;

use super::{DiskError, FileSystem};

const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// Writes `body` under `magic` durably and atomically.
pub fn write_small_file<F: FileSystem>(
    fs: &F,
    path: &Path,
    magic: &[u8; 8],
    version: u32,
    body: &[u8],
) -> Result<(), DiskError> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    bytes.extend_from_slice(body);
    fs.write_atomic(path, &bytes)
        .map_err(|e| DiskError::io(path, e))
}

/// Reads a file written by [`write_small_file`]; `None` if it does not exist.
pub fn read_small_file<F: FileSystem>(
    fs: &F,
    path: &Path,
    magic: &[u8; 8],
    version: u32,
) -> Result<Option<Vec<u8>>, DiskError> {
    let Some(bytes) = fs.read(path).map_err(|e| DiskError::io(path, e))? else {
        return Ok(None);
    };
    if bytes.len() < HEADER_LEN {
        return Err(DiskError::corrupt(
            path,
            bytes.len() as u64,
            format!("truncated header ({} of {HEADER_LEN} bytes)", bytes.len()),
        ));
    }
    if &bytes[..8] != magic {
        return Err(DiskError::corrupt(
            path,
            0,
            "wrong magic: not the file expected here",
        ));
    }
    let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if found != version {
        return Err(DiskError::corrupt(
            path,
            8,
            format!("format version {found}; this build reads {version}"),
        ));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let body = &bytes[HEADER_LEN..];
    if len != body.len() as u64 {
        return Err(DiskError::corrupt(
            path,
            12,
            format!("header says {len} body bytes, found {}", body.len()),
        ));
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    if crc != crc32c::crc32c(body) {
        return Err(DiskError::corrupt(
            path,
            HEADER_LEN as u64,
            "checksum mismatch",
        ));
    }
    Ok(Some(body.to_vec()))
}
