//! Validates the example files and the composed NodePool patch against the
//! upstream CRD schemas, strictly, and checks that the validator rejects
//! what the API server would silently prune.

#[path = "support/crd.rs"]
mod crd;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use function_gitlab_runner_fleet::fleet::nodepool::{NodePoolRequest, plan_node_pool};
use function_gitlab_runner_fleet::fleet::{Arch, Scope};

use crd::{Catalog, read_yaml_documents};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example(name: &str) -> Vec<Value> {
    read_yaml_documents(&examples_dir().join(name)).unwrap()
}

fn single_example(name: &str) -> Value {
    let mut documents = example(name);
    assert_eq!(documents.len(), 1, "{name} should hold one document");
    documents.remove(0)
}

/// Builds a catalog of the CRD fixtures plus the composite resource and
/// claim that the example XRD `xrd_file` defines.
fn catalog_with_xrd(xrd_file: &str) -> Catalog {
    let mut catalog = Catalog::fixtures();
    catalog
        .add_xrd(&single_example(xrd_file), xrd_file)
        .unwrap();
    catalog
}

fn all_yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_yaml_files(&path));
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_example_validates() {
    // Files in examples/namespaced/ belong to the namespaced XRD. The others
    // belong to the legacy XRD, which also defines the claim.
    let legacy = catalog_with_xrd("xrd.yaml");
    let namespaced = catalog_with_xrd("xrd-v2-namespaced.yaml");

    let files = all_yaml_files(&examples_dir());
    let mut validated = 0;
    for file in &files {
        // rbac.yaml holds a core ClusterRole, which no CRD defines;
        // tests/docs_manifests.rs checks it against the Kubernetes types.
        if file.ends_with("rbac.yaml") {
            continue;
        }

        let catalog = if file
            .parent()
            .is_some_and(|parent| parent.ends_with("namespaced"))
        {
            &namespaced
        } else {
            &legacy
        };

        let documents = read_yaml_documents(file).unwrap();
        assert!(
            !documents.is_empty(),
            "{} holds no document",
            file.display()
        );
        for document in documents {
            let result = catalog.validate(&document);
            assert_eq!(result, Ok(()), "{}", file.display());
            validated += 1;
        }
    }

    // Three XRDs, composition, functions, XR, claim, two observed Releases
    // and the required NodePool, plus an XR and two Releases in namespaced/.
    // registration/ adds five XRs, one of them namespaced, and two Runners,
    // two Variables and two Releases as observed.
    assert_eq!(validated, 24, "examples validated: {files:?}");
}

#[test]
fn examples_have_expected_kinds() {
    let cases = [
        (
            "xrd.yaml",
            "apiextensions.crossplane.io/v1",
            "CompositeResourceDefinition",
        ),
        (
            "xrd-v2-cluster.yaml",
            "apiextensions.crossplane.io/v2",
            "CompositeResourceDefinition",
        ),
        (
            "xrd-v2-namespaced.yaml",
            "apiextensions.crossplane.io/v2",
            "CompositeResourceDefinition",
        ),
        (
            "composition.yaml",
            "apiextensions.crossplane.io/v1",
            "Composition",
        ),
        ("functions.yaml", "pkg.crossplane.io/v1beta1", "Function"),
        (
            "xr.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
        (
            "claim.yaml",
            "ci.platform.example.org/v1alpha1",
            "GitLabRunnerFleet",
        ),
        ("required.yaml", "karpenter.sh/v1", "NodePool"),
        ("observed.yaml", "helm.crossplane.io/v1beta1", "Release"),
        (
            "namespaced/xr.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
        (
            "namespaced/observed.yaml",
            "helm.m.crossplane.io/v1beta1",
            "Release",
        ),
        (
            "registration/xr-group.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
        (
            "registration/xr-project.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
        (
            "registration/xr-ci-variables.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
        (
            "registration/xr-dedicated.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
        (
            "registration/namespaced/xr.yaml",
            "ci.platform.example.org/v1alpha1",
            "XGitLabRunnerFleet",
        ),
    ];

    for (file, api_version, kind) in cases {
        for document in example(file) {
            assert_eq!(document["apiVersion"], json!(api_version), "{file}");
            assert_eq!(document["kind"], json!(kind), "{file}");
        }
    }
}

#[test]
fn xrd_schemas_are_identical() {
    let legacy = single_example("xrd.yaml");
    for file in ["xrd-v2-cluster.yaml", "xrd-v2-namespaced.yaml"] {
        let v2 = single_example(file);
        assert_eq!(v2["spec"]["versions"], legacy["spec"]["versions"], "{file}");
        assert_eq!(v2["spec"]["names"], legacy["spec"]["names"], "{file}");
        assert_eq!(v2["spec"]["group"], legacy["spec"]["group"], "{file}");
        assert_eq!(
            v2["spec"]["claimNames"],
            Value::Null,
            "{file}: v2 has no claims"
        );
    }
    assert_eq!(
        single_example("xrd-v2-cluster.yaml")["spec"]["scope"],
        json!("Cluster")
    );
    assert_eq!(
        single_example("xrd-v2-namespaced.yaml")["spec"]["scope"],
        json!("Namespaced")
    );
}

#[test]
fn composition_targets_example_xr() {
    let composition = single_example("composition.yaml");
    let xr = single_example("xr.yaml");
    let function = single_example("functions.yaml");

    assert_eq!(
        composition["spec"]["compositeTypeRef"]["apiVersion"],
        xr["apiVersion"]
    );
    assert_eq!(composition["spec"]["compositeTypeRef"]["kind"], xr["kind"]);
    assert_eq!(
        composition["spec"]["pipeline"][0]["functionRef"]["name"],
        function["metadata"]["name"]
    );
    assert_eq!(
        function["metadata"]["annotations"]["render.crossplane.io/runtime"],
        json!("Development")
    );
}

#[test]
fn observed_releases_are_named() {
    for file in ["observed.yaml", "namespaced/observed.yaml"] {
        let names: Vec<Value> = example(file)
            .iter()
            .map(|release| {
                release["metadata"]["annotations"]["crossplane.io/composition-resource-name"]
                    .clone()
            })
            .collect();
        assert_eq!(
            names,
            [json!("release-amd64"), json!("release-arm64")],
            "{file}"
        );
    }
}

/// Plans the patch of the example NodePool for the sandbox fleet.
fn example_patch(scope: Scope) -> Value {
    let live = single_example("required.yaml");
    let request = NodePoolRequest {
        pool_name: "spot-pool",
        architectures: &[Arch::Amd64, Arch::Arm64],
        scope,
        provider_config: "default",
        required: Some(std::slice::from_ref(&live)),
        observed_object: None,
    };

    let plan = plan_node_pool(&request).unwrap();
    let (key, object) = plan.object.unwrap();
    assert_eq!(key, "nodepool-spot-pool");
    object
}

#[test]
fn node_pool_objects_validate() {
    let catalog = Catalog::fixtures();

    for scope in [Scope::Cluster, Scope::Namespaced] {
        let object = example_patch(scope);

        assert_eq!(catalog.validate_composed(&object), Ok(()), "{scope:?}");
    }
}

#[test]
fn patched_pool_validates() {
    // The manifest carries only the requirements list. Applied to the live
    // pool, the result must still be a valid NodePool.
    let catalog = Catalog::fixtures();
    let object = example_patch(Scope::Cluster);
    let manifest = &object["spec"]["forProvider"]["manifest"];
    let mut pool = single_example("required.yaml");

    pool["spec"]["template"]["spec"]["requirements"] =
        manifest["spec"]["template"]["spec"]["requirements"].clone();

    assert_eq!(catalog.validate(&pool), Ok(()));
    assert_eq!(
        pool["spec"]["template"]["spec"]["requirements"][1],
        json!({"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]})
    );
}

#[test]
fn manifest_has_only_patch_fields() {
    for scope in [Scope::Cluster, Scope::Namespaced] {
        let object = example_patch(scope);
        let manifest = &object["spec"]["forProvider"]["manifest"];

        let mut stripped = manifest.clone();
        stripped["spec"]["template"]["spec"]["requirements"] = json!([]);
        assert_eq!(
            stripped,
            json!({
                "apiVersion": "karpenter.sh/v1",
                "kind": "NodePool",
                "metadata": {"name": "spot-pool"},
                "spec": {"template": {"spec": {"requirements": []}}},
            }),
            "{scope:?}"
        );
    }
}

/// Builds the cluster-scoped example patch, named as Crossplane names it,
/// with `change` applied.
fn changed_patch(change: impl FnOnce(&mut Value)) -> Value {
    let mut object = example_patch(Scope::Cluster);
    object["metadata"]["name"] = json!("sandbox-x7k2p");
    change(&mut object);
    object
}

#[test]
fn validator_rejects_invalid_objects() {
    let catalog = catalog_with_xrd("xrd.yaml");

    let cases: Vec<(&str, Value, Vec<String>)> = vec![
        (
            "a misspelt field the API server would prune",
            changed_patch(|object| {
                let manifest = object["spec"]["forProvider"]
                    .as_object_mut()
                    .unwrap()
                    .remove("manifest")
                    .unwrap();
                object["spec"]["forProvider"]["manfest"] = manifest;
            }),
            vec![
                "/spec/forProvider: Additional properties are not allowed ('manfest' was unexpected)"
                    .to_string(),
                "/spec/forProvider: \"manifest\" is a required property".to_string(),
            ],
        ),
        (
            "a field of another version: v1alpha2 has managementPolicies, not managementPolicy",
            changed_patch(|object| object["spec"]["managementPolicy"] = json!("ObserveOnly")),
            vec![
                "/spec: Additional properties are not allowed ('managementPolicy' was unexpected)".to_string(),
            ],
        ),
        (
            "a value outside an enum",
            changed_patch(|object| object["spec"]["managementPolicies"] = json!(["Observe", "Patch"])),
            vec![
                "/spec/managementPolicies/1: \"Patch\" is not one of \"Observe\", \"Create\" or 4 other candidates".to_string(),
            ],
        ),
        (
            "an embedded resource without a kind",
            changed_patch(|object| {
                object["spec"]["forProvider"]["manifest"]
                    .as_object_mut()
                    .unwrap()
                    .remove("kind");
            }),
            vec![
                "/spec/forProvider/manifest: \"kind\" is a required property".to_string(),
            ],
        ),
        (
            "a misspelt metadata field",
            changed_patch(|object| object["metadata"]["anotations"] = json!({"a": "b"})),
            vec!["/metadata/anotations: not an ObjectMeta field".to_string()],
        ),
        (
            "a namespace on a cluster-scoped kind",
            changed_patch(|object| object["metadata"]["namespace"] = json!("platform")),
            vec!["/metadata/namespace: the kind is cluster-scoped, so the API server drops it".to_string()],
        ),
        (
            "a kind no CRD defines",
            changed_patch(|object| object["apiVersion"] = json!("kubernetes.crossplane.io/v1")),
            vec!["no served CRD version defines kubernetes.crossplane.io/v1 Object".to_string()],
        ),
        (
            "an architecture the fleet API does not offer",
            {
                let mut xr = single_example("xr.yaml");
                xr["spec"]["architectures"] = json!(["amd64", "s390x"]);
                xr
            },
            vec![
                "/spec/architectures/1: \"s390x\" is not one of \"amd64\" or \"arm64\"".to_string(),
            ],
        ),
        (
            "a plain-HTTP GitLab URL",
            {
                let mut xr = single_example("xr.yaml");
                xr["spec"]["gitlabUrl"] = json!("http://gitlab.example.com/");
                xr
            },
            vec![
                "/spec/gitlabUrl: \"http://gitlab.example.com/\" does not match \"^https://[^\\s/?#]+(/[^\\s]*)?$\"".to_string(),
            ],
        ),
        (
            "a tag prefix with a comma",
            {
                let mut claim = single_example("claim.yaml");
                claim["spec"]["tagPrefix"] = json!("sandbox,prod");
                claim
            },
            vec![
                "/spec/tagPrefix: \"sandbox,prod\" does not match \"^[a-z0-9._-]+$\"".to_string(),
            ],
        ),
    ];

    for (reason, object, want) in cases {
        let got = catalog.validate(&object);
        assert_eq!(got, Err(want), "{reason}");
    }
}

#[test]
fn validator_applies_kubernetes_extensions() {
    let catalog = Catalog::fixtures();
    let pool = single_example("required.yaml");

    let cases = [
        ("int-or-string accepts an integer", json!(1000), true),
        ("int-or-string accepts a string", json!("1000"), true),
        ("int-or-string rejects a boolean", json!(true), false),
    ];
    for (reason, cpu, valid) in cases {
        let mut changed = pool.clone();
        changed["spec"]["limits"]["cpu"] = cpu;

        assert_eq!(catalog.validate(&changed).is_ok(), valid, "{reason}");
    }

    // Release values preserve unknown fields, so any chart value passes.
    let mut release = example("observed.yaml").remove(0);
    release["spec"]["forProvider"]["values"]["anyChartKey"] = json!({"nested": [1, 2]});
    assert_eq!(catalog.validate(&release), Ok(()));

    // A composed resource may leave its name to Crossplane, a user's may not.
    let mut unnamed = release.clone();
    unnamed.as_object_mut().unwrap().remove("metadata");
    assert_eq!(catalog.validate_composed(&unnamed), Ok(()));
    assert_eq!(
        catalog.validate(&unnamed),
        Err(vec!["/metadata: missing".to_string()])
    );
}

/// Collects the JSON pointers of schema nodes that break the rules of a
/// Kubernetes structural schema this test can check: every node declares a
/// type unless it preserves unknown fields or is int-or-string, and no node
/// uses `$ref`.
fn structural_problems(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Value::Object(schema) = node else {
        problems.push(format!("{path}: not an object"));
        return;
    };

    if schema.contains_key("$ref") {
        problems.push(format!("{path}: $ref is not allowed"));
    }
    let typed = schema.get("type").and_then(Value::as_str).is_some();
    let exempt = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
        || schema.get("x-kubernetes-int-or-string") == Some(&json!(true));
    if !typed && !exempt {
        problems.push(format!("{path}: missing type"));
    }

    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, child) in properties {
            structural_problems(child, &format!("{path}/properties/{name}"), problems);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = schema.get(key) {
            structural_problems(child, &format!("{path}/{key}"), problems);
        }
    }
}

#[test]
fn xrd_schema_is_structural() {
    let xrd = single_example("xrd.yaml");
    let schema = &xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];

    let mut problems = Vec::new();
    structural_problems(schema, "", &mut problems);

    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn fleet_examples_share_spec() {
    let xr = single_example("xr.yaml");
    let claim = single_example("claim.yaml");
    let namespaced = single_example("namespaced/xr.yaml");

    assert_eq!(claim["spec"], xr["spec"]);
    assert_eq!(claim["metadata"]["namespace"], json!("platform"));

    // The namespaced XR differs only where its Release must read the token
    // Secrets from its own namespace.
    let mut expected = xr["spec"].clone();
    for arch in ["amd64", "arm64"] {
        expected["runnerTokenSecrets"][arch]["namespace"] = json!("platform");
    }
    assert_eq!(namespaced["spec"], expected);
    assert_eq!(namespaced["metadata"]["namespace"], json!("platform"));
}
