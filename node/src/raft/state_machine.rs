//! openraft's state machine: Drover's core `ClusterState`, applied in log
//! order, snapshotted to an atomic, checksummed file that the log is then
//! compacted behind. Readers (the API) share it behind a lock.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_adapters::disk::{DiskError, FileSystem, read_small_file, write_small_file};
use drover_core::ClusterState;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{RwLock, watch};

use super::assigned::Assigned;
use super::log_chain::LogChain;
use super::{LogId, RaftId, TypeConfig, io_error};

const SNAPSHOT_MAGIC: &[u8; 8] = b"DRVRSNPF";
const SNAPSHOT_VERSION: u32 = 1;

type Result<T> = std::result::Result<T, StorageError<RaftId>>;
type Membership = StoredMembership<RaftId, openraft::BasicNode>;

/// What the API reads: the cluster state and how far it has applied.
#[derive(Default)]
pub struct Replica {
    pub state: ClusterState,
    pub last_applied: Option<LogId>,
    pub membership: Membership,
    /// The hash chain over every entry applied so far.
    pub log_chain: LogChain,
}

pub type SharedState = Arc<RwLock<Replica>>;

/// A snapshot file: Raft's bookkeeping plus the core's own snapshot bytes
/// (which carry their own version header and checksum).
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<RaftId, openraft::BasicNode>,
    state: Vec<u8>,
}

pub struct StateMachine<F: FileSystem> {
    fs: F,
    shared: SharedState,
    snapshot_path: PathBuf,
    /// The last applied log index.
    applied: watch::Sender<u64>,
    /// Whose allocations changed, for workers' long polls.
    assigned: Assigned,
}

impl<F: FileSystem + Clone> StateMachine<F> {
    /// Opens the state machine in `dir`, starting from the last snapshot.
    pub fn open(fs: F, dir: &Path) -> std::result::Result<Self, DiskError> {
        let snapshot_path = dir.join("state.snapshot");
        let mut applied = Replica::default();
        if let Some(file) = read_snapshot_file(&fs, &snapshot_path)? {
            applied.state = ClusterState::restore(&file.state)
                .map_err(|e| DiskError::corrupt(&snapshot_path, 24, e.to_string()))?;
            applied.last_applied = file.meta.last_log_id;
            applied.log_chain = LogChain::from_snapshot_id(&file.meta.snapshot_id)
                .map_err(|e| DiskError::corrupt(&snapshot_path, 24, e.to_string()))?;
            applied.membership = file.meta.last_membership;
        }
        let index = applied.last_applied.map_or(0, |id| id.index);
        Ok(Self {
            fs,
            shared: Arc::new(RwLock::new(applied)),
            snapshot_path,
            applied: watch::Sender::new(index),
            assigned: Assigned::default(),
        })
    }

    pub fn shared(&self) -> SharedState {
        self.shared.clone()
    }

    /// Follows the last applied log index.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Follows, per node, when its allocations change.
    pub fn assigned(&self) -> Assigned {
        self.assigned.clone()
    }
}

fn read_snapshot_file<F: FileSystem>(
    fs: &F,
    path: &Path,
) -> std::result::Result<Option<SnapshotFile>, DiskError> {
    let Some(body) = read_small_file(fs, path, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)? else {
        return Ok(None);
    };
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|e| DiskError::corrupt(path, 24, format!("undecodable snapshot: {e}")))
}

impl<F: FileSystem + Clone> RaftStateMachine<TypeConfig> for StateMachine<F> {
    type SnapshotBuilder = SnapshotBuilder<F>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership)> {
        let applied = self.shared.read().await;
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<drover_core::Response>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut applied = self.shared.write().await;
        let before = applied.last_applied.map_or(0, |id| id.index);
        let mut responses = Vec::new();
        for entry in entries {
            let encoded = postcard::to_stdvec(&entry)
                .map_err(|e| StorageIOError::apply(entry.log_id, &io_error(e)))?;
            applied.log_chain = applied.log_chain.extend(&encoded);
            applied.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Normal(command) => applied.state.apply(entry.log_id.index, command),
                EntryPayload::Membership(membership) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Ok(drover_core::state::Success::Unchanged)
                }
                // A new leader's first entry: its election, for the event
                // stream, at the same index on every replica.
                EntryPayload::Blank => {
                    let term = entry.log_id.leader_id.term;
                    applied.state.leader_elected(entry.log_id.index, term);
                    Ok(drover_core::state::Success::Unchanged)
                }
            };
            responses.push(response);
        }
        if let Some(id) = applied.last_applied {
            match applied.state.assigned_since(before) {
                Some(nodes) => self.assigned.changed(&nodes, id.index),
                None => self.assigned.all_changed(id.index),
            }
            self.applied.send_replace(id.index);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            fs: self.fs.clone(),
            shared: self.shared.clone(),
            path: self.snapshot_path.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<RaftId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let log_chain = LogChain::from_snapshot_id(&meta.snapshot_id)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &io_error(e)))?;
        let state_bytes = snapshot.into_inner();
        let state = ClusterState::restore(&state_bytes)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &io_error(e)))?;
        let file = SnapshotFile {
            meta: meta.clone(),
            state: state_bytes,
        };
        persist(&self.fs, &self.snapshot_path, &file)?;
        let mut applied = self.shared.write().await;
        applied.state = state;
        applied.last_applied = meta.last_log_id;
        applied.log_chain = log_chain;
        applied.membership = meta.last_membership.clone();
        let index = meta.last_log_id.map_or(0, |id| id.index);
        self.assigned.all_changed(index);
        self.applied.send_replace(index);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        let file = read_snapshot_file(&self.fs, &self.snapshot_path)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(file.map(|f| Snapshot {
            meta: f.meta,
            snapshot: Box::new(Cursor::new(f.state)),
        }))
    }
}

fn persist<F: FileSystem>(fs: &F, path: &Path, file: &SnapshotFile) -> Result<()> {
    let body = postcard::to_stdvec(file)
        .map_err(|e| StorageIOError::write_snapshot(Some(file.meta.signature()), &io_error(e)))?;
    write_small_file(fs, path, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, &body)
        .map_err(|e| StorageIOError::write_snapshot(Some(file.meta.signature()), &e).into())
}

pub struct SnapshotBuilder<F: FileSystem> {
    fs: F,
    shared: SharedState,
    path: PathBuf,
}

impl<F: FileSystem + Clone> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<F> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        // Only the O(1) freeze holds the lock: applying goes on while the
        // frozen state is encoded and written.
        let (frozen, last_applied, membership, chain) = {
            let applied = self.shared.read().await;
            (
                applied.state.frozen(),
                applied.last_applied,
                applied.membership.clone(),
                applied.log_chain,
            )
        };
        let state = frozen.encode();
        let snapshot_id = last_applied.map_or_else(
            || "empty".to_string(),
            |id| chain.snapshot_id(id.leader_id.term, id.index),
        );
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let file = SnapshotFile {
            meta: meta.clone(),
            state,
        };
        persist(&self.fs, &self.path, &file)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(file.state)),
        })
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use drover_adapters::disk::RealFs;

    use super::*;

    fn meta(snapshot_id: String) -> SnapshotMeta<RaftId, openraft::BasicNode> {
        SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(3, 1),
                42,
            )),
            last_membership: Membership::default(),
            snapshot_id,
        }
    }

    fn chain_of_multibyte_characters() -> String {
        // 64 bytes but 22 characters: a check of the length in bytes
        // followed by slicing two bytes at a time used to panic on it.
        format!("3-42-a{}", "€".repeat(21))
    }

    #[test]
    fn a_snapshot_file_whose_id_is_not_a_chain_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotFile {
            meta: meta(chain_of_multibyte_characters()),
            state: ClusterState::default().snapshot(),
        };
        persist(&RealFs, &dir.path().join("state.snapshot"), &file).unwrap();
        let error = StateMachine::open(RealFs, dir.path()).err().unwrap();
        let message = error.to_string();
        assert!(error.is_corruption(), "{message}");
        assert!(message.contains("state.snapshot"), "{message}");
        assert!(message.contains("64 hex digits"), "{message}");
    }

    #[test]
    fn an_installed_snapshot_whose_id_is_not_a_chain_is_refused_and_not_kept() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut machine = StateMachine::open(RealFs, dir.path()).unwrap();
        let state = ClusterState::default().snapshot();
        let result = runtime.block_on(machine.install_snapshot(
            &meta(chain_of_multibyte_characters()),
            Box::new(Cursor::new(state)),
        ));
        let message = result.unwrap_err().to_string();
        assert!(message.contains("64 hex digits"), "{message}");
        assert!(!dir.path().join("state.snapshot").exists());
    }
}
