//! Every internal RPC's payload, request and reply, over arbitrary bytes
//! (postcard, as a peer or a forged client would send them): never a
//! panic; a payload that decodes encodes back to bytes that decode to the
//! same encoding. The first byte picks the message.
#![no_main]

use drover_node::handover::CampaignRequest;
use drover_node::membership::{Acknowledged, Announcement};
use drover_node::propose::{Forwarded, Outcome};
use drover_node::raft::{RaftId, TypeConfig};
use drover_node::read::ReadIndexRequest;
use drover_node::work::{DataRequest, DataSlice, OutputRequest, PollReply, PollRequest};
use libfuzzer_sys::fuzz_target;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn stable<T: Serialize + DeserializeOwned>(bytes: &[u8]) {
    let Ok(value) = postcard::from_bytes::<T>(bytes) else {
        return;
    };
    let encoded = postcard::to_stdvec(&value).expect("a decoded message encodes");
    let again: T = postcard::from_bytes(&encoded).expect("an encoded message decodes");
    let encoded_again = postcard::to_stdvec(&again).expect("a decoded message encodes");
    assert_eq!(encoded, encoded_again, "{}", std::any::type_name::<T>());
}

type Answered<T, E = openraft::error::Infallible> = Result<T, RaftError<RaftId, E>>;

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, payload)) = bytes.split_first() else {
        return;
    };
    match which % 21 {
        0 => stable::<AppendEntriesRequest<TypeConfig>>(payload),
        1 => stable::<Answered<AppendEntriesResponse<RaftId>>>(payload),
        2 => stable::<VoteRequest<RaftId>>(payload),
        3 => stable::<Answered<VoteResponse<RaftId>>>(payload),
        4 => stable::<InstallSnapshotRequest<TypeConfig>>(payload),
        5 => stable::<Answered<InstallSnapshotResponse<RaftId>, InstallSnapshotError>>(payload),
        6 => stable::<Forwarded>(payload),
        7 => stable::<Vec<Outcome>>(payload),
        8 => stable::<ReadIndexRequest>(payload),
        9 => stable::<Result<u64, String>>(payload),
        10 => stable::<PollRequest>(payload),
        11 => stable::<PollReply>(payload),
        12 => stable::<OutputRequest>(payload),
        13 => stable::<Result<Vec<u8>, String>>(payload),
        14 => stable::<Announcement>(payload),
        15 => stable::<Acknowledged>(payload),
        16 => stable::<()>(payload),
        17 => stable::<CampaignRequest>(payload),
        18 => stable::<DataRequest>(payload),
        19 => stable::<Result<DataSlice, String>>(payload),
        _ => stable::<drover_core::Command>(payload),
    }
});
