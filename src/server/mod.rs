//! The gRPC server: flags, transport, TLS, health, reflection, metrics and
//! graceful shutdown around [`crate::function::run_function`].

use std::net::SocketAddr;
use std::path::PathBuf;

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

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // NOTE: placeholder until the server lands.
    anyhow::bail!("serving is not built yet: {args:?}")
}
