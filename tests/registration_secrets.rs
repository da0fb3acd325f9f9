//! No runner token ever leaves the function: not in a composed resource, a
//! status, a condition, a result or a log line. The requests carry a fake
//! token everywhere Crossplane could pass one: the connection details and
//! status of the observed Runner, the composite's connection details, the
//! function's credentials, and fields of the XR itself. The whole encoded
//! response and every log line are searched for it, in process and through
//! the built binary.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use prost::Message;
use serde_json::{Value, json};

use common::{Binary, to_struct};
use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::function_runner_service_client::FunctionRunnerServiceClient;
use function_gitlab_runner_fleet::proto::v1::{
    CredentialData, Credentials, RequestMeta, Resource, Resources, RunFunctionRequest,
    RunFunctionResponse, Severity, State, credentials,
};
use tonic::transport::Endpoint;

/// A fake runner authentication token.
const TOKEN: &str = "glrt-t1_FAKEfakeFAKE0123456789xyz";

/// The part of the token that must never appear, without its prefix, so a
/// redacted `glrt-[REDACTED]` does not count as a leak but any other trace
/// of the token does.
const SECRET_PART: &str = "FAKEfakeFAKE0123456789xyz";

fn registered_fleet() -> Value {
    json!({
        "apiVersion": "ci.platform.example.org/v1alpha1",
        "kind": "XGitLabRunnerFleet",
        "metadata": {"name": "sandbox"},
        "spec": {
            "gitlabUrl": "https://gitlab.example.com/",
            "tagPrefix": "sandbox",
            "architectures": ["amd64", "arm64"],
            "registration": {"groupId": 4242},
            "ciVariables": {},
            "nodePool": {"name": "spot-pool", "strategy": "Dedicated"},
        },
    })
}

/// Returns connection details, or Secret data, that hold the token under
/// `token`, as provider-gitlab writes it.
fn token_details() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([("token".to_string(), TOKEN.as_bytes().to_vec())])
}

fn observed(resource: Value, connection_details: BTreeMap<String, Vec<u8>>) -> Resource {
    Resource {
        resource: Some(to_struct(resource)),
        connection_details,
        ..Default::default()
    }
}

/// Builds a request for `composite` that carries the token in every place
/// Crossplane could pass one to the function.
fn request_with_token(composite: Value) -> RunFunctionRequest {
    let runner = json!({
        "apiVersion": "groups.gitlab.crossplane.io/v1alpha1",
        "kind": "Runner",
        "metadata": {"name": "sandbox-r7x2k", "annotations": {"crossplane.io/external-name": "901"}},
        "spec": {"forProvider": {"groupId": 4242, "tagList": ["sandbox-amd64"]}},
        "status": {
            "atProvider": {"id": 901, "token": TOKEN, "description": format!("token {TOKEN}")},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    });
    let pool = json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "spot-pool", "annotations": {"note": TOKEN}},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
        }}},
    });

    RunFunctionRequest {
        meta: Some(RequestMeta {
            tag: "secret-test".to_string(),
            ..Default::default()
        }),
        observed: Some(State {
            composite: Some(observed(composite, token_details())),
            resources: BTreeMap::from([
                (
                    "runner-amd64".to_string(),
                    observed(runner, token_details()),
                ),
                (
                    "runner-arm64".to_string(),
                    observed(
                        json!({"apiVersion": "groups.gitlab.crossplane.io/v1alpha1", "kind": "Runner"}),
                        BTreeMap::new(),
                    ),
                ),
            ]),
        }),
        credentials: BTreeMap::from([(
            "gitlab".to_string(),
            Credentials {
                source: Some(credentials::Source::CredentialData(CredentialData {
                    data: token_details(),
                })),
            },
        )]),
        required_resources: BTreeMap::from([(
            "nodepool".to_string(),
            Resources {
                items: vec![observed(pool, BTreeMap::new())],
            },
        )]),
        ..Default::default()
    }
}

/// XRs that hold the token where it does not belong. Each must fail with a
/// Fatal result that does not quote it.
fn misplaced_token_fleets() -> Vec<(&'static str, Value)> {
    let mut wrong_type = registered_fleet();
    wrong_type["spec"]["registration"]["groupId"] = json!(TOKEN);

    let mut in_values = registered_fleet();
    in_values["spec"]["values"] = json!({"runnerToken": TOKEN});

    let mut as_tag_prefix = registered_fleet();
    as_tag_prefix["spec"]["tagPrefix"] = json!(TOKEN);

    let mut as_key_prefix = registered_fleet();
    as_key_prefix["spec"]["ciVariables"]["keyPrefix"] = json!(format!("{TOKEN}_"));

    vec![
        ("a token where the group ID belongs", wrong_type),
        ("a token in the chart values", in_values),
        ("a token as the tag prefix", as_tag_prefix),
        ("a token in the variable key prefix", as_key_prefix),
    ]
}

/// Asserts that `bytes` never hold the token's secret part.
fn assert_no_token(bytes: &[u8], what: &str) {
    let found = bytes
        .windows(SECRET_PART.len())
        .any(|window| window == SECRET_PART.as_bytes());
    assert!(
        !found,
        "{what} holds the token: {}",
        String::from_utf8_lossy(bytes)
    );
}

/// A log writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the function in process with every log level captured.
fn run_logged(request: &RunFunctionRequest) -> (RunFunctionResponse, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();

    let response = tracing::subscriber::with_default(subscriber, || run_function(request));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (response, logs)
}

#[test]
fn composed_fleet_holds_no_token() {
    let request = request_with_token(registered_fleet());

    let (response, logs) = run_logged(&request);

    let desired = response.desired.clone().unwrap_or_default();
    assert!(
        desired.resources.contains_key("runner-amd64"),
        "the fleet composed: {:?}",
        response.results
    );
    assert!(
        logs.contains("composed fleet"),
        "the logs were captured: {logs:?}"
    );
    assert!(
        format!("{desired:?}").contains("sandbox-amd64-runner-token"),
        "the Release names the token's Secret instead"
    );
    assert_no_token(&response.encode_to_vec(), "the response");
    assert_no_token(logs.as_bytes(), "the logs");
    for resource in desired.resources.values() {
        assert!(
            resource.connection_details.is_empty(),
            "no composed resource carries connection details"
        );
    }
}

#[test]
fn fatal_results_quote_no_token() {
    for (reason, fleet) in misplaced_token_fleets() {
        let request = request_with_token(fleet);

        let (response, logs) = run_logged(&request);

        let fatal = response
            .results
            .iter()
            .find(|result| result.severity == Severity::Fatal as i32);
        assert!(fatal.is_some(), "{reason}: no Fatal result: {response:?}");
        assert!(
            logs.contains("cannot compose fleet"),
            "{reason}: the logs were captured: {logs:?}"
        );
        assert_no_token(&response.encode_to_vec(), reason);
        assert_no_token(logs.as_bytes(), reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_logs_hold_no_token() {
    let (mut binary, grpc, _) = Binary::spawn_serving(
        &["--insecure"],
        &[("RUST_LOG", "function_gitlab_runner_fleet=trace,info")],
    );
    let channel = Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FunctionRunnerServiceClient::new(channel);

    let mut requests = vec![request_with_token(registered_fleet())];
    requests.extend(
        misplaced_token_fleets()
            .into_iter()
            .map(|(_, fleet)| request_with_token(fleet)),
    );
    for request in requests {
        let response = client.run_function(request).await.unwrap().into_inner();
        assert_no_token(&response.encode_to_vec(), "a response over gRPC");
    }

    binary.wait_for_log("composed fleet");
    binary.terminate();
    binary.wait_for_log("function stopped");
    assert!(binary.wait().success());

    let warnings = binary
        .log
        .iter()
        .filter(|line| line.contains("cannot compose fleet"))
        .count();
    assert_eq!(
        warnings,
        misplaced_token_fleets().len(),
        "one warning per rejected fleet: {:#?}",
        binary.log
    );
    for line in &binary.log {
        assert_no_token(line.as_bytes(), "a log line of the binary");
    }
}
