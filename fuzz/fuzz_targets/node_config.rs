//! node.toml over arbitrary text: never a panic, whether it parses or not,
//! nor in reading the durations, sizes and addresses it holds.
#![no_main]

use drover_node::config::NodeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match NodeConfig::parse(text) {
        Err(message) => assert!(!message.is_empty(), "a refusal that says nothing"),
        Ok(config) => {
            let _ = config.raft.millis();
            let _ = config.liveness.reconcile_config();
            let _ = config.gc.policy();
            let _ = config.registration();
            let _ = config.control_addrs();
            let _ = (config.name(), config.advertise(), config.is_initial_voter());
        }
    }
});
