//! One byte of a log that had been made durable, changed: the log refuses
//! to open naming the file, or opens with every record as written, or —
//! the one loss a torn write cannot be told from — without its last
//! record and says it cut it. It never opens with records changed or
//! missing silently (a damaged length field once cut committed entries
//! away unreported).
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use drover_adapters::disk::{DiskLog, LogRecord, SimFs};
use drover_fuzz::put;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Damage {
    /// Payload lengths (each capped) of the records written.
    payloads: Vec<u16>,
    first_index: u8,
    at: u32,
    xor: u8,
}

fuzz_target!(|damage: Damage| {
    if damage.payloads.is_empty() || damage.payloads.len() > 32 || damage.xor == 0 {
        return;
    }
    let fs = SimFs::new();
    let dir = Path::new("/data");
    let first = u64::from(damage.first_index) + 1;
    let written: Vec<LogRecord> = (first..)
        .zip(&damage.payloads)
        .map(|(index, len)| LogRecord {
            index,
            term: 1 + index / 3,
            payload: (0..(len % 2048))
                .map(|i| (index as u8) ^ (i as u8))
                .collect(),
        })
        .collect();
    {
        let (mut log, _) = DiskLog::open(fs.clone(), dir).expect("a new log opens");
        if first > 1 {
            log.purge_upto(first - 1, 1).expect("an empty log purges");
        }
        log.append(&written).expect("the simulated disk appends");
    }
    let path = dir.join("raft.log");
    let mut bytes = fs_read(&fs, &path);
    let at = damage.at as usize % bytes.len();
    bytes[at] ^= damage.xor;
    let fresh = SimFs::new();
    put(&fresh, &path, &bytes);
    if let Some(meta) = fs_read_opt(&fs, &dir.join("raft.log.meta")) {
        put(&fresh, &dir.join("raft.log.meta"), &meta);
    }
    match DiskLog::open(fresh, dir) {
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("/data/raft.log"), "{message}");
        }
        Ok((log, recovery)) => {
            let found: Vec<LogRecord> = log.range(0, u64::MAX).cloned().collect();
            if found.len() + 1 == written.len() && recovery.truncated.is_some() {
                assert_eq!(found, written[..found.len()], "records changed after a cut");
            } else {
                assert_eq!(
                    found, written,
                    "byte {at} changed by {:#04x}: opened with other records ({recovery:?})",
                    damage.xor
                );
            }
        }
    }
});

fn fs_read(fs: &SimFs, path: &Path) -> Vec<u8> {
    fs_read_opt(fs, path).expect("the log file exists")
}

fn fs_read_opt(fs: &SimFs, path: &Path) -> Option<Vec<u8>> {
    use drover_adapters::disk::FileSystem;
    fs.read(path).expect("the simulated disk reads")
}
