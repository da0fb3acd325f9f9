//! RunFunction over gRPC against the real server on 127.0.0.1: what every
//! response carries regardless of the fleet, in both protocol versions.

mod common;

use common::{TestServer, request_with_tag, to_struct};
use function_gitlab_runner_fleet::function::DEFAULT_TTL;
use function_gitlab_runner_fleet::proto::v1::{Ready, Resource, RunFunctionRequest, State};
use function_gitlab_runner_fleet::proto::v1beta1::function_runner_service_client::FunctionRunnerServiceClient as V1beta1Client;
use serde_json::json;

/// A request as the second step of a pipeline receives it: an earlier step
/// already desires a composed resource and wrote to the context.
fn request_after_earlier_step() -> RunFunctionRequest {
    let mut request = request_with_tag("after-earlier-step");

    let mut desired = State::default();
    desired.resources.insert(
        "bucket".to_string(),
        Resource {
            resource: Some(to_struct(json!({
                "apiVersion": "s3.aws.upbound.io/v1beta1",
                "kind": "Bucket",
                "spec": {"forProvider": {"region": "eu-west-1"}}
            }))),
            ready: Ready::True as i32,
            ..Default::default()
        },
    );
    request.desired = Some(desired);
    request.context = Some(to_struct(json!({
        "apiextensions.crossplane.io/environment": {"region": "eu-west-1"},
        "example.org/step-one": {"done": true}
    })));

    request
}

#[tokio::test]
async fn run_function_echoes_tag() {
    let server = TestServer::insecure().await;
    let mut client = server.client().await;

    let response = client
        .run_function(request_with_tag("tag-7f3a"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(response.meta.unwrap().tag, "tag-7f3a");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn run_function_sets_ttl() {
    let server = TestServer::insecure().await;
    let mut client = server.client().await;

    let response = client
        .run_function(request_with_tag("ttl"))
        .await
        .unwrap()
        .into_inner();

    let ttl = response.meta.unwrap().ttl.unwrap();
    assert_eq!(
        ttl,
        prost_types::Duration {
            seconds: i64::try_from(DEFAULT_TTL.as_secs()).unwrap(),
            nanos: 0,
        }
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn run_function_keeps_earlier_desired_resource() {
    let server = TestServer::insecure().await;
    let mut client = server.client().await;
    let request = request_after_earlier_step();

    let response = client
        .run_function(request.clone())
        .await
        .unwrap()
        .into_inner();

    let desired = response.desired.unwrap();
    assert_eq!(
        desired.resources.get("bucket"),
        request.desired.unwrap().resources.get("bucket")
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn run_function_keeps_context() {
    let server = TestServer::insecure().await;
    let mut client = server.client().await;
    let request = request_after_earlier_step();

    let response = client
        .run_function(request.clone())
        .await
        .unwrap()
        .into_inner();

    assert_eq!(response.context, request.context);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn v1beta1_answers_like_v1() {
    let server = TestServer::insecure().await;
    let mut v1_client = server.client().await;
    let mut v1beta1_client = V1beta1Client::new(server.channel().await);
    let request = request_after_earlier_step();

    let v1_response = v1_client
        .run_function(request.clone())
        .await
        .unwrap()
        .into_inner();
    let v1beta1_response = v1beta1_client
        .run_function(request)
        .await
        .unwrap()
        .into_inner();

    assert_eq!(v1beta1_response, v1_response);
    assert_eq!(v1beta1_response.meta.unwrap().tag, "after-earlier-step");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn empty_request_gets_response_not_status() {
    let server = TestServer::insecure().await;
    let mut client = server.client().await;

    let response = client.run_function(RunFunctionRequest::default()).await;

    assert!(response.is_ok(), "got {response:?}");
    server.stop().await.unwrap();
}
