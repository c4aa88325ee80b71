//! An allocation's local data: `work/` in its directory (the exec driver's
//! working directory and home, a container's `/local`). Once its task has
//! ended the data is packed into one archive, served in slices to the node
//! that runs its replacement, and unpacked there before that one starts
//! (`[ephemeral_disk] migrate`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use drover_core::AllocId;

use super::OutputStore;

pub const DATA_DIR: &str = "work";
const ARCHIVE: &str = "data.tar";
/// The most one slice carries, whatever is asked.
pub const MAX_SLICE: usize = 4 << 20;

/// What an unpacked archive held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
}

impl OutputStore {
    pub fn data_dir(&self, alloc: AllocId) -> PathBuf {
        self.dir(alloc).join(DATA_DIR)
    }

    /// Up to `max_bytes` of the archive of `alloc`'s data from `offset`,
    /// and the archive's whole length. Asking from offset 0 packs the
    /// archive afresh; the caller asks only once the task has ended, so
    /// the data no longer changes.
    pub fn data_slice(
        &self,
        alloc: AllocId,
        offset: u64,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, u64), String> {
        let dir = self.dir(alloc);
        if !dir.is_dir() {
            return Err(format!("no allocation {alloc} on this node"));
        }
        let archive = dir.join(ARCHIVE);
        if offset == 0 {
            pack(&self.data_dir(alloc), &archive)?;
        }
        let max_bytes = max_bytes.min(MAX_SLICE);
        let mut file =
            File::open(&archive).map_err(|e| format!("cannot open {}: {e}", archive.display()))?;
        let total = file.metadata().map_err(|e| e.to_string())?.len();
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take(max_bytes as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", archive.display()))?;
        if offset + bytes.len() as u64 >= total {
            // Served whole: a copy asked again packs afresh.
            let _ = std::fs::remove_file(&archive);
        }
        Ok((bytes, total))
    }

    /// Unpacks an archive made by [`Self::data_slice`] into `alloc`'s data
    /// directory. Any entry that would land outside it fails the whole
    /// unpacking, and nothing of it stays: the task then starts empty
    /// rather than with part of its data.
    pub fn unpack_data(&self, alloc: AllocId, archive: &Path) -> Result<Unpacked, String> {
        let target = self.data_dir(alloc);
        std::fs::create_dir_all(&target)
            .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        let unpacked = unpack(archive, &target);
        if unpacked.is_err() {
            let _ = std::fs::remove_dir_all(&target);
            let _ = std::fs::create_dir_all(&target);
        }
        unpacked
    }
}

/// Packs `data` (which may not exist: an empty archive) into `archive`,
/// atomically. Symbolic links are packed as links, never followed: a task
/// could point one anywhere on its host.
fn pack(data: &Path, archive: &Path) -> Result<(), String> {
    // Each packing its own: two at once must not write one file.
    static PACKS: AtomicU64 = AtomicU64::new(0);
    let temporary = archive.with_extension(format!(
        "tar.{}-{}.tmp",
        std::process::id(),
        PACKS.fetch_add(1, Ordering::Relaxed)
    ));
    let file = File::create(&temporary)
        .map_err(|e| format!("cannot create {}: {e}", temporary.display()))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    if data.is_dir() {
        builder
            .append_dir_all(".", data)
            .map_err(|e| format!("cannot pack {}: {e}", data.display()))?;
    }
    builder
        .into_inner()
        .and_then(|file| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, archive)
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))
}

fn unpack(archive: &Path, target: &Path) -> Result<Unpacked, String> {
    let file =
        File::open(archive).map_err(|e| format!("cannot open {}: {e}", archive.display()))?;
    let mut reader = tar::Archive::new(file);
    reader.set_preserve_permissions(true);
    // Files keep their owners where the agent may give them (as root):
    // a container user's files stay its own on the new node.
    let agent_is_root = std::fs::metadata(target).is_ok_and(|m| m.uid() == 0);
    reader.set_preserve_ownerships(agent_is_root);
    // Data a task controls never becomes a setuid or setgid program of
    // the agent's.
    reader.set_mask(0o6000);
    reader.set_overwrite(true);
    let mut unpacked = Unpacked {
        entries: 0,
        bytes: 0,
    };
    let entries = reader
        .entries()
        .map_err(|e| format!("{} is no archive: {e}", archive.display()))?;
    for (i, entry) in entries.enumerate() {
        let mut entry =
            entry.map_err(|e| format!("{}: entry {i} is damaged: {e}", archive.display()))?;
        let path = entry
            .path()
            .map_or_else(|_| format!("entry {i}"), |p| p.display().to_string());
        let inside = entry
            .unpack_in(target)
            .map_err(|e| format!("{}: cannot unpack {path}: {}", archive.display(), chain(&e)))?;
        if !inside {
            return Err(format!(
                "{}: {path} would land outside {}",
                archive.display(),
                target.display()
            ));
        }
        unpacked.entries += 1;
        unpacked.bytes += entry.size();
    }
    Ok(unpacked)
}

/// An error and what caused it: the tar crate's own says only which
/// entry failed.
fn chain(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        said.push_str(": ");
        said.push_str(&e.to_string());
        cause = e.source();
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, OutputStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = OutputStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// The whole archive of `alloc`'s data, fetched in slices of `slice`.
    fn fetch(store: &OutputStore, alloc: AllocId, slice: usize) -> Vec<u8> {
        let mut archive = Vec::new();
        loop {
            let (bytes, total) = store
                .data_slice(alloc, archive.len() as u64, slice)
                .unwrap();
            archive.extend(bytes);
            if archive.len() as u64 >= total {
                return archive;
            }
        }
    }

    #[test]
    fn data_fetched_in_slices_unpacks_to_the_same_tree() {
        let (dir, store) = store();
        let from = AllocId(1);
        let data = store.data_dir(from);
        std::fs::create_dir_all(data.join("db/wal")).unwrap();
        std::fs::write(data.join("state"), "version 7\n").unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(data.join("db/wal/0001"), &big).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", data.join("link")).unwrap();
        let archive = fetch(&store, from, 4096);
        let received = dir.path().join("received.tar");
        std::fs::write(&received, archive).unwrap();
        let to = AllocId(2);
        let unpacked = store.unpack_data(to, &received).unwrap();
        assert!(unpacked.entries >= 5, "{unpacked:?}");
        let copy = store.data_dir(to);
        assert_eq!(
            std::fs::read_to_string(copy.join("state")).unwrap(),
            "version 7\n"
        );
        assert_eq!(std::fs::read(copy.join("db/wal/0001")).unwrap(), big);
        assert_eq!(
            std::fs::read_link(copy.join("link")).unwrap(),
            Path::new("/etc/hostname"),
            "a link stays a link; what it points at is not copied"
        );
    }

    #[test]
    fn modes_stay_but_setuid_goes_and_owners_stay_where_the_agent_is_root() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, store) = store();
        let from = AllocId(1);
        let data = store.data_dir(from);
        std::fs::create_dir_all(&data).unwrap();
        let private = data.join("private.db");
        std::fs::write(&private, "rows").unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        let program = data.join("program");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let root = std::fs::metadata(&data).unwrap().uid() == 0;
        if root {
            std::os::unix::fs::chown(&private, Some(65534), Some(65534)).unwrap();
        }
        let received = dir.path().join("received.tar");
        std::fs::write(&received, fetch(&store, from, 1 << 20)).unwrap();
        assert!(
            !store.dir(from).join(ARCHIVE).exists(),
            "the archive goes once served whole"
        );
        store.unpack_data(AllocId(2), &received).unwrap();
        let copy = store.data_dir(AllocId(2));
        let mode = |name: &str| std::fs::metadata(copy.join(name)).unwrap().mode() & 0o7777;
        assert_eq!(mode("private.db"), 0o600);
        assert_eq!(mode("program"), 0o755, "setuid stripped");
        if root {
            let meta = std::fs::metadata(copy.join("private.db")).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "owner kept");
        }
    }

    #[test]
    fn an_allocation_that_kept_no_data_gives_an_empty_archive() {
        let (dir, store) = store();
        store.prepare(AllocId(1)).unwrap();
        let archive = fetch(&store, AllocId(1), 1024);
        let received = dir.path().join("received.tar");
        std::fs::write(&received, archive).unwrap();
        let unpacked = store.unpack_data(AllocId(2), &received).unwrap();
        assert_eq!(unpacked.entries, 0);
        assert!(store.data_dir(AllocId(2)).is_dir());
    }

    #[test]
    fn an_allocation_this_node_never_ran_has_no_data() {
        let (_dir, store) = store();
        let err = store.data_slice(AllocId(9), 0, 1024).unwrap_err();
        assert!(err.contains("no allocation a000009"), "{err}");
    }

    #[test]
    fn an_entry_that_climbs_out_of_the_data_directory_fails_the_whole_unpacking() {
        let (dir, store) = store();
        let hostile = dir.path().join("hostile.tar");
        let mut builder = tar::Builder::new(File::create(&hostile).unwrap());
        let mut add = |name: &str, body: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_uid(0);
            header.set_gid(0);
            // Written raw: the builder's own path setter refuses `..`.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            builder.append(&header, body).unwrap();
        };
        add("fine", b"kept?");
        add("../escaped", b"out");
        builder.finish().unwrap();
        drop(builder);
        let err = store.unpack_data(AllocId(3), &hostile).unwrap_err();
        assert!(err.contains("../escaped"), "{err}");
        assert!(!store.dir(AllocId(3)).join("escaped").exists());
        assert!(
            !store.data_dir(AllocId(3)).join("fine").exists(),
            "nothing of a refused archive stays"
        );
    }

    #[test]
    fn an_entry_written_through_a_link_that_leads_out_fails_the_whole_unpacking() {
        let (dir, store) = store();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let hostile = dir.path().join("through-link.tar");
        let mut builder = tar::Builder::new(File::create(&hostile).unwrap());
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        link.set_mode(0o777);
        link.set_uid(0);
        link.set_gid(0);
        builder.append_link(&mut link, "door", &outside).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_size(3);
        file.set_mode(0o644);
        file.set_entry_type(tar::EntryType::Regular);
        file.set_uid(0);
        file.set_gid(0);
        builder
            .append_data(&mut file, "door/planted", &b"out"[..])
            .unwrap();
        builder.finish().unwrap();
        drop(builder);
        let err = store.unpack_data(AllocId(5), &hostile).unwrap_err();
        assert!(err.contains("door/planted"), "{err}");
        assert!(!outside.join("planted").exists(), "written outside");
        assert!(!store.data_dir(AllocId(5)).join("door").exists());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Damaged archives (a real one with bytes overwritten) are
        /// refused or unpacked, never a panic, and never write outside
        /// the data directory.
        #[test]
        fn a_damaged_archive_never_escapes_its_directory(
            damage in proptest::collection::vec((0usize..6144, proptest::prelude::any::<u8>()), 1..16)
        ) {
            let (dir, store) = store();
            let from = AllocId(1);
            let data = store.data_dir(from);
            std::fs::create_dir_all(data.join("d")).unwrap();
            std::fs::write(data.join("d/f"), "contents").unwrap();
            std::fs::write(data.join("g"), vec![7u8; 1500]).unwrap();
            let mut archive = fetch(&store, from, 1 << 20);
            for (at, byte) in damage {
                let at = at % archive.len();
                archive[at] = byte;
            }
            let received = dir.path().join("received.tar");
            std::fs::write(&received, &archive).unwrap();
            let _ = store.unpack_data(AllocId(2), &received);
            let mut top: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            top.sort();
            proptest::prop_assert_eq!(top, ["a000001", "a000002", "received.tar"]);
            let second: Vec<String> = std::fs::read_dir(store.dir(AllocId(2)))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            proptest::prop_assert_eq!(second, ["work"]);
        }
    }

    #[test]
    fn bytes_that_are_no_archive_are_refused_with_the_file_named() {
        let (dir, store) = store();
        let junk = dir.path().join("junk.tar");
        std::fs::write(&junk, vec![0x5a; 3000]).unwrap();
        let err = store.unpack_data(AllocId(4), &junk).unwrap_err();
        assert!(err.contains("junk.tar"), "{err}");
    }
}
