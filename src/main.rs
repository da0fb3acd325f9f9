//! The `function-gitlab-runner-fleet` binary: serves the function over gRPC
//! (the default) or renders a fleet locally.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use function_gitlab_runner_fleet::{render, server};

// mimalloc halves the server's CPU per call against glibc's malloc
// (BENCHMARKS.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Crossplane composition function that composes one GitLab runner per CPU
/// architecture and widens a shared Karpenter NodePool.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Flags of `serve`, accepted without the subcommand too.
    #[command(flatten)]
    serve: server::ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the function over gRPC (the default).
    Serve(server::ServeArgs),

    /// Run the function in-process on the files `crossplane render` reads
    /// and print the desired state as YAML.
    Render(render::RenderArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();

    let outcome = match cli.command {
        Some(Command::Render(args)) => render::run(&args),
        Some(Command::Serve(args)) => server::run(args),
        None => server::run(cli.serve),
    };

    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
