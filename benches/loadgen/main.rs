//! Load generator for composition function servers on loopback.
//!
//! `run` sends a request fixture at a fixed concurrency and reports calls per
//! second, p50/p90/p99/max latency and errors by gRPC code. `startup`
//! measures the time from a server's process start to its first answered
//! call. Both refuse any target outside 127.0.0.0/8 and [::1], and both stop
//! by themselves: `run` after its request count or its time cap, whichever
//! comes first, and `startup` after its run count, each run capped in time.
//!
//! It is a bench target so that it builds with the dev-dependencies and
//! never ships in the function's image. `bench/run.sh` runs it; by hand:
//!
//! ```text
//! cargo bench --bench loadgen -- run --target 127.0.0.1:9443 \
//!     --fixture bench/fixtures/fleet-request.json --concurrency 64 \
//!     --requests 100000 --time-cap-seconds 30
//! ```
//!
//! `cargo bench` and `cargo test --benches` start it with no subcommand; it
//! then prints its usage and exits 0, so neither waits for a server.

mod codec;
mod fixture;
mod load;
mod report;
mod startup;
mod target;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use http::uri::PathAndQuery;
use prost::Message;

/// Maximum time cap, in seconds, so that no run goes on for long.
const MAX_TIME_CAP_SECONDS: f64 = 3_600.0;

/// Maximum calls one run may send.
const MAX_REQUESTS: u64 = 100_000_000;

/// Maximum calls in flight at once.
const MAX_CONCURRENCY: usize = 10_000;

/// Load generator for composition function servers on loopback.
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Cli {
    #[command(subcommand)]
    command: Option<Tool>,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Send the fixture at a fixed concurrency and report throughput,
    /// latency and errors.
    Run(RunArgs),

    /// Start a server command repeatedly and report the time from process
    /// start to the first answered call.
    Startup(StartupArgs),

    /// Write the request of the example fleet, built from the files in
    /// examples/ the way `render` builds it, as a fixture.
    Fixture(FixtureArgs),
}

/// The target server and what to send it.
#[derive(Debug, clap::Args)]
struct TargetArgs {
    /// Address of the server: an IP address in 127.0.0.0/8 or [::1], and a
    /// port.
    #[arg(long, value_parser = target::parse_loopback)]
    target: SocketAddr,

    /// Request fixture: a RunFunctionRequest in protobuf JSON.
    #[arg(long, default_value = fixture::EXAMPLE_FIXTURE)]
    fixture: PathBuf,

    /// Protocol version of the service to call.
    #[arg(long, value_enum, default_value_t = Service::V1)]
    service: Service,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,

    /// Calls in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,

    /// HTTP/2 connections the calls share. Crossplane keeps one per
    /// function.
    #[arg(long, default_value_t = 1)]
    connections: usize,

    /// Calls to measure, after the warm-up.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,

    /// Calls to send before measuring, not counted.
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,

    /// Seconds after which no new call starts, warm-up included.
    #[arg(long, default_value_t = 30.0)]
    time_cap_seconds: f64,

    /// Seconds a single call may take before it counts as an error.
    #[arg(long, default_value_t = 10.0)]
    call_timeout_seconds: f64,

    /// A name for the server, printed in the report.
    #[arg(long, default_value = "server")]
    label: String,

    /// Print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct StartupArgs {
    #[command(flatten)]
    target: TargetArgs,

    /// How many times to start the server.
    #[arg(long, default_value_t = 10)]
    runs: usize,

    /// Seconds one start may take to answer, and to exit after SIGTERM.
    #[arg(long, default_value_t = 10.0)]
    time_cap_seconds: f64,

    /// A name for the server, printed in the report.
    #[arg(long, default_value = "server")]
    label: String,

    /// The server command and its arguments; it must listen on --target.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct FixtureArgs {
    /// Folder with xr.yaml, composition.yaml, functions.yaml, observed.yaml
    /// and required.yaml.
    #[arg(long, default_value = "examples")]
    examples: PathBuf,

    /// File to write.
    #[arg(long, default_value = fixture::EXAMPLE_FIXTURE)]
    output: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Service {
    /// apiextensions.fn.proto.v1, Crossplane 1.17 and later.
    V1,
    /// apiextensions.fn.proto.v1beta1, Crossplane before 1.17.
    V1beta1,
}

impl Service {
    fn path(self) -> PathAndQuery {
        let path = match self {
            Service::V1 => "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction",
            Service::V1beta1 => "/apiextensions.fn.proto.v1beta1.FunctionRunnerService/RunFunction",
        };
        PathAndQuery::from_static(path)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Some(tool) = cli.command else {
        println!("loadgen: nothing to do without a subcommand; bench/run.sh runs it with one\n");
        Cli::command().print_help()?;
        return Ok(());
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    match tool {
        Tool::Run(args) => runtime.block_on(run(args)),
        Tool::Startup(args) => runtime.block_on(startup(args)),
        Tool::Fixture(args) => write_fixture(&args),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
        bail!(
            "--concurrency {}: use 1 to {MAX_CONCURRENCY}",
            args.concurrency
        );
    }
    if args.connections == 0 || args.connections > args.concurrency {
        bail!(
            "--connections {}: use 1 to --concurrency ({})",
            args.connections,
            args.concurrency
        );
    }
    if args.requests == 0 || args.requests > MAX_REQUESTS {
        bail!("--requests {}: use 1 to {MAX_REQUESTS}", args.requests);
    }
    let time_cap = seconds("--time-cap-seconds", args.time_cap_seconds)?;
    let call_timeout = seconds("--call-timeout-seconds", args.call_timeout_seconds)?;

    let plan = load::Plan {
        label: args.label,
        target: args.target.target,
        path: args.target.service.path(),
        body: encoded_fixture(&args.target)?,
        concurrency: args.concurrency,
        connections: args.connections,
        requests: args.requests,
        warmup: args.warmup,
        time_cap,
        call_timeout,
    };
    let report = load::run(plan).await?;

    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    Ok(())
}

async fn startup(args: StartupArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.runs > 100 {
        bail!("--runs {}: use 1 to 100", args.runs);
    }
    let time_cap = seconds("--time-cap-seconds", args.time_cap_seconds)?;

    let samples = startup::measure(
        &args.command,
        args.target.target,
        &args.target.service.path(),
        &encoded_fixture(&args.target)?,
        args.runs,
        time_cap,
    )
    .await?;

    println!("{}", startup::to_json(&args.label, &samples));
    Ok(())
}

fn write_fixture(args: &FixtureArgs) -> anyhow::Result<()> {
    let request = fixture::example_request(&args.examples)?;
    let mut text = serde_json::to_string_pretty(&fixture::request_to_json(&request))?;
    text.push('\n');

    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}

fn encoded_fixture(args: &TargetArgs) -> anyhow::Result<Bytes> {
    let request = fixture::read_fixture(&args.fixture)?;
    Ok(Bytes::from(request.encode_to_vec()))
}

/// Checks a duration flag: more than zero and at most an hour.
fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    if !(value > 0.0 && value <= MAX_TIME_CAP_SECONDS) {
        bail!("{flag} {value}: use more than 0 and at most {MAX_TIME_CAP_SECONDS}");
    }
    Ok(Duration::from_secs_f64(value))
}
