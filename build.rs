//! Compiles `proto/` with the pure-Rust `protox` compiler, so a build needs no
//! system `protoc`, and generates the tonic server and client code from the
//! resulting descriptor set. The same descriptor set is written to `OUT_DIR`
//! for gRPC reflection, so reflection always describes what was compiled.

use std::path::PathBuf;

const PROTO_FILES: [&str; 2] = [
    "apiextensions/fn/proto/v1/run_function.proto",
    "apiextensions/fn/proto/v1beta1/run_function.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");

    let descriptors = protox::compile(PROTO_FILES, ["proto"])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("function_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;

    // The v1beta1 messages are byte-for-byte the v1 messages under another
    // package, so the v1beta1 service is generated over the v1 Rust types.
    // One set of types serves both services with no conversion.
    // Responses are encoded by the crate's own linear-time encoder; see
    // src/protocol/wire.rs.
    tonic_prost_build::configure()
        .btree_map(".")
        .codec_path("crate::protocol::codec::FunctionCodec")
        .extern_path(".apiextensions.fn.proto.v1beta1", "crate::proto::v1")
        .compile_fds(descriptors)?;

    Ok(())
}
