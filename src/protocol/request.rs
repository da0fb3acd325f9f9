//! Read access to a `RunFunctionRequest` in JSON terms.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::proto::v1::{Capability, Resource, RunFunctionRequest};
use crate::protocol::structs::struct_to_json;

/// Returns the observed composite resource as JSON, or `null` when the
/// request carries none.
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

/// Returns the resources that answer the requirement named `key`.
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

fn resource_json(resource: &Resource) -> Value {
    resource
        .resource
        .as_ref()
        .map_or(Value::Null, struct_to_json)
}
