//! The floor: a function server built from the same protobuf files, with
//! the same tonic server, as the function, whose `RunFunction` does no work.
//! It echoes the tag and returns the request's desired state and context
//! untouched with the default TTL, as Crossplane's SDKs do before a function
//! changes anything. What it costs per call is what gRPC and protobuf alone
//! cost, so `bench/run.sh` measures the function against it.
//!
//! It serves both protocol versions, in plaintext, on a loopback address
//! only, until SIGTERM or SIGINT:
//!
//! ```text
//! cargo bench --bench floor -- --address 127.0.0.1:9444
//! ```
//!
//! Started with no `--address`, as `cargo bench` and `cargo test --benches`
//! start it, it prints its usage and exits 0.

#[path = "loadgen/target.rs"]
mod target;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use function_gitlab_runner_fleet::function::DEFAULT_TTL;
use function_gitlab_runner_fleet::proto::v1::{RunFunctionRequest, RunFunctionResponse};
use function_gitlab_runner_fleet::proto::{v1, v1beta1};
use function_gitlab_runner_fleet::protocol::response::response_to;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

// The function binary's allocator, so that the allocator is no difference
// between the floor and the function.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A no-op function server on loopback, the cost floor of a function.
#[derive(Debug, Parser)]
#[command(name = "floor")]
struct Cli {
    /// Address to listen on: an IP address in 127.0.0.0/8 or [::1], and a
    /// port.
    #[arg(long, value_parser = target::parse_loopback)]
    address: Option<SocketAddr>,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// A function that returns every request's desired state unchanged.
#[derive(Debug, Clone, Copy)]
struct Floor;

impl Floor {
    fn answer(request: Request<RunFunctionRequest>) -> Response<RunFunctionResponse> {
        Response::new(response_to(&request.into_inner(), DEFAULT_TTL))
    }
}

#[tonic::async_trait]
impl v1::function_runner_service_server::FunctionRunnerService for Floor {
    async fn run_function(
        &self,
        request: Request<RunFunctionRequest>,
    ) -> Result<Response<RunFunctionResponse>, Status> {
        Ok(Self::answer(request))
    }
}

#[tonic::async_trait]
impl v1beta1::function_runner_service_server::FunctionRunnerService for Floor {
    async fn run_function(
        &self,
        request: Request<RunFunctionRequest>,
    ) -> Result<Response<RunFunctionResponse>, Status> {
        Ok(Self::answer(request))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Some(address) = cli.address else {
        println!("floor: nothing to serve without --address; bench/run.sh starts it with one\n");
        Cli::command().print_help()?;
        return Ok(());
    };

    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(address))
}

async fn serve(address: SocketAddr) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    eprintln!("floor: serving on {address}");

    Server::builder()
        .add_service(v1::function_runner_service_server::FunctionRunnerServiceServer::new(Floor))
        .add_service(
            v1beta1::function_runner_service_server::FunctionRunnerServiceServer::new(Floor),
        )
        .serve_with_incoming_shutdown(incoming, async {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
        .await
        .context("the floor server failed")?;

    eprintln!("floor: stopped");
    Ok(())
}
