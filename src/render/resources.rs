//! The observed composed resources (`--observed-resources`) and the
//! resources that may satisfy requirements (`--required-resources`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use serde_json::Value;

use crate::render::composed::ANNOTATION_RESOURCE_NAME;
use crate::render::inputs::{Document, Origin, read_stream, required_str};

/// Reads observed composed resources and keys them by their annotation
/// `crossplane.io/composition-resource-name`, as Crossplane maps the
/// resources it composed to the names in the desired state.
///
/// A resource without the annotation, or a name used twice, is an error:
/// Crossplane would silently drop such a resource from the observed state.
pub fn load_observed(path: &Path) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut observed = BTreeMap::new();
    let mut origins: BTreeMap<String, Origin> = BTreeMap::new();

    for document in read_stream(path)? {
        required_str(&document, "/apiVersion")?;
        required_str(&document, "/kind")?;

        let name = document
            .value
            .pointer("/metadata/annotations")
            .and_then(|annotations| annotations.get(ANNOTATION_RESOURCE_NAME))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            bail!(
                "{}: metadata.annotations[{ANNOTATION_RESOURCE_NAME:?}] is missing: \
                 set it to the resource's name in the composition, such as \"release-amd64\"",
                document.origin
            );
        }
        if let Some(first) = origins.get(&name) {
            bail!(
                "{}: composition resource name {name:?} is already used by {first}",
                document.origin
            );
        }

        origins.insert(name.clone(), document.origin);
        observed.insert(name, document.value);
    }

    Ok(observed)
}

/// Reads the resources that may satisfy requirements. Each must have an
/// apiVersion, a kind and a name, the fields a selector matches on.
pub fn load_required(path: &Path) -> anyhow::Result<Vec<Value>> {
    let documents = read_stream(path)?;

    for document in &documents {
        check_identity(document)?;
    }

    Ok(documents.into_iter().map(|d| d.value).collect())
}

fn check_identity(document: &Document) -> anyhow::Result<()> {
    required_str(document, "/apiVersion")?;
    required_str(document, "/kind")?;
    required_str(document, "/metadata/name")?;
    Ok(())
}
