//! Required resources: selecting the `--required-resources` objects that
//! match a function's resource selectors, and calling a step again until its
//! requirements stop changing, as Crossplane does.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::Value;

use crate::proto::v1::{
    Requirements, Resource, ResourceSelector, Resources, RunFunctionRequest, RunFunctionResponse,
    Schema, resource_selector::Match,
};
use crate::protocol::response::is_fatal;
use crate::protocol::structs::json_to_struct;

/// How many times a step may change its requirements before the render
/// fails. Crossplane uses the same limit, so a function that renders here
/// also settles in a cluster. The step is called at most one more time than
/// this.
pub const MAX_REQUIREMENT_ITERATIONS: usize = 5;

/// Selects the objects that match `selector`.
///
/// An object matches when its apiVersion and kind are the selector's, its
/// namespace is the selector's when the selector sets one, and either its
/// name is `matchName` or its labels include every `matchLabels` pair. An
/// empty `matchLabels` matches every object of the kind. A name selects at
/// most one object. Matches are ordered by name, then namespace, so the
/// result does not depend on the order of the input files. No match gives
/// an empty `Resources`, which the function reads as "not found".
pub fn resolve_selector(selector: &ResourceSelector, objects: &[Value]) -> Resources {
    let mut matches: Vec<&Value> = objects
        .iter()
        .filter(|object| has_type(object, selector) && in_namespace(object, selector))
        .filter(|object| match &selector.r#match {
            Some(Match::MatchName(name)) => str_at(object, "/metadata/name") == name,
            Some(Match::MatchLabels(labels)) => has_labels(object, &labels.labels),
            None => false,
        })
        .collect();

    matches.sort_by_key(|object| {
        (
            str_at(object, "/metadata/name"),
            str_at(object, "/metadata/namespace"),
        )
    });
    if matches!(selector.r#match, Some(Match::MatchName(_))) {
        matches.truncate(1);
    }

    Resources {
        items: matches
            .into_iter()
            .filter_map(|object| json_to_struct(object).ok())
            .map(|body| Resource {
                resource: Some(body),
                ..Default::default()
            })
            .collect(),
    }
}

/// Selects the objects for every selector, keyed as the selectors are.
pub fn resolve(
    selectors: &BTreeMap<String, ResourceSelector>,
    objects: &[Value],
) -> BTreeMap<String, Resources> {
    selectors
        .iter()
        .map(|(key, selector)| (key.clone(), resolve_selector(selector, objects)))
        .collect()
}

/// Returns the resource selectors a response requests: those in
/// `requirements.resources`, and those in the deprecated `extra_resources`
/// under keys that `resources` does not use, for functions written for
/// Crossplane 1.x.
pub fn requested_selectors(requirements: &Requirements) -> BTreeMap<String, ResourceSelector> {
    #[allow(deprecated)]
    let extra = requirements.extra_resources.iter();

    let mut selectors: BTreeMap<String, ResourceSelector> = extra
        .map(|(key, selector)| (key.clone(), selector.clone()))
        .collect();
    selectors.extend(
        requirements
            .resources
            .iter()
            .map(|(key, selector)| (key.clone(), selector.clone())),
    );

    selectors
}

/// Calls `function` with `request`, then, while the response requires
/// something new, fills the required resources from `objects` and calls it
/// again with them and with the context the function returned.
///
/// Returns the response whose requirements equal those of the call before
/// it (no requirements at all count as equal to none before), or the first
/// response with a Fatal result. Fails when the requirements still change
/// after [`MAX_REQUIREMENT_ITERATIONS`] iterations.
pub fn call_until_stable(
    step: &str,
    function: &dyn Fn(&RunFunctionRequest) -> RunFunctionResponse,
    mut request: RunFunctionRequest,
    objects: &[Value],
) -> anyhow::Result<RunFunctionResponse> {
    let mut previous = Requirements::default();

    for _ in 0..=MAX_REQUIREMENT_ITERATIONS {
        let response = function(&request);
        if is_fatal(&response) {
            return Ok(response);
        }

        let requirements = response.requirements.clone().unwrap_or_default();
        if requirements == previous {
            return Ok(response);
        }

        fill_required_resources(&mut request, &requirements, objects);
        request.context = response.context;
        previous = requirements;
    }

    bail!(
        "pipeline step {step:?}: the function's requirements did not stabilize after \
         {MAX_REQUIREMENT_ITERATIONS} iterations: it asks for different resources on every call"
    )
}

/// Replaces the required resources in `request` with the objects that
/// match `requirements`.
///
/// Each list goes into `required_resources` and the deprecated
/// `extra_resources`, so functions written for either Crossplane version
/// find it. Required schemas are returned as unknown, because this render
/// reads no schemas.
pub fn fill_required_resources(
    request: &mut RunFunctionRequest,
    requirements: &Requirements,
    objects: &[Value],
) {
    let selected: BTreeMap<String, Resources> =
        resolve(&requested_selectors(requirements), objects)
            .into_iter()
            .collect();

    #[allow(deprecated)]
    {
        request.extra_resources = selected.clone();
    }
    request.required_resources = selected;
    request.required_schemas = requirements
        .schemas
        .keys()
        .map(|key| (key.clone(), Schema { openapi_v3: None }))
        .collect();
}

fn has_type(object: &Value, selector: &ResourceSelector) -> bool {
    str_at(object, "/apiVersion") == selector.api_version
        && str_at(object, "/kind") == selector.kind
}

fn in_namespace(object: &Value, selector: &ResourceSelector) -> bool {
    match selector.namespace.as_deref() {
        None | Some("") => true,
        Some(namespace) => str_at(object, "/metadata/namespace") == namespace,
    }
}

fn has_labels(object: &Value, wanted: &BTreeMap<String, String>) -> bool {
    let labels = object.pointer("/metadata/labels");

    wanted.iter().all(|(key, value)| {
        labels
            .and_then(|labels| labels.get(key))
            .and_then(Value::as_str)
            == Some(value.as_str())
    })
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}
