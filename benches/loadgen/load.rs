//! One load run: `concurrency` workers share a budget of calls and a
//! deadline, each sending the fixture, waiting for the answer and sending
//! again, over a fixed set of HTTP/2 connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use function_gitlab_runner_fleet::proto::v1::{RunFunctionResponse, Severity};
use hdrhistogram::Histogram;
use http::uri::PathAndQuery;
use prost::Message;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};

use crate::codec::RawCodec;
use crate::report::{Report, StopReason};

/// Every how many calls a worker decodes the response and compares it with
/// the first. Decoding every response would cost the client more CPU than a
/// no-op server spends on the call.
const CHECK_EVERY: u64 = 64;

/// Largest latency the histogram records, in nanoseconds: the longest
/// client timeout the load generator accepts.
const MAX_LATENCY_NANOS: u64 = 600_000_000_000;

/// A run's target, request, concurrency and limits.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A name for the server under load, printed in the report.
    pub label: String,
    /// A loopback address.
    pub target: SocketAddr,
    /// The gRPC method path, such as
    /// `/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction`.
    pub path: PathAndQuery,
    /// The encoded request message.
    pub body: Bytes,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// HTTP/2 connections to spread the calls over.
    pub connections: usize,
    /// Calls to send, after the warm-up.
    pub requests: u64,
    /// Calls to send and discard before measuring.
    pub warmup: u64,
    /// Wall time after which no new call starts, warm-up included.
    pub time_cap: Duration,
    /// How long one call may take before the client gives up on it.
    pub call_timeout: Duration,
}

/// Shared between the workers of one phase.
struct Budget {
    issued: AtomicU64,
    total: u64,
    deadline: Instant,
}

impl Budget {
    /// Takes the number of the next call, or `None` when the budget or the
    /// time is used up.
    fn take(&self) -> Option<u64> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let number = self.issued.fetch_add(1, Ordering::Relaxed);
        (number < self.total).then_some(number)
    }
}

/// The measurements of one worker.
struct WorkerStats {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    checked: u64,
    mismatched: u64,
}

/// Connects, warms up, measures and returns the report. Stops after
/// `plan.requests` calls or at `plan.time_cap`, whichever comes first.
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + plan.time_cap;

    let mut channels = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        channels.push(connect(plan.target, plan.call_timeout).await?);
    }

    let first = Arc::new(OnceLock::new());
    if plan.warmup > 0 {
        phase(&plan, &channels, plan.warmup, deadline, &first).await?;
    }

    let measured_from = Instant::now();
    let workers = phase(&plan, &channels, plan.requests, deadline, &first).await?;
    let elapsed = measured_from.elapsed();

    let mut latency = new_histogram()?;
    let mut errors = BTreeMap::new();
    let (mut checked, mut mismatched) = (0, 0);
    for worker in workers {
        latency
            .add(&worker.latency)
            .context("cannot merge histograms")?;
        for (code, count) in worker.errors {
            *errors.entry(code).or_insert(0) += count;
        }
        checked += worker.checked;
        mismatched += worker.mismatched;
    }

    let answered = latency.len() + errors.values().sum::<u64>();
    let stop = if answered >= plan.requests {
        StopReason::RequestCount
    } else {
        StopReason::TimeCap
    };
    let (desired_resources, fatal_results) = first.get().map_or((0, 0), summarize);

    Ok(Report {
        label: plan.label.clone(),
        concurrency: plan.concurrency,
        connections: plan.connections,
        request_bytes: plan.body.len(),
        latency,
        errors,
        checked,
        mismatched,
        desired_resources,
        fatal_results,
        elapsed,
        stop,
    })
}

/// Sends `total` calls with `plan.concurrency` workers, or fewer when the
/// deadline passes first.
async fn phase(
    plan: &Plan,
    channels: &[Channel],
    total: u64,
    deadline: Instant,
    first: &Arc<OnceLock<RunFunctionResponse>>,
) -> anyhow::Result<Vec<WorkerStats>> {
    let budget = Arc::new(Budget {
        issued: AtomicU64::new(0),
        total,
        deadline,
    });

    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plan.concurrency {
        let client = Grpc::new(channels[index % channels.len()].clone());
        tasks.spawn(worker(
            client,
            plan.path.clone(),
            plan.body.clone(),
            plan.call_timeout,
            budget.clone(),
            first.clone(),
        ));
    }

    let mut workers = Vec::with_capacity(plan.concurrency);
    while let Some(joined) = tasks.join_next().await {
        workers.push(joined.context("a load worker panicked")??);
    }
    Ok(workers)
}

async fn worker(
    mut client: Grpc<Channel>,
    path: PathAndQuery,
    body: Bytes,
    call_timeout: Duration,
    budget: Arc<Budget>,
    first: Arc<OnceLock<RunFunctionResponse>>,
) -> anyhow::Result<WorkerStats> {
    let mut stats = WorkerStats {
        latency: new_histogram()?,
        errors: BTreeMap::new(),
        checked: 0,
        mismatched: 0,
    };
    let mut calls = 0u64;

    while budget.take().is_some() {
        let sent = Instant::now();
        let outcome = tokio::time::timeout(call_timeout, async {
            client
                .ready()
                .await
                .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
            client
                .unary(tonic::Request::new(body.clone()), path.clone(), RawCodec)
                .await
        })
        .await;
        let latency = sent.elapsed();

        match outcome {
            Ok(Ok(response)) => {
                let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                stats.latency.saturating_record(nanos.max(1));
                if calls.is_multiple_of(CHECK_EVERY) {
                    check(&response.into_inner(), &first, &mut stats);
                }
            }
            Ok(Err(status)) => {
                *stats
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_insert(0) += 1;
            }
            Err(_) => *stats.errors.entry("ClientTimeout".into()).or_insert(0) += 1,
        }
        calls += 1;
    }

    Ok(stats)
}

/// Decodes `bytes` and compares it with the first decoded response, which
/// it becomes when there is none yet.
fn check(bytes: &Bytes, first: &OnceLock<RunFunctionResponse>, stats: &mut WorkerStats) {
    stats.checked += 1;
    let Ok(response) = RunFunctionResponse::decode(bytes.clone()) else {
        stats.mismatched += 1;
        return;
    };

    let reference = first.get_or_init(|| response.clone());
    if *reference != response {
        stats.mismatched += 1;
    }
}

fn summarize(response: &RunFunctionResponse) -> (usize, usize) {
    let resources = response
        .desired
        .as_ref()
        .map_or(0, |desired| desired.resources.len());
    let fatal = response
        .results
        .iter()
        .filter(|result| result.severity == Severity::Fatal as i32)
        .count();
    (resources, fatal)
}

async fn connect(target: SocketAddr, timeout: Duration) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("http://{target}"))?
        .tcp_nodelay(true)
        .connect_timeout(timeout)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {target}"))
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NANOS, 3).context("cannot create a histogram")
}
