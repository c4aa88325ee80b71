//! A simulated disk for the simulator and for crash tests: an in-memory
//! file system that keeps, per file, what was written and what was made
//! durable, and per directory, which names were made durable. `crash`
//! forgets whatever was not, leaving — if asked — a torn prefix of the
//! last unsynced writes, as a power cut does. It can also be told to
//! commit one write fault on a file's next write or fsync (`arm`): a write
//! silently lost, a write that lands at the wrong offset, or an fsync that
//! fails with EIO and drops the pages it covered (as Linux does: a later
//! fsync reports success without writing them). Deterministic: the same
//! operations and seeds give the same disk.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::fs::{FileSystem, LogFile};

#[derive(Debug, Default)]
struct Inode {
    /// What the process reads: everything it wrote (the page cache).
    data: Vec<u8>,
    /// What a crash would leave.
    durable: Vec<u8>,
    /// Byte ranges of `data` that no fsync will make durable.
    lost: Vec<(usize, usize)>,
    /// Bytes written to the platter at the wrong offset: (offset, bytes).
    misplaced: Vec<(usize, Vec<u8>)>,
}

impl Inode {
    /// What an fsync leaves on the platter: the process's bytes, with the
    /// lost ranges as they were before and misplaced writes where they
    /// landed.
    fn platter(&self) -> Vec<u8> {
        let mut bytes = self.data.clone();
        for (from, to) in &self.lost {
            for (i, byte) in bytes.iter_mut().enumerate().take(*to).skip(*from) {
                *byte = self.durable.get(i).copied().unwrap_or(0);
            }
        }
        for (at, misplaced) in &self.misplaced {
            for (i, byte) in misplaced.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + i) {
                    *slot = *byte;
                }
            }
        }
        bytes
    }

    /// A truncation to `len` rewrites nothing below it; faults above it
    /// are gone with the bytes.
    fn forget_above(&mut self, len: usize) {
        self.lost.retain(|(from, _)| *from < len);
        for range in &mut self.lost {
            range.1 = range.1.min(len);
        }
        self.misplaced.retain(|(at, _)| *at < len);
    }
}

/// A fault the disk commits on a file's next write or fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// The next append is acknowledged but never reaches the platter.
    Lost,
    /// The next append lands this many bytes before where it was meant to
    /// (over bytes already durable), and its own place keeps what it had.
    Misdirected(u64),
    /// The next fsync fails with EIO, and the unsynced bytes it covered
    /// will never be written.
    FsyncError,
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
    /// The write fault to commit next and the inode it strikes, and what
    /// the last one did.
    armed: Option<(u64, WriteFault)>,
    struck: Option<String>,
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

    /// Commits `fault` on the next append to `path` (or its next fsync,
    /// for EIO) — to the file `path` names now, as an open descriptor
    /// would; a file later renamed over it is not struck.
    pub fn arm(&self, path: &Path, fault: WriteFault) -> io::Result<()> {
        let mut disk = self.lock();
        let inode = *disk.names.get(path).ok_or_else(|| not_found(path))?;
        disk.armed = Some((inode, fault));
        disk.struck = None;
        Ok(())
    }

    /// What a write fault left on `path`'s platter that a crash now would
    /// not pass off as a torn tail: a lost write with durable bytes after
    /// it, or a misplaced write an fsync has put on the platter.
    pub fn hidden_damage(&self, path: &Path) -> Option<String> {
        let disk = self.lock();
        let inode = &disk.inodes[disk.names.get(path)?];
        let durable = inode.durable.len();
        let hole = inode
            .lost
            .iter()
            .any(|(from, to)| from < to && *to < durable);
        let misplaced = inode
            .misplaced
            .iter()
            .any(|(at, bytes)| inode.durable.get(*at..at + bytes.len()) == Some(bytes.as_slice()));
        (hole || misplaced).then(|| disk.struck.clone().unwrap_or_default())
    }

    /// What the armed fault did, once it struck.
    pub fn struck(&self) -> Option<String> {
        self.lock().struck.clone()
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
        disk.armed = None;
        for (id, inode) in &mut disk.inodes {
            // Bytes a failed fsync dropped never reach the platter, torn
            // crash or not: what a crash may keep of the tail ends there.
            let never_written = inode
                .lost
                .iter()
                .map(|(from, _)| *from)
                .filter(|from| *from >= inode.durable.len())
                .min()
                .unwrap_or(usize::MAX);
            inode.lost.clear();
            inode.misplaced.clear();
            let unsynced_tail = inode
                .data
                .get(..never_written.min(inode.data.len()))
                .and_then(|written| written.strip_prefix(inode.durable.as_slice()))
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

    /// Takes the armed fault if `applies` to it.
    fn take_fault(&self, applies: impl Fn(WriteFault) -> bool) -> Option<WriteFault> {
        let mut disk = self.fs.lock();
        let (_, fault) = disk
            .armed
            .filter(|(inode, f)| *inode == self.inode && applies(*f))?;
        disk.armed = None;
        Some(fault)
    }

    fn strike(&self, what: String) {
        self.fs.lock().struck = Some(what);
    }
}

impl LogFile for SimFile {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.with(|inode, _| inode.data.clone())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let fault = self.take_fault(|f| f != WriteFault::FsyncError);
        let start = self.with(|inode, _| {
            let start = inode.data.len();
            inode.data.extend_from_slice(bytes);
            if fault.is_some() && !bytes.is_empty() {
                inode.lost.push((start, start + bytes.len()));
            }
            start
        })?;
        match fault {
            Some(WriteFault::Misdirected(back)) => {
                let at = start.saturating_sub(usize::try_from(back).unwrap_or(usize::MAX));
                self.with(|inode, _| inode.misplaced.push((at, bytes.to_vec())))?;
                self.strike(format!(
                    "the {}-byte write meant for byte {start} landed at byte {at}",
                    bytes.len()
                ));
            }
            Some(_) => self.strike(format!(
                "the {}-byte write at byte {start} was lost",
                bytes.len()
            )),
            None => {}
        }
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.with(|inode, _| {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            inode.data.truncate(len);
            inode.forget_above(len);
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.take_fault(|f| f == WriteFault::FsyncError).is_some() {
            let dropped = self.with(|inode, _| {
                let from = inode.durable.len().min(inode.data.len());
                if from < inode.data.len() {
                    inode.lost.push((from, inode.data.len()));
                }
                (from, inode.data.len())
            })?;
            self.strike(format!(
                "fsync failed (EIO) with bytes {}..{} unwritten; they never will be",
                dropped.0, dropped.1
            ));
            return Err(io::Error::from_raw_os_error(5));
        }
        self.with(|inode, lying| {
            if !lying {
                inode.durable = inode.platter();
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
