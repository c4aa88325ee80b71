//! openraft's log storage over the adapters' durable log: entries are
//! postcard-encoded into checksummed records; the vote is an atomic small
//! file. Every append is fsynced before openraft hears it is flushed.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use drover_adapters::disk::{DiskLog, FileSystem, LogRecord, read_small_file, write_small_file};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{CommittedLeaderId, RaftLogReader, StorageError, StorageIOError, Vote};
use tokio::sync::Mutex;

use super::{LogId, RaftId, TypeConfig, io_error};

const VOTE_MAGIC: &[u8; 8] = b"DRVRVOTE";
const VOTE_VERSION: u32 = 1;
const LEADER_TERM_MAGIC: &[u8; 8] = b"DRVRLTRM";
const LEADER_TERM_VERSION: u32 = 1;

type Entry = openraft::Entry<TypeConfig>;
type Result<T> = std::result::Result<T, StorageError<RaftId>>;

struct Inner<F: FileSystem> {
    fs: F,
    log: DiskLog<F>,
    vote_path: PathBuf,
    /// The highest term of a leader this node took entries from (or
    /// was): recorded before any entry of that term is, so no entry this
    /// log ever held is of a later term. `None` for a log older than the
    /// record.
    leader_term: Option<u64>,
    leader_term_path: PathBuf,
}

/// An entry as a log of format 2 or earlier holds it (job specs without
/// extensions), encoded as this build writes it.
fn upgrade_entry(payload: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let entry: Entry = drover_core::extensions::decoding_format_1(|| postcard::from_bytes(payload))
        .map_err(|e| format!("undecodable entry: {e}"))?;
    postcard::to_stdvec(&entry).map_err(|e| e.to_string())
}

/// Waits out what the disk says a durable write takes beyond the call
/// itself, between the write and its fsync (so a crash meanwhile tears
/// it); the caller holds the log, so every later write waits too.
async fn wait_for_slow_disk(delay: std::time::Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The Raft log and vote of one node. Clones share the same files.
pub struct LogStore<F: FileSystem> {
    inner: Arc<Mutex<Inner<F>>>,
    committed: CommittedIndex,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl<F: FileSystem> Clone for LogStore<F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            committed: self.committed.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// The newest log index this node has heard is committed, as Raft tells
/// its log store (a follower hears it from the leader, and may be ahead
/// of what it has applied). In memory only: after a restart it starts at
/// 0 until the next commit is heard; what applied is the state machine's
/// own record.
#[derive(Clone, Default)]
pub struct CommittedIndex(Arc<AtomicU64>);

impl CommittedIndex {
    /// `None` until a commit was heard since this node started.
    pub fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&i| i > 0)
    }
}

fn log_id(index: u64, term: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

impl<F: FileSystem + Clone> LogStore<F> {
    /// Opens the log in `dir`; returns what recovery found so the caller
    /// can report a cut-off torn tail.
    pub fn open(
        fs: F,
        dir: &Path,
    ) -> std::result::Result<
        (Self, drover_adapters::disk::Recovery),
        drover_adapters::disk::DiskError,
    > {
        let (log, recovery) = DiskLog::open_upgrading(fs.clone(), dir, &upgrade_entry)?;
        let leader_term_path = dir.join("raft.leader_term");
        let leader_term = read_small_file(
            &fs,
            &leader_term_path,
            LEADER_TERM_MAGIC,
            LEADER_TERM_VERSION,
        )?
        .map(|body| {
            <[u8; 8]>::try_from(body.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| {
                    drover_adapters::disk::DiskError::corrupt(
                        &leader_term_path,
                        24,
                        format!("a leader term of {} bytes, not 8", body.len()),
                    )
                })
        })
        .transpose()?;
        let inner = Inner {
            fs,
            log,
            vote_path: dir.join("raft.vote"),
            leader_term,
            leader_term_path,
        };
        Ok((
            Self {
                inner: Arc::new(Mutex::new(inner)),
                committed: CommittedIndex::default(),
                metrics: None,
            },
            recovery,
        ))
    }
}

impl<F: FileSystem> LogStore<F> {
    /// Records its appends' durations and sizes in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// What this node has heard is committed; shared with the store.
    pub fn committed(&self) -> CommittedIndex {
        self.committed.clone()
    }

    /// The index of the last entry the log holds (or was purged up to).
    pub async fn last_index(&self) -> u64 {
        self.inner
            .lock()
            .await
            .log
            .last()
            .map_or(0, |(index, _)| index)
    }
}

impl<F: FileSystem + Clone> LogStore<F> {
    /// The latest term any entry this log ever held could be of, even
    /// entries since lost: the highest leader term recorded, or for a log
    /// from before that record, the term voted in (which only bounds it
    /// more loosely, as failed elections raise it).
    pub async fn entries_term_at_most(&mut self) -> Result<u64> {
        let recorded = self.inner.lock().await.leader_term;
        let last = self.inner.lock().await.log.last().map_or(0, |(_, t)| t);
        let bound = match recorded {
            Some(term) => term,
            None => self
                .read_vote()
                .await?
                .map_or(0, |v| v.leader_id().get_term()),
        };
        Ok(bound.max(last))
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let from = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i + 1,
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(i) => i + 1,
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (from, to)
}

impl<F: FileSystem + Clone> RaftLogReader<TypeConfig> for LogStore<F> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>> {
        let (from, to) = bounds(&range);
        let inner = self.inner.lock().await;
        inner
            .log
            .range(from, to)
            .map(|record| {
                postcard::from_bytes(&record.payload).map_err(|e| {
                    StorageIOError::read_log_at_index(record.index, &io_error(e)).into()
                })
            })
            .collect()
    }
}

impl<F: FileSystem + Clone> RaftLogStorage<TypeConfig> for LogStore<F> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let inner = self.inner.lock().await;
        Ok(LogState {
            last_purged_log_id: inner.log.purged().map(|(i, t)| log_id(i, t)),
            last_log_id: inner.log.last().map(|(i, t)| log_id(i, t)),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<()> {
        if let Some(committed) = committed {
            self.committed
                .0
                .fetch_max(committed.index, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn save_vote(&mut self, vote: &Vote<RaftId>) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let term = vote.leader_id().get_term();
        if vote.is_committed() && inner.leader_term.is_none_or(|t| t < term) {
            write_small_file(
                &inner.fs,
                &inner.leader_term_path,
                LEADER_TERM_MAGIC,
                LEADER_TERM_VERSION,
                &term.to_le_bytes(),
            )
            .map_err(|e| StorageIOError::write_vote(&e))?;
            inner.leader_term = Some(term);
        }
        let body =
            postcard::to_stdvec(vote).map_err(|e| StorageIOError::write_vote(&io_error(e)))?;
        write_small_file(&inner.fs, &inner.vote_path, VOTE_MAGIC, VOTE_VERSION, &body)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        wait_for_slow_disk(inner.fs.durable_write_delay()).await;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftId>>> {
        let inner = self.inner.lock().await;
        let body = read_small_file(&inner.fs, &inner.vote_path, VOTE_MAGIC, VOTE_VERSION)
            .map_err(|e| StorageIOError::read_vote(&e))?;
        body.map(|b| {
            postcard::from_bytes(&b).map_err(|e| StorageIOError::read_vote(&io_error(e)).into())
        })
        .transpose()
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut records = Vec::new();
        for entry in entries {
            let payload = postcard::to_stdvec(&entry)
                .map_err(|e| StorageIOError::write_logs(&io_error(e)))?;
            records.push(LogRecord {
                index: entry.log_id.index,
                term: entry.log_id.leader_id.term,
                payload,
            });
        }
        let mut inner = self.inner.lock().await;
        let started = std::time::Instant::now();
        let mut written = inner.log.write(&records);
        if written.is_ok() {
            wait_for_slow_disk(inner.fs.durable_write_delay()).await;
            written = inner.log.sync();
        }
        if let Some(metrics) = &self.metrics {
            crate::metrics::Metrics::observe(&metrics.fsync_seconds, started.elapsed());
            #[allow(clippy::cast_precision_loss)]
            metrics.append_batch_entries.observe(records.len() as f64);
        }
        let flushed = written.as_ref().copied().map_err(io_error);
        callback.log_io_completed(flushed);
        written.map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<()> {
        let mut inner = self.inner.lock().await;
        inner
            .log
            .truncate_from(log_id.index)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<()> {
        let mut inner = self.inner.lock().await;
        inner
            .log
            .purge_upto(log_id.index, log_id.leader_id.term)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
