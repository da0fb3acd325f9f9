//! The report of one load run, printed as text for people or as one JSON
//! line for `bench/run.sh`.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The reason a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every requested call was sent and answered.
    RequestCount,
    /// The time cap passed before every call was sent.
    TimeCap,
}

impl StopReason {
    fn as_str(self) -> &'static str {
        match self {
            StopReason::RequestCount => "request count reached",
            StopReason::TimeCap => "time cap reached",
        }
    }
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Report {
    /// A name for the server under load, such as `function`.
    pub label: String,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// HTTP/2 connections the calls were spread over.
    pub connections: usize,
    /// Length of the encoded request message.
    pub request_bytes: usize,
    /// Latency of every call that returned OK, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Calls that failed, by gRPC status code name. A call that hit the
    /// client's own timeout counts as `ClientTimeout`.
    pub errors: BTreeMap<String, u64>,
    /// Responses checked against the first decoded one.
    pub checked: u64,
    /// Checked responses that differed from the first decoded one.
    pub mismatched: u64,
    /// Desired composed resources in the first response.
    pub desired_resources: usize,
    /// Fatal results in the first response.
    pub fatal_results: usize,
    /// Wall time from the first call sent to the last call answered.
    pub elapsed: Duration,
    /// The reason the run stopped.
    pub stop: StopReason,
}

impl Report {
    /// Calls that returned OK.
    pub fn ok(&self) -> u64 {
        self.latency.len()
    }

    /// OK calls per second of wall time.
    pub fn throughput(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn micros_at(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1_000.0
    }

    /// Writes the report as one JSON object, latencies in microseconds.
    pub fn to_json(&self) -> Value {
        json!({
            "label": self.label,
            "concurrency": self.concurrency,
            "connections": self.connections,
            "request_bytes": self.request_bytes,
            "ok": self.ok(),
            "errors": self.errors,
            "checked": self.checked,
            "mismatched": self.mismatched,
            "desired_resources": self.desired_resources,
            "fatal_results": self.fatal_results,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "throughput_per_second": self.throughput(),
            "latency_us": {
                "p50": self.micros_at(0.50),
                "p90": self.micros_at(0.90),
                "p99": self.micros_at(0.99),
                "p999": self.micros_at(0.999),
                "max": self.latency.max() as f64 / 1_000.0,
                "mean": self.latency.mean() / 1_000.0,
            },
            "stop": self.stop.as_str(),
        })
    }

    /// Writes the report as text.
    pub fn to_text(&self) -> String {
        let errors = if self.errors.is_empty() {
            "none".to_string()
        } else {
            self.errors
                .iter()
                .map(|(code, count)| format!("{code}={count}"))
                .collect::<Vec<_>>()
                .join(" ")
        };

        format!(
            "{label}: concurrency {concurrency} over {connections} connection(s), \
             {request_bytes}-byte request, {stop}\n\
             \x20 calls OK      {ok} in {elapsed:.2} s = {throughput:.0} calls/s\n\
             \x20 errors        {errors}\n\
             \x20 latency (us)  p50 {p50:.1}  p90 {p90:.1}  p99 {p99:.1}  p99.9 {p999:.1}  max {max:.1}\n\
             \x20 checked       {checked} responses, {mismatched} differed from the first\n\
             \x20 first answer  {resources} desired resources, {fatal} Fatal results",
            label = self.label,
            concurrency = self.concurrency,
            connections = self.connections,
            request_bytes = self.request_bytes,
            stop = self.stop.as_str(),
            ok = self.ok(),
            elapsed = self.elapsed.as_secs_f64(),
            throughput = self.throughput(),
            p50 = self.micros_at(0.50),
            p90 = self.micros_at(0.90),
            p99 = self.micros_at(0.99),
            p999 = self.micros_at(0.999),
            max = self.latency.max() as f64 / 1_000.0,
            checked = self.checked,
            mismatched = self.mismatched,
            resources = self.desired_resources,
            fatal = self.fatal_results,
        )
    }
}
