//! Read access to a `RunFunctionRequest` in JSON terms.

use std::collections::BTreeMap;

use prost_types::value::Kind;
use serde_json::{Map, Value};

use crate::proto::v1::{Capability, Resource, RunFunctionRequest};
use crate::protocol::structs::{proto_value_to_json, struct_to_json};

/// Returns the observed composite resource as JSON without
/// `metadata.managedFields`, or `null` when the request carries none.
pub fn observed_composite(request: &RunFunctionRequest) -> Value {
    request
        .observed
        .as_ref()
        .and_then(|state| state.composite.as_ref())
        .map_or(Value::Null, resource_json)
}

/// Returns the observed composed resources as JSON, keyed by their name in
/// the composition.
pub fn observed_resources(request: &RunFunctionRequest) -> BTreeMap<String, Value> {
    request
        .observed
        .as_ref()
        .map(|state| {
            state
                .resources
                .iter()
                .map(|(name, resource)| (name.clone(), resource_json(resource)))
                .collect()
        })
        .unwrap_or_default()
}

/// Returns the observed composed resources with only their `apiVersion`,
/// `kind`, `metadata` (without `managedFields`) and `status`, keyed by their
/// name in the composition.
///
/// A function that derives every desired field from the composite resource
/// reads only the state of what it composed, never its `spec`. Skipping the
/// `spec`, often the bulk of a resource such as a Helm `Release` with its
/// values, saves converting it on every call.
pub fn observed_resource_states(request: &RunFunctionRequest) -> BTreeMap<String, Value> {
    let Some(state) = request.observed.as_ref() else {
        return BTreeMap::new();
    };

    state
        .resources
        .iter()
        .map(|(name, resource)| (name.clone(), resource_state_json(resource)))
        .collect()
}

/// Returns the resources Crossplane fetched for the requirement named `key`,
/// without their `metadata.managedFields`.
///
/// Crossplane 2.x answers in `required_resources`; Crossplane 1.x answers in
/// the deprecated `extra_resources`. The first that holds `key` wins. `None`
/// means Crossplane has not answered yet, which differs from an answer with
/// no items: the resource was looked for and not found.
pub fn required_resources(request: &RunFunctionRequest, key: &str) -> Option<Vec<Value>> {
    #[allow(deprecated)]
    let answer = request
        .required_resources
        .get(key)
        .or_else(|| request.extra_resources.get(key))?;

    Some(answer.items.iter().map(resource_json).collect())
}

/// Returns the function input as JSON, or `None` when the step has none.
pub fn input(request: &RunFunctionRequest) -> Option<Value> {
    request.input.as_ref().map(struct_to_json)
}

/// Reports whether the calling Crossplane advertises `capability`.
///
/// Crossplane older than 2.0 sends no capabilities at all, so a `false` here
/// means "not known to be supported", not "unsupported".
pub fn has_capability(request: &RunFunctionRequest, capability: Capability) -> bool {
    request
        .meta
        .as_ref()
        .is_some_and(|meta| meta.capabilities.contains(&(capability as i32)))
}

/// Returns the request's tag, or an empty string when it has no meta.
pub fn tag(request: &RunFunctionRequest) -> &str {
    request.meta.as_ref().map_or("", |meta| meta.tag.as_str())
}

/// Converts the fields that describe a resource's state, as
/// [`observed_resource_states`] lists them.
fn resource_state_json(resource: &Resource) -> Value {
    resource_json_where(resource, |key| {
        matches!(key, "apiVersion" | "kind" | "metadata" | "status")
    })
}

/// Converts a whole resource except `metadata.managedFields`, the API
/// server's record of field owners, which the fleet does not read.
fn resource_json(resource: &Resource) -> Value {
    resource_json_where(resource, |_| true)
}

/// Converts the top-level fields of a resource for which `keep` is true,
/// leaving out `metadata.managedFields`.
fn resource_json_where(resource: &Resource, keep: impl Fn(&str) -> bool) -> Value {
    let Some(body) = resource.resource.as_ref() else {
        return Value::Null;
    };

    let mut object = Map::new();
    for (key, field) in &body.fields {
        if !keep(key) {
            continue;
        }

        let value = match (key.as_str(), &field.kind) {
            ("metadata", Some(Kind::StructValue(metadata))) => Value::Object(
                metadata
                    .fields
                    .iter()
                    .filter(|(name, _)| name.as_str() != "managedFields")
                    .map(|(name, value)| (name.clone(), proto_value_to_json(value)))
                    .collect(),
            ),
            _ => proto_value_to_json(field),
        };
        object.insert(key.clone(), value);
    }

    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::proto::v1::State;
    use crate::protocol::structs::json_to_struct;

    fn request_observing(resources: &[(&str, Option<Value>)]) -> RunFunctionRequest {
        let resources = resources
            .iter()
            .map(|(name, body)| {
                let resource = Resource {
                    resource: body.as_ref().map(|body| json_to_struct(body).unwrap()),
                    ..Default::default()
                };
                (name.to_string(), resource)
            })
            .collect();

        RunFunctionRequest {
            observed: Some(State {
                composite: None,
                resources,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn observed_states_keep_metadata_and_status() {
        let release = json!({
            "apiVersion": "helm.crossplane.io/v1beta1",
            "kind": "Release",
            "metadata": {
                "name": "fleet-amd64",
                "annotations": {"a": "b"},
                "managedFields": [{"manager": "crossplane"}],
            },
            "spec": {"forProvider": {"values": {"concurrent": 10}}},
            "status": {"atProvider": {"state": "deployed"}},
        });
        let request = request_observing(&[("release-amd64", Some(release))]);

        let states = observed_resource_states(&request);

        assert_eq!(
            states["release-amd64"],
            json!({
                "apiVersion": "helm.crossplane.io/v1beta1",
                "kind": "Release",
                "metadata": {"name": "fleet-amd64", "annotations": {"a": "b"}},
                "status": {"atProvider": {"state": "deployed"}},
            })
        );
    }

    #[test]
    fn required_resources_drop_managed_fields() {
        let pool = json!({
            "kind": "NodePool",
            "metadata": {"name": "spot-pool", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"weight": 10},
            "status": {"conditions": []},
        });
        let request = RunFunctionRequest {
            required_resources: [(
                "nodepool".to_string(),
                crate::proto::v1::Resources {
                    items: vec![Resource {
                        resource: Some(json_to_struct(&pool).unwrap()),
                        ..Default::default()
                    }],
                },
            )]
            .into(),
            ..Default::default()
        };

        let items = required_resources(&request, "nodepool").unwrap();

        assert_eq!(
            items,
            vec![json!({
                "kind": "NodePool",
                "metadata": {"name": "spot-pool"},
                "spec": {"weight": 10},
                "status": {"conditions": []},
            })]
        );
    }

    #[test]
    fn observed_states_without_body() {
        let request = request_observing(&[
            ("no-body", None),
            ("no-metadata", Some(json!({"kind": "Object"}))),
        ]);

        let states = observed_resource_states(&request);

        assert_eq!(states["no-body"], Value::Null);
        assert_eq!(states["no-metadata"], json!({"kind": "Object"}));
        assert!(observed_resource_states(&RunFunctionRequest::default()).is_empty());
    }
}
