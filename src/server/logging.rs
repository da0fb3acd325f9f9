//! Log setup: JSON lines on stderr in production, a readable format with
//! `--debug`. Both formats carry the fields of the current span, so every
//! line logged inside `run_function` names the request tag and the
//! composite resource.

use anyhow::Context;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Installs the global tracing subscriber.
///
/// Without `debug`, logs at info level as one JSON object per line with
/// `timestamp`, `level`, `message`, the event's fields at the top level and
/// the current span's fields under `span`. With `debug`, logs this crate at
/// debug level and its dependencies at info level, in a readable format.
/// `RUST_LOG`, when set, replaces either filter.
pub fn init(debug: bool) -> anyhow::Result<()> {
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) => EnvFilter::try_new(&directives)
            .with_context(|| format!("invalid RUST_LOG {directives:?}"))?,
        Err(_) if debug => EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse(concat!(env!("CARGO_CRATE_NAME"), "=debug"))?,
        Err(_) => EnvFilter::new("info"),
    };

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);

    let installed = if debug {
        builder.with_ansi(false).try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };

    installed.map_err(|error| anyhow::anyhow!("cannot install the log subscriber: {error}"))
}
