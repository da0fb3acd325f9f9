//! Types and services generated from `proto/` by `build.rs`.

/// The `apiextensions.fn.proto.v1` protocol: messages, client and server.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("apiextensions.r#fn.proto.v1");
}

/// The `apiextensions.fn.proto.v1beta1` service. Its messages are the
/// [`v1`] types, because the two versions share one wire format.
#[allow(missing_docs, clippy::all)]
pub mod v1beta1 {
    tonic::include_proto!("apiextensions.r#fn.proto.v1beta1");
}

/// The encoded `FileDescriptorSet` of both protocol versions, for gRPC
/// reflection and for conformance tests.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/function_descriptor.bin"));
