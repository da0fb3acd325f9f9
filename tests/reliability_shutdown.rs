//! SIGTERM while the built binary is under load: every call the server
//! accepted is answered, new connections are refused, and the process
//! exits 0.

mod common;
#[path = "../benches/loadgen/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Binary;
use function_gitlab_runner_fleet::proto::v1::RunFunctionRequest;
use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use tonic::Code;
use tonic::transport::Endpoint;

const WORKERS: usize = 32;
const CONNECTIONS: usize = 4;

/// Calls answered before SIGTERM, so the signal lands under load.
const CALLS_BEFORE_SIGTERM: usize = 200;

/// A hang guard, not a speed target.
const TIMEOUT: Duration = Duration::from_secs(30);

fn example_request(tag: &str) -> RunFunctionRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture::EXAMPLE_FIXTURE);
    let mut request = fixture::read_fixture(&path).unwrap();
    request.meta.get_or_insert_default().tag = tag.to_string();
    request
}

/// What one call returned: the tag sent, and the error code if it failed.
type Outcome = (String, Result<(), (Code, String)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_accepted_call() {
    let (mut binary, address, _) = Binary::spawn_insecure();

    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        channels.push(channel);
    }

    // Each worker calls until a call fails; the server shutting down is
    // the only thing that makes one fail.
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let mut client = FunctionRunnerServiceClient::new(channels[worker % CONNECTIONS].clone());
        let answered = answered.clone();
        let stop = stop.clone();
        workers.spawn(async move {
            let mut outcomes: Vec<Outcome> = Vec::new();
            for call in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let tag = format!("w{worker}-c{call}");
                match client.run_function(example_request(&tag)).await {
                    Ok(response) => {
                        assert_eq!(response.get_ref().meta.as_ref().unwrap().tag, tag);
                        answered.fetch_add(1, Ordering::Relaxed);
                        outcomes.push((tag, Ok(())));
                    }
                    Err(status) => {
                        outcomes.push((tag, Err((status.code(), status.message().to_string()))));
                        break;
                    }
                }
            }
            outcomes
        });
    }

    let deadline = Instant::now() + TIMEOUT;
    while answered.load(Ordering::Relaxed) < CALLS_BEFORE_SIGTERM {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    binary.terminate();
    binary.wait_for_log("stopped accepting gRPC connections");

    // The listener closes as the drain starts.
    let refused_by = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpStream::connect(address).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
            other => {
                assert!(
                    Instant::now() < refused_by,
                    "a new connection during the drain got {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    // The binary's exit closes the connections, which ends every worker.
    let status = binary.wait();
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = tokio::time::timeout(TIMEOUT, workers.join_all())
        .await
        .expect("the workers did not stop")
        .into_iter()
        .flatten()
        .collect();
    assert!(
        status.success(),
        "exit status {status}; log: {:#?}",
        binary.log
    );

    // Every call the server composed reached its client.
    binary.read_remaining_log();
    let composed: BTreeSet<String> = binary
        .log
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["message"] == "composed fleet")
        .filter_map(|entry| entry["span"]["tag"].as_str().map(str::to_string))
        .collect();

    let mut ok = BTreeSet::new();
    for (tag, outcome) in &outcomes {
        match outcome {
            Ok(()) => {
                ok.insert(tag.clone());
            }
            Err((code, message)) => {
                assert!(
                    !composed.contains(tag),
                    "{tag} was composed but its client got {code:?}: {message}"
                );
                // The client never got the call through: the server had
                // closed the connection, or refused the stream. NOTE: when
                // the server's GOAWAY or exit races a new stream, tonic's
                // client reports it as Internal "h2 protocol error" or as
                // Unknown "transport error" instead of Unavailable.
                let refused_stream = (*code == Code::Internal
                    && message.contains("h2 protocol error"))
                    || (*code == Code::Unknown && message.contains("transport error"));
                assert!(
                    matches!(code, Code::Unavailable | Code::Cancelled) || refused_stream,
                    "{tag} failed with {code:?}: {message}"
                );
            }
        }
    }
    assert!(
        ok.len() >= CALLS_BEFORE_SIGTERM,
        "{} calls answered",
        ok.len()
    );
    assert_eq!(
        composed, ok,
        "the server composed exactly the calls answered"
    );
}
