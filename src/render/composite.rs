//! The composite resource (XR) `render` composes: the object of the XR file
//! as given, or, when that object is a claim, the XR Crossplane would create
//! for the claim.

use anyhow::bail;
use serde_json::{Map, Value, json};

use crate::render::inputs::{Document, required_str};
use crate::render::pipeline::{Composition, TypeReference};

/// The claim kind of the fleet's XRD, recognised when no Composition names
/// the XR's kind.
pub const CLAIM_KIND: &str = "GitLabRunnerFleet";

/// The XR kind of the fleet's XRD.
pub const COMPOSITE_KIND: &str = "XGitLabRunnerFleet";

/// The label Crossplane sets on an XR created for a claim to the claim's
/// name.
pub const LABEL_CLAIM_NAME: &str = "crossplane.io/claim-name";

/// The label Crossplane sets on an XR created for a claim to the claim's
/// namespace.
pub const LABEL_CLAIM_NAMESPACE: &str = "crossplane.io/claim-namespace";

/// Claim spec fields that configure the claim itself and that Crossplane
/// does not copy to the XR's spec.
const CLAIM_ONLY_SPEC_FIELDS: [&str; 4] = [
    "resourceRef",
    "compositeDeletePolicy",
    "writeConnectionSecretToRef",
    "publishConnectionDetailsTo",
];

/// Returns the XR to compose from the object of the XR file.
///
/// With a Composition, the object is the XR when its kind is the
/// Composition's `compositeTypeRef.kind`, and a claim when it is namespaced
/// and has another kind but the same apiVersion, because a claim shares its
/// XRD's group and version. Without a Composition, a namespaced object of
/// kind `GitLabRunnerFleet` is a claim of `XGitLabRunnerFleet`.
pub fn load_composite(
    document: &Document,
    type_ref: Option<&TypeReference>,
) -> anyhow::Result<Value> {
    let api_version = required_str(document, "/apiVersion")?;
    let kind = required_str(document, "/kind")?;
    required_str(document, "/metadata/name")?;
    let namespaced = document
        .value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .is_some_and(|ns| !ns.is_empty());

    let Some(type_ref) = type_ref else {
        if kind == CLAIM_KIND && namespaced {
            return claim_to_composite(document, COMPOSITE_KIND);
        }
        return Ok(document.value.clone());
    };

    if kind == type_ref.kind {
        if api_version != type_ref.api_version {
            bail!(
                "composition's compositeTypeRef.apiVersion ({}) does not match XR's apiVersion ({api_version})",
                type_ref.api_version
            );
        }
        return Ok(document.value.clone());
    }

    if namespaced && api_version == type_ref.api_version {
        return claim_to_composite(document, &type_ref.kind);
    }

    bail!(
        "composition's compositeTypeRef.kind ({}) does not match XR's kind ({kind}): \
         give an XR of kind {}, or a namespaced claim of apiVersion {}",
        type_ref.kind,
        type_ref.kind,
        type_ref.api_version
    )
}

/// Checks that `composition` carries every label of the XR's composition
/// selector (`spec.compositionSelector.matchLabels`, or under
/// `spec.crossplane` for Crossplane 2.x XRs), so the render uses a
/// Composition the XR would select.
pub fn check_composition_selector(
    composite: &Value,
    composition: &Composition,
) -> anyhow::Result<()> {
    let selector = [
        "/spec/compositionSelector/matchLabels",
        "/spec/crossplane/compositionSelector/matchLabels",
    ]
    .into_iter()
    .find_map(|pointer| composite.pointer(pointer).and_then(Value::as_object));
    let Some(selector) = selector else {
        return Ok(());
    };

    let name = &composition.metadata.name;
    for (key, wanted) in selector {
        let wanted = wanted.as_str().unwrap_or_default();
        match composition.metadata.labels.get(key) {
            None => bail!("composition {name:?} is missing required label {key:?}"),
            Some(value) if value != wanted => bail!(
                "composition {name:?} has incorrect value for label {key:?}: want {wanted:?}, got {value:?}"
            ),
            Some(_) => {}
        }
    }

    Ok(())
}

/// Builds the XR Crossplane's claim controller creates for a claim: the
/// claim's labels and annotations without Kubernetes-reserved keys, the
/// claim labels, the claim's spec without claim-only fields, and a
/// `spec.claimRef` back to the claim.
///
/// NOTE: Crossplane names a new XR `<claim name>-<random suffix>`. To keep
/// the output deterministic the XR takes the name in the claim's
/// `spec.resourceRef` when the claim is bound, else the claim's own name.
fn claim_to_composite(claim: &Document, composite_kind: &str) -> anyhow::Result<Value> {
    let value = &claim.value;
    let api_version = required_str(claim, "/apiVersion")?;
    let claim_kind = required_str(claim, "/kind")?;
    let claim_name = required_str(claim, "/metadata/name")?;
    let claim_namespace = required_str(claim, "/metadata/namespace")?;

    let mut spec = match value.get("spec") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(spec)) => spec.clone(),
        Some(_) => bail!("{}: spec must be a mapping", claim.origin),
    };

    let name = spec
        .get("resourceRef")
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .unwrap_or(claim_name)
        .to_string();

    for field in CLAIM_ONLY_SPEC_FIELDS {
        spec.remove(field);
    }
    // The claim controller owns the revision reference only when updates
    // are manual; otherwise the XR controller chooses the revision.
    if spec.get("compositionUpdatePolicy").and_then(Value::as_str) != Some("Manual") {
        spec.remove("compositionRevisionRef");
    }
    spec.insert(
        "claimRef".to_string(),
        json!({
            "apiVersion": api_version,
            "kind": claim_kind,
            "name": claim_name,
            "namespace": claim_namespace,
        }),
    );

    let mut labels = without_reserved_keys(value.pointer("/metadata/labels"));
    labels.insert(LABEL_CLAIM_NAME.to_string(), json!(claim_name));
    labels.insert(LABEL_CLAIM_NAMESPACE.to_string(), json!(claim_namespace));

    let mut metadata = Map::new();
    metadata.insert("name".to_string(), json!(name));
    metadata.insert("labels".to_string(), Value::Object(labels));

    let annotations = without_reserved_keys(value.pointer("/metadata/annotations"));
    if !annotations.is_empty() {
        metadata.insert("annotations".to_string(), Value::Object(annotations));
    }

    Ok(json!({
        "apiVersion": api_version,
        "kind": composite_kind,
        "metadata": metadata,
        "spec": spec,
    }))
}

/// Copies a label or annotation map without the keys whose prefix belongs
/// to Kubernetes (`kubernetes.io`, `k8s.io` and their subdomains), which
/// Crossplane does not copy from a claim to its XR.
fn without_reserved_keys(map: Option<&Value>) -> Map<String, Value> {
    let Some(Value::Object(map)) = map else {
        return Map::new();
    };

    map.iter()
        .filter(|(key, _)| {
            let prefix = key.split('/').next().unwrap_or_default();
            !(prefix.ends_with("kubernetes.io") || prefix.ends_with("k8s.io"))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::inputs::Origin;

    fn document(value: Value) -> Document {
        Document {
            origin: Origin {
                path: "xr.yaml".into(),
                index: 1,
            },
            value,
        }
    }

    fn type_ref() -> TypeReference {
        TypeReference {
            api_version: "ci.platform.example.org/v1alpha1".to_string(),
            kind: "XGitLabRunnerFleet".to_string(),
        }
    }

    #[test]
    fn claim_becomes_composite() {
        let claim = document(json!({
            "apiVersion": "ci.platform.example.org/v1alpha1",
            "kind": "GitLabRunnerFleet",
            "metadata": {
                "name": "team-a",
                "namespace": "ci",
                "labels": {"team": "a", "app.kubernetes.io/name": "x"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            },
            "spec": {
                "tagPrefix": "team-a",
                "compositeDeletePolicy": "Foreground",
                "writeConnectionSecretToRef": {"name": "s"},
                "compositionRevisionRef": {"name": "r"},
            },
            "status": {"ready": true},
        }));

        for (reason, type_ref) in [
            ("with a composition", Some(type_ref())),
            ("without a composition", None),
        ] {
            let xr = load_composite(&claim, type_ref.as_ref()).unwrap();

            assert_eq!(
                xr,
                json!({
                    "apiVersion": "ci.platform.example.org/v1alpha1",
                    "kind": "XGitLabRunnerFleet",
                    "metadata": {
                        "name": "team-a",
                        "labels": {
                            "team": "a",
                            "crossplane.io/claim-name": "team-a",
                            "crossplane.io/claim-namespace": "ci",
                        },
                    },
                    "spec": {
                        "tagPrefix": "team-a",
                        "claimRef": {
                            "apiVersion": "ci.platform.example.org/v1alpha1",
                            "kind": "GitLabRunnerFleet",
                            "name": "team-a",
                            "namespace": "ci",
                        },
                    },
                }),
                "{reason}"
            );
        }
    }

    #[test]
    fn bound_claim_keeps_composite_name() {
        let claim = document(json!({
            "apiVersion": "ci.platform.example.org/v1alpha1",
            "kind": "GitLabRunnerFleet",
            "metadata": {"name": "team-a", "namespace": "ci"},
            "spec": {"resourceRef": {"name": "team-a-x7k2p"}},
        }));

        let xr = load_composite(&claim, Some(&type_ref())).unwrap();

        assert_eq!(xr["metadata"]["name"], json!("team-a-x7k2p"));
        assert_eq!(xr["spec"].get("resourceRef"), None);
    }

    #[test]
    fn composite_is_kept_as_given() {
        let cases = [
            (
                "a cluster-scoped XR",
                json!({
                    "apiVersion": "ci.platform.example.org/v1alpha1",
                    "kind": "XGitLabRunnerFleet",
                    "metadata": {"name": "sandbox"},
                    "spec": {"tagPrefix": "sandbox"},
                }),
            ),
            (
                "a namespaced XR",
                json!({
                    "apiVersion": "ci.platform.example.org/v1alpha1",
                    "kind": "XGitLabRunnerFleet",
                    "metadata": {"name": "sandbox", "namespace": "ci"},
                }),
            ),
        ];

        for (reason, value) in cases {
            for type_ref in [Some(type_ref()), None] {
                let xr = load_composite(&document(value.clone()), type_ref.as_ref()).unwrap();
                assert_eq!(xr, value, "{reason}");
            }
        }
    }

    #[test]
    fn mismatch_with_composition_is_rejected() {
        let cases = [
            (
                "another kind, cluster-scoped",
                json!({
                    "apiVersion": "ci.platform.example.org/v1alpha1",
                    "kind": "XOther",
                    "metadata": {"name": "a"},
                }),
                "composition's compositeTypeRef.kind (XGitLabRunnerFleet) does not match XR's kind (XOther): \
                 give an XR of kind XGitLabRunnerFleet, or a namespaced claim of apiVersion ci.platform.example.org/v1alpha1",
            ),
            (
                "the XR kind in another version",
                json!({
                    "apiVersion": "ci.platform.example.org/v1beta1",
                    "kind": "XGitLabRunnerFleet",
                    "metadata": {"name": "a"},
                }),
                "composition's compositeTypeRef.apiVersion (ci.platform.example.org/v1alpha1) does not match XR's apiVersion (ci.platform.example.org/v1beta1)",
            ),
            (
                "no name",
                json!({
                    "apiVersion": "ci.platform.example.org/v1alpha1",
                    "kind": "XGitLabRunnerFleet",
                    "metadata": {},
                }),
                "xr.yaml (document 1): metadata.name is missing",
            ),
        ];

        for (reason, value, expected) in cases {
            let error = load_composite(&document(value), Some(&type_ref())).unwrap_err();
            assert_eq!(error.to_string(), expected, "{reason}");
        }
    }
}
