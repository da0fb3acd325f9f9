//! The documents `render` prints and their YAML form: the composite resource
//! with its status and conditions, the desired composed resources, and the
//! function results, as `crossplane render` prints them.
//!
//! Keys are sorted alphabetically at every level, as Crossplane's YAML
//! encoder sorts them, so the output is byte-identical for the same input
//! whatever the key order of the files or of the function's response.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::proto::v1::{Condition, Ready, Severity, State, Status};
use crate::protocol::structs::struct_to_map;
use crate::render::composed::set_composed_metadata;
use crate::render::execute::StepResult;

/// The `lastTransitionTime` of every rendered condition. A real time would
/// make every render differ, so Crossplane uses this fixed one.
pub const CONDITION_TIME: &str = "2024-01-01T00:00:00Z";

/// The apiVersion of the `Result` documents.
pub const RESULT_API_VERSION: &str = "render.crossplane.io/v1beta1";

/// Condition types Crossplane owns; a function cannot set them.
const SYSTEM_CONDITION_TYPES: [&str; 3] = ["Ready", "Synced", "Healthy"];

/// How many unready resources the `Ready` condition's message names before
/// it only counts the rest.
const UNREADY_NAMES_SHOWN: usize = 3;

/// Builds the composite resource document: the desired composite resource
/// the pipeline returned, with the apiVersion, kind, name and namespace of
/// `composite`, and the `Ready` condition followed by the functions'
/// conditions under `status.conditions`.
pub fn composite_document(composite: &Value, desired: &State, conditions: &[Condition]) -> Value {
    let mut object = desired
        .composite
        .as_ref()
        .and_then(|resource| resource.resource.as_ref())
        .map(struct_to_map)
        .unwrap_or_default();

    object.insert("apiVersion".to_string(), composite["apiVersion"].clone());
    object.insert("kind".to_string(), composite["kind"].clone());

    let mut metadata = take_object(&mut object, "metadata");
    metadata.insert("name".to_string(), composite["metadata"]["name"].clone());
    match composite
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(namespace) if !namespace.is_empty() => {
            metadata.insert("namespace".to_string(), json!(namespace));
        }
        _ => {
            metadata.remove("namespace");
        }
    }
    object.insert("metadata".to_string(), Value::Object(metadata));

    let mut status = take_object(&mut object, "status");
    let mut all = match status.remove("conditions") {
        Some(Value::Array(existing)) => existing,
        _ => Vec::new(),
    };
    set_condition(&mut all, ready_condition(desired));
    for condition in conditions {
        if !SYSTEM_CONDITION_TYPES.contains(&condition.r#type.as_str()) {
            set_condition(&mut all, condition_json(condition));
        }
    }
    status.insert("conditions".to_string(), Value::Array(all));
    object.insert("status".to_string(), Value::Object(status));

    Value::Object(object)
}

/// Builds the desired composed resource documents, sorted by their name in
/// the composition, each with the metadata Crossplane sets.
pub fn composed_documents(
    composite: &Value,
    observed: &BTreeMap<String, Value>,
    desired: &State,
) -> anyhow::Result<Vec<Value>> {
    let sorted: BTreeMap<&String, _> = desired.resources.iter().collect();

    let mut documents = Vec::new();
    for (name, resource) in sorted {
        let mut object = resource
            .resource
            .as_ref()
            .map(struct_to_map)
            .unwrap_or_default();

        set_composed_metadata(&mut object, composite, name, observed.get(name))
            .with_context(|| format!("cannot render composed resource {name:?}"))?;
        documents.push(Value::Object(object));
    }

    Ok(documents)
}

/// Builds one `Result` document per function result.
pub fn result_documents(results: &[StepResult]) -> Vec<Value> {
    results
        .iter()
        .map(|StepResult { step, result }| {
            let severity = Severity::try_from(result.severity).map_or_else(
                |_| result.severity.to_string(),
                |s| s.as_str_name().to_string(),
            );

            let mut document = json!({
                "apiVersion": RESULT_API_VERSION,
                "kind": "Result",
                "step": step,
                "severity": severity,
                "message": result.message,
            });
            if let Some(reason) = result.reason.as_deref().filter(|r| !r.is_empty()) {
                document["reason"] = json!(reason);
            }
            document
        })
        .collect()
}

/// Writes documents as a YAML stream, each document after a `---` line,
/// with keys sorted at every level.
pub fn yaml_stream(documents: &[Value]) -> anyhow::Result<String> {
    let mut out = String::new();

    for document in documents {
        let yaml = serde_yaml_ng::to_string(&sorted_keys(document))
            .context("cannot write a rendered document as YAML")?;
        out.push_str("---\n");
        out.push_str(&yaml);
    }

    Ok(out)
}

/// The `Ready` condition Crossplane sets on a composite resource: from the
/// desired composite's `ready` when a function set it, else True when every
/// desired composed resource is ready and False, naming the others,
/// when not.
fn ready_condition(desired: &State) -> Value {
    let composite_ready = desired
        .composite
        .as_ref()
        .map_or(Ready::Unspecified as i32, |c| c.ready);

    let mut unready: Vec<&str> = desired
        .resources
        .iter()
        .filter(|(_, resource)| resource.ready != Ready::True as i32)
        .map(|(name, _)| name.as_str())
        .collect();
    unready.sort_unstable();

    let creating = |message: Option<String>| {
        let mut condition = json!({
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "lastTransitionTime": CONDITION_TIME,
        });
        if let Some(message) = message {
            condition["message"] = json!(message);
        }
        condition
    };

    if composite_ready == Ready::False as i32 {
        creating(None)
    } else if composite_ready == Ready::Unspecified as i32 && !unready.is_empty() {
        creating(Some(format!(
            "Unready resources: {}",
            names_and_count(&unready)
        )))
    } else {
        json!({
            "type": "Ready",
            "status": "True",
            "reason": "Available",
            "lastTransitionTime": CONDITION_TIME,
        })
    }
}

/// Lists up to [`UNREADY_NAMES_SHOWN`] names and counts the rest, such as
/// `a, b, and c` or `a, b, c, and 2 more`.
fn names_and_count(names: &[&str]) -> String {
    let shown = UNREADY_NAMES_SHOWN;

    match names.len() {
        n if n > shown => format!("{}, and {} more", names[..shown].join(", "), n - shown),
        n if n == shown => format!(
            "{}, and {}",
            names[..shown - 1].join(", "),
            names[shown - 1]
        ),
        _ => names.join(", "),
    }
}

/// Converts a function's condition to the Kubernetes form.
fn condition_json(condition: &Condition) -> Value {
    let status = match Status::try_from(condition.status) {
        Ok(Status::ConditionTrue) => "True",
        Ok(Status::ConditionFalse) => "False",
        _ => "Unknown",
    };

    let mut value = json!({
        "type": condition.r#type,
        "status": status,
        "reason": condition.reason,
        "lastTransitionTime": CONDITION_TIME,
    });
    if let Some(message) = condition.message.as_deref().filter(|m| !m.is_empty()) {
        value["message"] = json!(message);
    }
    value
}

/// Sets a condition as Kubernetes does: it replaces the condition of the
/// same type where that one is, or is appended.
fn set_condition(conditions: &mut Vec<Value>, condition: Value) {
    let existing = conditions
        .iter_mut()
        .find(|c| c.get("type") == condition.get("type"));

    match existing {
        Some(existing) => *existing = condition,
        None => conditions.push(condition),
    }
}

/// Copies a value with the keys of every object sorted.
fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), sorted_keys(&map[key])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// Removes and returns the object under `key`; anything else there, or
/// nothing, gives an empty object.
fn take_object(map: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match map.remove(key) {
        Some(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::Resource;

    fn state(resources: &[(&str, Ready)], composite_ready: Ready) -> State {
        State {
            composite: Some(Resource {
                ready: composite_ready as i32,
                ..Default::default()
            }),
            resources: resources
                .iter()
                .map(|(name, ready)| {
                    (
                        name.to_string(),
                        Resource {
                            ready: *ready as i32,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn ready_condition_cases() {
        let available = json!({
            "type": "Ready", "status": "True", "reason": "Available",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        });
        let creating = |message: &str| {
            let mut c = json!({
                "type": "Ready", "status": "False", "reason": "Creating",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            });
            if !message.is_empty() {
                c["message"] = json!(message);
            }
            c
        };

        let cases = [
            (
                "no resources",
                state(&[], Ready::Unspecified),
                available.clone(),
            ),
            (
                "all ready",
                state(
                    &[("a", Ready::True), ("b", Ready::True)],
                    Ready::Unspecified,
                ),
                available.clone(),
            ),
            (
                "unspecified counts as unready",
                state(
                    &[("b", Ready::Unspecified), ("a", Ready::True)],
                    Ready::Unspecified,
                ),
                creating("Unready resources: b"),
            ),
            (
                "three unready are all named",
                state(
                    &[
                        ("c", Ready::False),
                        ("a", Ready::False),
                        ("b", Ready::False),
                    ],
                    Ready::Unspecified,
                ),
                creating("Unready resources: a, b, and c"),
            ),
            (
                "more than three are counted",
                state(
                    &[
                        ("e", Ready::False),
                        ("d", Ready::False),
                        ("c", Ready::False),
                        ("a", Ready::False),
                        ("b", Ready::False),
                    ],
                    Ready::Unspecified,
                ),
                creating("Unready resources: a, b, c, and 2 more"),
            ),
            (
                "the composite's readiness wins: ready",
                state(&[("a", Ready::False)], Ready::True),
                available.clone(),
            ),
            (
                "the composite's readiness wins: not ready",
                state(&[("a", Ready::True)], Ready::False),
                creating(""),
            ),
        ];

        for (reason, desired, expected) in cases {
            assert_eq!(ready_condition(&desired), expected, "{reason}");
        }
    }

    #[test]
    fn yaml_stream_sorts_keys() {
        let documents = [
            json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": "x"}}),
            json!({}),
        ];

        let yaml = yaml_stream(&documents).unwrap();

        assert_eq!(
            yaml,
            "---\na:\n  c: x\n  d:\n  - y: 2\n    z: 1\nb: 1\n---\n{}\n"
        );
    }
}
