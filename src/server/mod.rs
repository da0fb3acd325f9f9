//! The gRPC server: flags, transport, TLS, health, reflection, metrics and
//! graceful shutdown around [`crate::function::run_function`].
//!
//! [`run`] is what the binary calls. [`serve_on`] serves on a listener the
//! caller binds, so tests can run the real server on `127.0.0.1:0`.

mod grpc;
mod handshake;
mod limits;
mod logging;
mod metrics;
mod metrics_endpoint;
mod service;
mod shutdown;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use grpc::{DEFAULT_DRAIN_TIMEOUT, MAX_SEND_MESSAGE_SIZE, MIB, ServerConfig, serve_on};
pub use limits::ReceiveLimit;
pub use metrics::{Instrumented, MessageCounters, MeteredBody, Metrics};
pub use metrics_endpoint::{METRICS_PATH, serve_metrics};
pub use service::FunctionRunner;

/// Flags of the server, named and defaulted like every Crossplane function's.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to serve gRPC on.
    #[arg(long, default_value = "0.0.0.0:9443")]
    pub address: SocketAddr,

    /// Folder with tls.crt, tls.key and ca.crt. Clients must present a
    /// certificate signed by ca.crt.
    #[arg(long, env = "TLS_SERVER_CERTS_DIR")]
    pub tls_certs_dir: Option<PathBuf>,

    /// Serve without TLS, for `crossplane render` and local development.
    /// Wins over --tls-certs-dir.
    #[arg(long)]
    pub insecure: bool,

    /// Log at debug level.
    #[arg(long, short)]
    pub debug: bool,

    /// Largest request accepted, in MiB.
    #[arg(long, env = "FUNCTION_MAX_RECV_MESSAGE_SIZE", default_value_t = 4)]
    pub max_recv_message_size: usize,

    /// Address to serve Prometheus metrics on, at /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
}

/// A combination of flags the server cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither TLS nor plaintext was chosen.
    #[error(
        "no TLS certificates: pass --tls-certs-dir (or set TLS_SERVER_CERTS_DIR) to a folder with tls.crt, tls.key and ca.crt, or pass --insecure for local development"
    )]
    NoTls,

    /// The receive limit is zero or does not fit in memory addresses.
    #[error("invalid --max-recv-message-size {0}: use a number of MiB from 1 up")]
    MaxRecvMessageSize(usize),

    /// A certificate file could not be read.
    #[error(transparent)]
    Tls(#[from] tls::ReadError),

    /// The metrics collectors could not be created.
    #[error("cannot create metrics")]
    Metrics(#[from] prometheus::Error),
}

/// Turns the flags into a server configuration, reading the certificates.
/// `--insecure` wins over `--tls-certs-dir`.
pub fn config_from_args(args: &ServeArgs) -> Result<ServerConfig, ConfigError> {
    let tls = match (&args.tls_certs_dir, args.insecure) {
        (_, true) => None,
        (Some(dir), false) => Some(tls::load_dir(dir)?),
        (None, false) => return Err(ConfigError::NoTls),
    };

    let max_recv_message_size = args
        .max_recv_message_size
        .checked_mul(MIB)
        .filter(|bytes| *bytes > 0)
        .ok_or(ConfigError::MaxRecvMessageSize(args.max_recv_message_size))?;

    Ok(ServerConfig {
        tls,
        max_recv_message_size,
        metrics: Metrics::new()?,
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
    })
}

/// Runs the server until SIGTERM or SIGINT, then drains calls in flight and
/// returns. Fails before serving when the flags cannot work.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(args.debug)?;
    let config = config_from_args(&args)?;
    if args.insecure && args.tls_certs_dir.is_some() {
        tracing::warn!("serving without TLS because --insecure is set; --tls-certs-dir is ignored");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(&args, config))?;

    tracing::info!("function stopped");
    Ok(())
}

async fn serve(args: &ServeArgs, config: ServerConfig) -> anyhow::Result<()> {
    let signals = shutdown::TerminationSignals::install()
        .context("cannot install handlers for SIGTERM and SIGINT")?;

    let grpc_listener = TcpListener::bind(args.address)
        .await
        .with_context(|| format!("cannot listen on --address {}", args.address))?;
    let metrics_listener = TcpListener::bind(args.metrics_address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on --metrics-address {}",
                args.metrics_address
            )
        })?;
    let metrics_address = metrics_listener
        .local_addr()
        .context("cannot read the metrics listener's address")?;

    // Metrics stay up while gRPC drains, so the drain itself is observable.
    let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
    let metrics_server = tokio::spawn(serve_metrics(
        metrics_listener,
        config.metrics.clone(),
        async {
            let _ = metrics_stopped.await;
        },
    ));
    tracing::info!(address = %metrics_address, path = METRICS_PATH, "serving metrics");

    let served = serve_on(grpc_listener, config, signals.recv()).await;

    let _ = stop_metrics.send(());
    if let Err(error) = metrics_server.await {
        tracing::error!(error = %error, "metrics server panicked");
    }

    served
}
