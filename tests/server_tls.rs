//! Mutual TLS against the real server on 127.0.0.1, with certificates made
//! for each test: only clients with a valid certificate from the configured
//! CA get through, and each rejected handshake is logged once with the
//! client's address.

mod common;

use std::net::SocketAddr;

use common::{Binary, TestPki, TestServer, request_with_tag};
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
    call_over_tls_with_tag(address, ca_pem, identity, "over-tls").await
}

/// Calls RunFunction once over TLS, as [`call_over_tls`] does, with a
/// request tagged `tag`.
async fn call_over_tls_with_tag(
    address: SocketAddr,
    ca_pem: &str,
    identity: Option<Identity>,
    tag: &str,
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
        .run_function(request_with_tag(tag))
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

#[tokio::test]
async fn tls_rejects_expired_client_cert() {
    let pki = TestPki::generate("function CA");
    let server = start_tls_server(&pki).await;
    let identity = Identity::from_pem(&pki.expired_client_cert_pem, &pki.expired_client_key_pem);

    let outcome = call_over_tls(server.address, &pki.ca_pem, Some(identity)).await;

    assert!(
        outcome.is_err(),
        "a client with an expired certificate got {outcome:?}"
    );
    let identity = Identity::from_pem(&pki.client_cert_pem, &pki.client_key_pem);
    let next = call_over_tls(server.address, &pki.ca_pem, Some(identity)).await;
    assert!(
        next.is_ok(),
        "a trusted client after the rejection got {next:?}"
    );
    server.stop().await.unwrap();
}

/// A client that the server must reject during the TLS handshake.
#[derive(Debug, Clone, Copy)]
enum BadClient {
    ExpiredCert,
    ForeignCert,
    NoCert,
    Plaintext,
}

/// Connects to `address` as `bad` and returns the client's own address,
/// once the server has closed the connection or rejected it with an alert.
async fn connect_as(bad: BadClient, address: SocketAddr, pki: &TestPki) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let mut buffer = [0u8; 1024];

    let identity = match bad {
        BadClient::Plaintext => {
            tcp.write_all(HTTP2_PREFACE).await.unwrap();
            // rustls responds to a non-TLS record with an alert or a close.
            let read = tcp.read(&mut buffer).await.unwrap_or(0);
            assert!(
                read == 0 || buffer[0] == 0x15,
                "the TLS port answered plaintext with {:?}",
                &buffer[..read]
            );
            return local;
        }
        BadClient::ExpiredCert => Some((
            pki.expired_client_cert_pem.clone(),
            pki.expired_client_key_pem.clone(),
        )),
        BadClient::ForeignCert => {
            let other = TestPki::generate("another CA");
            Some((other.client_cert_pem, other.client_key_pem))
        }
        BadClient::NoCert => None,
    };

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];

    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let server_name = ServerName::try_from("localhost").unwrap();
    // With TLS 1.3 the client finishes its side of the handshake before the
    // server checks the client certificate, so the rejection may only show
    // on the first read.
    if let Ok(mut tls) = connector.connect(server_name, tcp).await {
        let _ = tls.write_all(HTTP2_PREFACE).await;
        let read = tls.read(&mut buffer).await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "{bad:?}: the server accepted the connection and sent {read:?}"
        );
    }

    local
}

/// Every kind of rejected client is logged exactly once, as a warning that
/// names the client's address, and the server keeps serving trusted
/// clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_handshakes_logged_once_with_peer() {
    let pki = TestPki::generate("function CA");
    let dir = tempfile::tempdir().unwrap();
    pki.write_server_files(dir.path());

    for bad in [
        BadClient::ExpiredCert,
        BadClient::ForeignCert,
        BadClient::NoCert,
        BadClient::Plaintext,
    ] {
        let (mut binary, address, _) = Binary::spawn_serving(
            &[],
            &[("TLS_SERVER_CERTS_DIR", dir.path().to_str().unwrap())],
        );

        let peer = connect_as(bad, address, &pki).await;
        let rejection = binary.wait_for_log("rejected TLS handshake");

        assert_eq!(rejection["level"], "WARN", "{bad:?}: {rejection}");
        assert_eq!(rejection["peer"], peer.to_string(), "{bad:?}: {rejection}");

        let identity = Identity::from_pem(&pki.client_cert_pem, &pki.client_key_pem);
        let tag = format!("after-{bad:?}");
        let next = call_over_tls_with_tag(address, &pki.ca_pem, Some(identity), &tag).await;
        assert!(
            next.is_ok(),
            "{bad:?}: a trusted client after the rejection got {next:?}"
        );
        binary.wait_for_log_where("the trusted call's log line", |entry| {
            entry["span"]["tag"] == tag.as_str()
        });

        let rejections = binary
            .log
            .iter()
            .filter(|line| line.contains("\"rejected TLS handshake\""))
            .count();
        assert_eq!(rejections, 1, "{bad:?}: log: {:#?}", binary.log);

        binary.terminate();
        assert!(binary.wait().success(), "{bad:?}: log: {:#?}", binary.log);
    }
}

#[tokio::test]
async fn invalid_pem_fails_start_naming_file() {
    let pki = TestPki::generate("function CA");
    let cases = [
        (
            "a certificate file without PEM",
            tls::server_config("not a certificate", &pki.server_key_pem, &pki.ca_pem),
            "tls.crt: no PEM certificate",
        ),
        (
            "a CA file without PEM",
            tls::server_config(&pki.server_cert_pem, &pki.server_key_pem, "no CA here"),
            "ca.crt: no PEM certificate",
        ),
        (
            "a key file without PEM",
            tls::server_config(&pki.server_cert_pem, "no key here", &pki.ca_pem),
            "tls.key: no items found",
        ),
    ];

    for (reason, tls_config, cause) in cases {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = ServerConfig::insecure().unwrap();
        config.tls = Some(tls_config);

        let error = function_gitlab_runner_fleet::server::serve_on(listener, config, async {})
            .await
            .unwrap_err();

        assert_eq!(
            format!("{error:#}"),
            format!(
                "invalid TLS certificates (tls.crt and ca.crt must be PEM certificates, tls.key \
                 a PEM private key): {cause}"
            ),
            "{reason}"
        );
    }
}
