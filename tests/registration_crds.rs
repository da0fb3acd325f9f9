//! Validates every resource the function composes for registered fleets,
//! CI/CD variables and dedicated node pools against the upstream CRDs. The
//! tests check each example as `render` prints it, and every combination of
//! scope, group or project reference and node pool strategy.

#[path = "support/crd.rs"]
mod crd;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use function_gitlab_runner_fleet::fleet::{FleetRequest, NODE_POOL_REQUIREMENT, compose};
use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::render::{RenderArgs, load, render};

use crd::{Catalog, read_yaml_documents};

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

/// Reads the shared NodePool of the examples, which allows amd64 only.
fn shared_pool() -> Value {
    read_yaml_documents(&example("required.yaml"))
        .unwrap()
        .remove(0)
}

/// Renders an example XR with the example composition and the shared pool,
/// and returns every composed resource as `render` prints it.
fn render_example(xr: &str, observed: Option<&str>) -> Vec<Value> {
    let args = RenderArgs {
        composite_resource: example(xr),
        composition: Some(example("composition.yaml")),
        functions: Some(example("functions.yaml")),
        observed_resources: observed.map(example),
        required_resources: Some(example("required.yaml")),
        function_input: None,
        include_function_results: false,
    };
    let inputs = load(&args).unwrap();

    let mut documents = render(&inputs, &run_function, false).unwrap();
    documents.remove(0);
    documents
}

fn api_version_and_kind(object: &Value) -> (String, String) {
    (
        object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        object["kind"].as_str().unwrap_or_default().to_string(),
    )
}

/// Validates a composed resource and, for an `Object` that owns its
/// manifest, the manifest too: the `Object` schema preserves the manifest's
/// unknown fields, so only the manifest's own CRD can catch a misspelt one.
/// The Widen patch sends a partial `NodePool` on purpose and is checked
/// against the live pool in `crd_schema.rs` instead.
fn validate(catalog: &Catalog, object: &Value, context: &str) {
    let (api_version, kind) = api_version_and_kind(object);
    assert!(
        catalog.has_kind(&api_version, &kind),
        "{context}: no CRD fixture for {api_version} {kind}"
    );
    assert_eq!(
        catalog.validate_composed(object),
        Ok(()),
        "{context}: {api_version} {kind}"
    );

    if kind == "Object" && object["spec"]["managementPolicies"] == json!(["*"]) {
        let manifest = &object["spec"]["forProvider"]["manifest"];
        assert_eq!(
            catalog.validate(manifest),
            Ok(()),
            "{context}: the manifest of {api_version} {kind}"
        );
    }
}

#[test]
fn rendered_examples_validate() {
    let catalog = Catalog::fixtures();
    let cases = [
        ("registration/xr-group.yaml", None),
        (
            "registration/xr-group.yaml",
            Some("registration/observed.yaml"),
        ),
        ("registration/xr-project.yaml", None),
        ("registration/xr-ci-variables.yaml", None),
        ("registration/xr-dedicated.yaml", None),
        ("registration/namespaced/xr.yaml", None),
    ];

    let mut kinds = BTreeSet::new();
    for (xr, observed) in cases {
        let documents = render_example(xr, observed);
        assert!(!documents.is_empty(), "{xr}: nothing composed");

        for document in &documents {
            validate(&catalog, document, xr);
            kinds.insert(api_version_and_kind(document));
        }
    }

    let expected: BTreeSet<(String, String)> = [
        ("groups.gitlab.crossplane.io/v1alpha1", "Runner"),
        ("groups.gitlab.crossplane.io/v1alpha1", "Variable"),
        ("groups.gitlab.m.crossplane.io/v1alpha1", "Runner"),
        ("groups.gitlab.m.crossplane.io/v1alpha1", "Variable"),
        ("helm.crossplane.io/v1beta1", "Release"),
        ("helm.m.crossplane.io/v1beta1", "Release"),
        ("karpenter.sh/v1", "NodePool"),
        ("kubernetes.crossplane.io/v1alpha2", "Object"),
        ("kubernetes.m.crossplane.io/v1alpha1", "Object"),
        ("projects.gitlab.crossplane.io/v1alpha1", "Runner"),
        ("projects.gitlab.crossplane.io/v1alpha1", "Variable"),
    ]
    .into_iter()
    .map(|(api_version, kind)| (api_version.to_string(), kind.to_string()))
    .collect();
    assert_eq!(kinds, expected, "kinds the examples compose");
}

/// Builds a fleet that names its group or project with `target` for both
/// registration and variables, with every optional field set.
fn fleet(namespace: Option<&str>, target: Value, strategy: &str) -> Value {
    let mut registration = target.clone();
    registration["runUntagged"] = json!(true);
    registration["accessLevel"] = json!("ref_protected");
    registration["paused"] = json!(false);
    registration["maximumTimeout"] = json!(7200);

    let mut variables = target;
    variables["keyPrefix"] = json!("FLEET_TAG_");
    variables["protected"] = json!(true);

    let mut metadata = json!({"name": "sandbox"});
    if let Some(namespace) = namespace {
        metadata["namespace"] = json!(namespace);
    }

    json!({
        "apiVersion": "ci.platform.example.org/v1alpha1",
        "kind": "XGitLabRunnerFleet",
        "metadata": metadata,
        "spec": {
            "gitlabUrl": "https://gitlab.example.com/",
            "tagPrefix": "sandbox",
            "architectures": ["amd64", "arm64"],
            "registration": registration,
            "ciVariables": variables,
            "jobs": {"tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]},
            "nodePool": {"name": "spot-pool", "strategy": strategy},
        },
    })
}

#[test]
fn every_composed_kind_validates() {
    let catalog = Catalog::fixtures();
    let targets = [
        json!({"groupId": 4242}),
        json!({"groupIdRef": {"name": "platform-ci"}}),
        json!({"groupIdSelector": {"matchLabels": {"team": "ci"}, "matchControllerRef": true}}),
        json!({"projectId": 1717}),
        json!({"projectIdRef": {"name": "release-builds"}}),
        json!({"projectIdSelector": {"matchLabels": {"app": "web"}}}),
    ];

    let mut kinds = BTreeSet::new();
    for namespace in [None, Some("platform")] {
        for target in &targets {
            for strategy in ["Widen", "Dedicated"] {
                let xr = fleet(namespace, target.clone(), strategy);
                let request = FleetRequest {
                    composite: xr,
                    required: BTreeMap::from([(
                        NODE_POOL_REQUIREMENT.to_string(),
                        vec![shared_pool()],
                    )]),
                    ..FleetRequest::default()
                };
                let context = format!("{namespace:?} {target} {strategy}");

                let composition =
                    compose(&request).unwrap_or_else(|error| panic!("{context}: {error}"));

                for (key, composed) in &composition.resources {
                    validate(&catalog, &composed.resource, &format!("{context} {key}"));
                    kinds.insert(api_version_and_kind(&composed.resource));
                }
            }
        }
    }

    for (api_version, kind) in [
        ("groups.gitlab.crossplane.io/v1alpha1", "Runner"),
        ("groups.gitlab.m.crossplane.io/v1alpha1", "Variable"),
        ("projects.gitlab.crossplane.io/v1alpha1", "Variable"),
        ("projects.gitlab.m.crossplane.io/v1alpha1", "Runner"),
        ("projects.gitlab.m.crossplane.io/v1alpha1", "Variable"),
        ("karpenter.sh/v1", "NodePool"),
        ("kubernetes.m.crossplane.io/v1alpha1", "Object"),
    ] {
        assert!(
            kinds.contains(&(api_version.to_string(), kind.to_string())),
            "{api_version} {kind} was never composed: {kinds:?}"
        );
    }
}

#[test]
fn dedicated_pool_matches_shared_spec() {
    // The dedicated pool differs from the shared one only in its name,
    // labels, status, the arch requirement and the added taint.
    let documents = render_example("registration/xr-dedicated.yaml", None);
    let pool = documents
        .iter()
        .find(|document| document["kind"] == "NodePool")
        .expect("a dedicated NodePool");
    let shared = shared_pool();

    let mut expected_spec = shared["spec"].clone();
    expected_spec["template"]["spec"]["requirements"][1] =
        json!({"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]});
    expected_spec["template"]["spec"]["taints"] = json!([
        {"effect": "NoSchedule", "key": "gitlabrunnerfleet.fn.crossplane.io/arch", "value": "arm64"},
    ]);

    assert_eq!(pool["spec"], expected_spec);
    assert_eq!(pool["metadata"]["name"], "spot-pool-arm64");
    assert!(pool.get("status").is_none());
    assert!(
        pool["metadata"]
            .get("annotations")
            .and_then(|a| a.get("karpenter.sh/nodepool-hash"))
            .is_none(),
        "Karpenter's hash annotations of the shared pool are not copied"
    );
}
