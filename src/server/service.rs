//! The gRPC handlers of both protocol versions. Both call
//! [`run_function`], which never fails: a request that cannot compose comes
//! back as a Fatal result, not as a gRPC error. A gRPC status other than OK
//! means a transport-level problem.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use prost::Message;
use tonic::{Request, Response, Status};

use crate::function::run_function;
use crate::proto::v1::{RunFunctionRequest, RunFunctionResponse};
use crate::proto::{v1, v1beta1};

use super::limits::MessageLength;
use super::metrics::MessageCounters;

/// The unary methods of `FunctionRunnerService`, the same in v1 and v1beta1.
pub const METHODS: &[&str] = &["RunFunction"];

/// Largest request, in encoded bytes, that composes on the async worker
/// that received it. The example fleet's request is about 7 KiB and
/// composes in 0.1 to 0.2 ms (`cargo bench --bench compose`, see
/// BENCHMARKS.md); the time grows with the request's size.
const INLINE_LIMIT_BYTES: usize = 64 * 1024;

/// Handles `RunFunction` for `apiextensions.fn.proto.v1` and for the
/// identical `v1beta1` service that Crossplane before 1.17 calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct FunctionRunner;

impl FunctionRunner {
    /// Runs the function on one call of `service`, the protocol version's
    /// full service name, which is logged at debug level.
    async fn handle(
        &self,
        service: &'static str,
        request: Request<RunFunctionRequest>,
    ) -> Result<Response<RunFunctionResponse>, Status> {
        tracing::debug!(service, "received RunFunction");
        let counters = request.extensions().get::<MessageCounters>().cloned();
        if let Some(counters) = &counters {
            counters.message_received();
        }

        // Composing is CPU-bound. A typical request composes in a fraction
        // of a millisecond, less than handing it to another thread costs,
        // so it runs here. A large request may take long enough to stall
        // the other connections of this worker, so it runs on the blocking
        // pool and the runtime keeps serving.
        // The receive limit records the encoded length, so the handler does
        // not walk the whole decoded request to compute it.
        let length = request.extensions().get::<MessageLength>().copied();
        let request = request.into_inner();
        let length = length.map_or_else(|| request.encoded_len(), |MessageLength(length)| length);
        let response = if length <= INLINE_LIMIT_BYTES {
            std::panic::catch_unwind(AssertUnwindSafe(|| run_function(&request)))
                .map_err(|panic| panicked(panic_message(panic.as_ref())))?
        } else {
            tokio::task::spawn_blocking(move || run_function(&request))
                .await
                .map_err(|error| panicked(error.to_string()))?
        };

        if let Some(counters) = &counters {
            counters.message_sent();
        }
        Ok(Response::new(response))
    }
}

fn panicked(message: String) -> Status {
    tracing::error!(error = %message, "RunFunction panicked");
    Status::internal(format!("the function panicked: {message}"))
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => (*message).to_string(),
        (None, Some(message)) => message.clone(),
        (None, None) => "a panic without a message".to_string(),
    }
}

#[tonic::async_trait]
impl v1::function_runner_service_server::FunctionRunnerService for FunctionRunner {
    async fn run_function(
        &self,
        request: Request<RunFunctionRequest>,
    ) -> Result<Response<RunFunctionResponse>, Status> {
        self.handle(v1::function_runner_service_server::SERVICE_NAME, request)
            .await
    }
}

#[tonic::async_trait]
impl v1beta1::function_runner_service_server::FunctionRunnerService for FunctionRunner {
    async fn run_function(
        &self,
        request: Request<RunFunctionRequest>,
    ) -> Result<Response<RunFunctionResponse>, Status> {
        self.handle(
            v1beta1::function_runner_service_server::SERVICE_NAME,
            request,
        )
        .await
    }
}
