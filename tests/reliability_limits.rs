//! Response size: no response is larger than the 4 MiB Crossplane's gRPC
//! client accepts. The fleet's own output is bounded by its spec, and a
//! response that would still be too large, because earlier pipeline steps
//! passed along a huge desired state, becomes a small Fatal result.
//!
//! Oversized requests are covered in `server_limits.rs`.

mod common;
#[path = "../benches/loadgen/fixture.rs"]
mod fixture;

use std::path::Path;

use common::{TestServer, to_struct};
use function_gitlab_runner_fleet::fleet::validate::MAX_VALUES_BYTES;
use function_gitlab_runner_fleet::function::{MAX_RESPONSE_BYTES, run_function};
use function_gitlab_runner_fleet::proto::v1::{
    Resource, RunFunctionRequest, RunFunctionResponse, Severity, State,
};
use function_gitlab_runner_fleet::protocol::structs::{json_to_struct, struct_to_json};
use function_gitlab_runner_fleet::server::{MIB, ServerConfig};
use prost::Message;
use serde_json::json;

fn example_request() -> RunFunctionRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture::EXAMPLE_FIXTURE);
    fixture::read_fixture(&path).unwrap()
}

/// Returns the example request, as if an earlier step had composed a
/// resource carrying `bytes` bytes of data.
fn with_earlier_step_output(bytes: usize) -> RunFunctionRequest {
    let mut request = example_request();
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bundle"},
        "data": {"bundle": "x".repeat(bytes)},
    });
    let mut desired = State::default();
    desired.resources.insert(
        "bundle".to_string(),
        Resource {
            resource: Some(to_struct(config_map)),
            ..Default::default()
        },
    );
    request.desired = Some(desired);
    request
}

fn fatal_messages(response: &RunFunctionResponse) -> Vec<&str> {
    response
        .results
        .iter()
        .filter(|result| result.severity == Severity::Fatal as i32)
        .map(|result| result.message.as_str())
        .collect()
}

#[test]
fn largest_valid_fleet_fits_in_response() {
    let mut request = example_request();
    let composite = request
        .observed
        .as_mut()
        .and_then(|observed| observed.composite.as_mut())
        .unwrap();
    let mut xr = struct_to_json(composite.resource.as_ref().unwrap());
    let filler = MAX_VALUES_BYTES - r#"{"extra":""}"#.len();
    xr["spec"]["values"] = json!({"extra": "x".repeat(filler)});
    composite.resource = Some(json_to_struct(&xr).unwrap());

    let response = run_function(&request);

    assert_eq!(fatal_messages(&response), Vec::<&str>::new());
    let size = response.encoded_len();
    assert!(
        size > 2 * MAX_VALUES_BYTES,
        "each Release carries the values: {size} bytes"
    );
    assert!(size < MAX_RESPONSE_BYTES / 2, "{size} bytes");
}

#[test]
fn response_over_limit_becomes_fatal() {
    let request = with_earlier_step_output(MAX_RESPONSE_BYTES);
    let carried = request.desired.as_ref().unwrap().encoded_len();

    let response = run_function(&request);

    let messages = fatal_messages(&response);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = messages[0];
    let size: usize = message
        .strip_prefix("the response would be ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no size in {message:?}"));
    assert!(size > MAX_RESPONSE_BYTES, "{message}");
    assert_eq!(
        message,
        format!(
            "the response would be {size} bytes, more than the 4194304 bytes Crossplane \
             accepts, and {carried} bytes of it are the desired state of earlier pipeline \
             steps: shrink spec.values or the resources that earlier steps compose"
        )
    );
    assert_eq!(response.desired, None, "a Fatal response applies nothing");
    assert_eq!(response.meta.unwrap().tag, "render/compose-fleet");
    assert!(response.results.len() == 1);
}

/// Over gRPC, with a receive limit raised so the huge request gets in: the
/// answer is the small Fatal response, which a client with the default
/// 4 MiB receive limit reads.
#[tokio::test]
async fn server_never_sends_over_limit() {
    let mut config = ServerConfig::insecure().unwrap();
    config.max_recv_message_size = 8 * MIB;
    let server = TestServer::start(config).await;
    let mut client = server.client().await;

    let response = client
        .run_function(with_earlier_step_output(MAX_RESPONSE_BYTES))
        .await
        .unwrap()
        .into_inner();
    let next = client.run_function(example_request()).await.unwrap();

    assert!(response.encoded_len() <= MAX_RESPONSE_BYTES);
    assert_eq!(fatal_messages(&response).len(), 1);
    assert_eq!(fatal_messages(next.get_ref()), Vec::<&str>::new());
    server.stop().await.unwrap();
}

#[test]
fn response_just_under_limit_is_kept() {
    let baseline = run_function(&with_earlier_step_output(0)).encoded_len();
    let request = with_earlier_step_output(MAX_RESPONSE_BYTES - baseline - 64);

    let response = run_function(&request);

    assert_eq!(fatal_messages(&response), Vec::<&str>::new());
    assert!(response.encoded_len() <= MAX_RESPONSE_BYTES);
    assert!(response.encoded_len() > MAX_RESPONSE_BYTES - 1024);
}
