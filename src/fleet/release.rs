//! One provider-helm `Release` of the `gitlab-runner` chart per architecture.
//!
//! The Release names its Helm release through `crossplane.io/external-name`,
//! always pins `chart.version`, feeds the runner token from a Secret through
//! `set[].valueFrom`, and pins the manager and its job pods to the
//! architecture.

use serde_json::{Map, Value, json};

use super::runner_config::{ARCH_LABEL, runner_config};
use super::validate::Fleet;
use super::values::merge_values;
use super::{Arch, FleetError, Scope};

/// The annotation provider-helm names the Helm release after. Without it the
/// release would get the generated name of the composed resource.
pub const EXTERNAL_NAME: &str = "crossplane.io/external-name";

/// The chart value that carries the runner authentication token.
const RUNNER_TOKEN_VALUE: &str = "runnerToken";

/// The kind of ProviderConfig a namespaced Release refers to.
// NOTE: a namespaced Release may also refer to a namespaced `ProviderConfig`.
// The input has no field to choose that kind yet.
const NAMESPACED_PROVIDER_CONFIG_KIND: &str = "ClusterProviderConfig";

/// Returns the composed resource name of `arch`'s Release.
pub fn resource_key(arch: Arch) -> String {
    format!("release-{arch}")
}

/// Builds the Release of `arch`.
pub fn release(fleet: &Fleet, arch: Arch) -> Result<Value, FleetError> {
    let values = chart_values(fleet, arch)?;
    let set = vec![token_from_secret(fleet, arch)?];

    Ok(json!({
        "apiVersion": fleet.scope.release_api_version(),
        "kind": "Release",
        "metadata": {
            "annotations": {
                EXTERNAL_NAME: fleet.release_name(arch),
            },
        },
        "spec": {
            "forProvider": {
                "chart": {
                    "name": fleet.chart.name,
                    "repository": fleet.chart.repository,
                    "version": fleet.chart.version,
                },
                "namespace": fleet.namespace,
                "set": set,
                "values": values,
            },
            "providerConfigRef": provider_config_ref(fleet.scope, &fleet.helm_provider_config),
        },
    }))
}

/// Builds the chart values of `arch`: the values the function derives, with
/// `spec.values` merged under them.
fn chart_values(fleet: &Fleet, arch: Arch) -> Result<Map<String, Value>, FleetError> {
    let mut node_selector: Map<String, Value> = fleet
        .manager
        .node_selector
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    node_selector.insert(ARCH_LABEL.to_string(), Value::String(arch.to_string()));

    let tolerations = serde_json::to_value(&fleet.manager.tolerations).map_err(|error| {
        FleetError(format!(
            "spec.manager.tolerations: cannot convert to chart values: {error}"
        ))
    })?;

    let mut derived = Map::new();
    derived.insert("concurrent".into(), json!(fleet.manager.concurrent));
    derived.insert("gitlabUrl".into(), json!(fleet.gitlab_url));
    derived.insert("nodeSelector".into(), Value::Object(node_selector));
    derived.insert("rbac".into(), json!({"create": true}));
    // NOTE: chart 0.86.0 documents `runners.jobNamespace` for job pods outside
    // the release namespace. Whether its Role then covers that namespace was
    // not checked against the chart's templates.
    derived.insert(
        "runners".into(),
        json!({
            "config": runner_config(fleet, arch)?,
            "jobNamespace": fleet.jobs.namespace,
        }),
    );
    derived.insert("serviceAccount".into(), json!({"create": true}));
    derived.insert("tolerations".into(), tolerations);

    merge_values(&derived, &fleet.values)
}

/// Builds the `set` entry that feeds the token into `runnerToken` straight
/// from its Secret, so the token never appears in the Release spec.
fn token_from_secret(fleet: &Fleet, arch: Arch) -> Result<Value, FleetError> {
    let secret = fleet.token_secrets.get(&arch).ok_or_else(|| {
        FleetError(format!(
            "spec.runnerTokenSecrets.{arch}: missing: name the Secret holding the {arch} \
             runner's authentication token"
        ))
    })?;

    let mut secret_key_ref = Map::new();
    secret_key_ref.insert("key".to_string(), Value::String(secret.key.clone()));
    secret_key_ref.insert("name".to_string(), Value::String(secret.name.clone()));
    if let Some(namespace) = &secret.namespace {
        secret_key_ref.insert("namespace".to_string(), Value::String(namespace.clone()));
    }

    Ok(json!({
        "name": RUNNER_TOKEN_VALUE,
        "valueFrom": {"secretKeyRef": secret_key_ref},
    }))
}

fn provider_config_ref(scope: Scope, name: &str) -> Value {
    match scope {
        Scope::Cluster => json!({"name": name}),
        Scope::Namespaced => json!({"kind": NAMESPACED_PROVIDER_CONFIG_KIND, "name": name}),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::fleet::testing::{
        composite, fleet_of, full_spec, minimal_spec, namespaced_composite, set,
    };

    /// Compares `actual`, pretty-printed, with the golden file `name`.
    /// `UPDATE_GOLDEN=1 cargo test` rewrites the file instead.
    fn assert_golden(name: &str, actual: &Value) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        let text = serde_json::to_string_pretty(actual).unwrap() + "\n";

        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));

        assert_eq!(text, expected, "golden file {name}");
    }

    #[test]
    fn release_of_cluster_xr_matches_golden() {
        let fleet = fleet_of(&composite(full_spec()));

        assert_golden(
            "release-arm64-cluster.json",
            &release(&fleet, Arch::Arm64).unwrap(),
        );
    }

    #[test]
    fn release_of_namespaced_xr_matches_golden() {
        let mut spec = full_spec();
        set(&mut spec, "/values", json!({"metrics": {"enabled": true}}));
        let fleet = fleet_of(&namespaced_composite(spec));

        assert_golden(
            "release-amd64-namespaced.json",
            &release(&fleet, Arch::Amd64).unwrap(),
        );
    }

    #[test]
    fn release_api_version_and_provider_config_follow_scope() {
        let cluster = release(&fleet_of(&composite(minimal_spec())), Arch::Amd64).unwrap();
        let namespaced = release(
            &fleet_of(&namespaced_composite(minimal_spec())),
            Arch::Amd64,
        )
        .unwrap();

        assert_eq!(cluster["apiVersion"], "helm.crossplane.io/v1beta1");
        assert_eq!(
            cluster["spec"]["providerConfigRef"],
            json!({"name": "default"})
        );
        assert_eq!(namespaced["apiVersion"], "helm.m.crossplane.io/v1beta1");
        assert_eq!(
            namespaced["spec"]["providerConfigRef"],
            json!({"kind": "ClusterProviderConfig", "name": "default"}),
            "the namespaced Release's providerConfigRef requires a kind"
        );
    }

    #[test]
    fn release_names_helm_release_through_external_name() {
        struct Case {
            reason: &'static str,
            prefix: Option<&'static str>,
            expected: &'static str,
        }

        let cases = [
            Case {
                reason: "the prefix defaults to the XR's name",
                prefix: None,
                expected: "sandbox-arm64",
            },
            Case {
                reason: "spec.releaseNamePrefix wins",
                prefix: Some("ci"),
                expected: "ci-arm64",
            },
        ];

        for case in cases {
            let mut xr = composite(minimal_spec());
            if let Some(prefix) = case.prefix {
                set(&mut xr, "/spec/releaseNamePrefix", json!(prefix));
            }

            let resource = release(&fleet_of(&xr), Arch::Arm64).unwrap();

            assert_eq!(
                resource["metadata"]["annotations"][EXTERNAL_NAME], case.expected,
                "{}",
                case.reason
            );
            assert_eq!(
                resource["metadata"].as_object().unwrap().len(),
                1,
                "{}: no metadata.name, so Crossplane generates the resource name",
                case.reason
            );
        }
    }

    #[test]
    fn release_always_pins_chart_version() {
        let resource = release(&fleet_of(&composite(minimal_spec())), Arch::Amd64).unwrap();

        assert_eq!(
            resource["spec"]["forProvider"]["chart"],
            json!({"name": "gitlab-runner", "repository": "https://charts.gitlab.io/", "version": "0.86.0"}),
            "with no chart in the XR or the input, the built-in version is set"
        );
        assert_eq!(
            resource["spec"]["forProvider"]["namespace"],
            "gitlab-runner"
        );
    }

    #[test]
    fn release_feeds_token_from_secret_only() {
        for (scope_composite, secret_key_ref) in [
            (
                composite as fn(Value) -> Value,
                json!({"key": "runner-token", "name": "runner-arm64", "namespace": "gitlab-runner"}),
            ),
            (
                namespaced_composite,
                json!({"key": "runner-token", "name": "runner-arm64"}),
            ),
        ] {
            let resource = release(&fleet_of(&scope_composite(full_spec())), Arch::Arm64).unwrap();
            let for_provider = &resource["spec"]["forProvider"];

            assert_eq!(
                for_provider["set"],
                json!([{"name": "runnerToken", "valueFrom": {"secretKeyRef": secret_key_ref}}])
            );
            for entry in for_provider["set"].as_array().unwrap() {
                assert!(entry.get("value").is_none(), "no set[].value: {entry}");
            }
            let values = for_provider["values"].as_object().unwrap();
            assert!(!values.contains_key("runnerToken"));
            assert!(!values.contains_key("runnerRegistrationToken"));
            assert!(values["runners"].get("secret").is_none());
        }
    }

    #[test]
    fn release_never_sends_settings_glrt_tokens_break() {
        let mut spec = full_spec();
        set(
            &mut spec,
            "/values",
            json!({"metrics": {"enabled": true}, "runners": {"cache": {"secretName": "s3"}}}),
        );
        let fleet = fleet_of(&composite(spec));

        for arch in Arch::ALL {
            let resource = release(&fleet, arch).unwrap();
            let values = &resource["spec"]["forProvider"]["values"];

            for key in [
                "tags",
                "runUntagged",
                "locked",
                "protected",
                "maximumTimeout",
            ] {
                assert!(values.get(key).is_none(), "{arch}: values.{key}");
                assert!(
                    values["runners"].get(key).is_none(),
                    "{arch}: values.runners.{key}"
                );
            }
        }
    }

    #[test]
    fn release_pins_manager_to_arch() {
        let fleet = fleet_of(&composite(full_spec()));

        for arch in Arch::ALL {
            let resource = release(&fleet, arch).unwrap();
            let values = &resource["spec"]["forProvider"]["values"];

            assert_eq!(
                values["nodeSelector"],
                json!({
                    "karpenter.sh/nodepool": "system-pool",
                    "kubernetes.io/arch": arch.as_str(),
                    "lifecycle": "OnDemand",
                })
            );
            assert_eq!(
                values["tolerations"],
                json!([
                    {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    {"effect": "NoSchedule", "key": "dedicated", "operator": "Equal", "value": "ci"},
                ]),
                "manager tolerations keep the order given"
            );
            assert_eq!(values["rbac"], json!({"create": true}));
            assert_eq!(values["serviceAccount"], json!({"create": true}));
        }
    }

    #[test]
    fn release_rejects_values_that_override_derived_keys() {
        let mut spec = minimal_spec();
        set(&mut spec, "/values", json!({"concurrent": 99}));
        let fleet = fleet_of(&composite(spec));

        assert_eq!(
            release(&fleet, Arch::Amd64).unwrap_err().0,
            "spec.values.concurrent: cannot be set: set spec.manager.concurrent instead"
        );
    }

    #[test]
    fn resource_key_per_arch() {
        assert_eq!(resource_key(Arch::Amd64), "release-amd64");
        assert_eq!(resource_key(Arch::Arm64), "release-arm64");
    }
}
