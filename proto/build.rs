//! Generates the gRPC code with a vendored `protoc`, so building needs no
//! system package.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_build::configure().compile_protos_with_config(
        config,
        &["proto/drover.proto", "proto/etcd_kv.proto"],
        &["proto"],
    )?;
    println!("cargo:rerun-if-changed=proto/drover.proto");
    println!("cargo:rerun-if-changed=proto/etcd_kv.proto");
    Ok(())
}
