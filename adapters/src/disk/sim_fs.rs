//! A simulated disk for the simulator and for crash tests: an in-memory
//! file system that keeps, per file, what was written and what was made
//! durable, and per directory, which names were made durable. `crash`
//! forgets whatever was not, leaving — if asked — a torn prefix of the
//! last unsynced writes, as a power cut does. Deterministic: the same
//! operations and seeds give the same disk.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::fs::{FileSystem, LogFile};

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Disk {
    next_inode: u64,
    inodes: BTreeMap<u64, Inode>,
    /// Names as processes see them.
    names: BTreeMap<PathBuf, u64>,
    /// Names as they would be found after a crash.
    durable_names: BTreeMap<PathBuf, u64>,
    /// A faulty disk (for testing the tests): fsync returns without
    /// making anything durable.
    lying_fsync: bool,
    /// A slow disk: each durable write takes this much longer.
    slowness: Duration,
}

/// How much of the unsynced data a crash leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Everything not fsynced is gone.
    Clean,
    /// Of a file's unsynced appended bytes, a prefix survives, its length
    /// drawn from the seed: a torn write.
    Torn(u64),
}

#[derive(Debug, Clone, Default)]
pub struct SimFs {
    disk: Arc<Mutex<Disk>>,
}

impl SimFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// A disk whose fsync does nothing: what the simulator's invariants
    /// must catch.
    pub fn lying() -> Self {
        let fs = Self::default();
        fs.lock().lying_fsync = true;
        fs
    }

    /// Makes every durable write take `extra` longer (zero: back to normal).
    pub fn set_slowness(&self, extra: Duration) {
        self.lock().slowness = extra;
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Power loss: every name and byte not made durable is lost.
    pub fn crash(&self, mode: CrashMode) {
        let mut disk = self.lock();
        disk.names = disk.durable_names.clone();
        for (id, inode) in &mut disk.inodes {
            let unsynced_tail = inode
                .data
                .strip_prefix(inode.durable.as_slice())
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            inode.data = inode.durable.clone();
            let torn_seed = match mode {
                CrashMode::Torn(seed) if !unsynced_tail.is_empty() => Some(seed),
                _ => None,
            };
            if let Some(seed) = torn_seed {
                let kept = splitmix(seed ^ id) % (unsynced_tail.len() as u64 + 1);
                let kept = usize::try_from(kept).unwrap_or(0);
                inode.data.extend_from_slice(&unsynced_tail[..kept]);
            }
        }
    }

    /// Flips bits in a file as a failing disk might; `at` is a byte offset.
    pub fn corrupt(&self, path: &Path, at: usize, mask: u8) -> io::Result<()> {
        let mut disk = self.lock();
        let id = *disk.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = disk.inodes.get_mut(&id).expect("names point at inodes");
        let byte = inode
            .data
            .get_mut(at)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset past the end"))?;
        *byte ^= mask;
        inode.durable.clone_from(&inode.data);
        Ok(())
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

/// An open file: the inode it was opened on, as a real descriptor is.
pub struct SimFile {
    fs: SimFs,
    inode: u64,
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut Inode, bool) -> T) -> io::Result<T> {
        let mut disk = self.fs.lock();
        let lying = disk.lying_fsync;
        let inode = disk
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("stale file handle"))?;
        Ok(f(inode, lying))
    }
}

impl LogFile for SimFile {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.with(|inode, _| inode.data.clone())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(|inode, _| inode.data.extend_from_slice(bytes))
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.with(|inode, _| {
            inode
                .data
                .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|inode, lying| {
            if !lying {
                inode.durable.clone_from(&inode.data);
            }
        })
    }
}

impl FileSystem for SimFs {
    type File = SimFile;

    fn durable_write_delay(&self) -> Duration {
        self.lock().slowness
    }

    fn open(&self, path: &Path) -> io::Result<SimFile> {
        let mut disk = self.lock();
        let id = if let Some(id) = disk.names.get(path) {
            *id
        } else {
            disk.next_inode += 1;
            let id = disk.next_inode;
            disk.inodes.insert(id, Inode::default());
            disk.names.insert(path.to_path_buf(), id);
            id
        };
        Ok(SimFile {
            fs: self.clone(),
            inode: id,
        })
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let disk = self.lock();
        Ok(disk.names.get(path).map(|id| disk.inodes[id].data.clone()))
    }

    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        let id = disk.names.remove(from).ok_or_else(|| not_found(from))?;
        disk.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.lock().names.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        if disk.lying_fsync {
            return Ok(());
        }
        let in_dir = |p: &Path| p.parent() == Some(dir);
        disk.durable_names.retain(|p, _| !in_dir(p));
        let current: Vec<(PathBuf, u64)> = disk
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        disk.durable_names.extend(current);
        Ok(())
    }
}
