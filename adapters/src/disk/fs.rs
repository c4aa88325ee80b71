//! The file API the storage code is written against: the few operations
//! whose durability matters (append, truncate, fsync, rename, directory
//! fsync). Production uses the real file system; the simulator substitutes
//! a disk that can lose what was not fsynced when a node crashes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub trait LogFile: Send {
    fn read_all(&mut self) -> io::Result<Vec<u8>>;
    /// Appends at the end of the file (not yet durable).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Makes everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

pub trait FileSystem: Send + Sync + 'static {
    type File: LogFile;
    /// Opens for reading and appending, creating the file if missing.
    fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// `None` when the file does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes renames and creations in the directory durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// Extra time a durable write takes on this disk, for the caller to
    /// wait out. Zero for real disks, whose slowness is real already; the
    /// simulator's slow-disk fault sets it, since a synchronous call
    /// cannot take virtual time.
    fn durable_write_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Replaces `path` with `bytes` so that after a crash it holds either
    /// the old or the new contents, never a mix.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temp = temp_path(path);
        let _ = self.remove(&temp);
        {
            let mut file = self.open(&temp)?;
            file.truncate(0)?;
            file.append(bytes)?;
            file.sync()?;
        }
        self.rename(&temp, path)?;
        self.sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
}

pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The machine's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl LogFile for File {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        use std::io::Seek;
        self.seek(io::SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl FileSystem for RealFs {
    type File = File;

    fn open(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}
