//! The function's input: the platform team's defaults, given once per
//! composition step as `gitlabrunnerfleet.fn.crossplane.io/v1alpha1 Input`.
//!
//! Unlike the XR, whose schema the API server prunes, the input reaches the
//! function exactly as written in the Composition, so an unknown field here is
//! almost always a typo and is rejected.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FleetError;
use super::spec::json_type;

/// The API group and version of the input kind.
pub const INPUT_API_VERSION: &str = "gitlabrunnerfleet.fn.crossplane.io/v1alpha1";

/// The input kind.
pub const INPUT_KIND: &str = "Input";

/// Chart repository used when neither the XR nor the input names one.
pub const DEFAULT_CHART_REPOSITORY: &str = "https://charts.gitlab.io/";

/// Chart name used when neither the XR nor the input names one.
pub const DEFAULT_CHART_NAME: &str = "gitlab-runner";

/// Chart version used when neither the XR nor the input names one.
pub const DEFAULT_CHART_VERSION: &str = "0.86.0";

/// ProviderConfig name used when the input names none.
pub const DEFAULT_PROVIDER_CONFIG: &str = "default";

/// Response TTL, in seconds, used when the input sets none.
pub const DEFAULT_TTL_SECONDS: i64 = 60;

/// The executor's `poll_timeout`, in seconds, used when neither the XR nor the
/// input sets one. It leaves room for a cold Karpenter node launch.
pub const DEFAULT_POLL_TIMEOUT_SECONDS: i64 = 600;

/// Default image of job pods whose job names no `image:`.
pub const DEFAULT_JOB_IMAGE: &str = "ubuntu:22.04";

/// The input as written in the Composition. Every field is optional.
///
/// `None` serializes as `null` on purpose: serializing `Input::default()`
/// lists every field, which the test against the input CRD relies on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// `gitlabrunnerfleet.fn.crossplane.io/v1alpha1`.
    pub api_version: Option<String>,

    /// `Input`.
    pub kind: Option<String>,

    /// Object metadata; the function ignores it.
    pub metadata: Option<Value>,

    /// Chart defaults, each field overridden by the XR's `spec.chart`.
    #[serde(default)]
    pub chart: ChartInput,

    /// ProviderConfig names of the composed managed resources.
    #[serde(default)]
    pub provider_configs: ProviderConfigs,

    /// Response TTL, in seconds: how long Crossplane may reuse a response.
    pub ttl_seconds: Option<i64>,

    /// The executor's `poll_timeout`, in seconds, for fleets that set no
    /// `spec.jobs.pollTimeoutSeconds`.
    pub default_poll_timeout_seconds: Option<i64>,

    /// Default job image for fleets that set no `spec.jobs.image`.
    pub default_job_image: Option<String>,
}

/// Chart defaults; `None` leaves the built-in default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChartInput {
    /// Helm repository URL.
    pub repository: Option<String>,
    /// Chart name.
    pub name: Option<String>,
    /// Chart version.
    pub version: Option<String>,
}

/// ProviderConfig names, per provider.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfigs {
    /// provider-helm's ProviderConfig, for the Releases.
    pub helm: Option<String>,

    /// provider-kubernetes' ProviderConfig, for the NodePool patch.
    pub kubernetes: Option<String>,

    /// provider-gitlab's ProviderConfig, for the Runners and Variables.
    pub gitlab: Option<String>,
}

/// The input with built-in defaults filled in and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Chart defaults; each field is set and non-empty.
    pub chart: ResolvedChart,
    /// provider-helm's ProviderConfig name.
    pub helm_provider_config: String,
    /// provider-kubernetes' ProviderConfig name.
    pub kubernetes_provider_config: String,
    /// provider-gitlab's ProviderConfig name.
    pub gitlab_provider_config: String,
    /// Response TTL.
    pub ttl: Duration,
    /// Default `poll_timeout`, in seconds, and the field it came from.
    pub poll_timeout_seconds: (i64, &'static str),
    /// Default job image.
    pub job_image: String,
}

/// A chart reference with every field set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedChart {
    /// Helm repository URL.
    pub repository: String,
    /// Chart name.
    pub name: String,
    /// Chart version; always set, because provider-helm late-initialises an
    /// empty one and then fights over it.
    pub version: String,
}

/// Parses the step's input; no input at all means built-in defaults.
pub fn parse_input(input: Option<&Value>) -> Result<Input, FleetError> {
    let input = match input {
        None | Some(Value::Null) => return Ok(Input::default()),
        Some(input @ Value::Object(_)) => input,
        Some(other) => {
            return Err(FleetError(format!(
                "input: {} is not an object: write the input as kind {INPUT_KIND}, apiVersion \
                 {INPUT_API_VERSION}",
                json_type(other)
            )));
        }
    };

    serde_path_to_error::deserialize(input).map_err(|error| {
        let path = error.path().to_string();
        let inner = super::spec::plain_type_names(&error.into_inner().to_string());
        FleetError(format!(
            "input.{path}: {inner}: fix the function input in the Composition"
        ))
    })
}

/// Checks the input and fills in the built-in defaults.
pub fn resolve_defaults(input: &Input) -> Result<Defaults, FleetError> {
    if let Some(api_version) = &input.api_version
        && api_version != INPUT_API_VERSION
    {
        return Err(FleetError(format!(
            "input.apiVersion: unsupported apiVersion {api_version:?}: use {INPUT_API_VERSION:?}"
        )));
    }
    if let Some(kind) = &input.kind
        && kind != INPUT_KIND
    {
        return Err(FleetError(format!(
            "input.kind: unsupported kind {kind:?}: use {INPUT_KIND:?}"
        )));
    }

    let chart = ResolvedChart {
        repository: non_empty_or(
            "input.chart.repository",
            input.chart.repository.as_deref(),
            DEFAULT_CHART_REPOSITORY,
        )?,
        name: non_empty_or(
            "input.chart.name",
            input.chart.name.as_deref(),
            DEFAULT_CHART_NAME,
        )?,
        version: non_empty_or(
            "input.chart.version",
            input.chart.version.as_deref(),
            DEFAULT_CHART_VERSION,
        )?,
    };

    let helm_provider_config = non_empty_or(
        "input.providerConfigs.helm",
        input.provider_configs.helm.as_deref(),
        DEFAULT_PROVIDER_CONFIG,
    )?;
    let kubernetes_provider_config = non_empty_or(
        "input.providerConfigs.kubernetes",
        input.provider_configs.kubernetes.as_deref(),
        DEFAULT_PROVIDER_CONFIG,
    )?;
    let gitlab_provider_config = non_empty_or(
        "input.providerConfigs.gitlab",
        input.provider_configs.gitlab.as_deref(),
        DEFAULT_PROVIDER_CONFIG,
    )?;

    let ttl_seconds = input.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if ttl_seconds < 1 {
        return Err(FleetError(format!(
            "input.ttlSeconds: {ttl_seconds} is less than 1: set a TTL of 1 second or more, \
             or remove the field for the default of {DEFAULT_TTL_SECONDS}"
        )));
    }

    let poll_timeout_seconds = match input.default_poll_timeout_seconds {
        Some(seconds) if seconds < 1 => {
            return Err(FleetError(format!(
                "input.defaultPollTimeoutSeconds: {seconds} is less than 1: set 1 or more, \
                 or remove the field for the default of {DEFAULT_POLL_TIMEOUT_SECONDS}"
            )));
        }
        Some(seconds) => (seconds, "input.defaultPollTimeoutSeconds"),
        None => (DEFAULT_POLL_TIMEOUT_SECONDS, "the built-in default"),
    };

    let job_image = non_empty_or(
        "input.defaultJobImage",
        input.default_job_image.as_deref(),
        DEFAULT_JOB_IMAGE,
    )?;

    Ok(Defaults {
        chart,
        helm_provider_config,
        kubernetes_provider_config,
        gitlab_provider_config,
        ttl: Duration::from_secs(ttl_seconds.unsigned_abs()),
        poll_timeout_seconds,
        job_image,
    })
}

/// Returns `value`, or `default` when it is absent; an empty string is an
/// error, since it is never what the author meant.
fn non_empty_or(path: &str, value: Option<&str>, default: &str) -> Result<String, FleetError> {
    match value {
        None => Ok(default.to_string()),
        Some("") => Err(FleetError(format!(
            "{path}: must not be empty: set a value or remove the field for the default {default:?}"
        ))),
        Some(value) => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resolve_defaults_without_input() {
        let input = parse_input(None).unwrap();
        let defaults = resolve_defaults(&input).unwrap();

        assert_eq!(
            defaults,
            Defaults {
                chart: ResolvedChart {
                    repository: "https://charts.gitlab.io/".into(),
                    name: "gitlab-runner".into(),
                    version: "0.86.0".into(),
                },
                helm_provider_config: "default".into(),
                kubernetes_provider_config: "default".into(),
                gitlab_provider_config: "default".into(),
                ttl: Duration::from_secs(60),
                poll_timeout_seconds: (600, "the built-in default"),
                job_image: "ubuntu:22.04".into(),
            }
        );
    }

    #[test]
    fn resolve_defaults_from_full_input() {
        let input = parse_input(Some(&json!({
            "apiVersion": "gitlabrunnerfleet.fn.crossplane.io/v1alpha1",
            "kind": "Input",
            "metadata": {"name": "ignored"},
            "chart": {"repository": "oci://registry.example.com/charts", "name": "runner", "version": "0.79.1"},
            "providerConfigs": {"helm": "helm-pc", "kubernetes": "k8s-pc", "gitlab": "gitlab-pc"},
            "ttlSeconds": 30,
            "defaultPollTimeoutSeconds": 900,
            "defaultJobImage": "alpine:3.20",
        })))
        .unwrap();
        let defaults = resolve_defaults(&input).unwrap();

        assert_eq!(
            defaults,
            Defaults {
                chart: ResolvedChart {
                    repository: "oci://registry.example.com/charts".into(),
                    name: "runner".into(),
                    version: "0.79.1".into(),
                },
                helm_provider_config: "helm-pc".into(),
                kubernetes_provider_config: "k8s-pc".into(),
                gitlab_provider_config: "gitlab-pc".into(),
                ttl: Duration::from_secs(30),
                poll_timeout_seconds: (900, "input.defaultPollTimeoutSeconds"),
                job_image: "alpine:3.20".into(),
            }
        );
    }

    #[test]
    fn input_errors() {
        struct Case {
            reason: &'static str,
            input: Value,
            error: &'static str,
        }

        let cases = [
            Case {
                reason: "a misspelt field is a typo, not something to ignore",
                input: json!({"ttlSecond": 30}),
                error: "input.ttlSecond: unknown field `ttlSecond`, expected one of `apiVersion`, \
                        `kind`, `metadata`, `chart`, `providerConfigs`, `ttlSeconds`, \
                        `defaultPollTimeoutSeconds`, `defaultJobImage`: fix the function input in \
                        the Composition",
            },
            Case {
                reason: "a wrong type names the field path",
                input: json!({"ttlSeconds": "sixty"}),
                error: "input.ttlSeconds: invalid type: string \"sixty\", expected an integer: fix the \
                        function input in the Composition",
            },
            Case {
                reason: "a nested wrong type names the nested path",
                input: json!({"chart": {"version": 1}}),
                error: "input.chart.version: invalid type: integer `1`, expected a string: fix the \
                        function input in the Composition",
            },
            Case {
                reason: "an input that is not an object cannot be read at all",
                input: json!(["not", "an", "object"]),
                error: "input: a list is not an object: write the input as kind Input, apiVersion \
                        gitlabrunnerfleet.fn.crossplane.io/v1alpha1",
            },
            Case {
                reason: "another function's input kind means a wrong pipeline step",
                input: json!({"apiVersion": "pt.fn.crossplane.io/v1beta1", "kind": "Input"}),
                error: "input.apiVersion: unsupported apiVersion \"pt.fn.crossplane.io/v1beta1\": \
                        use \"gitlabrunnerfleet.fn.crossplane.io/v1alpha1\"",
            },
            Case {
                reason: "the kind is checked too",
                input: json!({"kind": "Resources"}),
                error: "input.kind: unsupported kind \"Resources\": use \"Input\"",
            },
            Case {
                reason: "an empty chart version would be late-initialised and fought over",
                input: json!({"chart": {"version": ""}}),
                error: "input.chart.version: must not be empty: set a value or remove the field \
                        for the default \"0.86.0\"",
            },
            Case {
                reason: "an empty ProviderConfig name can never resolve",
                input: json!({"providerConfigs": {"helm": ""}}),
                error: "input.providerConfigs.helm: must not be empty: set a value or remove the \
                        field for the default \"default\"",
            },
            Case {
                reason: "a zero TTL would make Crossplane call the function in a tight loop",
                input: json!({"ttlSeconds": 0}),
                error: "input.ttlSeconds: 0 is less than 1: set a TTL of 1 second or more, or \
                        remove the field for the default of 60",
            },
            Case {
                reason: "a poll timeout below one second fails every job",
                input: json!({"defaultPollTimeoutSeconds": -5}),
                error: "input.defaultPollTimeoutSeconds: -5 is less than 1: set 1 or more, or \
                        remove the field for the default of 600",
            },
            Case {
                reason: "an empty default image leaves jobs without an image",
                input: json!({"defaultJobImage": ""}),
                error: "input.defaultJobImage: must not be empty: set a value or remove the field \
                        for the default \"ubuntu:22.04\"",
            },
        ];

        for case in cases {
            let result = parse_input(Some(&case.input)).and_then(|input| resolve_defaults(&input));
            assert_eq!(result.unwrap_err().0, case.error, "{}", case.reason);
        }
    }

    const INPUT_CRD: &str =
        include_str!("../../package/input/gitlabrunnerfleet.fn.crossplane.io_inputs.yaml");

    fn input_crd() -> Value {
        serde_yaml_ng::from_str(INPUT_CRD).unwrap()
    }

    fn input_schema() -> Value {
        input_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    /// Lists the dotted path of every field of a serialized value, descending
    /// into objects.
    fn value_fields(prefix: &str, value: &Value, fields: &mut Vec<String>) {
        if let Value::Object(map) = value {
            for (key, child) in map {
                let path = format!("{prefix}{key}");
                fields.push(path.clone());
                value_fields(&format!("{path}."), child, fields);
            }
        }
    }

    /// Lists the dotted path of every property of an OpenAPI schema.
    fn schema_fields(prefix: &str, schema: &Value, fields: &mut Vec<String>) {
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (key, child) in properties {
                let path = format!("{prefix}{key}");
                fields.push(path.clone());
                schema_fields(&format!("{path}."), child, fields);
            }
        }
    }

    /// Builds a document with every property of `schema` set to a value of
    /// its type.
    fn sample(schema: &Value) -> Value {
        match schema["type"].as_str() {
            Some("string") => json!("x"),
            Some("integer") => json!(1),
            Some("boolean") => json!(true),
            _ => Value::Object(
                schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(key, child)| (key.clone(), sample(child)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn input_crd_names_the_input_kind() {
        let crd = input_crd();
        let (group, version) = INPUT_API_VERSION.split_once('/').unwrap();

        assert_eq!(crd["metadata"]["name"], format!("inputs.{group}"));
        assert_eq!(crd["spec"]["group"], group);
        assert_eq!(crd["spec"]["names"]["kind"], INPUT_KIND);
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["versions"][0]["name"], version);
        assert_eq!(crd["spec"]["versions"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn input_crd_and_type_list_the_same_fields() {
        let mut rust_fields = Vec::new();
        value_fields(
            "",
            &serde_json::to_value(Input::default()).unwrap(),
            &mut rust_fields,
        );
        let mut crd_fields = Vec::new();
        schema_fields("", &input_schema(), &mut crd_fields);

        rust_fields.sort();
        crd_fields.sort();

        assert_eq!(rust_fields, crd_fields);
    }

    #[test]
    fn input_crd_sample_parses() {
        let document = sample(&input_schema());

        let input = parse_input(Some(&document)).unwrap();

        assert_eq!(input.ttl_seconds, Some(1));
        assert_eq!(input.chart.version.as_deref(), Some("x"));
        assert_eq!(input.provider_configs.kubernetes.as_deref(), Some("x"));
    }
}
