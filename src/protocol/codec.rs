//! The tonic codec of the generated services and clients of both protocol
//! versions. prost decodes every message. Responses are encoded by
//! [`wire::encode_response`](super::wire::encode_response), whose cost grows
//! linearly with the response, while prost's also grows with nesting depth.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic_prost::ProstDecoder;

use crate::proto::v1::{RunFunctionRequest, RunFunctionResponse};

use super::wire::encode_response;

/// A message the codec can send.
pub trait WireEncode {
    /// Appends the message's protobuf encoding to `buf`.
    fn encode_wire(&self, buf: &mut EncodeBuf<'_>);
}

impl WireEncode for RunFunctionResponse {
    fn encode_wire(&self, buf: &mut EncodeBuf<'_>) {
        bytes::BufMut::put_slice(buf, &encode_response(self));
    }
}

/// Requests are sent by clients such as the tests and the load generator.
/// They are encoded once per call, so prost's encoder is fast enough.
impl WireEncode for RunFunctionRequest {
    fn encode_wire(&self, buf: &mut EncodeBuf<'_>) {
        bytes::BufMut::put_slice(buf, &self.encode_to_vec());
    }
}

/// The codec named in `build.rs`: `E` is the message sent, `D` the message
/// received.
#[derive(Debug)]
pub struct FunctionCodec<E, D> {
    types: PhantomData<(E, D)>,
}

impl<E, D> Default for FunctionCodec<E, D> {
    fn default() -> Self {
        Self { types: PhantomData }
    }
}

impl<E, D> Codec for FunctionCodec<E, D>
where
    E: WireEncode + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = WireEncoder<E>;
    type Decoder = ProstDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        WireEncoder { types: PhantomData }
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// The encoder half of [`FunctionCodec`].
#[derive(Debug)]
pub struct WireEncoder<E> {
    types: PhantomData<E>,
}

impl<E: WireEncode> Encoder for WireEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode_wire(buf);
        Ok(())
    }
}
