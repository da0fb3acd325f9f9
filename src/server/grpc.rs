//! The gRPC transport: both `FunctionRunnerService` versions with their
//! message size limits, gRPC health, gRPC reflection and optional mutual
//! TLS, served on a listener the caller binds.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::proto::{self, v1, v1beta1};

use super::handshake::TlsIncoming;
use super::limits::ReceiveLimit;
use super::metrics::Metrics;
use super::service::{FunctionRunner, METHODS};
use super::tls::{HANDSHAKE_TIMEOUT, TlsConfig};

/// One MiB, the unit of `--max-recv-message-size`.
pub const MIB: usize = 1024 * 1024;

/// Largest response the server sends, in bytes. grpc-go clients, Crossplane
/// among them, reject a larger message unless configured otherwise.
/// `run_function` already turns a larger response into a Fatal result, so
/// this limit is a backstop; tonic 0.14 fails a larger message with
/// `OUT_OF_RANGE`.
pub const MAX_SEND_MESSAGE_SIZE: usize = 4 * MIB;

/// How long a shutdown waits for calls in flight by default. Kubernetes
/// sends SIGKILL 30 s after SIGTERM unless the pod sets another
/// `terminationGracePeriodSeconds`, so the drain ends before that.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// The services whose health is reported, besides the whole server ("").
const SERVICE_NAMES: [&str; 2] = [
    v1::function_runner_service_server::SERVICE_NAME,
    v1beta1::function_runner_service_server::SERVICE_NAME,
];

/// Settings of the gRPC server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mutual TLS, or `None` to serve plaintext.
    pub tls: Option<TlsConfig>,

    /// Largest request accepted, in bytes. A larger request fails with
    /// `RESOURCE_EXHAUSTED` and the server keeps serving.
    pub max_recv_message_size: usize,

    /// The collectors that record calls.
    pub metrics: Metrics,

    /// How long a shutdown waits for calls in flight before it closes their
    /// connections. Streams that never end, such as a health `Watch`, would
    /// otherwise hold the server open.
    pub drain_timeout: Duration,
}

impl ServerConfig {
    /// Returns a plaintext configuration with the default 4 MiB receive
    /// limit and fresh metrics.
    pub fn insecure() -> anyhow::Result<Self> {
        Ok(Self {
            tls: None,
            max_recv_message_size: 4 * MIB,
            metrics: Metrics::new()?,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        })
    }
}

/// Serves gRPC on `listener` until `shutdown` completes, then stops
/// accepting, lets calls in flight finish and returns. Calls still running
/// after [`ServerConfig::drain_timeout`] are cut off.
///
/// Health reports SERVING for the whole server and both service versions
/// from the start, and NOT_SERVING once `shutdown` completes.
pub async fn serve_on(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let address = listener
        .local_addr()
        .context("cannot read the gRPC listener's address")?;
    let limit = config.max_recv_message_size;

    let v1_service =
        v1::function_runner_service_server::FunctionRunnerServiceServer::new(FunctionRunner)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(MAX_SEND_MESSAGE_SIZE);
    let v1beta1_service =
        v1beta1::function_runner_service_server::FunctionRunnerServiceServer::new(FunctionRunner)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(MAX_SEND_MESSAGE_SIZE);

    let (health, health_service) = tonic_health::server::health_reporter();
    set_status(&health, ServingStatus::Serving).await;

    // The descriptor set contains the google.protobuf files it imports too, so
    // reflection clients can resolve Struct and Duration.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build gRPC reflection v1")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("cannot build gRPC reflection v1alpha")?;

    let tls = config.tls.is_some();
    let acceptor = config
        .tls
        .as_ref()
        .map(TlsConfig::acceptor)
        .transpose()
        .context(
            "invalid TLS certificates (tls.crt and ca.crt must be PEM certificates, tls.key a PEM private key)",
        )?;

    let router = Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            config
                .metrics
                .instrument(ReceiveLimit::new(v1_service, limit), METHODS),
        )
        .add_service(
            config
                .metrics
                .instrument(ReceiveLimit::new(v1beta1_service, limit), METHODS),
        );

    let (drain_started, drain_start) = oneshot::channel::<()>();
    let draining = async {
        shutdown.await;
        set_status(&health, ServingStatus::NotServing).await;
        tracing::info!(address = %address, "stopped accepting gRPC connections");
        let _ = drain_started.send(());
    };
    let drain_deadline = async {
        // The sender is dropped unsent when the server stops on its own,
        // and then there is no drain to time.
        if drain_start.await.is_ok() {
            tokio::time::sleep(config.drain_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };

    tracing::info!(
        address = %address,
        tls,
        max_recv_message_size = limit,
        "serving gRPC"
    );
    let serving = async {
        match acceptor {
            Some(acceptor) => {
                let incoming = TlsIncoming::new(listener, acceptor, HANDSHAKE_TIMEOUT);
                router
                    .serve_with_incoming_shutdown(incoming, draining)
                    .await
            }
            None => {
                // NOTE: only TLS handshakes time out. A plaintext client that
                // connects and sends nothing keeps its connection until it
                // closes it.
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                router
                    .serve_with_incoming_shutdown(incoming, draining)
                    .await
            }
        }
    };

    tokio::select! {
        served = serving => {
            served.context("gRPC server failed")?;
        }
        () = drain_deadline => {
            tracing::warn!(
                address = %address,
                drain_timeout_seconds = config.drain_timeout.as_secs_f64(),
                "calls still in flight after the drain timeout, closing their connections"
            );
        }
    }
    tracing::info!(address = %address, "gRPC server stopped");

    Ok(())
}

async fn set_status(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        health.set_service_status(name, status).await;
    }
}
