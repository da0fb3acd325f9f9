//! The metadata Crossplane sets on every composed resource it creates: the
//! composition resource name, the name prefix, the composite and claim
//! labels, and a controller reference to the composite resource.

use anyhow::bail;
use serde_json::{Map, Value, json};

use crate::render::composite::{LABEL_CLAIM_NAME, LABEL_CLAIM_NAMESPACE};

/// The annotation that maps a composed resource to its name in the
/// composition (the key of the desired state's `resources` map).
pub const ANNOTATION_RESOURCE_NAME: &str = "crossplane.io/composition-resource-name";

/// The label that names the root composite resource of a composed resource.
pub const LABEL_COMPOSITE: &str = "crossplane.io/composite";

/// Sets Crossplane's metadata on the desired composed resource `name`.
///
/// When a composed resource of that name was observed, the rendered one
/// keeps the observed name, generateName and namespace, as Crossplane
/// updates the existing object instead of creating one. A resource with
/// neither name nor generateName gets `generateName: <prefix>-`, where the
/// prefix is the composite's `crossplane.io/composite` label (set on nested
/// XRs) or else its name. A namespaced composite puts every composed
/// resource in its namespace.
pub fn set_composed_metadata(
    resource: &mut Map<String, Value>,
    composite: &Value,
    name: &str,
    observed: Option<&Value>,
) -> anyhow::Result<()> {
    let composite_name = str_at(composite, "/metadata/name");
    let prefix = match str_at(
        composite,
        &format!("/metadata/labels/{}", escape(LABEL_COMPOSITE)),
    ) {
        "" => composite_name,
        label => label,
    };

    let mut metadata = take_object(resource, "metadata");

    if let Some(observed) = observed {
        for field in ["namespace", "name", "generateName"] {
            set_or_remove(
                &mut metadata,
                field,
                str_at(observed, &format!("/metadata/{field}")),
            );
        }
    }

    let has_name = metadata
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let has_generate_name = metadata
        .get("generateName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !has_name && !has_generate_name {
        metadata.insert("generateName".to_string(), json!(format!("{prefix}-")));
    }

    let composite_namespace = str_at(composite, "/metadata/namespace");
    if !composite_namespace.is_empty() {
        metadata.insert("namespace".to_string(), json!(composite_namespace));
    }

    let mut annotations = take_object(&mut metadata, "annotations");
    annotations.insert(ANNOTATION_RESOURCE_NAME.to_string(), json!(name));
    metadata.insert("annotations".to_string(), Value::Object(annotations));

    let mut labels = take_object(&mut metadata, "labels");
    labels.insert(LABEL_COMPOSITE.to_string(), json!(prefix));
    if let Some((claim_name, claim_namespace)) = claim_of(composite) {
        labels.insert(LABEL_CLAIM_NAME.to_string(), json!(claim_name));
        labels.insert(LABEL_CLAIM_NAMESPACE.to_string(), json!(claim_namespace));
    }
    metadata.insert("labels".to_string(), Value::Object(labels));

    set_controller_reference(&mut metadata, composite, name)?;
    resource.insert("metadata".to_string(), Value::Object(metadata));

    Ok(())
}

/// Returns the name and namespace of the claim of `composite`: from its
/// claim labels, which nested XRs inherit, or else from its claim reference.
fn claim_of(composite: &Value) -> Option<(&str, &str)> {
    let name = str_at(
        composite,
        &format!("/metadata/labels/{}", escape(LABEL_CLAIM_NAME)),
    );
    let namespace = str_at(
        composite,
        &format!("/metadata/labels/{}", escape(LABEL_CLAIM_NAMESPACE)),
    );
    if !name.is_empty() && !namespace.is_empty() {
        return Some((name, namespace));
    }

    // Legacy XRs keep the reference at spec.claimRef, Crossplane 2.x XRs
    // under spec.crossplane.
    ["/spec/claimRef", "/spec/crossplane/claimRef"]
        .into_iter()
        .find_map(|pointer| composite.pointer(pointer))
        .map(|r| (str_at(r, "/name"), str_at(r, "/namespace")))
}

/// Makes the composite resource the controller of the composed resource,
/// replacing a reference to the same object (same UID) and keeping other
/// owners. Fails when another object already controls it.
fn set_controller_reference(
    metadata: &mut Map<String, Value>,
    composite: &Value,
    name: &str,
) -> anyhow::Result<()> {
    let uid = str_at(composite, "/metadata/uid");
    let reference = json!({
        "apiVersion": str_at(composite, "/apiVersion"),
        "kind": str_at(composite, "/kind"),
        "name": str_at(composite, "/metadata/name"),
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    });

    let mut references = match metadata.remove("ownerReferences") {
        Some(Value::Array(references)) => references,
        _ => Vec::new(),
    };

    let other_controller = references.iter().find(|r| {
        r.get("controller").and_then(Value::as_bool) == Some(true) && str_at(r, "/uid") != uid
    });
    if let Some(other) = other_controller {
        bail!(
            "cannot set composite resource {:?} as controller of composed resource {name:?}: \
             it is already controlled by {} {:?} (UID {:?})",
            str_at(composite, "/metadata/name"),
            str_at(other, "/kind"),
            str_at(other, "/name"),
            str_at(other, "/uid"),
        );
    }

    match references.iter_mut().find(|r| str_at(r, "/uid") == uid) {
        Some(existing) => *existing = reference,
        None => references.push(reference),
    }
    metadata.insert("ownerReferences".to_string(), Value::Array(references));

    Ok(())
}

/// Removes and returns the object under `key`; anything else there, or
/// nothing, gives an empty object.
fn take_object(map: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match map.remove(key) {
        Some(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: &str) {
    if value.is_empty() {
        map.remove(key);
    } else {
        map.insert(key.to_string(), json!(value));
    }
}

/// Escapes a key for a JSON pointer (RFC 6901): `~` as `~0`, `/` as `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(resource: Value, composite: &Value, observed: Option<&Value>) -> Value {
        let Value::Object(mut map) = resource else {
            panic!("test resource must be an object")
        };
        set_composed_metadata(&mut map, composite, "release-amd64", observed).unwrap();
        Value::Object(map)
    }

    #[test]
    fn new_resource_of_cluster_composite() {
        let composite = json!({
            "apiVersion": "ci.platform.example.org/v1alpha1",
            "kind": "XGitLabRunnerFleet",
            "metadata": {"name": "sandbox"},
        });

        let rendered = render(
            json!({"apiVersion": "helm.crossplane.io/v1beta1", "kind": "Release"}),
            &composite,
            None,
        );

        assert_eq!(
            rendered,
            json!({
                "apiVersion": "helm.crossplane.io/v1beta1",
                "kind": "Release",
                "metadata": {
                    "generateName": "sandbox-",
                    "annotations": {"crossplane.io/composition-resource-name": "release-amd64"},
                    "labels": {"crossplane.io/composite": "sandbox"},
                    "ownerReferences": [{
                        "apiVersion": "ci.platform.example.org/v1alpha1",
                        "kind": "XGitLabRunnerFleet",
                        "name": "sandbox",
                        "uid": "",
                        "controller": true,
                        "blockOwnerDeletion": true,
                    }],
                },
            })
        );
    }

    #[test]
    fn metadata_cases() {
        let claimed = json!({
            "apiVersion": "a/v1",
            "kind": "X",
            "metadata": {
                "name": "team-a",
                "uid": "u1",
                "labels": {"crossplane.io/claim-name": "team-a", "crossplane.io/claim-namespace": "ci"},
            },
        });
        let nested = json!({
            "apiVersion": "a/v1",
            "kind": "X",
            "metadata": {"name": "child-abc", "labels": {"crossplane.io/composite": "root"}},
            "spec": {"claimRef": {"name": "c", "namespace": "ns"}},
        });
        let namespaced = json!({
            "apiVersion": "a/v1",
            "kind": "X",
            "metadata": {"name": "sandbox", "namespace": "ci"},
        });
        let observed = json!({"metadata": {"name": "sandbox-x1y2z", "generateName": "sandbox-"}});

        let cases = [
            (
                "claim labels come from the composite's labels",
                render(json!({}), &claimed, None)["metadata"]["labels"].clone(),
                json!({
                    "crossplane.io/composite": "team-a",
                    "crossplane.io/claim-name": "team-a",
                    "crossplane.io/claim-namespace": "ci",
                }),
            ),
            (
                "a nested XR's prefix is its root's name; claim from spec.claimRef",
                render(json!({}), &nested, None)["metadata"].clone(),
                json!({
                    "generateName": "root-",
                    "annotations": {"crossplane.io/composition-resource-name": "release-amd64"},
                    "labels": {
                        "crossplane.io/composite": "root",
                        "crossplane.io/claim-name": "c",
                        "crossplane.io/claim-namespace": "ns",
                    },
                    "ownerReferences": [{
                        "apiVersion": "a/v1", "kind": "X", "name": "child-abc", "uid": "",
                        "controller": true, "blockOwnerDeletion": true,
                    }],
                }),
            ),
            (
                "a namespaced composite puts the resource in its namespace",
                render(
                    json!({"metadata": {"namespace": "other"}}),
                    &namespaced,
                    None,
                )["metadata"]["namespace"]
                    .clone(),
                json!("ci"),
            ),
            (
                "an observed resource keeps its name",
                render(
                    json!({"metadata": {"name": "desired"}}),
                    &namespaced,
                    Some(&observed),
                )["metadata"]["name"]
                    .clone(),
                json!("sandbox-x1y2z"),
            ),
            (
                "an explicit name suppresses generateName",
                render(json!({"metadata": {"name": "fixed"}}), &claimed, None)["metadata"]
                    .get("generateName")
                    .cloned()
                    .unwrap_or(Value::Null),
                Value::Null,
            ),
            (
                "a reference to the same composite is replaced, other owners kept",
                render(
                    json!({"metadata": {"ownerReferences": [
                        {"kind": "Other", "name": "o", "uid": "u2"},
                        {"kind": "X", "name": "stale", "uid": "u1", "controller": true},
                    ]}}),
                    &claimed,
                    None,
                )["metadata"]["ownerReferences"]
                    .clone(),
                json!([
                    {"kind": "Other", "name": "o", "uid": "u2"},
                    {
                        "apiVersion": "a/v1", "kind": "X", "name": "team-a", "uid": "u1",
                        "controller": true, "blockOwnerDeletion": true,
                    },
                ]),
            ),
        ];

        for (reason, got, expected) in cases {
            assert_eq!(got, expected, "{reason}");
        }
    }

    #[test]
    fn another_controller_is_rejected() {
        let composite = json!({"apiVersion": "a/v1", "kind": "X", "metadata": {"name": "sandbox", "uid": "u1"}});
        let mut resource = Map::new();
        resource.insert(
            "metadata".to_string(),
            json!({"ownerReferences": [{"kind": "Y", "name": "y", "uid": "u9", "controller": true}]}),
        );

        let error =
            set_composed_metadata(&mut resource, &composite, "release-amd64", None).unwrap_err();

        assert_eq!(
            error.to_string(),
            "cannot set composite resource \"sandbox\" as controller of composed resource \
             \"release-amd64\": it is already controlled by Y \"y\" (UID \"u9\")"
        );
    }
}
