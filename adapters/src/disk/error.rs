use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A storage failure, naming the file and, for damage, the byte offset.
#[derive(Debug)]
pub struct DiskError {
    pub path: PathBuf,
    pub offset: Option<u64>,
    pub kind: DiskErrorKind,
}

#[derive(Debug)]
pub enum DiskErrorKind {
    Io(io::Error),
    /// The bytes are not what was written: refuse to serve them.
    Corrupt(String),
}

impl DiskError {
    pub fn io(path: &Path, error: io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: None,
            kind: DiskErrorKind::Io(error),
        }
    }

    pub fn corrupt(path: &Path, offset: u64, what: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: Some(offset),
            kind: DiskErrorKind::Corrupt(what.into()),
        }
    }

    pub fn is_corruption(&self) -> bool {
        matches!(self.kind, DiskErrorKind::Corrupt(_))
    }
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        match &self.kind {
            DiskErrorKind::Io(e) => write!(f, ": {e}"),
            DiskErrorKind::Corrupt(what) => write!(f, ": corrupt: {what}"),
        }
    }
}

impl std::error::Error for DiskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            DiskErrorKind::Io(e) => Some(e),
            DiskErrorKind::Corrupt(_) => None,
        }
    }
}
