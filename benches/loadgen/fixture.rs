//! Request fixtures: a `RunFunctionRequest` written in the protobuf JSON
//! mapping (proto3 JSON), so a fixture is readable, diffable and loadable by
//! any protobuf library, Python's `json_format.Parse` among them.
//!
//! Only the fields a function reads are supported: `meta`, `observed`,
//! `desired`, `input`, `context`, `extraResources` and `requiredResources`.
//! A fixture with any other field, or with connection details, is rejected
//! rather than silently sent without it.
//!
//! [`example_request`] builds the request of the example fleet from the
//! files in `examples/`, the way `render` builds it for the function.

// The load generator and the tests that keep the fixture in step with the
// examples each use a different part of this module.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::{
    Capability, Ready, RequestMeta, Resource, Resources, RunFunctionRequest, State,
};
use function_gitlab_runner_fleet::protocol::structs::{json_to_struct, struct_to_json};
use function_gitlab_runner_fleet::render::execute::run_pipeline;
use function_gitlab_runner_fleet::render::{RenderArgs, load};
use serde_json::{Map, Value, json};

/// The request fixture of the example fleet, relative to the repository root.
pub const EXAMPLE_FIXTURE: &str = "bench/fixtures/fleet-request.json";

/// Reads a fixture file into a request.
pub fn read_fixture(path: &Path) -> anyhow::Result<RunFunctionRequest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the request fixture {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;

    request_from_json(&value).with_context(|| format!("{}: invalid request", path.display()))
}

/// Builds the request `render` sends for the example fleet in `examples`:
/// the XR, the Composition's input, the observed Releases and the required
/// NodePool. It is the last request of the step, the one that carries the
/// answered requirement.
pub fn example_request(examples: &Path) -> anyhow::Result<RunFunctionRequest> {
    let args = RenderArgs {
        composite_resource: examples.join("xr.yaml"),
        composition: Some(examples.join("composition.yaml")),
        functions: Some(examples.join("functions.yaml")),
        observed_resources: Some(examples.join("observed.yaml")),
        required_resources: Some(examples.join("required.yaml")),
        function_input: None,
        include_function_results: false,
    };
    let inputs = load(&args)?;

    let last = RefCell::new(None);
    run_pipeline(&inputs, &|request| {
        *last.borrow_mut() = Some(request.clone());
        run_function(request)
    })?;

    last.into_inner()
        .context("the example Composition has no step that calls the function")
}

/// Converts a request into proto3 JSON. Fields at their default value are
/// left out, as the protobuf JSON mapping does.
pub fn request_to_json(request: &RunFunctionRequest) -> Value {
    let mut out = Map::new();

    if let Some(meta) = &request.meta {
        let mut json_meta = Map::new();
        if !meta.tag.is_empty() {
            json_meta.insert("tag".into(), json!(meta.tag));
        }
        if !meta.capabilities.is_empty() {
            let names: Vec<Value> = meta
                .capabilities
                .iter()
                .map(|&number| match Capability::try_from(number) {
                    Ok(capability) => json!(capability.as_str_name()),
                    Err(_) => json!(number),
                })
                .collect();
            json_meta.insert("capabilities".into(), Value::Array(names));
        }
        out.insert("meta".into(), Value::Object(json_meta));
    }
    if let Some(observed) = &request.observed {
        out.insert("observed".into(), state_to_json(observed));
    }
    if let Some(desired) = &request.desired {
        out.insert("desired".into(), state_to_json(desired));
    }
    if let Some(input) = &request.input {
        out.insert("input".into(), struct_to_json(input));
    }
    if let Some(context) = &request.context {
        out.insert("context".into(), struct_to_json(context));
    }
    #[allow(deprecated)]
    if !request.extra_resources.is_empty() {
        out.insert(
            "extraResources".into(),
            answers_to_json(&request.extra_resources),
        );
    }
    if !request.required_resources.is_empty() {
        out.insert(
            "requiredResources".into(),
            answers_to_json(&request.required_resources),
        );
    }

    Value::Object(out)
}

/// Reads a request from proto3 JSON.
pub fn request_from_json(value: &Value) -> anyhow::Result<RunFunctionRequest> {
    let object = as_object(value, "the fixture")?;
    let mut request = RunFunctionRequest::default();

    for (field, value) in object {
        match field.as_str() {
            "meta" => request.meta = Some(meta_from_json(value)?),
            "observed" => request.observed = Some(state_from_json(value, "observed")?),
            "desired" => request.desired = Some(state_from_json(value, "desired")?),
            "input" => request.input = Some(struct_from_json(value, "input")?),
            "context" => request.context = Some(struct_from_json(value, "context")?),
            #[allow(deprecated)]
            "extraResources" => {
                request.extra_resources = answers_from_json(value, "extraResources")?;
            }
            "requiredResources" => {
                request.required_resources = answers_from_json(value, "requiredResources")?;
            }
            other => bail!(
                "{other}: unsupported field: a fixture may set meta, observed, desired, input, \
                 context, extraResources and requiredResources"
            ),
        }
    }

    Ok(request)
}

fn state_to_json(state: &State) -> Value {
    let mut out = Map::new();
    if let Some(composite) = &state.composite {
        out.insert("composite".into(), resource_to_json(composite));
    }
    if !state.resources.is_empty() {
        // Sorted, so the same request always writes the same file.
        let mut names: Vec<&String> = state.resources.keys().collect();
        names.sort();
        let resources: Map<String, Value> = names
            .into_iter()
            .map(|name| (name.clone(), resource_to_json(&state.resources[name])))
            .collect();
        out.insert("resources".into(), Value::Object(resources));
    }
    Value::Object(out)
}

fn resource_to_json(resource: &Resource) -> Value {
    let mut out = Map::new();
    if let Some(body) = &resource.resource {
        out.insert("resource".into(), struct_to_json(body));
    }
    if resource.ready != Ready::Unspecified as i32 {
        let ready = Ready::try_from(resource.ready)
            .map_or_else(|_| json!(resource.ready), |r| json!(r.as_str_name()));
        out.insert("ready".into(), ready);
    }
    Value::Object(out)
}

fn answers_to_json(answers: &BTreeMap<String, Resources>) -> Value {
    let mut keys: Vec<&String> = answers.keys().collect();
    keys.sort();
    let out: Map<String, Value> = keys
        .into_iter()
        .map(|key| {
            let items: Vec<Value> = answers[key].items.iter().map(resource_to_json).collect();
            (key.clone(), json!({"items": items}))
        })
        .collect();
    Value::Object(out)
}

fn meta_from_json(value: &Value) -> anyhow::Result<RequestMeta> {
    let mut meta = RequestMeta::default();
    for (field, value) in as_object(value, "meta")? {
        match field.as_str() {
            "tag" => meta.tag = as_str(value, "meta.tag")?.to_string(),
            "capabilities" => {
                let Value::Array(items) = value else {
                    bail!("meta.capabilities: not a list");
                };
                for (index, item) in items.iter().enumerate() {
                    let number = match item {
                        Value::String(name) => {
                            Capability::from_str_name(name).with_context(|| {
                                format!("meta.capabilities[{index}]: unknown capability {name:?}")
                            })? as i32
                        }
                        Value::Number(n) => n
                            .as_i64()
                            .and_then(|n| i32::try_from(n).ok())
                            .with_context(|| {
                                format!("meta.capabilities[{index}]: {n} is not an enum number")
                            })?,
                        _ => bail!("meta.capabilities[{index}]: not a name or a number"),
                    };
                    meta.capabilities.push(number);
                }
            }
            other => bail!("meta.{other}: unsupported field: use tag and capabilities"),
        }
    }
    Ok(meta)
}

fn state_from_json(value: &Value, path: &str) -> anyhow::Result<State> {
    let mut state = State::default();
    for (field, value) in as_object(value, path)? {
        match field.as_str() {
            "composite" => {
                state.composite = Some(resource_from_json(value, &format!("{path}.composite"))?);
            }
            "resources" => {
                for (name, resource) in as_object(value, &format!("{path}.resources"))? {
                    let resource =
                        resource_from_json(resource, &format!("{path}.resources.{name}"))?;
                    state.resources.insert(name.clone(), resource);
                }
            }
            other => bail!("{path}.{other}: unsupported field: use composite and resources"),
        }
    }
    Ok(state)
}

fn resource_from_json(value: &Value, path: &str) -> anyhow::Result<Resource> {
    let mut resource = Resource::default();
    for (field, value) in as_object(value, path)? {
        match field.as_str() {
            "resource" => {
                resource.resource = Some(struct_from_json(value, &format!("{path}.resource"))?);
            }
            "ready" => {
                let name = as_str(value, &format!("{path}.ready"))?;
                resource.ready = Ready::from_str_name(name)
                    .with_context(|| format!("{path}.ready: unknown value {name:?}"))?
                    as i32;
            }
            other => bail!("{path}.{other}: unsupported field: use resource and ready"),
        }
    }
    Ok(resource)
}

fn answers_from_json(value: &Value, path: &str) -> anyhow::Result<BTreeMap<String, Resources>> {
    let mut answers = BTreeMap::new();
    for (key, answer) in as_object(value, path)? {
        let answer_path = format!("{path}.{key}");
        let mut resources = Resources::default();
        for (field, value) in as_object(answer, &answer_path)? {
            if field != "items" {
                bail!("{answer_path}.{field}: unsupported field: use items");
            }
            let Value::Array(items) = value else {
                bail!("{answer_path}.items: not a list");
            };
            for (index, item) in items.iter().enumerate() {
                resources.items.push(resource_from_json(
                    item,
                    &format!("{answer_path}.items[{index}]"),
                )?);
            }
        }
        answers.insert(key.clone(), resources);
    }
    Ok(answers)
}

fn struct_from_json(value: &Value, path: &str) -> anyhow::Result<prost_types::Struct> {
    json_to_struct(value).with_context(|| format!("{path}: not an object"))
}

fn as_object<'a>(value: &'a Value, path: &str) -> anyhow::Result<&'a Map<String, Value>> {
    value
        .as_object()
        .with_context(|| format!("{path}: not an object"))
}

fn as_str<'a>(value: &'a Value, path: &str) -> anyhow::Result<&'a str> {
    value
        .as_str()
        .with_context(|| format!("{path}: not a string"))
}
