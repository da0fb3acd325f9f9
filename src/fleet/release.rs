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
// NOTE: a namespaced Release may also refer to a namespaced `ProviderConfig`;
// the input has no field to choose that yet, so it is always the cluster one.
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
