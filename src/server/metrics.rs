//! Prometheus metrics of the gRPC server, under the series names and labels
//! that the Go gRPC ecosystem middleware exposes, so the dashboards and
//! alerts written for Go functions work unchanged:
//!
//! | series | labels |
//! |---|---|
//! | `grpc_server_started_total` | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_handled_total` | the same and `grpc_code` |
//! | `grpc_server_msg_received_total` | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_msg_sent_total` | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_handling_seconds` (histogram) | `grpc_type`, `grpc_service`, `grpc_method` |
//!
//! [`Instrumented`] wraps one tonic service and records calls at the HTTP
//! level, so it also records calls that fail before the handler runs (a request
//! over the size limit ends as `ResourceExhausted`). The handler records the
//! messages it decoded and sent through the [`MessageCounters`] that
//! [`Instrumented`] puts into the request's extensions.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http_body::{Body as HttpBody, Frame, SizeHint};
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use tonic::Code;
use tonic::body::Body;
use tonic::server::NamedService;
use tower_service::Service;

/// The `grpc_type` of every instrumented method: the function protocol has
/// only unary calls.
const UNARY: &str = "unary";

const LABELS: [&str; 3] = ["grpc_type", "grpc_service", "grpc_method"];
const LABELS_WITH_CODE: [&str; 4] = ["grpc_type", "grpc_service", "grpc_method", "grpc_code"];

/// The collectors of the gRPC server and the registry that exposes them,
/// together with the process metrics. Clones share the collectors.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    started: IntCounterVec,
    handled: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    handling_seconds: HistogramVec,
}

impl Metrics {
    /// Creates the collectors in a registry of their own.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();

        let started = IntCounterVec::new(
            Opts::new(
                "grpc_server_started_total",
                "RPCs the server began to handle.",
            ),
            &LABELS,
        )?;
        let handled = IntCounterVec::new(
            Opts::new(
                "grpc_server_handled_total",
                "RPCs the server finished, by gRPC status code.",
            ),
            &LABELS_WITH_CODE,
        )?;
        let received = IntCounterVec::new(
            Opts::new(
                "grpc_server_msg_received_total",
                "Request messages the server decoded.",
            ),
            &LABELS,
        )?;
        let sent = IntCounterVec::new(
            Opts::new(
                "grpc_server_msg_sent_total",
                "Response messages the server sent.",
            ),
            &LABELS,
        )?;
        let handling_seconds = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Seconds from the start of an RPC to its gRPC status.",
            ),
            &LABELS,
        )?;

        registry.register(Box::new(started.clone()))?;
        registry.register(Box::new(handled.clone()))?;
        registry.register(Box::new(received.clone()))?;
        registry.register(Box::new(sent.clone()))?;
        registry.register(Box::new(handling_seconds.clone()))?;

        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        Ok(Self {
            registry,
            started,
            handled,
            received,
            sent,
            handling_seconds,
        })
    }

    /// Returns the registry to expose at `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Wraps `service` so every call of one of its unary `methods` is
    /// recorded. Calls of other methods pass through unrecorded, so a client
    /// cannot create series by calling made-up method names.
    ///
    /// Every series of the given methods starts at zero, so rates work from
    /// the first scrape.
    pub fn instrument<S: NamedService>(
        &self,
        service: S,
        methods: &'static [&'static str],
    ) -> Instrumented<S> {
        for method in methods {
            self.initialize(S::NAME, method);
        }

        Instrumented {
            inner: service,
            metrics: self.clone(),
            methods,
        }
    }

    fn initialize(&self, service: &str, method: &str) {
        let labels = [UNARY, service, method];
        self.started.with_label_values(&labels);
        self.received.with_label_values(&labels);
        self.sent.with_label_values(&labels);
        self.handling_seconds.with_label_values(&labels);

        for code in 0..=16 {
            let code = code_name(Code::from_i32(code));
            self.handled
                .with_label_values(&[UNARY, service, method, code]);
        }
    }

    fn start(&self, service: &'static str, method: &'static str) -> Call {
        let labels = [UNARY, service, method];
        self.started.with_label_values(&labels).inc();

        Call {
            metrics: self.clone(),
            service,
            method,
            started_at: Instant::now(),
            finished: false,
        }
    }
}

/// Counters for the messages of one call, found in the request's extensions
/// when the call is instrumented.
#[derive(Clone, Debug)]
pub struct MessageCounters {
    received: IntCounter,
    sent: IntCounter,
}

impl MessageCounters {
    /// Records that the request message was decoded.
    pub fn message_received(&self) {
        self.received.inc();
    }

    /// Records that a response message was sent.
    pub fn message_sent(&self) {
        self.sent.inc();
    }
}

/// One call in progress. Records `handled_total` and `handling_seconds`
/// exactly once: when its status is known, or as `Canceled` when dropped
/// before that, which happens when the client goes away mid-call.
#[derive(Debug)]
struct Call {
    metrics: Metrics,
    service: &'static str,
    method: &'static str,
    started_at: Instant,
    finished: bool,
}

impl Call {
    fn message_counters(&self) -> MessageCounters {
        let labels = [UNARY, self.service, self.method];
        MessageCounters {
            received: self.metrics.received.with_label_values(&labels),
            sent: self.metrics.sent.with_label_values(&labels),
        }
    }

    fn finish(&mut self, code: Code) {
        if self.finished {
            return;
        }
        self.finished = true;

        self.metrics
            .handled
            .with_label_values(&[UNARY, self.service, self.method, code_name(code)])
            .inc();
        self.metrics
            .handling_seconds
            .with_label_values(&[UNARY, self.service, self.method])
            .observe(self.started_at.elapsed().as_secs_f64());
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// A tonic service whose calls are recorded in [`Metrics`].
#[derive(Clone, Debug)]
pub struct Instrumented<S> {
    inner: S,
    metrics: Metrics,
    methods: &'static [&'static str],
}

impl<S: NamedService> NamedService for Instrumented<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService> Instrumented<S> {
    /// Starts recording a call to `path` (`/package.Service/Method`) when it
    /// names one of the instrumented methods.
    fn start(&self, path: &str) -> Option<Call> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        if service != S::NAME {
            return None;
        }
        let method = self.methods.iter().find(|known| **known == method)?;

        Some(self.metrics.start(S::NAME, method))
    }
}

impl<S> Service<http::Request<Body>> for Instrumented<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<MeteredBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let mut call = self.start(request.uri().path());
        if let Some(call) = &call {
            request.extensions_mut().insert(call.message_counters());
        }

        // The clone is not ready yet, so the service that `poll_ready`
        // readied takes this call and the clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        Box::pin(async move {
            let response = inner.call(request).await?;

            // A call that fails before a response message carries its
            // status in the headers and has no trailers.
            if let (Some(call), Some(code)) = (&mut call, status_code(response.headers())) {
                call.finish(code);
            }

            Ok(response.map(|body| MeteredBody { inner: body, call }))
        })
    }
}

/// A response body that records its call's status from the trailers.
#[derive(Debug)]
pub struct MeteredBody {
    inner: Body,
    call: Option<Call>,
}

impl HttpBody for MeteredBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));

        if let Some(call) = &mut this.call {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(code) = frame.trailers_ref().and_then(status_code) {
                        call.finish(code);
                    }
                }
                Some(Err(status)) => call.finish(status.code()),
                None => call.finish(Code::Unknown),
            }
        }

        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn status_code(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// Names a status code the way grpc-go's `codes.Code.String` does, which is
/// what the `grpc_code` label contains in Go servers.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}
