//! Runs a fixed number of whole calls without gRPC, for instruction counts:
//! each call decodes the example fleet's request, runs the function and
//! encodes the response as the server does. Under
//! `valgrind --tool=callgrind`, the instruction count per call does not
//! depend on the machine's other load, unlike time.
//!
//! ```text
//! cargo bench --no-run --bench call_loop
//! valgrind --tool=callgrind target/release/deps/call_loop-<hash> --calls 300
//! ```
//!
//! `cargo bench` and `cargo test --benches` run it with one call.

#[path = "loadgen/fixture.rs"]
mod fixture;

use std::path::Path;

use clap::Parser;
use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::RunFunctionRequest;
use function_gitlab_runner_fleet::protocol::wire::encode_response;
use prost::Message;

// The function binary's allocator, so the counts match the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs whole calls on the example fleet's request.
#[derive(Debug, Parser)]
#[command(name = "call_loop")]
struct Cli {
    /// Number of calls.
    #[arg(long, default_value_t = 1)]
    calls: u32,

    /// Ignored. `cargo bench` passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture::EXAMPLE_FIXTURE);
    let encoded = fixture::read_fixture(&path)?.encode_to_vec();

    let mut response_bytes = 0;
    for _ in 0..cli.calls {
        let request = RunFunctionRequest::decode(encoded.as_slice())?;
        let response = run_function(&request);
        response_bytes += encode_response(&response).len();
    }

    println!(
        "{} calls, {} request bytes and {} response bytes each",
        cli.calls,
        encoded.len(),
        response_bytes / cli.calls.max(1) as usize
    );
    Ok(())
}
