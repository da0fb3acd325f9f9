//! The gRPC handlers of both protocol versions. Both call
//! [`run_function`], which never fails: a request that cannot compose comes
//! back as a Fatal result, not as a gRPC error. A gRPC status other than OK
//! means a transport-level problem.

use tonic::{Request, Response, Status};

use crate::function::run_function;
use crate::proto::v1::{RunFunctionRequest, RunFunctionResponse};
use crate::proto::{v1, v1beta1};

use super::metrics::MessageCounters;

/// The unary methods of `FunctionRunnerService`, the same in v1 and v1beta1.
pub const METHODS: &[&str] = &["RunFunction"];

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

        // Composing is CPU-bound, and a request may be megabytes of JSON,
        // so it runs on the blocking pool and the runtime keeps serving.
        let request = request.into_inner();
        let response = tokio::task::spawn_blocking(move || run_function(&request))
            .await
            .map_err(|error| {
                tracing::error!(error = %error, "RunFunction panicked");
                Status::internal(format!("the function panicked: {error}"))
            })?;

        if let Some(counters) = &counters {
            counters.message_sent();
        }
        Ok(Response::new(response))
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
