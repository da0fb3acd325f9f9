//! Builders shared by the fleet's unit tests.

use serde_json::{Value, json};

use super::input::{Input, resolve_defaults};
use super::spec::parse_spec;
use super::validate::{Fleet, validate};
use super::{FleetError, FleetEvent};

/// Returns a complete, valid spec with every field the API documents, for
/// both architectures.
pub fn full_spec() -> Value {
    json!({
        "gitlabUrl": "https://gitlab.example.com/",
        "tagPrefix": "sandbox",
        "architectures": ["amd64", "arm64"],
        "namespace": "gitlab-runner",
        "releaseNamePrefix": "sandbox",
        "chart": {"repository": "https://charts.gitlab.io/", "name": "gitlab-runner", "version": "0.86.0"},
        "runnerTokenSecrets": {
            "amd64": {"name": "runner-amd64", "key": "runner-token"},
            "arm64": {"name": "runner-arm64", "key": "runner-token"},
        },
        "manager": {
            "nodeSelector": {"lifecycle": "OnDemand", "karpenter.sh/nodepool": "system-pool"},
            "tolerations": [
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                {"key": "dedicated", "operator": "Equal", "value": "ci", "effect": "NoSchedule"},
            ],
            "concurrent": 10,
        },
        "jobs": {
            "namespace": "gitlab-runner",
            "image": "ubuntu:22.04",
            "privileged": false,
            "nodeSelector": {"karpenter.sh/nodepool": "spot-pool", "lifecycle": "Ec2Spot"},
            "tolerations": [
                {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "dedicated", "value": "ci", "effect": "NoSchedule"},
            ],
            "podAnnotations": {"eks.amazonaws.com/compute-type": "ec2"},
            "pollTimeoutSeconds": 600,
            "helperImages": {
                "arm64": "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:arm64-v18.9.0",
            },
        },
    })
}

/// Returns the smallest valid spec, with only the required fields.
pub fn minimal_spec() -> Value {
    json!({
        "gitlabUrl": "https://gitlab.example.com/",
        "tagPrefix": "sandbox",
        "architectures": ["amd64", "arm64"],
        "runnerTokenSecrets": {
            "amd64": {"name": "runner-amd64"},
            "arm64": {"name": "runner-arm64"},
        },
    })
}

/// Returns the smallest valid spec whose runners provider-gitlab registers
/// as `registration` says, instead of naming token Secrets.
pub fn registration_spec(registration: Value) -> Value {
    let mut spec = minimal_spec();
    let fields = spec.as_object_mut().expect("the minimal spec is an object");
    fields.remove("runnerTokenSecrets");
    fields.insert("registration".to_string(), registration);
    spec
}

/// Wraps `spec` in a cluster-scoped XR named `sandbox`.
pub fn composite(spec: Value) -> Value {
    json!({
        "apiVersion": "ci.platform.example.org/v1alpha1",
        "kind": "XGitLabRunnerFleet",
        "metadata": {"name": "sandbox"},
        "spec": spec,
    })
}

/// Wraps `spec` in an XR named `sandbox` in namespace `team-a`.
pub fn namespaced_composite(spec: Value) -> Value {
    json!({
        "apiVersion": "ci.platform.example.org/v1alpha1",
        "kind": "XGitLabRunnerFleet",
        "metadata": {"name": "sandbox", "namespace": "team-a"},
        "spec": spec,
    })
}

/// Sets `value` at the JSON pointer `pointer` inside `target`, creating
/// objects on the way.
pub fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut current = target;
    for token in pointer.trim_start_matches('/').split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !current.is_object() {
            *current = json!({});
        }
        current = current
            .as_object_mut()
            .expect("just made an object")
            .entry(token)
            .or_insert(Value::Null);
    }
    *current = value;
}

/// Validates `composite` with the built-in defaults.
pub fn validate_composite(composite: &Value) -> Result<(Fleet, Vec<FleetEvent>), FleetError> {
    let defaults = resolve_defaults(&Input::default())?;
    let spec = parse_spec(composite)?;
    validate(composite, &spec, &defaults)
}

/// Validates `composite`, which must be valid, and returns its fleet.
pub fn fleet_of(composite: &Value) -> Fleet {
    match validate_composite(composite) {
        Ok((fleet, _)) => fleet,
        Err(error) => panic!("test composite is invalid: {error}"),
    }
}

/// Removes the entry at the JSON pointer `pointer` inside `target`, if any.
pub fn remove(target: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = target.pointer_mut(parent) {
        map.remove(&key);
    }
}
