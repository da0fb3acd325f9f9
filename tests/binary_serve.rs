//! The built binary: flags it rejects, TLS from the environment, JSON logs
//! with span fields, metrics over HTTP and the drain on SIGTERM.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{Binary, TestPki, binary_command, http_get, request_with_tag};
use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use function_gitlab_runner_fleet::proto::v1::{RunFunctionRequest, RunFunctionResponse};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const V1_LABELS: &str = r#"grpc_method="RunFunction",grpc_service="apiextensions.fn.proto.v1.FunctionRunnerService",grpc_type="unary""#;

/// Encodes `request` as one gRPC message: a zero compression flag, the
/// big-endian length and the protobuf bytes.
fn grpc_message(request: &RunFunctionRequest) -> Vec<u8> {
    let encoded = request.encode_to_vec();
    let mut message = vec![0];
    message.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    message.extend_from_slice(&encoded);
    message
}

async fn call_insecure(address: SocketAddr, tag: &str) -> RunFunctionResponse {
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FunctionRunnerServiceClient::new(channel)
        .run_function(request_with_tag(tag))
        .await
        .unwrap()
        .into_inner()
}

#[test]
fn refuses_to_start_without_tls_or_insecure() {
    let output = binary_command()
        .args([
            "--address",
            "127.0.0.1:0",
            "--metrics-address",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();

    assert!(!output.status.success(), "exit status: {}", output.status);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no TLS certificates: pass --tls-certs-dir (or set TLS_SERVER_CERTS_DIR) to a folder with tls.crt, tls.key and ca.crt, or pass --insecure for local development\n"
    );
}

#[test]
fn refuses_zero_max_recv_message_size() {
    let output = binary_command()
        .args(["--insecure", "--max-recv-message-size", "0"])
        .output()
        .unwrap();

    assert!(!output.status.success(), "exit status: {}", output.status);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid --max-recv-message-size 0: use a number of MiB from 1 up\n"
    );
}

#[test]
fn refuses_certs_dir_without_key() {
    let dir = tempfile::tempdir().unwrap();
    TestPki::generate("function CA").write_server_files(dir.path());
    std::fs::remove_file(dir.path().join("tls.key")).unwrap();

    let output = binary_command()
        .env("TLS_SERVER_CERTS_DIR", dir.path())
        .output()
        .unwrap();

    assert!(!output.status.success(), "exit status: {}", output.status);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: cannot read {}: No such file or directory (os error 2): the folder in --tls-certs-dir must contain tls.crt, tls.key and ca.crt\n",
            dir.path().join("tls.key").display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls_from_env_certs_dir() {
    let pki = TestPki::generate("function CA");
    let dir = tempfile::tempdir().unwrap();
    pki.write_server_files(dir.path());
    let (mut binary, grpc, _) = Binary::spawn_serving(
        &[],
        &[("TLS_SERVER_CERTS_DIR", dir.path().to_str().unwrap())],
    );

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .identity(Identity::from_pem(
            &pki.client_cert_pem,
            &pki.client_key_pem,
        ))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{grpc}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let response = FunctionRunnerServiceClient::new(channel)
        .run_function(request_with_tag("binary-tls"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(response.meta.unwrap().tag, "binary-tls");
    binary.terminate();
    assert!(binary.wait().success());
}

#[test]
fn reads_max_recv_message_size_from_env() {
    let mut binary = Binary::spawn(
        &[
            "--insecure",
            "--address",
            "127.0.0.1:0",
            "--metrics-address",
            "127.0.0.1:0",
        ],
        &[("FUNCTION_MAX_RECV_MESSAGE_SIZE", "7")],
    );

    let entry = binary.wait_for_log("serving gRPC");

    assert_eq!(entry["max_recv_message_size"], 7 * 1024 * 1024, "{entry}");
    binary.terminate();
    assert!(binary.wait().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_span_fields() {
    let (mut binary, grpc, _) = Binary::spawn_insecure();

    call_insecure(grpc, "logged-tag").await;
    let entry = binary.wait_for_log_where("a log line inside run_function", |entry| {
        entry["span"]["name"] == "run_function"
    });

    // The XR in this request is not a valid fleet, so the one line the call
    // logs is the warning that names the invalid field.
    assert_eq!(entry["level"], "WARN", "{entry}");
    assert_eq!(entry["span"]["tag"], "logged-tag", "{entry}");
    assert_eq!(entry["span"]["xr.kind"], "XGitLabRunnerFleet", "{entry}");
    assert_eq!(entry["span"]["xr.name"], "fleet-a", "{entry}");
    assert!(entry["timestamp"].is_string(), "{entry}");
    binary.terminate();
    assert!(binary.wait().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_call() {
    let (mut binary, grpc, metrics) = Binary::spawn_insecure();

    call_insecure(grpc, "counted").await;
    let (status_line, body) = http_get(metrics, "/metrics");

    assert_eq!(status_line, "HTTP/1.1 200 OK");
    let expected = [
        format!("grpc_server_started_total{{{V1_LABELS}}} 1"),
        format!("grpc_server_handled_total{{grpc_code=\"OK\",{V1_LABELS}}} 1"),
        format!("grpc_server_msg_received_total{{{V1_LABELS}}} 1"),
        format!("grpc_server_msg_sent_total{{{V1_LABELS}}} 1"),
        format!("grpc_server_handling_seconds_count{{{V1_LABELS}}} 1"),
        format!("grpc_server_handling_seconds_bucket{{{V1_LABELS},le=\"+Inf\"}} 1"),
        format!("grpc_server_handling_seconds_bucket{{{V1_LABELS},le=\"0.005\"}}"),
        "# TYPE grpc_server_handling_seconds histogram".to_string(),
        "# TYPE process_cpu_seconds_total counter".to_string(),
    ];
    for line in expected {
        assert!(
            body.lines().any(|actual| actual.starts_with(&line)),
            "no line starting with {line:?} in:\n{body}"
        );
    }

    let (status_line, _) = http_get(metrics, "/other");
    assert_eq!(status_line, "HTTP/1.1 404 Not Found");
    binary.terminate();
    assert!(binary.wait().success());
}

/// Opens a RunFunction call over raw HTTP/2, sends half of the request,
/// sends SIGTERM, checks the server waits, then sends the other half: the
/// call must complete and the binary exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_call_in_flight() {
    let (mut binary, grpc, _) = Binary::spawn_insecure();
    let stream = tokio::net::TcpStream::connect(grpc).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);

    let (body_sender, body_receiver) =
        tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
    let request = http::Request::post(format!(
        "http://{grpc}/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(StreamBody::new(ReceiverStream::new(body_receiver)))
    .unwrap();
    let message = grpc_message(&request_with_tag("in-flight"));
    let (first_half, second_half) = message.split_at(message.len() / 2);

    let response = tokio::spawn(sender.send_request(request));
    body_sender
        .send(Ok(Frame::data(Bytes::copy_from_slice(first_half))))
        .await
        .unwrap();
    // Loopback delivers the headers and the first half long before this.
    tokio::time::sleep(Duration::from_millis(200)).await;

    binary.terminate();
    binary.wait_for_log("stopped accepting gRPC connections");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        binary.is_running(),
        "the binary exited with a call in flight"
    );

    body_sender
        .send(Ok(Frame::data(Bytes::copy_from_slice(second_half))))
        .await
        .unwrap();
    drop(body_sender);
    let response = response.await.unwrap().unwrap();
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let bytes = collected.to_bytes();

    assert_eq!(parts.status, http::StatusCode::OK);
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    let decoded = RunFunctionResponse::decode(&bytes[5..]).unwrap();
    assert_eq!(decoded.meta.unwrap().tag, "in-flight");
    drop(sender);
    assert!(binary.wait().success(), "log: {:#?}", binary.log);
}
