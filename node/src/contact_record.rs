//! When a quorum last committed a command of this node's, kept in the data
//! directory so that it outlives the agent process. A worker that starts
//! again adopts the tasks still running on its machine; were its contact
//! to count from its own start, an agent restarting while cut off (a
//! failed disk write, a crash loop) would keep those tasks for another
//! `max_disconnect` each time, for ever, while the majority runs their
//! replacements. Read at start, it makes the contact deadline the one the
//! previous process had.
//!
//! Not made durable: a power loss ends the tasks too. A record missing
//! (a first start) or unreadable (a torn write) counts as no contact
//! known, and the start counts as contact, as before the record existed.

use std::path::PathBuf;
use std::sync::Mutex;

use drover_adapters::disk::{FileSystem, LogFile};
use tracing::warn;

/// Saving more often than this buys nothing: contact is judged in seconds.
const SAVE_EVERY_MS: u64 = 1000;

pub trait ContactRecord: Send + Sync {
    /// The Unix-millisecond time of the last contact recorded, if any.
    fn load(&self) -> Option<u64>;
    /// Records contact at `unix_ms`, if it moves the record on enough.
    fn save(&self, unix_ms: u64);
}

pub struct ContactFile<F> {
    fs: F,
    path: PathBuf,
    saved: Mutex<Option<u64>>,
}

impl<F: FileSystem> ContactFile<F> {
    pub fn new(fs: F, data_dir: &std::path::Path) -> Self {
        Self {
            fs,
            path: data_dir.join("worker-contact"),
            saved: Mutex::new(None),
        }
    }

    fn write(&self, unix_ms: u64) -> std::io::Result<()> {
        let temp = self.path.with_extension("tmp");
        let mut file = self.fs.open(&temp)?;
        file.truncate(0)?;
        file.append(&encode(unix_ms))?;
        drop(file);
        self.fs.rename(&temp, &self.path)
    }
}

impl<F: FileSystem> ContactRecord for ContactFile<F> {
    fn load(&self) -> Option<u64> {
        match self.fs.read(&self.path) {
            Ok(Some(bytes)) => {
                let decoded = decode(&bytes);
                if decoded.is_none() {
                    warn!(
                        path = %self.path.display(),
                        "the record of the last contact is damaged (a torn write?): counting this start as contact"
                    );
                }
                decoded
            }
            Ok(None) => None,
            Err(e) => {
                warn!(path = %self.path.display(), "cannot read the record of the last contact: {e}");
                None
            }
        }
    }

    fn save(&self, unix_ms: u64) {
        let mut saved = self
            .saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if saved.is_some_and(|s| unix_ms < s.saturating_add(SAVE_EVERY_MS)) {
            return;
        }
        match self.write(unix_ms) {
            Ok(()) => *saved = Some(unix_ms),
            Err(e) => warn!(path = %self.path.display(), "cannot record the last contact: {e}"),
        }
    }
}

const MAGIC: &[u8; 8] = b"DRVCTCT1";

/// Magic, the time (u64, little-endian), and its CRC32C.
fn encode(unix_ms: u64) -> Vec<u8> {
    let time = unix_ms.to_le_bytes();
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&time);
    bytes.extend_from_slice(&crc32c::crc32c(&time).to_le_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != 20 || &bytes[..8] != MAGIC {
        return None;
    }
    let time: [u8; 8] = bytes[8..16].try_into().ok()?;
    let crc = u32::from_le_bytes(bytes[16..20].try_into().ok()?);
    (crc == crc32c::crc32c(&time)).then(|| u64::from_le_bytes(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_any_damage_reads_as_none() {
        let bytes = encode(1_700_000_000_123);
        assert_eq!(decode(&bytes), Some(1_700_000_000_123));
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert_eq!(decode(&damaged), None, "byte {i} flipped");
        }
        assert_eq!(decode(&bytes[..19]), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn the_record_outlives_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fs = drover_adapters::disk::RealFs;
        let first = ContactFile::new(fs, dir.path());
        assert_eq!(first.load(), None);
        first.save(5_000);
        first.save(5_500);
        assert_eq!(first.load(), Some(5_000), "saved at most once a second");
        first.save(6_000);
        let second = ContactFile::new(fs, dir.path());
        assert_eq!(second.load(), Some(6_000));
    }
}
