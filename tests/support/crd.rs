//! Strict validation of Kubernetes objects against the OpenAPI schemas of
//! their CustomResourceDefinitions, for tests.
//!
//! The API server prunes fields that a schema does not declare, so an object
//! with a misspelt field is accepted and silently loses it. This validator
//! rejects such fields instead: every object schema that declares
//! `properties` and does not set `x-kubernetes-preserve-unknown-fields` gets
//! `additionalProperties: false`.
//!
//! Include it from a test crate with
//! `#[path = "support/crd.rs"] mod crd;`.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Returns the directory of the upstream CRD fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crds")
}

/// Reads every YAML document of a file as JSON, skipping empty documents.
pub fn read_yaml_documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;

    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|error| format!("{} document {index}: {error}", path.display()))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// The ObjectMeta fields the API server accepts. It drops any other field
/// without an error, so the validator rejects them.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Fields Crossplane adds to the spec of every composite resource, legacy
/// (top level) and v2 (under `crossplane`). Their own schemas are not
/// checked here.
const COMPOSITE_SPEC_FIELDS: [&str; 11] = [
    "compositionRef",
    "compositionSelector",
    "compositionRevisionRef",
    "compositionRevisionSelector",
    "compositionUpdatePolicy",
    "claimRef",
    "environmentConfigRefs",
    "resourceRefs",
    "publishConnectionDetailsTo",
    "writeConnectionSecretToRef",
    "crossplane",
];

/// Fields Crossplane adds to the spec of every claim.
const CLAIM_SPEC_FIELDS: [&str; 9] = [
    "compositionRef",
    "compositionSelector",
    "compositionRevisionRef",
    "compositionRevisionSelector",
    "compositionUpdatePolicy",
    "compositeDeletePolicy",
    "resourceRef",
    "publishConnectionDetailsTo",
    "writeConnectionSecretToRef",
];

/// Fields Crossplane adds to the status of every composite resource and
/// claim.
const COMPOSITE_STATUS_FIELDS: [&str; 4] = [
    "conditions",
    "connectionDetails",
    "claimConditionTypes",
    "crossplane",
];

/// One served version of one kind.
struct Kind {
    validator: jsonschema::Validator,
    namespaced: bool,
}

/// Schemas of known kinds, keyed by apiVersion and kind.
#[derive(Default)]
pub struct Catalog {
    kinds: BTreeMap<(String, String), Kind>,
}

impl Catalog {
    /// Loads every CRD in the fixtures directory.
    pub fn fixtures() -> Catalog {
        let mut catalog = Catalog::default();
        catalog
            .add_crd_dir(&fixtures_dir())
            .unwrap_or_else(|error| panic!("failed to load the CRD fixtures: {error}"));
        catalog
    }

    /// Adds every CRD of the `*.yaml` files in `dir`.
    pub fn add_crd_dir(&mut self, dir: &Path) -> Result<(), String> {
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|error| format!("{}: {error}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "yaml")
            })
            .collect();
        paths.sort();

        for path in paths {
            for document in read_yaml_documents(&path)? {
                self.add_crd(&document, &path.display().to_string())?;
            }
        }
        Ok(())
    }

    /// Adds every served version of an `apiextensions.k8s.io/v1`
    /// CustomResourceDefinition.
    pub fn add_crd(&mut self, crd: &Value, source: &str) -> Result<(), String> {
        let spec = &crd["spec"];
        let group = string_at(spec, "/group", source)?;
        let kind = string_at(spec, "/names/kind", source)?;
        let namespaced = string_at(spec, "/scope", source)? == "Namespaced";

        for version in versions(spec, source)? {
            if version["served"] != json!(true) {
                continue;
            }
            let name = string_at(version, "/name", source)?;
            let schema = version
                .pointer("/schema/openAPIV3Schema")
                .ok_or_else(|| format!("{source}: version {name} has no openAPIV3Schema"))?;
            self.insert(&format!("{group}/{name}"), kind, namespaced, schema, source)?;
        }
        Ok(())
    }

    /// Adds the composite resource, and the claim if any, that a Crossplane
    /// CompositeResourceDefinition (`apiextensions.crossplane.io/v1` or
    /// `v2`) defines, with the fields Crossplane adds to every composite.
    pub fn add_xrd(&mut self, xrd: &Value, source: &str) -> Result<(), String> {
        let spec = &xrd["spec"];
        let group = string_at(spec, "/group", source)?;
        let kind = string_at(spec, "/names/kind", source)?;
        let legacy = xrd["apiVersion"] == json!("apiextensions.crossplane.io/v1");

        // A v1 XRD always defines a cluster-scoped composite (LegacyCluster),
        // and a v2 XRD defaults to Namespaced.
        let scope = spec["scope"].as_str().unwrap_or(if legacy {
            "LegacyCluster"
        } else {
            "Namespaced"
        });
        let claim_kind = spec.pointer("/claimNames/kind").and_then(Value::as_str);

        for version in versions(spec, source)? {
            if version["served"] != json!(true) {
                continue;
            }
            let name = string_at(version, "/name", source)?;
            let api_version = format!("{group}/{name}");
            let schema = version
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));

            let composite = with_crossplane_fields(&schema, &COMPOSITE_SPEC_FIELDS);
            self.insert(
                &api_version,
                kind,
                scope == "Namespaced",
                &composite,
                source,
            )?;

            if let Some(claim_kind) = claim_kind {
                let claim = with_crossplane_fields(&schema, &CLAIM_SPEC_FIELDS);
                self.insert(&api_version, claim_kind, true, &claim, source)?;
            }
        }
        Ok(())
    }

    fn insert(
        &mut self,
        api_version: &str,
        kind: &str,
        namespaced: bool,
        schema: &Value,
        source: &str,
    ) -> Result<(), String> {
        let strict = strict_schema(schema);
        let validator = jsonschema::draft4::options()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&strict)
            .map_err(|error| {
                format!("{source}: the schema of {api_version} {kind} does not compile: {error}")
            })?;

        self.kinds.insert(
            (api_version.to_string(), kind.to_string()),
            Kind {
                validator,
                namespaced,
            },
        );
        Ok(())
    }

    /// Validates an object as a user would apply it: `metadata.name` is
    /// required. Returns every problem found, each prefixed with the JSON
    /// pointer of the offending value.
    pub fn validate(&self, object: &Value) -> Result<(), Vec<String>> {
        self.check(object, true)
    }

    /// Validates a composed resource as a function returns it: Crossplane
    /// names it, so `metadata` and its name may be missing.
    pub fn validate_composed(&self, object: &Value) -> Result<(), Vec<String>> {
        self.check(object, false)
    }

    /// Reports whether the catalog has a schema for `api_version` and `kind`.
    pub fn has_kind(&self, api_version: &str, kind: &str) -> bool {
        self.kinds
            .contains_key(&(api_version.to_string(), kind.to_string()))
    }

    fn check(&self, object: &Value, name_required: bool) -> Result<(), Vec<String>> {
        let api_version = object["apiVersion"].as_str();
        let kind = object["kind"].as_str();
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return Err(vec!["apiVersion and kind must both be strings".to_string()]);
        };
        let Some(known) = self.kinds.get(&(api_version.to_string(), kind.to_string())) else {
            return Err(vec![format!(
                "no served CRD version defines {api_version} {kind}"
            )]);
        };

        let mut problems = check_metadata(object.get("metadata"), name_required, known.namespaced);
        for error in known.validator.iter_errors(object) {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            problems.push(format!("{path}: {error}"));
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn versions<'a>(spec: &'a Value, source: &str) -> Result<&'a Vec<Value>, String> {
    spec["versions"]
        .as_array()
        .ok_or_else(|| format!("{source}: spec.versions is not a list"))
}

fn string_at<'a>(value: &'a Value, pointer: &str, source: &str) -> Result<&'a str, String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{source}: {pointer} is missing or not a string"))
}

/// Checks `metadata` as the API server would before it prunes, including
/// the namespace it would drop from a cluster-scoped object.
fn check_metadata(metadata: Option<&Value>, name_required: bool, namespaced: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let metadata = match metadata {
        Some(Value::Object(metadata)) => metadata,
        Some(_) => return vec!["/metadata: must be an object".to_string()],
        None if name_required => return vec!["/metadata: missing".to_string()],
        None => return problems,
    };

    for field in metadata.keys() {
        if !OBJECT_META_FIELDS.contains(&field.as_str()) {
            problems.push(format!("/metadata/{field}: not an ObjectMeta field"));
        }
    }

    let has_name = ["name", "generateName"].iter().any(|field| {
        metadata
            .get(*field)
            .and_then(Value::as_str)
            .is_some_and(|name| !name.is_empty())
    });
    if name_required && !has_name {
        problems.push("/metadata/name: missing".to_string());
    }

    for field in ["name", "generateName", "namespace"] {
        if metadata.get(field).is_some_and(|value| !value.is_string()) {
            problems.push(format!("/metadata/{field}: must be a string"));
        }
    }

    if !namespaced && metadata.contains_key("namespace") {
        problems.push(
            "/metadata/namespace: the kind is cluster-scoped, so the API server drops it"
                .to_string(),
        );
    }

    for field in ["labels", "annotations"] {
        match metadata.get(field) {
            None => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    if !value.is_string() {
                        problems.push(format!("/metadata/{field}/{key}: must be a string"));
                    }
                }
            }
            Some(_) => problems.push(format!("/metadata/{field}: must be a map of strings")),
        }
    }

    problems
}

/// Adds the fields Crossplane injects into every composite resource or
/// claim schema, and the apiVersion, kind and metadata of the root.
fn with_crossplane_fields(schema: &Value, spec_fields: &[&str]) -> Value {
    let mut schema = schema.clone();
    let root = object_mut(&mut schema);
    root.insert("type".to_string(), json!("object"));

    let properties = object_mut(root.entry("properties").or_insert_with(|| json!({})));
    properties.insert("apiVersion".to_string(), json!({"type": "string"}));
    properties.insert("kind".to_string(), json!({"type": "string"}));
    properties.insert("metadata".to_string(), json!({"type": "object"}));

    for (section, fields) in [
        ("spec", spec_fields),
        ("status", &COMPOSITE_STATUS_FIELDS[..]),
    ] {
        let section = object_mut(
            properties
                .entry(section)
                .or_insert_with(|| json!({"type": "object"})),
        );
        let section_properties =
            object_mut(section.entry("properties").or_insert_with(|| json!({})));
        for field in fields {
            section_properties
                .entry(field.to_string())
                .or_insert_with(|| json!({}));
        }
    }
    schema
}

fn object_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = json!({});
    }
    value.as_object_mut().expect("just made an object")
}

/// Turns a Kubernetes structural schema into a strict JSON Schema (draft 4,
/// the dialect OpenAPI v3 schemas follow).
///
/// - An object schema with `properties` and without
///   `x-kubernetes-preserve-unknown-fields: true` rejects other fields.
/// - `x-kubernetes-int-or-string: true` accepts an integer or a string.
/// - `x-kubernetes-embedded-resource: true` requires apiVersion and kind,
///   as the API server does.
/// - `nullable: true` also accepts null.
/// - Other `x-kubernetes-*` keys, such as CEL validations and list types,
///   are dropped, so those rules are not checked.
pub fn strict_schema(schema: &Value) -> Value {
    strict_node(schema, false)
}

fn strict_node(node: &Value, in_combinator: bool) -> Value {
    let Value::Object(source) = node else {
        return node.clone();
    };

    let flag = |key: &str| source.get(key) == Some(&json!(true));
    let mut result = Map::new();
    for (key, value) in source {
        if key.starts_with("x-kubernetes-") || key == "nullable" {
            continue;
        }

        let value = match key.as_str() {
            "properties" => match value {
                Value::Object(properties) => Value::Object(
                    properties
                        .iter()
                        .map(|(name, child)| (name.clone(), strict_node(child, false)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" if value.is_object() => strict_node(value, false),
            "items" => match value {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|item| strict_node(item, false)).collect())
                }
                other => other.clone(),
            },
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(branches) => Value::Array(
                    branches
                        .iter()
                        .map(|branch| strict_node(branch, true))
                        .collect(),
                ),
                other => other.clone(),
            },
            "not" => strict_node(value, true),
            _ => value.clone(),
        };
        result.insert(key.clone(), value);
    }

    if flag("x-kubernetes-int-or-string") {
        result.insert("type".to_string(), json!(["integer", "string"]));
    }

    if flag("nullable")
        && let Some(Value::String(kind)) = result.get("type").cloned()
    {
        result.insert("type".to_string(), json!([kind, "null"]));
    }

    if flag("x-kubernetes-embedded-resource") {
        let required = object_required(&mut result);
        for field in ["apiVersion", "kind"] {
            if !required.contains(&json!(field)) {
                required.push(json!(field));
            }
        }
    }

    // Inside allOf, anyOf, oneOf and not, a schema only adds constraints to
    // the fields its parent declares, so closing it would reject them.
    let closes = result.contains_key("properties")
        && !flag("x-kubernetes-preserve-unknown-fields")
        && !result.contains_key("additionalProperties")
        && !in_combinator;
    if closes {
        result.insert("additionalProperties".to_string(), json!(false));
    }

    Value::Object(result)
}

fn object_required(schema: &mut Map<String, Value>) -> &mut Vec<Value> {
    let required = schema.entry("required").or_insert_with(|| json!([]));
    if !required.is_array() {
        *required = json!([]);
    }
    required.as_array_mut().expect("just made a list")
}
