//! A DNS message from anyone who can reach the node's DNS port: read as
//! a query or refused with a reason, never a panic; an answer to a query
//! read stays within a UDP message and echoes its id.
#![no_main]

use drover_node::dns::wire::{self, Rcode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match wire::parse_query(bytes) {
        Ok(query) => {
            let answer = wire::answer(&query, Rcode::NxDomain, &[], &[], wire::MAX_UDP);
            assert!(answer.len() <= wire::MAX_UDP);
            assert_eq!(answer[..2], bytes[..2], "the id echoed");
        }
        Err(malformed) => {
            assert!(!malformed.why.is_empty());
            if let Some(id) = malformed.id {
                assert_eq!(wire::refusal(id, malformed.rcode).len(), 12);
            }
        }
    }
});
