//! Many calls at once against the real server on 127.0.0.1: 1,000 calls
//! with the example fleet's request, all in flight together, each answered
//! with exactly the response the function gives in-process.

mod common;
#[path = "../benches/loadgen/fixture.rs"]
mod fixture;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use function_gitlab_runner_fleet::proto::v1::{RunFunctionRequest, Severity};
use function_gitlab_runner_fleet::server::ServerConfig;
use prometheus::proto::MetricFamily;
use tokio::sync::Barrier;

const CALLS: usize = 1_000;

/// Crossplane keeps one connection per function; several connections also
/// cover the server's accept path under load.
const CONNECTIONS: usize = 8;

/// A hang guard, not a speed target.
const TIMEOUT: Duration = Duration::from_secs(120);

fn example_request() -> RunFunctionRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture::EXAMPLE_FIXTURE);
    fixture::read_fixture(&path).unwrap()
}

fn with_tag(mut request: RunFunctionRequest, tag: &str) -> RunFunctionRequest {
    request.meta.get_or_insert_default().tag = tag.to_string();
    request
}

/// Sums `grpc_server_handled_total` over both services for `code`.
fn handled_total(families: &[MetricFamily], code: &str) -> u64 {
    families
        .iter()
        .filter(|family| family.name() == "grpc_server_handled_total")
        .flat_map(|family| family.get_metric())
        .filter(|metric| {
            metric
                .get_label()
                .iter()
                .any(|label| label.name() == "grpc_code" && label.value() == code)
        })
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_calls_all_answered() {
    let config = ServerConfig::insecure().unwrap();
    let metrics = config.metrics.clone();
    let server = TestServer::start(config).await;

    let request = example_request();
    let expected = run_function(&request);
    assert!(
        expected
            .results
            .iter()
            .all(|result| result.severity != Severity::Fatal as i32),
        "the example request must compose: {:?}",
        expected.results
    );

    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        clients.push(FunctionRunnerServiceClient::new(server.channel().await));
    }

    // Every call waits at the barrier, so all of them are sent together.
    let barrier = Arc::new(Barrier::new(CALLS));
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..CALLS {
        let mut client = clients[index % CONNECTIONS].clone();
        let barrier = barrier.clone();
        let tag = format!("call-{index}");
        let request = with_tag(request.clone(), &tag);
        calls.spawn(async move {
            barrier.wait().await;
            let outcome = client.run_function(request).await;
            (tag, outcome)
        });
    }

    let outcomes = tokio::time::timeout(TIMEOUT, calls.join_all())
        .await
        .expect("the calls did not finish");

    assert_eq!(outcomes.len(), CALLS);
    for (tag, outcome) in outcomes {
        let response = outcome
            .unwrap_or_else(|status| panic!("{tag} failed: {status:?}"))
            .into_inner();
        let mut expected = expected.clone();
        expected.meta.as_mut().unwrap().tag = tag.clone();
        assert_eq!(response, expected, "{tag} got another response");
    }

    let families = metrics.registry().gather();
    assert_eq!(handled_total(&families, "OK"), CALLS as u64);
    server.stop().await.unwrap();
}
