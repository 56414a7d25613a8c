//! Generates prost messages, tonic clients/servers, pbjson serde impls and a descriptor set
//! from every contract under `marketplace/`. protoc comes from `protoc-bin-vendored` unless
//! `PROTOC` is set, so a fresh machine needs no system package.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut protos = Vec::new();
    collect_protos(&root.join("marketplace"), &mut protos)?;
    protos.sort();
    // google.rpc error details are compiled into the descriptor set so that reflection clients
    // (grpcurl, Postman) can decode the BadRequest/PreconditionFailure details we send.
    protos.push(root.join("third_party/google/rpc/error_details.proto"));
    protos.push(root.join("third_party/google/rpc/status.proto"));
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out.join("marketplace_descriptor.bin");

    // Type names (`prost::Name`) let the input limits find each request's descriptor.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_with_config(config, &protos, &[root.clone(), root.join("third_party")])?;

    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .build(&[".marketplace", ".google.api"])?;

    println!("cargo:rerun-if-changed=marketplace");
    println!("cargo:rerun-if-changed=third_party");
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
