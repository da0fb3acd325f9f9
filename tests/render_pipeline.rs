//! `render` end to end in-process, on the files under
//! `tests/fixtures/render`, with a stand-in function that composes like the
//! fleet does: it requests the NodePool, composes one Release per
//! architecture, and reports a condition and a result.

mod render_support;

use std::cell::RefCell;
use std::time::Duration;

use serde_json::{Value, json};

use function_gitlab_runner_fleet::proto::v1::{
    Capability, Ready, Requirements, Resource, RunFunctionRequest, RunFunctionResponse, Severity,
    State,
};
use function_gitlab_runner_fleet::protocol::request::{
    input, observed_composite, observed_resources, required_resources,
};
use function_gitlab_runner_fleet::protocol::response::{
    ResultExt, condition, fatal, require_resource_by_name, response_to, result,
};
use function_gitlab_runner_fleet::protocol::structs::{json_to_struct, struct_to_json};
use function_gitlab_runner_fleet::render::execute::Inputs;
use function_gitlab_runner_fleet::render::output::yaml_stream;
use function_gitlab_runner_fleet::render::{FatalResult, RenderArgs, load, render, run_with};

use render_support::{assert_golden, fixture};

fn args(xr: &str) -> RenderArgs {
    RenderArgs {
        composite_resource: fixture(xr),
        composition: None,
        functions: None,
        observed_resources: None,
        required_resources: None,
        function_input: None,
        include_function_results: false,
    }
}

fn full_args() -> RenderArgs {
    RenderArgs {
        composition: Some(fixture("composition.yaml")),
        functions: Some(fixture("functions.yaml")),
        observed_resources: Some(fixture("observed.yaml")),
        required_resources: Some(fixture("required.yaml")),
        include_function_results: true,
        ..args("xr.yaml")
    }
}

/// Composes like the fleet: requires the NodePool `spot-pool`, composes
/// `release-amd64` and `release-arm64` (ready when observed), sets
/// `status.nodePool.found`, a `NodePoolReady` condition and a Warning.
fn stand_in_fleet(request: &RunFunctionRequest) -> RunFunctionResponse {
    let mut response = response_to(request, Duration::from_secs(60));

    let mut requirements = Requirements::default();
    require_resource_by_name(
        &mut requirements,
        "nodepool",
        "karpenter.sh/v1",
        "NodePool",
        "spot-pool",
        None,
    );
    response.requirements = Some(requirements);

    let observed = observed_resources(request);
    let desired = response.desired.get_or_insert_with(State::default);
    for arch in ["arm64", "amd64"] {
        let name = format!("release-{arch}");
        let ready = if observed.contains_key(&name) {
            Ready::True
        } else {
            Ready::Unspecified
        };
        let release = json!({
            "apiVersion": "helm.crossplane.io/v1beta1",
            "kind": "Release",
            "metadata": {"annotations": {"crossplane.io/external-name": format!("sandbox-{arch}")}},
            "spec": {"forProvider": {"chart": {"name": "gitlab-runner", "version": "0.86.0"}}},
        });
        desired.resources.insert(
            name,
            Resource {
                resource: Some(json_to_struct(&release).unwrap()),
                ready: ready as i32,
                ..Default::default()
            },
        );
    }

    let found = required_resources(request, "nodepool").is_some_and(|items| !items.is_empty());
    desired.composite = Some(Resource {
        resource: Some(json_to_struct(&json!({"status": {"nodePool": {"found": found}}})).unwrap()),
        ..Default::default()
    });

    response.conditions.push(condition(
        "NodePoolReady",
        Some(found),
        if found { "Found" } else { "NotFound" },
        Some(format!("NodePool spot-pool found: {found}")),
    ));
    response.results.push(
        result(Severity::Warning, "arm64 nodes may now join spot-pool").with_reason("PoolWidened"),
    );

    response
}

/// Runs `function` on `inputs` and records every request it receives.
fn render_recording(
    inputs: &Inputs,
    function: impl Fn(&RunFunctionRequest) -> RunFunctionResponse,
    include_results: bool,
) -> (anyhow::Result<Vec<Value>>, Vec<RunFunctionRequest>) {
    let requests = RefCell::new(Vec::new());
    let recording = |request: &RunFunctionRequest| {
        requests.borrow_mut().push(request.clone());
        function(request)
    };

    let documents = render(inputs, &recording, include_results);
    (documents, requests.into_inner())
}

#[test]
fn full_render_matches_golden() {
    let inputs = load(&full_args()).unwrap();

    let documents = render(&inputs, &stand_in_fleet, true).unwrap();

    assert_golden("stand-in-fleet", &yaml_stream(&documents).unwrap());
}

#[test]
fn composite_comes_first_with_conditions() {
    let inputs = load(&full_args()).unwrap();

    let documents = render(&inputs, &stand_in_fleet, false).unwrap();

    assert_eq!(
        documents[0],
        json!({
            "apiVersion": "ci.platform.example.org/v1alpha1",
            "kind": "XGitLabRunnerFleet",
            "metadata": {"name": "sandbox"},
            "status": {
                "nodePool": {"found": true},
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "Creating",
                        "message": "Unready resources: release-arm64",
                        "lastTransitionTime": "2024-01-01T00:00:00Z",
                    },
                    {
                        "type": "NodePoolReady",
                        "status": "True",
                        "reason": "Found",
                        "message": "NodePool spot-pool found: true",
                        "lastTransitionTime": "2024-01-01T00:00:00Z",
                    },
                ],
            },
        })
    );
    assert_eq!(documents.len(), 3, "no Result documents without -r");
}

#[test]
fn composed_resources_sorted_with_metadata() {
    let inputs = load(&full_args()).unwrap();

    let documents = render(&inputs, &stand_in_fleet, false).unwrap();

    let owner = json!([{
        "apiVersion": "ci.platform.example.org/v1alpha1",
        "kind": "XGitLabRunnerFleet",
        "name": "sandbox",
        "uid": "",
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    assert_eq!(
        documents[1]["metadata"],
        json!({
            "annotations": {
                "crossplane.io/external-name": "sandbox-amd64",
                "crossplane.io/composition-resource-name": "release-amd64",
            },
            "name": "sandbox-7xk2p",
            "generateName": "sandbox-",
            "labels": {"crossplane.io/composite": "sandbox"},
            "ownerReferences": owner,
        }),
        "the observed Release keeps its name"
    );
    assert_eq!(
        documents[2]["metadata"],
        json!({
            "annotations": {
                "crossplane.io/external-name": "sandbox-arm64",
                "crossplane.io/composition-resource-name": "release-arm64",
            },
            "generateName": "sandbox-",
            "labels": {"crossplane.io/composite": "sandbox"},
            "ownerReferences": owner,
        }),
        "a new Release gets a generated name"
    );
}

#[test]
fn results_printed_with_flag() {
    let inputs = load(&full_args()).unwrap();

    let documents = render(&inputs, &stand_in_fleet, true).unwrap();

    assert_eq!(
        documents.last().unwrap(),
        &json!({
            "apiVersion": "render.crossplane.io/v1beta1",
            "kind": "Result",
            "step": "compose-fleet",
            "severity": "SEVERITY_WARNING",
            "reason": "PoolWidened",
            "message": "arm64 nodes may now join spot-pool",
        })
    );
}

#[test]
fn requests_carry_what_crossplane_sends() {
    let inputs = load(&RenderArgs {
        function_input: Some(fixture("input.yaml")),
        ..full_args()
    })
    .unwrap();

    let (documents, requests) = render_recording(&inputs, stand_in_fleet, false);
    documents.unwrap();
    let first = &requests[0];

    let meta = first.meta.as_ref().unwrap();
    assert_eq!(meta.tag, "render/compose-fleet");
    assert_eq!(
        meta.capabilities,
        vec![
            Capability::Capabilities as i32,
            Capability::RequiredResources as i32,
            Capability::Conditions as i32,
            Capability::RequiredSchemas as i32,
        ]
    );
    assert_eq!(
        observed_composite(first)["metadata"]["name"],
        json!("sandbox")
    );
    assert_eq!(
        observed_resources(first).keys().collect::<Vec<_>>(),
        vec!["release-amd64"]
    );
    assert_eq!(
        first.desired,
        Some(State::default()),
        "the pipeline starts empty"
    );
    assert_eq!(
        input(first),
        Some(json!({
            "apiVersion": "gitlabrunnerfleet.fn.crossplane.io/v1alpha1",
            "kind": "Input",
            "chart": {"version": "0.85.0"},
            "ttlSeconds": 30,
        })),
        "--function-input replaces the step's input"
    );
}

#[test]
fn requirements_answered_until_stable() {
    let inputs = load(&full_args()).unwrap();

    let (documents, requests) = render_recording(&inputs, stand_in_fleet, false);
    documents.unwrap();

    assert_eq!(
        requests.len(),
        2,
        "one call to learn the requirement, one with the answer"
    );
    assert_eq!(required_resources(&requests[0], "nodepool"), None);

    let answer = required_resources(&requests[1], "nodepool").unwrap();
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0]["metadata"]["name"], json!("spot-pool"));

    #[allow(deprecated)]
    let extra = requests[1].extra_resources.get("nodepool").cloned();
    assert_eq!(
        extra.map(|r| r.items.len()),
        Some(1),
        "functions written for Crossplane 1.x read extra_resources"
    );
}

#[test]
fn unanswered_requirement_is_not_found() {
    let inputs = load(&RenderArgs {
        required_resources: None,
        ..full_args()
    })
    .unwrap();

    let (documents, requests) = render_recording(&inputs, stand_in_fleet, false);
    let documents = documents.unwrap();

    assert_eq!(required_resources(&requests[1], "nodepool"), Some(vec![]));
    assert_eq!(documents[0]["status"]["nodePool"]["found"], json!(false));
    assert_eq!(
        documents[0]["status"]["conditions"][1]["reason"],
        json!("NotFound")
    );
}

#[test]
fn changing_requirements_fail_after_cap() {
    let inputs = load(&full_args()).unwrap();
    let calls = RefCell::new(0);
    let restless = |request: &RunFunctionRequest| {
        *calls.borrow_mut() += 1;
        let mut response = response_to(request, Duration::from_secs(60));
        let mut requirements = Requirements::default();
        let name = format!("pool-{}", calls.borrow());
        require_resource_by_name(
            &mut requirements,
            "pool",
            "karpenter.sh/v1",
            "NodePool",
            name,
            None,
        );
        response.requirements = Some(requirements);
        response
    };

    let error = render(&inputs, &restless, false).unwrap_err();

    assert_eq!(
        error.to_string(),
        "pipeline step \"compose-fleet\": the function's requirements did not stabilize after 5 \
         iterations: it asks for different resources on every call"
    );
    assert_eq!(*calls.borrow(), 6, "one call plus five iterations");
}

#[test]
fn fatal_result_stops_pipeline() {
    let inputs = load(&RenderArgs {
        composition: Some(fixture("composition-two-steps.yaml")),
        functions: Some(fixture("functions-renamed.yaml")),
        ..args("xr.yaml")
    })
    .unwrap();
    let failing = |request: &RunFunctionRequest| {
        let mut response = response_to(request, Duration::from_secs(60));
        response
            .results
            .push(result(Severity::Normal, "checked the spec"));
        fatal(
            &mut response,
            "spec.architectures[2]: unsupported architecture \"s390x\": use \"amd64\" or \"arm64\"",
        );
        response
    };

    let (documents, requests) = render_recording(&inputs, failing, false);
    let error = documents.unwrap_err();

    assert_eq!(requests.len(), 1, "the second step does not run");
    assert_eq!(
        error.to_string(),
        "pipeline step \"first\" returned a fatal result: spec.architectures[2]: unsupported \
         architecture \"s390x\": use \"amd64\" or \"arm64\""
    );
    let fatal = error.downcast_ref::<FatalResult>().unwrap();
    let severities: Vec<&Value> = fatal.documents.iter().map(|d| &d["severity"]).collect();
    assert_eq!(severities, vec!["SEVERITY_NORMAL", "SEVERITY_FATAL"]);
}

#[test]
fn fatal_result_printed_then_error() {
    let failing = |request: &RunFunctionRequest| {
        let mut response = response_to(request, Duration::from_secs(60));
        fatal(
            &mut response,
            "spec.tagPrefix: missing: set a tag prefix such as \"sandbox\"",
        );
        response
    };
    let mut out = Vec::new();

    let error = run_with(&full_args(), &failing, &mut out).unwrap_err();

    assert_eq!(
        format!("{error:#}"),
        "cannot render composite resource: pipeline step \"compose-fleet\" returned a fatal \
         result: spec.tagPrefix: missing: set a tag prefix such as \"sandbox\""
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "---\napiVersion: render.crossplane.io/v1beta1\nkind: Result\n\
         message: 'spec.tagPrefix: missing: set a tag prefix such as \"sandbox\"'\n\
         severity: SEVERITY_FATAL\nstep: compose-fleet\n"
    );
}

#[test]
fn run_writes_yaml_stream() {
    let mut out = Vec::new();

    run_with(&full_args(), &stand_in_fleet, &mut out).unwrap();

    assert_golden("stand-in-fleet", &String::from_utf8(out).unwrap());
}

#[test]
fn desired_state_and_context_flow_between_steps() {
    let inputs = load(&RenderArgs {
        composition: Some(fixture("composition-two-steps.yaml")),
        functions: Some(fixture("functions-renamed.yaml")),
        required_resources: Some(fixture("required.yaml")),
        ..args("xr.yaml")
    })
    .unwrap();
    let counting = |request: &RunFunctionRequest| {
        let mut response = response_to(request, Duration::from_secs(60));
        let context = request
            .context
            .as_ref()
            .map(struct_to_json)
            .unwrap_or(json!({}));
        let calls = context["calls"].as_i64().unwrap_or(0) + 1;
        response.context = Some(json_to_struct(&json!({"calls": calls})).unwrap());

        let desired = response.desired.get_or_insert_with(State::default);
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        desired.resources.insert(
            format!("step-{calls}"),
            Resource {
                resource: Some(json_to_struct(&object).unwrap()),
                ready: Ready::True as i32,
                ..Default::default()
            },
        );
        response
    };

    let (documents, requests) = render_recording(&inputs, counting, false);
    let documents = documents.unwrap();

    assert_eq!(requests.len(), 2);
    assert_eq!(
        struct_to_json(requests[1].context.as_ref().unwrap()),
        json!({"calls": 1})
    );
    assert_eq!(
        requests[1]
            .desired
            .as_ref()
            .unwrap()
            .resources
            .keys()
            .collect::<Vec<_>>(),
        vec!["step-1"],
        "the second step sees what the first composed"
    );
    assert!(requests[0].input.is_some(), "the first step has an input");
    assert_eq!(requests[1].input, None, "the second step has none");

    let system = required_resources(&requests[1], "system").unwrap();
    assert_eq!(
        system
            .iter()
            .map(|o| o["metadata"]["name"].clone())
            .collect::<Vec<_>>(),
        vec![json!("system-pool")],
        "the step's declared requirements are answered before its first call"
    );

    let names: Vec<&Value> = documents
        .iter()
        .map(|d| &d["metadata"]["annotations"]["crossplane.io/composition-resource-name"])
        .collect();
    assert_eq!(
        names,
        vec![&Value::Null, &json!("step-1"), &json!("step-2")]
    );
    assert_eq!(
        documents[0]["status"]["conditions"][0]["reason"],
        json!("Available")
    );
}

#[test]
fn observed_folder_keys_by_annotation() {
    let inputs = load(&RenderArgs {
        observed_resources: Some(render_support::fixtures().join("observed")),
        ..full_args()
    })
    .unwrap();

    assert_eq!(
        inputs.observed.keys().collect::<Vec<_>>(),
        vec!["release-amd64", "release-arm64"]
    );

    let documents = render(&inputs, &stand_in_fleet, false).unwrap();
    assert_eq!(documents[2]["metadata"]["name"], json!("sandbox-q9w4t"));
    assert_eq!(
        documents[0]["status"]["conditions"][0]["reason"],
        json!("Available"),
        "both Releases observed, so both ready"
    );
}

#[test]
fn claim_labels_composed_resources() {
    let inputs = load(&RenderArgs {
        composition: Some(fixture("composition.yaml")),
        ..args("claim.yaml")
    })
    .unwrap();

    let documents = render(&inputs, &stand_in_fleet, false).unwrap();

    assert_eq!(
        documents[0]["metadata"],
        json!({"name": "team-a"}),
        "the XR of the claim is cluster-scoped"
    );
    assert_eq!(documents[0]["kind"], json!("XGitLabRunnerFleet"));
    assert_eq!(
        documents[1]["metadata"]["labels"],
        json!({
            "crossplane.io/composite": "team-a",
            "crossplane.io/claim-name": "team-a",
            "crossplane.io/claim-namespace": "team-a",
        })
    );
}

#[test]
fn output_is_byte_identical_across_runs() {
    let first =
        yaml_stream(&render(&load(&full_args()).unwrap(), &stand_in_fleet, true).unwrap()).unwrap();
    let second =
        yaml_stream(&render(&load(&full_args()).unwrap(), &stand_in_fleet, true).unwrap()).unwrap();

    assert_eq!(first, second);
}
