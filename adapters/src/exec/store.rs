//! The output store every driver writes to, so that `drover job logs` and
//! a restarted worker read tasks the same way whichever driver ran them.
//!
//! Allocation directory (`<root>/<alloc>/`): `stdout`, `stderr`, and `exit`
//! once the task has ended — its exit code on the first line and, when the
//! driver knows more than the code says (an OOM kill), a message on the
//! second. Drivers may keep more there (the exec driver's `pid`, `work/`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use drover_core::AllocId;

use super::Exit;

#[derive(Debug, Clone)]
pub struct OutputStore {
    root: PathBuf,
}

impl OutputStore {
    pub fn open(root: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, alloc: AllocId) -> PathBuf {
        self.root.join(alloc.to_string())
    }

    /// Allocations that have a directory here.
    pub fn allocs(&self) -> Vec<(AllocId, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut found: Vec<_> = entries
            .flatten()
            .filter_map(|entry| {
                let dir = entry.path();
                parse_alloc(&dir).map(|alloc| (alloc, dir))
            })
            .collect();
        found.sort();
        found
    }

    /// Creates the directory with empty `stdout` and `stderr`, forgetting
    /// any earlier exit record.
    pub fn prepare(&self, alloc: AllocId) -> Result<(File, File), String> {
        let dir = self.dir(alloc);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(dir.join("exit"));
        let create = |name: &str| {
            let path = dir.join(name);
            File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))
        };
        Ok((create("stdout")?, create("stderr")?))
    }

    /// Removes the allocation's directory and everything in it. A task
    /// still writing there would recreate nothing: callers remove only
    /// allocations whose task has ended.
    pub fn remove(&self, alloc: AllocId) {
        let dir = self.dir(alloc);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", dir.display());
        }
    }

    pub fn has_exit(&self, alloc: AllocId) -> bool {
        self.dir(alloc).join("exit").exists()
    }

    /// Records how the task ended, atomically and durably, so that a
    /// worker that restarts can still report it.
    pub fn record_exit(&self, alloc: AllocId, code: i32, note: Option<&str>) -> Result<(), String> {
        let dir = self.dir(alloc);
        let temporary = dir.join("exit.tmp");
        let mut contents = code.to_string();
        if let Some(note) = note {
            contents.push('\n');
            contents.push_str(note);
        }
        let written = File::create(&temporary).and_then(|mut file| {
            file.write_all(contents.as_bytes())?;
            file.sync_all()
        });
        written
            .and_then(|()| std::fs::rename(&temporary, dir.join("exit")))
            .map_err(|e| {
                format!(
                    "cannot record the exit of {alloc} in {}: {e}",
                    dir.display()
                )
            })
    }

    /// How the task ended: the recorded code (else `fallback`), with the
    /// recorded note or the last line of stderr as the message.
    pub fn read_exit(&self, alloc: AllocId, fallback: Option<i32>) -> Exit {
        let dir = self.dir(alloc);
        let recorded = std::fs::read_to_string(dir.join("exit")).unwrap_or_default();
        let mut lines = recorded.lines();
        let code = lines
            .next()
            .and_then(|c| c.trim().parse().ok())
            .or(fallback);
        let note = lines.next().map(str::to_string);
        let last_line = || {
            std::fs::read_to_string(dir.join("stderr"))
                .ok()
                .and_then(|text| {
                    text.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(|l| l.chars().take(200).collect::<String>())
                })
        };
        let message = match (code, note) {
            (Some(code), Some(note)) => format!("exited {code}: {note}"),
            (Some(0), None) => "exited 0".to_string(),
            (Some(code), None) => match last_line() {
                Some(line) => format!("exited {code}: {line}"),
                None => format!("exited {code}"),
            },
            (None, _) => "killed before its exit status was recorded".to_string(),
        };
        Exit { code, message }
    }

    /// How a task that ran here ended, if this store knows of it.
    pub fn recorded_exit(&self, alloc: AllocId) -> Option<Exit> {
        self.dir(alloc)
            .exists()
            .then(|| self.read_exit(alloc, None))
    }

    /// Up to `max_bytes` of `stderr` or stdout from `offset`.
    pub fn output(
        &self,
        alloc: AllocId,
        stderr: bool,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Vec<u8>, String> {
        let path = self
            .dir(alloc)
            .join(if stderr { "stderr" } else { "stdout" });
        let mut file =
            File::open(&path).map_err(|e| format!("no output for {alloc} on this node: {e}"))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take(max_bytes as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}

fn parse_alloc(dir: &Path) -> Option<AllocId> {
    let name = dir.file_name()?.to_str()?;
    name.strip_prefix('a')?.parse().ok().map(AllocId)
}
