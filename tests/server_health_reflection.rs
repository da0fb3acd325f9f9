//! gRPC health and reflection against the real server on 127.0.0.1, and
//! how health and draining behave on shutdown.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use function_gitlab_runner_fleet::server::ServerConfig;
use prost::Message;
use prost_types::FileDescriptorProto;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::{v1, v1alpha};

const V1_SERVICE: &str = "apiextensions.fn.proto.v1.FunctionRunnerService";
const V1BETA1_SERVICE: &str = "apiextensions.fn.proto.v1beta1.FunctionRunnerService";

/// Sends `requests` over one v1 reflection stream and returns the
/// responses in order.
async fn reflect_v1(
    channel: Channel,
    requests: Vec<v1::server_reflection_request::MessageRequest>,
) -> Vec<v1::server_reflection_response::MessageResponse> {
    let requests = requests
        .into_iter()
        .map(|message| v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(message),
        });
    let mut stream = v1::server_reflection_client::ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let mut replies = Vec::new();
    while let Some(reply) = stream.message().await.unwrap() {
        replies.push(reply.message_response.unwrap());
    }
    replies
}

fn service_names(reply: &v1::server_reflection_response::MessageResponse) -> Vec<String> {
    match reply {
        v1::server_reflection_response::MessageResponse::ListServicesResponse(list) => list
            .service
            .iter()
            .map(|service| service.name.clone())
            .collect(),
        other => panic!("expected a service list, got {other:?}"),
    }
}

fn files(reply: &v1::server_reflection_response::MessageResponse) -> Vec<FileDescriptorProto> {
    match reply {
        v1::server_reflection_response::MessageResponse::FileDescriptorResponse(response) => {
            response
                .file_descriptor_proto
                .iter()
                .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).unwrap())
                .collect()
        }
        other => panic!("expected file descriptors, got {other:?}"),
    }
}

#[tokio::test]
async fn health_reports_serving() {
    let server = TestServer::insecure().await;
    let mut health = HealthClient::new(server.channel().await);

    for service in ["", V1_SERVICE, V1BETA1_SERVICE] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::Serving as i32,
            "health of {service:?}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn health_of_unknown_service_is_not_found() {
    let server = TestServer::insecure().await;
    let mut health = HealthClient::new(server.channel().await);

    let status = health
        .check(HealthCheckRequest {
            service: "example.Unknown".to_string(),
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), tonic::Code::NotFound);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn health_watch_sees_not_serving_on_shutdown() {
    let mut config = ServerConfig::insecure().unwrap();
    config.drain_timeout = Duration::from_secs(2);
    let server = TestServer::start(config).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: V1_SERVICE.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();

    let stopping = tokio::spawn(server.stop());
    let second = watch.message().await.unwrap().unwrap();

    assert_eq!(first.status, ServingStatus::Serving as i32);
    assert_eq!(second.status, ServingStatus::NotServing as i32);
    drop(watch);
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn drain_timeout_ends_open_stream() {
    let mut config = ServerConfig::insecure().unwrap();
    config.drain_timeout = Duration::from_millis(300);
    let server = TestServer::start(config).await;
    let mut health = HealthClient::new(server.channel().await);
    let _watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let started = Instant::now();
    server.stop().await.unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an open health watch held the server for {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn reflection_v1_lists_both_versions() {
    let server = TestServer::insecure().await;

    let replies = reflect_v1(
        server.channel().await,
        vec![v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )],
    )
    .await;

    let names = service_names(&replies[0]);
    assert!(
        names.contains(&V1_SERVICE.to_string()),
        "services: {names:?}"
    );
    assert!(
        names.contains(&V1BETA1_SERVICE.to_string()),
        "services: {names:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn reflection_v1_resolves_service_and_struct_files() {
    let server = TestServer::insecure().await;

    let replies = reflect_v1(
        server.channel().await,
        vec![
            v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                V1_SERVICE.to_string(),
            ),
            v1::server_reflection_request::MessageRequest::FileByFilename(
                "google/protobuf/struct.proto".to_string(),
            ),
            v1::server_reflection_request::MessageRequest::FileByFilename(
                "google/protobuf/duration.proto".to_string(),
            ),
        ],
    )
    .await;

    let service_file = files(&replies[0])
        .into_iter()
        .find(|file| file.name() == "apiextensions/fn/proto/v1/run_function.proto")
        .expect("no file for the v1 service");
    assert!(
        service_file
            .dependency
            .contains(&"google/protobuf/struct.proto".to_string()),
        "dependencies: {:?}",
        service_file.dependency
    );

    let struct_file = &files(&replies[1])[0];
    assert_eq!(struct_file.name(), "google/protobuf/struct.proto");
    assert!(
        struct_file
            .message_type
            .iter()
            .any(|message| message.name() == "Struct"),
        "messages: {:?}",
        struct_file.message_type
    );

    let duration_file = &files(&replies[2])[0];
    assert_eq!(duration_file.name(), "google/protobuf/duration.proto");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn reflection_v1alpha_lists_both_versions() {
    let server = TestServer::insecure().await;
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };

    let mut stream =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await)
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
    let reply = stream.message().await.unwrap().unwrap();

    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("expected a service list, got {reply:?}");
    };
    let names: Vec<_> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains(&V1_SERVICE.to_string()),
        "services: {names:?}"
    );
    assert!(
        names.contains(&V1BETA1_SERVICE.to_string()),
        "services: {names:?}"
    );
    server.stop().await.unwrap();
}
