//! Mutual TLS against the real server on 127.0.0.1, with certificates made
//! for each test: only clients with a certificate from the configured CA
//! get through.

mod common;

use std::net::SocketAddr;

use common::{TestPki, TestServer, request_with_tag};
use function_gitlab_runner_fleet::proto::v1::RunFunctionResponse;
use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use function_gitlab_runner_fleet::server::{ServeArgs, ServerConfig, config_from_args, tls};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// Starts a server with the certificates of `pki`, loaded from files the
/// way `--tls-certs-dir` loads them.
async fn start_tls_server(pki: &TestPki) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    pki.write_server_files(dir.path());

    let mut config = ServerConfig::insecure().unwrap();
    config.tls = Some(tls::load_dir(dir.path()).unwrap());

    TestServer::start(config).await
}

/// Connects over TLS, trusting `ca_pem` and presenting `identity`, and
/// calls RunFunction once. Returns the error text when the TLS handshake
/// or the call fails.
async fn call_over_tls(
    address: SocketAddr,
    ca_pem: &str,
    identity: Option<Identity>,
) -> Result<RunFunctionResponse, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some(identity) = identity {
        tls = tls.identity(identity);
    }

    let channel = Endpoint::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|error| format!("connect: {error:?}"))?;

    FunctionRunnerServiceClient::new(channel)
        .run_function(request_with_tag("over-tls"))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| format!("call: {status:?}"))
}

#[tokio::test]
async fn tls_accepts_trusted_client_cert() {
    let pki = TestPki::generate("function CA");
    let server = start_tls_server(&pki).await;
    let identity = Identity::from_pem(&pki.client_cert_pem, &pki.client_key_pem);

    let response = call_over_tls(server.address, &pki.ca_pem, Some(identity))
        .await
        .unwrap();

    assert_eq!(response.meta.unwrap().tag, "over-tls");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn tls_rejects_client_without_cert() {
    let pki = TestPki::generate("function CA");
    let server = start_tls_server(&pki).await;

    let outcome = call_over_tls(server.address, &pki.ca_pem, None).await;

    assert!(
        outcome.is_err(),
        "a client without a certificate got {outcome:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn tls_rejects_foreign_client_cert() {
    let pki = TestPki::generate("function CA");
    let other = TestPki::generate("another CA");
    let server = start_tls_server(&pki).await;
    let identity = Identity::from_pem(&other.client_cert_pem, &other.client_key_pem);

    let outcome = call_over_tls(server.address, &pki.ca_pem, Some(identity)).await;

    assert!(
        outcome.is_err(),
        "a client with a foreign certificate got {outcome:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn tls_rejects_plaintext_client() {
    let pki = TestPki::generate("function CA");
    let server = start_tls_server(&pki).await;

    let channel = Endpoint::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await;
    let outcome = match channel {
        Ok(channel) => FunctionRunnerServiceClient::new(channel)
            .run_function(request_with_tag("plaintext"))
            .await
            .map(|_| ())
            .map_err(|status| status.to_string()),
        Err(error) => Err(error.to_string()),
    };

    assert!(outcome.is_err(), "a plaintext client got {outcome:?}");
    server.stop().await.unwrap();
}

#[test]
fn missing_cert_file_names_path() {
    let pki = TestPki::generate("function CA");
    let dir = tempfile::tempdir().unwrap();
    pki.write_server_files(dir.path());
    std::fs::remove_file(dir.path().join("tls.key")).unwrap();

    let error = tls::load_dir(dir.path()).unwrap_err().to_string();

    assert_eq!(
        error,
        format!(
            "cannot read {}: No such file or directory (os error 2): the folder in --tls-certs-dir must contain tls.crt, tls.key and ca.crt",
            dir.path().join("tls.key").display()
        )
    );
}

#[test]
fn insecure_wins_over_certs_dir() {
    let args = ServeArgs {
        address: "127.0.0.1:0".parse().unwrap(),
        tls_certs_dir: Some("/nonexistent/certs".into()),
        insecure: true,
        debug: false,
        max_recv_message_size: 4,
        metrics_address: "127.0.0.1:0".parse().unwrap(),
    };

    let config = config_from_args(&args).unwrap();

    assert!(config.tls.is_none());
}
