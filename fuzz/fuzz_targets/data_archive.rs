//! The archive of an allocation's local data, as a peer sends it to the
//! node that runs its replacement: arbitrary bytes unpack or are refused,
//! never a panic, and nothing is ever written outside the new
//! allocation's data directory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use drover_adapters::exec::OutputStore;
use drover_core::AllocId;
use libfuzzer_sys::fuzz_target;

/// A directory of this process's own, emptied before each input.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::temp_dir().join(format!("drover-fuzz-data-{}", std::process::id()))
    })
}

fuzz_target!(|bytes: &[u8]| {
    let root = scratch();
    let _ = std::fs::remove_dir_all(root);
    let store_root = root.join("allocs");
    let store = OutputStore::open(&store_root).expect("a scratch store");
    let archive = root.join("received.tar");
    std::fs::write(&archive, bytes).expect("the input written");
    let _ = store.unpack_data(AllocId(2), &archive);
    let mut top: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["allocs", "received.tar"], "written outside the store");
    let allocs: Vec<String> = std::fs::read_dir(&store_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(allocs, ["a000002"], "written outside the allocation");
    let inside: Vec<String> = std::fs::read_dir(store_root.join("a000002"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(inside, ["work"], "written beside the data directory");
});
