//! The shipped examples end to end. Every resource the function composes for
//! them validates against the upstream CRD of its kind, and the XR's status
//! validates against the example XRD. The real gRPC server, over v1 and
//! v1beta1, composes exactly what the in-process `render` composes.

mod common;
#[path = "support/crd.rs"]
mod crd;

use std::path::{Path, PathBuf};

use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::{RunFunctionRequest, RunFunctionResponse};
use function_gitlab_runner_fleet::proto::v1beta1::function_runner_service_client::FunctionRunnerServiceClient as V1beta1Client;
use function_gitlab_runner_fleet::render::{self, RenderArgs};
use serde_json::Value;

use common::TestServer;
use crd::{Catalog, read_yaml_documents};

/// One shipped example: the files `render` reads and the XRD its XR
/// belongs to.
struct Example {
    name: &'static str,
    xr: &'static str,
    observed: Option<&'static str>,
    xrd: &'static str,
}

const EXAMPLES: &[Example] = &[
    Example {
        name: "sandbox fleet, cluster-scoped XR",
        xr: "examples/xr.yaml",
        observed: Some("examples/observed.yaml"),
        xrd: "examples/xrd.yaml",
    },
    Example {
        name: "sandbox fleet, first reconcile",
        xr: "examples/xr.yaml",
        observed: None,
        xrd: "examples/xrd-v2-cluster.yaml",
    },
    Example {
        name: "sandbox fleet, namespaced XR",
        xr: "examples/namespaced/xr.yaml",
        observed: Some("examples/namespaced/observed.yaml"),
        xrd: "examples/xrd-v2-namespaced.yaml",
    },
];

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn args(example: &Example) -> RenderArgs {
    RenderArgs {
        composite_resource: path(example.xr),
        composition: Some(path("examples/composition.yaml")),
        functions: Some(path("examples/functions.yaml")),
        observed_resources: example.observed.map(path),
        required_resources: Some(path("examples/required.yaml")),
        function_input: None,
        include_function_results: false,
    }
}

/// Renders `example` with `function` standing in for the function.
fn render_with(
    example: &Example,
    function: &dyn Fn(&RunFunctionRequest) -> RunFunctionResponse,
) -> Vec<Value> {
    let inputs = render::load(&args(example)).unwrap();
    render::render(&inputs, function, true).unwrap()
}

#[test]
fn composed_resources_match_their_crds() {
    let catalog = Catalog::fixtures();

    for example in EXAMPLES {
        let documents = render_with(example, &run_function);
        let composed = &documents[1..];

        assert!(
            composed.len() >= 3,
            "{}: expected two Releases and the NodePool patch, got {}",
            example.name,
            composed.len()
        );
        for resource in composed.iter().filter(|d| d["kind"] != "Result") {
            let kind = format!("{} {}", resource["apiVersion"], resource["kind"]);
            if let Err(problems) = catalog.validate_composed(resource) {
                panic!(
                    "{}: {kind} is invalid:\n{}",
                    example.name,
                    problems.join("\n")
                );
            }
        }
    }
}

#[test]
fn composite_status_matches_the_xrd() {
    for example in EXAMPLES {
        let mut catalog = Catalog::fixtures();
        for xrd in read_yaml_documents(&path(example.xrd)).unwrap() {
            catalog.add_xrd(&xrd, example.xrd).unwrap();
        }
        let mut xr = read_yaml_documents(&path(example.xr)).unwrap().remove(0);

        let documents = render_with(example, &run_function);
        xr["status"] = documents[0]["status"].clone();

        if let Err(problems) = catalog.validate(&xr) {
            panic!(
                "{}: XR status is invalid:\n{}",
                example.name,
                problems.join("\n")
            );
        }
    }
}

#[test]
fn grpc_server_composes_what_render_composes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::insecure());
    let v1 = runtime.block_on(server.client());
    let v1beta1 = V1beta1Client::new(runtime.block_on(server.channel()));

    for example in EXAMPLES {
        let in_process = render_with(example, &run_function);

        let over_v1 = render_with(example, &|request| {
            let mut client = v1.clone();
            runtime
                .block_on(client.run_function(request.clone()))
                .unwrap()
                .into_inner()
        });
        let over_v1beta1 = render_with(example, &|request| {
            let mut client = v1beta1.clone();
            runtime
                .block_on(client.run_function(request.clone()))
                .unwrap()
                .into_inner()
        });

        assert_eq!(
            over_v1, in_process,
            "{}: v1 differs from render",
            example.name
        );
        assert_eq!(
            over_v1beta1, in_process,
            "{}: v1beta1 differs from render",
            example.name
        );
    }

    runtime.block_on(server.stop()).unwrap();
}
