//! The Drover node runtime: Raft over a durable disk, the gRPC services and
//! the event stream with its access control (`access`), regions federated by forwarding (`federation`, `multiregion`; `region_link` is the simulator's wide-area link), voter changes (`membership`, `handover`: a leader hands over before it is removed), a replacement's copy of migrated data (`data_transfer`), the REST API (`http`, not in the simulator) and its
//! Prometheus metrics, DNS discovery (`dns`, not in the simulator), and the leader's control loop; `limits` bounds what one client holds of a node. The `drover` binary (`main.rs`) is the shell
//! around it; the simulator runs the same code.

pub mod access;
pub mod agent;
pub mod api;
mod api_acl;
pub mod batcher;
pub mod buggify;
pub mod channel;
pub mod checks;
pub mod client;
pub mod config;
pub mod contact_record;
pub mod control;
mod data_transfer;
#[cfg(not(madsim))]
pub mod dns;
pub mod election;
pub mod events;
pub mod federation;
#[cfg(not(madsim))]
pub mod grpc_requests;
pub mod handover;
#[cfg(not(madsim))]
pub mod http;
pub mod internal;
pub mod limits;
pub mod logs;
pub mod membership;
pub mod metrics;
pub mod multiregion;
pub mod paging;
pub mod propose;
pub mod raft;
pub mod read;
pub mod recovering;
pub mod region_link;
pub mod rollout;
pub mod services;
pub mod takeover;
pub mod time;
#[cfg(not(madsim))]
pub mod tls;
pub mod versions;
pub mod work;
pub mod worker;
