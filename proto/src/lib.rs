//! Generated gRPC code for Drover's services (`proto/drover.proto`).

#![allow(clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("drover.v1");
}
