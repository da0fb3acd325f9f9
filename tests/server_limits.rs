//! Message size limits against the real server on 127.0.0.1: a request
//! over the receive limit fails alone, and the server keeps serving.

mod common;

use common::{TestServer, request_of_size, request_with_tag};
use function_gitlab_runner_fleet::server::{MIB, ServerConfig};
use prometheus::proto::MetricFamily;

const V1_SERVICE: &str = "apiextensions.fn.proto.v1.FunctionRunnerService";

/// Returns the value of `grpc_server_handled_total` for RunFunction on the
/// v1 service with status `code`.
fn handled_total(families: &[MetricFamily], code: &str) -> u64 {
    let family = families
        .iter()
        .find(|family| family.name() == "grpc_server_handled_total")
        .expect("no grpc_server_handled_total");

    family
        .get_metric()
        .iter()
        .find(|metric| {
            let labels: Vec<_> = metric
                .get_label()
                .iter()
                .map(|label| (label.name(), label.value()))
                .collect();
            labels.contains(&("grpc_service", V1_SERVICE))
                && labels.contains(&("grpc_method", "RunFunction"))
                && labels.contains(&("grpc_code", code))
        })
        .map_or(0, |metric| metric.get_counter().get_value() as u64)
}

#[tokio::test]
async fn request_over_limit_is_resource_exhausted() {
    let mut config = ServerConfig::insecure().unwrap();
    config.max_recv_message_size = MIB;
    let metrics = config.metrics.clone();
    let server = TestServer::start(config).await;
    let mut client = server.client().await;

    let too_big = request_of_size("too-big", 2 * MIB);
    let too_big_len = prost::Message::encoded_len(&too_big);
    let status = client.run_function(too_big).await.unwrap_err();
    let next = client.run_function(request_with_tag("next")).await;

    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.message(),
        format!(
            "request message of {too_big_len} bytes is larger than the limit of 1048576 bytes: raise --max-recv-message-size (in MiB)"
        )
    );
    assert_eq!(next.unwrap().into_inner().meta.unwrap().tag, "next");

    let families = metrics.registry().gather();
    assert_eq!(handled_total(&families, "ResourceExhausted"), 1);
    assert_eq!(handled_total(&families, "OK"), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn raised_limit_accepts_big_request() {
    let mut config = ServerConfig::insecure().unwrap();
    config.max_recv_message_size = 3 * MIB;
    let server = TestServer::start(config).await;
    let mut client = server.client().await;

    let response = client
        .run_function(request_of_size("big", 2 * MIB))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(response.meta.unwrap().tag, "big");
    server.stop().await.unwrap();
}
