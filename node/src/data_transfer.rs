//! A replacement's copy of the local data of the allocation it replaces
//! (`[ephemeral_disk] migrate`): fetched in slices from the node that ran
//! it, through the internal service, then unpacked into the replacement's
//! data directory before its task starts.

use std::io::Write;

use drover_adapters::exec::{OutputStore, Unpacked};
use drover_core::AllocId;

use crate::raft::{Peers, Rpc, call_internal};
use crate::work::{DataRequest, DataSlice};

/// One slice: well under the transport's message limit.
const SLICE_BYTES: u32 = 1 << 20;
const SLICE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Copies the data `from` left on the node at `address` into `alloc`'s
/// data directory. On an error nothing of the copy stays.
pub async fn fetch(
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
        let slice: Result<DataSlice, String> =
            call_internal(&mut client, Rpc::FetchData, &request, SLICE_TIMEOUT)
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
