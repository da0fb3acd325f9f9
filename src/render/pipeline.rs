//! The Composition and Function packages `render` reads, and the plan made
//! from them: which pipeline steps run, in which order, with which input.
//! Only steps that call function-gitlab-runner-fleet can run in-process;
//! any other step makes the plan fail before anything runs.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::proto::v1::{MatchLabels, ResourceSelector, resource_selector::Match};
use crate::render::inputs::{Document, required_str};

/// The name of this function, as a Function package and as the default
/// `functionRef.name` when no Function packages are given.
pub const FUNCTION_NAME: &str = "function-gitlab-runner-fleet";

/// The apiVersion of a Composition.
const COMPOSITION_API_VERSION: &str = "apiextensions.crossplane.io/v1";

/// The apiVersions of a Function package that Crossplane accepts.
const FUNCTION_API_VERSIONS: [&str; 2] = ["pkg.crossplane.io/v1", "pkg.crossplane.io/v1beta1"];

/// The XR type a Composition composes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeReference {
    /// The XR's apiVersion, such as `ci.platform.example.org/v1alpha1`.
    pub api_version: String,
    /// The XR's kind.
    pub kind: String,
}

/// The fields of a Composition that `render` reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Composition {
    /// The Composition's metadata: its name and labels.
    #[serde(default)]
    pub metadata: Metadata,
    /// The Composition's spec.
    pub spec: CompositionSpec,
}

/// The metadata fields `render` reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Metadata {
    /// The object's name.
    #[serde(default)]
    pub name: String,
    /// The object's labels, matched against the XR's composition selector.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The spec of a Composition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionSpec {
    /// The XR type the Composition composes.
    pub composite_type_ref: TypeReference,
    /// `Pipeline`, the only mode of Crossplane 2.x and its default.
    #[serde(default)]
    pub mode: Option<String>,
    /// The function pipeline, run in order.
    #[serde(default)]
    pub pipeline: Vec<PipelineStep>,
}

/// One step of a Composition's function pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStep {
    /// The step's name, unique in the pipeline.
    pub step: String,
    /// The Function the step calls.
    pub function_ref: FunctionReference,
    /// The step's input, passed to the function as is.
    #[serde(default)]
    pub input: Option<Value>,
    /// Resources Crossplane fetches before the first call of the step.
    #[serde(default)]
    pub requirements: Option<StepRequirements>,
}

/// A reference to a Function by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FunctionReference {
    /// The Function's `metadata.name`.
    pub name: String,
}

/// Requirements a step declares up front.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRequirements {
    /// Resources to fetch before the first call.
    #[serde(default)]
    pub required_resources: Vec<RequiredResourceSelector>,
}

/// A resource a step requires before its first call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceSelector {
    /// The key under which the matching resources are passed.
    pub requirement_name: String,
    /// The resource's apiVersion.
    pub api_version: String,
    /// The resource's kind.
    pub kind: String,
    /// The resource's namespace, for namespaced kinds.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The resource's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Labels every selected resource has; wins over `name`.
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// A step that runs in-process.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step's name, reported with its results.
    pub name: String,
    /// The step's input.
    pub input: Option<Value>,
    /// Requirements to satisfy before the first call, keyed by requirement
    /// name.
    pub bootstrap: BTreeMap<String, ResourceSelector>,
}

/// Reads and checks a Composition.
pub fn load_composition(document: &Document) -> anyhow::Result<Composition> {
    let api_version = required_str(document, "/apiVersion")?;
    let kind = required_str(document, "/kind")?;
    if api_version != COMPOSITION_API_VERSION || kind != "Composition" {
        bail!(
            "{}: expected a Composition ({COMPOSITION_API_VERSION}), found {kind} ({api_version})",
            document.origin
        );
    }

    let composition: Composition = deserialize(document)?;

    if let Some(mode) = &composition.spec.mode
        && mode != "Pipeline"
    {
        bail!(
            "render only supports Composition Function pipelines: Composition {:?} must use spec.mode: Pipeline",
            composition.metadata.name
        );
    }
    if composition.spec.pipeline.is_empty() {
        bail!(
            "{}: spec.pipeline is empty: add a step that calls {FUNCTION_NAME}",
            document.origin
        );
    }

    Ok(composition)
}

/// Returns the names under which the Function packages install this
/// function: each Function whose `metadata.name` is the function's name or
/// whose `spec.package` is an image of that name, in any registry, at any
/// tag or digest.
pub fn our_function_names(functions: &[Document]) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();

    for function in functions {
        let api_version = required_str(function, "/apiVersion")?;
        let kind = required_str(function, "/kind")?;
        if !FUNCTION_API_VERSIONS.contains(&api_version) || kind != "Function" {
            bail!(
                "{}: expected a Function (pkg.crossplane.io/v1), found {kind} ({api_version})",
                function.origin
            );
        }

        let name = required_str(function, "/metadata/name")?;
        let package = function
            .value
            .pointer("/spec/package")
            .and_then(Value::as_str)
            .unwrap_or_default();

        if name == FUNCTION_NAME || package_name(package) == FUNCTION_NAME {
            names.insert(name.to_string());
        }
    }

    Ok(names)
}

/// Returns the image name of an OCI reference without registry, path, tag
/// or digest: `xpkg.example.org/org/fn:v1@sha256:...` gives `fn`.
fn package_name(package: &str) -> &str {
    let without_digest = package.split('@').next().unwrap_or_default();
    let last_segment = without_digest.rsplit('/').next().unwrap_or_default();
    last_segment.split(':').next().unwrap_or_default()
}

/// Plans the steps to run.
///
/// Without a Composition the function runs once, as a step named after
/// the function. With one, every step must call this function: one of
/// `our_names`, or the function's own name when no Function packages were
/// given. `input` replaces the input of every step that runs.
pub fn plan(
    composition: Option<&Composition>,
    functions: Option<&[Document]>,
    input: Option<&Value>,
) -> anyhow::Result<Vec<Step>> {
    let Some(composition) = composition else {
        return Ok(vec![Step {
            name: FUNCTION_NAME.to_string(),
            input: input.cloned(),
            bootstrap: BTreeMap::new(),
        }]);
    };

    let our_names = match functions {
        Some(functions) => our_function_names(functions)?,
        None => BTreeSet::from([FUNCTION_NAME.to_string()]),
    };
    let all_names: Option<BTreeSet<&str>> = functions.map(|functions| {
        functions
            .iter()
            .filter_map(|f| f.value.pointer("/metadata/name").and_then(Value::as_str))
            .collect()
    });

    let mut steps = Vec::new();
    for (index, step) in composition.spec.pipeline.iter().enumerate() {
        let function = step.function_ref.name.as_str();

        if let Some(all_names) = &all_names
            && !all_names.contains(function)
        {
            bail!(
                "pipeline step {:?} calls function {function:?}, which is not in the functions file: add a Function named {function:?}",
                step.step
            );
        }
        if !our_names.contains(function) {
            bail!(
                "pipeline step {:?} calls function {function:?}: this render runs only {FUNCTION_NAME} steps; \
                 use crossplane render for pipelines with other functions",
                step.step
            );
        }

        // NOTE: a step's credentials are not sent: this render takes no
        // credentials file and the function reads none.
        steps.push(Step {
            name: step.step.clone(),
            input: input.cloned().or_else(|| step.input.clone()),
            bootstrap: bootstrap_selectors(step, index)?,
        });
    }

    Ok(steps)
}

/// Turns a step's declared requirements into selectors.
fn bootstrap_selectors(
    step: &PipelineStep,
    index: usize,
) -> anyhow::Result<BTreeMap<String, ResourceSelector>> {
    let Some(requirements) = &step.requirements else {
        return Ok(BTreeMap::new());
    };

    let mut selectors = BTreeMap::new();
    for (position, required) in requirements.required_resources.iter().enumerate() {
        let r#match = match (&required.match_labels, &required.name) {
            (Some(labels), _) => Match::MatchLabels(MatchLabels {
                labels: labels.clone().into_iter().collect(),
            }),
            (None, Some(name)) => Match::MatchName(name.clone()),
            (None, None) => bail!(
                "spec.pipeline[{index}].requirements.requiredResources[{position}]: \
                 set name or matchLabels to select {:?}",
                required.requirement_name
            ),
        };

        selectors.insert(
            required.requirement_name.clone(),
            ResourceSelector {
                api_version: required.api_version.clone(),
                kind: required.kind.clone(),
                namespace: required.namespace.clone(),
                r#match: Some(r#match),
            },
        );
    }

    Ok(selectors)
}

/// Deserializes a document, naming the field path of any error.
fn deserialize<T: DeserializeOwned>(document: &Document) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(document.value.clone()).map_err(|error| {
        let path = error.path().to_string();
        anyhow::Error::new(error.into_inner()).context(format!("{}: {path}", document.origin))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::inputs::Origin;
    use serde_json::json;

    fn document(value: Value) -> Document {
        Document {
            origin: Origin {
                path: "composition.yaml".into(),
                index: 1,
            },
            value,
        }
    }

    fn function(name: &str, package: &str) -> Document {
        document(json!({
            "apiVersion": "pkg.crossplane.io/v1",
            "kind": "Function",
            "metadata": {"name": name},
            "spec": {"package": package},
        }))
    }

    fn composition(pipeline: Value) -> Composition {
        load_composition(&document(json!({
            "apiVersion": "apiextensions.crossplane.io/v1",
            "kind": "Composition",
            "metadata": {"name": "fleet"},
            "spec": {
                "compositeTypeRef": {
                    "apiVersion": "ci.platform.example.org/v1alpha1",
                    "kind": "XGitLabRunnerFleet",
                },
                "mode": "Pipeline",
                "pipeline": pipeline,
            },
        })))
        .unwrap()
    }

    #[test]
    fn package_names() {
        let cases = [
            (
                "xpkg.crossplane.io/org/function-gitlab-runner-fleet:v0.1.0",
                "function-gitlab-runner-fleet",
            ),
            (
                "localhost:5000/function-gitlab-runner-fleet",
                "function-gitlab-runner-fleet",
            ),
            (
                "ghcr.io/o/function-gitlab-runner-fleet:v1@sha256:abc",
                "function-gitlab-runner-fleet",
            ),
            (
                "xpkg.crossplane.io/crossplane-contrib/function-auto-ready:v0.5.0",
                "function-auto-ready",
            ),
        ];

        for (package, expected) in cases {
            assert_eq!(package_name(package), expected, "{package}");
        }
    }

    #[test]
    fn ours_by_name_or_package() {
        let functions = [
            function(
                "fleet",
                "xpkg.crossplane.io/o/function-gitlab-runner-fleet:v0.1.0",
            ),
            function(
                "function-gitlab-runner-fleet",
                "registry.example.org/other:v1",
            ),
            function(
                "auto-ready",
                "xpkg.crossplane.io/o/function-auto-ready:v0.5.0",
            ),
        ];

        let names = our_function_names(&functions).unwrap();

        assert_eq!(
            names,
            BTreeSet::from([
                "fleet".to_string(),
                "function-gitlab-runner-fleet".to_string()
            ])
        );
    }

    #[test]
    fn plan_runs_our_steps_with_input_override() {
        let composition = composition(json!([
            {"step": "first", "functionRef": {"name": "function-gitlab-runner-fleet"}, "input": {"a": 1}},
            {
                "step": "second",
                "functionRef": {"name": "function-gitlab-runner-fleet"},
                "requirements": {"requiredResources": [{
                    "requirementName": "nodepool",
                    "apiVersion": "karpenter.sh/v1",
                    "kind": "NodePool",
                    "name": "spot-pool",
                }]},
            },
        ]));

        let steps = plan(Some(&composition), None, None).unwrap();
        assert_eq!(steps[0].input, Some(json!({"a": 1})));
        assert_eq!(steps[1].input, None);
        assert_eq!(
            steps[1].bootstrap["nodepool"].r#match,
            Some(Match::MatchName("spot-pool".to_string()))
        );

        let input = json!({"b": 2});
        let steps = plan(Some(&composition), None, Some(&input)).unwrap();
        assert_eq!(steps[0].input, Some(input.clone()));
        assert_eq!(steps[1].input, Some(input));
    }

    #[test]
    fn plan_without_composition_runs_once() {
        let input = json!({"kind": "Input"});

        let steps = plan(None, None, Some(&input)).unwrap();

        assert_eq!(
            steps,
            vec![Step {
                name: "function-gitlab-runner-fleet".to_string(),
                input: Some(input),
                bootstrap: BTreeMap::new(),
            }]
        );
    }

    #[test]
    fn plan_rejects_steps_it_cannot_run() {
        let pipeline = json!([
            {"step": "fleet", "functionRef": {"name": "fleet"}},
            {"step": "ready", "functionRef": {"name": "function-auto-ready"}},
        ]);
        let functions = [
            function(
                "fleet",
                "xpkg.crossplane.io/o/function-gitlab-runner-fleet:v0.1.0",
            ),
            function(
                "function-auto-ready",
                "xpkg.crossplane.io/o/function-auto-ready:v0.5.0",
            ),
        ];

        let cases = [
            (
                "another function, listed in the functions file",
                Some(&functions[..]),
                "pipeline step \"ready\" calls function \"function-auto-ready\": this render runs only \
                 function-gitlab-runner-fleet steps; use crossplane render for pipelines with other functions",
            ),
            (
                "a function missing from the functions file",
                Some(&functions[1..]),
                "pipeline step \"fleet\" calls function \"fleet\", which is not in the functions file: \
                 add a Function named \"fleet\"",
            ),
            (
                "no functions file: only the default name is ours",
                None,
                "pipeline step \"fleet\" calls function \"fleet\": this render runs only \
                 function-gitlab-runner-fleet steps; use crossplane render for pipelines with other functions",
            ),
        ];

        for (reason, functions, expected) in cases {
            let error = plan(Some(&composition(pipeline.clone())), functions, None).unwrap_err();
            assert_eq!(error.to_string(), expected, "{reason}");
        }
    }

    #[test]
    fn composition_errors_name_the_field() {
        let cases = [
            (
                "not a Composition",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
                "composition.yaml (document 1): expected a Composition (apiextensions.crossplane.io/v1), found ConfigMap (v1)",
            ),
            (
                "a step without functionRef.name",
                json!({
                    "apiVersion": "apiextensions.crossplane.io/v1",
                    "kind": "Composition",
                    "spec": {
                        "compositeTypeRef": {"apiVersion": "a/v1", "kind": "X"},
                        "pipeline": [{"step": "s", "functionRef": {}}],
                    },
                }),
                "composition.yaml (document 1): spec.pipeline[0].functionRef: missing field `name`",
            ),
            (
                "mode Resources",
                json!({
                    "apiVersion": "apiextensions.crossplane.io/v1",
                    "kind": "Composition",
                    "metadata": {"name": "old"},
                    "spec": {
                        "compositeTypeRef": {"apiVersion": "a/v1", "kind": "X"},
                        "mode": "Resources",
                    },
                }),
                "render only supports Composition Function pipelines: Composition \"old\" must use spec.mode: Pipeline",
            ),
            (
                "no steps",
                json!({
                    "apiVersion": "apiextensions.crossplane.io/v1",
                    "kind": "Composition",
                    "spec": {"compositeTypeRef": {"apiVersion": "a/v1", "kind": "X"}},
                }),
                "composition.yaml (document 1): spec.pipeline is empty: add a step that calls function-gitlab-runner-fleet",
            ),
        ];

        for (reason, value, expected) in cases {
            let error = load_composition(&document(value)).unwrap_err();
            assert_eq!(format!("{error:#}"), expected, "{reason}");
        }
    }
}
