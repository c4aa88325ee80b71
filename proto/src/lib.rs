//! Generated gRPC code for Drover's services (`proto/drover.proto`), and the
//! client side of etcd's `KV.Put` (`proto/etcd_kv.proto`) for the load
//! generator's comparison runs.

#![allow(clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("drover.v1");
}

/// etcd v3's `KV` service, `Put` only (`drover bench submit --target etcd`).
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
