//! Time from process start to the first answered call: starts a server
//! command, calls it as fast as connections allow until one call returns
//! OK, then stops it with SIGTERM and waits for it to exit.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::uri::PathAndQuery;
use serde_json::{Value, json};
use tonic::client::Grpc;
use tonic::transport::Endpoint;

use crate::codec::RawCodec;

/// How long to wait between connection attempts while the server starts.
const RETRY_INTERVAL: Duration = Duration::from_micros(250);

/// One server start.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// From `spawn` to the first OK response.
    pub first_answer: Duration,
    /// From SIGTERM to the process's exit.
    pub exit_after_sigterm: Duration,
}

/// Starts `command` `runs` times, one after the other, and measures each.
/// Gives up on a run after `time_cap`.
pub async fn measure(
    command: &[String],
    target: SocketAddr,
    path: &PathAndQuery,
    body: &Bytes,
    runs: usize,
    time_cap: Duration,
) -> anyhow::Result<Vec<Sample>> {
    let (program, args) = command
        .split_first()
        .context("no server command given after --")?;

    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;

        let answered = first_answer(target, path, body, started + time_cap).await;
        let first_answer = started.elapsed();
        let exit_after_sigterm = stop(&mut child, time_cap)?;
        answered?;

        samples.push(Sample {
            first_answer,
            exit_after_sigterm,
        });
    }
    Ok(samples)
}

/// Calls `target` until a call returns OK or `deadline` passes.
async fn first_answer(
    target: SocketAddr,
    path: &PathAndQuery,
    body: &Bytes,
    deadline: Instant,
) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_shared(format!("http://{target}"))?.tcp_nodelay(true);

    loop {
        if Instant::now() >= deadline {
            bail!("no call to {target} returned OK before the time cap");
        }

        if let Ok(channel) = endpoint.connect().await {
            let mut client = Grpc::new(channel);
            if client.ready().await.is_ok()
                && client
                    .unary(tonic::Request::new(body.clone()), path.clone(), RawCodec)
                    .await
                    .is_ok()
            {
                return Ok(());
            }
        }

        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

/// Sends SIGTERM and waits for the exit, killing the process when it
/// outlives `time_cap`.
fn stop(child: &mut Child, time_cap: Duration) -> anyhow::Result<Duration> {
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -TERM {} failed: {status}", child.id());
    }

    loop {
        if child.try_wait()?.is_some() {
            return Ok(signalled.elapsed());
        }
        if signalled.elapsed() > time_cap {
            child.kill()?;
            child.wait()?;
            bail!("the server did not exit within the time cap after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Summarizes samples as JSON, in milliseconds.
pub fn to_json(label: &str, samples: &[Sample]) -> Value {
    let millis = |pick: fn(&Sample) -> Duration| -> Vec<f64> {
        let mut values: Vec<f64> = samples
            .iter()
            .map(|s| pick(s).as_secs_f64() * 1_000.0)
            .collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let first = millis(|s| s.first_answer);
    let exit = millis(|s| s.exit_after_sigterm);

    json!({
        "label": label,
        "runs": samples.len(),
        "first_answer_ms": {
            "min": first.first(),
            "median": first.get(first.len() / 2),
            "max": first.last(),
        },
        "exit_after_sigterm_ms": {
            "min": exit.first(),
            "median": exit.get(exit.len() / 2),
            "max": exit.last(),
        },
    })
}
