//! The plain-HTTP endpoint that serves [`Metrics`] at `/metrics` in the
//! Prometheus text format.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// The path metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept, so running out of file descriptors does not
/// turn the accept loop into a busy loop.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Serves `metrics` over HTTP/1.1 on `listener` until `shutdown` completes.
///
/// Stops accepting when `shutdown` completes. Scrapes in progress then end
/// with the runtime, which is harmless: Prometheus retries on its next
/// interval.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };

        let (stream, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(error = %error, "cannot accept a metrics connection");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };

        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });

            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(peer = %peer, error = %error, "metrics connection failed");
            }
        });
    }
}

fn respond(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    if request.uri().path() != METRICS_PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
    }

    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(error) = encoder.encode(&metrics.registry().gather(), &mut body) {
        tracing::warn!(error = %error, "cannot encode metrics");
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics: see the function's logs\n",
        );
    }

    text(StatusCode::OK, prometheus::TEXT_FORMAT, Bytes::from(body))
}

fn plain(status: StatusCode, message: &'static str) -> Response<Full<Bytes>> {
    text(status, "text/plain", Bytes::from_static(message.as_bytes()))
}

fn text(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
