//! The `spec` of an `XGitLabRunnerFleet` as serde types, read from the
//! observed composite resource.
//!
//! Every field is optional here: which fields are required, and what their
//! defaults are, is decided in `validate`, so that a missing field gets the
//! same kind of message as a wrong one. Unknown fields are ignored, because
//! the API server prunes the XR against the XRD's schema and a platform team
//! may extend that schema. A field of the wrong type is an error that names
//! its path.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Toleration;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::FleetError;

/// `spec` of the XR.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSpec {
    /// URL of the GitLab instance the runners connect to.
    pub gitlab_url: Option<String>,

    /// Prefix of each runner's tag, `<tagPrefix>-<arch>`.
    pub tag_prefix: Option<String>,

    /// Architecture names as written; parsed and checked in `validate`.
    pub architectures: Option<Vec<String>>,

    /// Namespace the charts install into.
    pub namespace: Option<String>,

    /// Prefix of each Helm release name, `<releaseNamePrefix>-<arch>`.
    pub release_name_prefix: Option<String>,

    /// Chart overrides.
    pub chart: Option<ChartSpec>,

    /// Token Secret per architecture name, for runners registered by hand.
    pub runner_token_secrets: Option<BTreeMap<String, TokenSecretSpec>>,

    /// Registration of one GitLab runner per architecture through
    /// provider-gitlab, instead of `runner_token_secrets`.
    pub registration: Option<RegistrationSpec>,

    /// GitLab CI/CD variables that publish each runner's tag.
    pub ci_variables: Option<CiVariablesSpec>,

    /// The runner manager pod.
    pub manager: Option<ManagerSpec>,

    /// The job pods the Kubernetes executor creates.
    pub jobs: Option<JobsSpec>,

    /// The shared Karpenter NodePool to widen.
    pub node_pool: Option<NodePoolSpec>,

    /// Extra chart values, merged under the values the function derives.
    pub values: Option<Map<String, Value>>,
}

/// `spec.chart`: each field overrides the input's default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChartSpec {
    /// Helm repository URL.
    pub repository: Option<String>,
    /// Chart name.
    pub name: Option<String>,
    /// Chart version.
    pub version: Option<String>,
}

/// A Secret key holding one runner's authentication token (`glrt-...`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TokenSecretSpec {
    /// Secret name.
    pub name: Option<String>,
    /// Key inside the Secret; defaults to `runner-token`.
    pub key: Option<String>,
    /// Secret namespace; defaults to the release namespace.
    pub namespace: Option<String>,
}

/// `spec.manager`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerSpec {
    /// Node selector of the manager pod, without `kubernetes.io/arch`.
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the manager pod.
    pub tolerations: Option<Vec<Toleration>>,
    /// How many jobs the manager runs at once.
    pub concurrent: Option<i64>,
}

/// `spec.jobs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobsSpec {
    /// Namespace of the job pods.
    pub namespace: Option<String>,
    /// Image of jobs that name none.
    pub image: Option<String>,
    /// Whether job containers run privileged.
    pub privileged: Option<bool>,
    /// Node selector of job pods, without `kubernetes.io/arch`.
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of job pods.
    pub tolerations: Option<Vec<Toleration>>,
    /// Annotations of job pods.
    pub pod_annotations: Option<BTreeMap<String, String>>,
    /// How long, in seconds, the executor waits for a job pod to start.
    pub poll_timeout_seconds: Option<i64>,
    /// Helper image per architecture name.
    pub helper_images: Option<BTreeMap<String, String>>,
}

/// `spec.nodePool`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NodePoolSpec {
    /// Name of the Karpenter NodePool.
    pub name: Option<String>,
    /// `Widen` or `Dedicated`; checked in `validate`.
    pub strategy: Option<String>,
}

/// `spec.registration`: where and how provider-gitlab registers each
/// architecture's runner.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationSpec {
    /// Numeric ID of the group to register the runners in.
    pub group_id: Option<i64>,
    /// A provider-gitlab `Group` to take the group ID from.
    pub group_id_ref: Option<ReferenceSpec>,
    /// Labels of a provider-gitlab `Group` to take the group ID from.
    pub group_id_selector: Option<SelectorSpec>,
    /// Numeric ID of the project to register the runners in.
    pub project_id: Option<i64>,
    /// A provider-gitlab `Project` to take the project ID from.
    pub project_id_ref: Option<ReferenceSpec>,
    /// Labels of a provider-gitlab `Project` to take the project ID from.
    pub project_id_selector: Option<SelectorSpec>,
    /// Whether the runners also pick jobs without tags.
    pub run_untagged: Option<bool>,
    /// `not_protected` or `ref_protected`.
    pub access_level: Option<String>,
    /// Whether the runners are registered paused.
    pub paused: Option<bool>,
    /// Maximum job timeout of the runners, in seconds.
    pub maximum_timeout: Option<i64>,
}

/// `spec.ciVariables`: where to publish each runner's tag as a CI/CD
/// variable.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiVariablesSpec {
    /// Numeric ID of the group to create the variables in.
    pub group_id: Option<i64>,
    /// A provider-gitlab `Group` to take the group ID from.
    pub group_id_ref: Option<ReferenceSpec>,
    /// Labels of a provider-gitlab `Group` to take the group ID from.
    pub group_id_selector: Option<SelectorSpec>,
    /// Numeric ID of the project to create the variables in.
    pub project_id: Option<i64>,
    /// A provider-gitlab `Project` to take the project ID from.
    pub project_id_ref: Option<ReferenceSpec>,
    /// Labels of a provider-gitlab `Project` to take the project ID from.
    pub project_id_selector: Option<SelectorSpec>,
    /// Prefix of each variable key, `<keyPrefix><ARCH>`.
    pub key_prefix: Option<String>,
    /// Whether the variables are exposed to protected branches and tags
    /// only.
    pub protected: Option<bool>,
}

/// A reference to a provider-gitlab resource by name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReferenceSpec {
    /// Name of the referenced resource.
    pub name: Option<String>,
}

/// A selector of a provider-gitlab resource by labels.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorSpec {
    /// Labels the selected resource carries.
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Whether to select only a resource composed by the same composite
    /// resource.
    pub match_controller_ref: Option<bool>,
}

/// Reads `spec` from the observed composite resource. A composite with no
/// `spec` reads as an empty one, which `validate` then rejects field by field.
pub fn parse_spec(composite: &Value) -> Result<FleetSpec, FleetError> {
    let spec = match composite.get("spec") {
        None | Some(Value::Null) => return Ok(FleetSpec::default()),
        Some(spec @ Value::Object(_)) => spec,
        Some(other) => {
            return Err(FleetError(format!(
                "spec: {} is not an object: the composite resource's spec must be an object",
                json_type(other)
            )));
        }
    };

    serde_path_to_error::deserialize(spec).map_err(|error| {
        let path = error.path().to_string();
        let inner = plain_type_names(&error.into_inner().to_string());
        FleetError(format!(
            "spec.{path}: {inner}: set a value of the type the XRD's schema gives"
        ))
    })
}

/// Rewrites the Rust type names in a serde error, such as `expected i64`, as
/// the JSON and OpenAPI names platform engineers use, such as
/// `expected an integer`.
pub fn plain_type_names(message: &str) -> String {
    const RUST_TYPES: [(&str, &str); 13] = [
        ("invalid type: sequence", "invalid type: list"),
        ("invalid type: map", "invalid type: object"),
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected a non-negative integer"),
        ("expected u8", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a map", "expected an object"),
        ("expected a sequence", "expected a list"),
        ("expected a boolean", "expected true or false"),
    ];

    let mut plain = message.to_string();
    for (rust, json) in RUST_TYPES {
        plain = plain.replace(rust, json);
    }
    plain
}

/// Names the JSON type of `value` for messages, such as `a list`.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_spec_reads_every_field() {
        let composite = json!({
            "spec": {
                "gitlabUrl": "https://gitlab.example.com/",
                "tagPrefix": "sandbox",
                "architectures": ["arm64", "amd64"],
                "namespace": "runners",
                "releaseNamePrefix": "sbx",
                "chart": {"repository": "https://charts.example.com/", "name": "gr", "version": "1.2.3"},
                "runnerTokenSecrets": {
                    "amd64": {"name": "runner-amd64", "key": "token", "namespace": "secrets"},
                },
                "manager": {
                    "nodeSelector": {"lifecycle": "OnDemand"},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ci", "effect": "NoSchedule"}],
                    "concurrent": 4,
                },
                "jobs": {
                    "namespace": "jobs",
                    "image": "alpine:3.20",
                    "privileged": true,
                    "nodeSelector": {"lifecycle": "Ec2Spot"},
                    "tolerations": [{"key": "spot", "operator": "Exists"}],
                    "podAnnotations": {"a": "b"},
                    "pollTimeoutSeconds": 900,
                    "helperImages": {"arm64": "helper:arm64-v18.9.0"},
                },
                "nodePool": {"name": "spot-pool"},
                "values": {"metrics": {"enabled": true}},
                "crossplane": {"compositionRef": {"name": "ignored"}},
            }
        });

        let spec = parse_spec(&composite).unwrap();

        assert_eq!(
            spec.gitlab_url.as_deref(),
            Some("https://gitlab.example.com/")
        );
        assert_eq!(spec.tag_prefix.as_deref(), Some("sandbox"));
        assert_eq!(
            spec.architectures,
            Some(vec!["arm64".into(), "amd64".into()])
        );
        assert_eq!(spec.namespace.as_deref(), Some("runners"));
        assert_eq!(spec.release_name_prefix.as_deref(), Some("sbx"));
        assert_eq!(
            spec.chart,
            Some(ChartSpec {
                repository: Some("https://charts.example.com/".into()),
                name: Some("gr".into()),
                version: Some("1.2.3".into()),
            })
        );
        assert_eq!(
            spec.runner_token_secrets.unwrap()["amd64"],
            TokenSecretSpec {
                name: Some("runner-amd64".into()),
                key: Some("token".into()),
                namespace: Some("secrets".into()),
            }
        );
        let manager = spec.manager.unwrap();
        assert_eq!(manager.concurrent, Some(4));
        assert_eq!(
            manager.tolerations.unwrap()[0],
            Toleration {
                key: Some("dedicated".into()),
                operator: Some("Equal".into()),
                value: Some("ci".into()),
                effect: Some("NoSchedule".into()),
                toleration_seconds: None,
            }
        );
        let jobs = spec.jobs.unwrap();
        assert_eq!(jobs.privileged, Some(true));
        assert_eq!(jobs.poll_timeout_seconds, Some(900));
        assert_eq!(jobs.helper_images.unwrap()["arm64"], "helper:arm64-v18.9.0");
        assert_eq!(spec.node_pool.unwrap().name.as_deref(), Some("spot-pool"));
        assert_eq!(spec.values.unwrap()["metrics"], json!({"enabled": true}));
    }

    #[test]
    fn parse_spec_treats_missing_and_null_as_empty() {
        assert_eq!(parse_spec(&json!({})).unwrap(), FleetSpec::default());
        assert_eq!(
            parse_spec(&json!({"spec": null})).unwrap(),
            FleetSpec::default()
        );
        assert_eq!(
            parse_spec(&json!({"spec": {"manager": null}})).unwrap(),
            FleetSpec::default()
        );
    }

    #[test]
    fn parse_spec_errors_name_the_path() {
        struct Case {
            reason: &'static str,
            spec: Value,
            error: &'static str,
        }

        let cases = [
            Case {
                reason: "a number where a string belongs",
                spec: json!({"gitlabUrl": 42}),
                error: "spec.gitlabUrl: invalid type: integer `42`, expected a string: set a \
                        value of the type the XRD's schema gives",
            },
            Case {
                reason: "a string where an integer belongs, nested",
                spec: json!({"manager": {"concurrent": "ten"}}),
                error: "spec.manager.concurrent: invalid type: string \"ten\", expected an integer: set \
                        a value of the type the XRD's schema gives",
            },
            Case {
                reason: "a fraction where an integer belongs",
                spec: json!({"jobs": {"pollTimeoutSeconds": 1.5}}),
                error: "spec.jobs.pollTimeoutSeconds: invalid type: floating point `1.5`, \
                        expected an integer: set a value of the type the XRD's schema gives",
            },
            Case {
                reason: "a wrong type inside a list names the index",
                spec: json!({"architectures": ["amd64", 7]}),
                error: "spec.architectures[1]: invalid type: integer `7`, expected a string: set \
                        a value of the type the XRD's schema gives",
            },
            Case {
                reason: "a wrong type inside a map names the key",
                spec: json!({"jobs": {"podAnnotations": {"team": false}}}),
                error: "spec.jobs.podAnnotations.team: invalid type: boolean `false`, expected a \
                        string: set a value of the type the XRD's schema gives",
            },
            Case {
                reason: "a wrong type inside a Kubernetes Toleration",
                spec: json!({"jobs": {"tolerations": [{"tolerationSeconds": "long"}]}}),
                error: "spec.jobs.tolerations[0].tolerationSeconds: invalid type: string \
                        \"long\", expected an integer: set a value of the type the XRD's schema gives",
            },
            Case {
                reason: "values must be an object",
                spec: json!({"values": "metrics: {enabled: true}"}),
                error: "spec.values: invalid type: string \"metrics: {enabled: true}\", expected \
                        an object: set a value of the type the XRD's schema gives",
            },
            Case {
                reason: "a spec that is not an object",
                spec: json!(["amd64"]),
                error: "spec: a list is not an object: the composite resource's spec must be \
                        an object",
            },
        ];

        for case in cases {
            let error = parse_spec(&json!({"spec": case.spec})).unwrap_err();
            assert_eq!(error.0, case.error, "{}", case.reason);
        }
    }
}
