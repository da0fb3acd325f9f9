//! The receive limit: a request message over `--max-recv-message-size`
//! fails with `RESOURCE_EXHAUSTED`, the code the gRPC specification and
//! grpc-go use, before the handler receives it.
//!
//! tonic enforces `max_decoding_message_size` as well, but answers
//! `OUT_OF_RANGE` (tonic 0.14). So [`ReceiveLimit`] reads the 5-byte gRPC
//! message prefix (a compression flag and a big-endian length) itself and
//! rejects an oversized message from its declared length, without reading
//! its body. tonic's own limit stays configured as a backstop.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tower_service::Service;

/// Length of the prefix before every gRPC message.
const PREFIX_LEN: usize = 5;

/// The encoded length of a request's first message, as its gRPC prefix
/// declares it. [`ReceiveLimit`] adds it to the request's extensions, so a
/// handler can read the size without walking the decoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLength(pub usize);

/// A tonic service whose request messages may be at most `max_bytes` long.
///
/// Only the first message of a request is checked, which covers unary
/// calls. Streaming methods rely on tonic's own limit for later messages.
#[derive(Clone, Debug)]
pub struct ReceiveLimit<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> ReceiveLimit<S> {
    /// Wraps `inner` so a request message over `max_bytes` fails with
    /// `RESOURCE_EXHAUSTED`.
    pub fn new(inner: S, max_bytes: usize) -> Self {
        Self { inner, max_bytes }
    }
}

impl<S: NamedService> NamedService for ReceiveLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for ReceiveLimit<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone is not ready yet, so the service that `poll_ready`
        // readied takes this call and the clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max_bytes = self.max_bytes;

        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let (declared, body) = match read_prefix(body).await {
                Ok(read) => read,
                Err(status) => return Ok(status.into_http()),
            };

            if let Some(length) = declared
                && length > max_bytes
            {
                let status = Status::resource_exhausted(format!(
                    "request message of {length} bytes is larger than the limit of {max_bytes} bytes: raise --max-recv-message-size (in MiB)"
                ));
                return Ok(status.into_http());
            }

            let mut parts = parts;
            if let Some(length) = declared {
                parts.extensions.insert(MessageLength(length));
            }
            inner
                .call(http::Request::from_parts(parts, Body::new(body)))
                .await
        })
    }
}

/// Reads frames of `body` until the first message's prefix is complete and
/// returns the length it declares, or `None` when the body ends before a
/// whole prefix, which tonic then reports. The frames read are replayed by
/// the returned body, so the handler receives the request unchanged.
async fn read_prefix(mut body: Body) -> Result<(Option<usize>, Replayed), Status> {
    let mut frames = VecDeque::new();
    let mut buffered = 0;

    while buffered < PREFIX_LEN {
        let Some(frame) = body.frame().await.transpose()? else {
            break;
        };
        if let Some(data) = frame.data_ref() {
            buffered += data.len();
        }
        frames.push_back(frame);
    }

    let declared = (buffered >= PREFIX_LEN).then(|| declared_length(&frames));
    Ok((declared, Replayed { frames, rest: body }))
}

/// Reads the big-endian length at bytes 1 to 4 of the data in `frames`.
fn declared_length(frames: &VecDeque<Frame<Bytes>>) -> usize {
    let mut prefix = [0u8; PREFIX_LEN];
    let mut filled = 0;
    for data in frames.iter().filter_map(Frame::data_ref) {
        let take = data.len().min(PREFIX_LEN - filled);
        prefix[filled..filled + take].copy_from_slice(&data[..take]);
        filled += take;
    }

    let mut length = &prefix[1..];
    length.get_u32() as usize
}

/// A request body whose first frames were already read: they come first,
/// then the rest of the original body.
struct Replayed {
    frames: VecDeque<Frame<Bytes>>,
    rest: Body,
}

impl HttpBody for Replayed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(frame) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let replayed: usize = self
            .frames
            .iter()
            .filter_map(Frame::data_ref)
            .map(Bytes::len)
            .sum();
        let rest = self.rest.size_hint();

        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + replayed as u64);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + replayed as u64);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_length_reads_prefix_split_over_frames() {
        let cases = [
            (
                "whole prefix in one frame",
                vec![Bytes::from_static(&[0, 0, 0x10, 0, 0, 42])],
                0x10_0000,
            ),
            (
                "prefix split after the compression flag",
                vec![
                    Bytes::from_static(&[0]),
                    Bytes::from_static(&[0, 0, 1, 2, 9]),
                ],
                0x102,
            ),
            (
                "prefix spread over five frames",
                vec![
                    Bytes::from_static(&[0]),
                    Bytes::from_static(&[0x7f]),
                    Bytes::from_static(&[0xff]),
                    Bytes::from_static(&[0xff]),
                    Bytes::from_static(&[0xff]),
                ],
                0x7fff_ffff,
            ),
        ];

        for (reason, chunks, expected) in cases {
            let frames: VecDeque<_> = chunks.into_iter().map(Frame::data).collect();
            assert_eq!(declared_length(&frames), expected, "{reason}");
        }
    }

    /// A service that returns the `MessageLength` of each request in the
    /// `x-length` response header.
    #[derive(Clone)]
    struct EchoLength;

    impl Service<http::Request<Body>> for EchoLength {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Body>) -> Self::Future {
            let length = request
                .extensions()
                .get::<MessageLength>()
                .map_or("none".to_string(), |MessageLength(length)| {
                    length.to_string()
                });
            let response = http::Response::builder()
                .header("x-length", length)
                .body(Body::empty())
                .unwrap();
            std::future::ready(Ok(response))
        }
    }

    #[tokio::test]
    async fn message_length_reaches_handler() {
        let mut service = ReceiveLimit::new(EchoLength, 1024);
        let body = Body::new(http_body_util::Full::new(Bytes::from_static(&[
            0, 0, 0, 0, 3, 1, 2, 3,
        ])));

        let response = service.call(http::Request::new(body)).await.unwrap();

        assert_eq!(response.headers()["x-length"], "3");
    }
}
