//! A replacement's copy of the local data of the allocation it replaces
//! (`[ephemeral_disk] migrate`): fetched in slices from the node that ran
//! it, through the internal service, then unpacked into the replacement's
//! data directory before its task starts.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use drover_adapters::exec::{OutputStore, Unpacked};
use drover_core::AllocId;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::raft::{Peers, Rpc, call_internal};
use crate::work::{DataRequest, DataSlice};

/// One slice: well under the transport's message limit.
const SLICE_BYTES: u32 = 1 << 20;
const SLICE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The first slice waits for the whole directory to be packed.
const PACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// The copies a worker has under way and finished, by the allocation they
/// are for. Each runs as a task of its own: a slow one holds up neither
/// the worker's loop nor its contact deadline (which would abandon and
/// restart it), and none is begun twice.
#[derive(Clone, Default)]
pub struct Copies(Arc<Mutex<Book>>);

#[derive(Default)]
struct Book {
    running: BTreeSet<AllocId>,
    done: BTreeSet<AllocId>,
}

impl Copies {
    /// Whether `alloc`'s copy is done; its mark goes (its task starts).
    pub fn take_done(&self, alloc: AllocId) -> bool {
        self.book().done.remove(&alloc)
    }

    /// Begins copying `from`'s data into `alloc`'s data directory, unless
    /// that is under way; `wake` is told when it ends, however it ends.
    /// A copy that fails leaves the task to start without it, as Nomad's
    /// does: the data is a convenience of the task's, and its slot must
    /// not stay empty for want of it.
    pub fn begin(
        &self,
        peers: Peers,
        store: OutputStore,
        alloc: AllocId,
        from: AllocId,
        address: String,
        wake: Arc<Notify>,
    ) {
        if !self.book().running.insert(alloc) {
            return;
        }
        let copies = self.clone();
        tokio::spawn(async move {
            match fetch(&peers, store, alloc, from, &address).await {
                Ok(unpacked) => info!(
                    %alloc,
                    "copied the data of {from} from {address}: {} entries, {} bytes",
                    unpacked.entries,
                    unpacked.bytes
                ),
                Err(e) => warn!(%alloc, "starting without the data of {from}: {e}"),
            }
            let mut book = copies.book();
            book.running.remove(&alloc);
            book.done.insert(alloc);
            drop(book);
            wake.notify_one();
        });
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Copies the data `from` left on the node at `address` into `alloc`'s
/// data directory. On an error nothing of the copy stays.
async fn fetch(
    peers: &Peers,
    store: OutputStore,
    alloc: AllocId,
    from: AllocId,
    address: &str,
) -> Result<Unpacked, String> {
    let dir = store.dir(alloc);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let archive = dir.join("incoming.tar");
    let fetched = receive(peers, &archive, from, address).await;
    let unpacked = match fetched {
        Ok(()) => {
            let path = archive.clone();
            off_the_runtime(move || store.unpack_data(alloc, &path))
                .await
                .and_then(|unpacked| unpacked)
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&archive);
    unpacked
}

/// Writes the archive of `from`'s data, slice by slice, to `archive`.
async fn receive(
    peers: &Peers,
    archive: &std::path::Path,
    from: AllocId,
    address: &str,
) -> Result<(), String> {
    let mut file = std::fs::File::create(archive)
        .map_err(|e| format!("cannot create {}: {e}", archive.display()))?;
    let mut client = peers
        .client(address)
        .await
        .map_err(|e| format!("cannot reach {address}: {e}"))?;
    let mut offset = 0u64;
    loop {
        let request = DataRequest {
            alloc: from,
            offset,
            max_bytes: SLICE_BYTES,
        };
        let timeout = if offset == 0 {
            PACK_TIMEOUT
        } else {
            SLICE_TIMEOUT
        };
        let slice: Result<DataSlice, String> =
            call_internal(&mut client, Rpc::FetchData, &request, timeout)
                .await
                .map_err(|e| format!("fetching from {address} at offset {offset}: {e}"))?;
        let slice = slice.map_err(|e| format!("{address}: {e}"))?;
        file.write_all(&slice.bytes)
            .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
        offset += slice.bytes.len() as u64;
        if offset >= slice.total {
            return Ok(());
        }
        if slice.bytes.is_empty() {
            return Err(format!(
                "{address}: the archive ended at offset {offset} of {}",
                slice.total
            ));
        }
    }
}

/// Runs `work`, which reads or writes a whole directory, on a thread of
/// its own, so the runtime's threads go on serving. The simulator runs
/// it in place: it has no threads to block, and its disk is not this one.
#[cfg_attr(madsim, allow(clippy::unused_async))]
pub(crate) async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    #[cfg(not(madsim))]
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| format!("a blocking task ended early: {e}"))
    }
    #[cfg(madsim)]
    {
        Ok(work())
    }
}
