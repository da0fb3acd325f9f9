//! The Configuration packages under `catalog/`, the files they are generated
//! from and the version constraints in their metadata, for the catalog and
//! quickstart tests.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde::Deserialize;
use serde_json::Value;

/// Returns the repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a file of the repository as text.
pub fn read_text(relative: &str) -> String {
    let path = repo_root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {relative}: {error}"))
}

/// Reads every non-empty YAML document of a file as JSON.
pub fn read_documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));

    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(document)
            .unwrap_or_else(|error| panic!("{} document {index}: {error}", path.display()));
        if !value.is_null() {
            documents.push(value);
        }
    }
    documents
}

/// Reads the only YAML document of a file of the repository.
pub fn read_single(relative: &str) -> Value {
    let mut documents = read_documents(&repo_root().join(relative));
    assert_eq!(documents.len(), 1, "{relative} should hold one document");
    documents.remove(0)
}

/// One Configuration package of the fleet API.
pub struct Package {
    /// The package directory, relative to the repository root.
    pub dir: &'static str,
    /// The example XRD the package ships, under `examples/`.
    pub xrd_example: &'static str,
    /// The file `cargo xtask package` writes the package to.
    pub xpkg: &'static str,
    /// The quickstart manifest that installs the package.
    pub install_manifest: &'static str,
}

/// The cluster-scoped API with a claim (Crossplane 1.x and 2.x), and the
/// namespaced API (Crossplane 2).
pub const PACKAGES: [Package; 2] = [
    Package {
        dir: "catalog",
        xrd_example: "xrd.yaml",
        xpkg: "target/xpkg/configuration.xpkg",
        install_manifest: "docs/manifests/40-configuration.yaml",
    },
    Package {
        dir: "catalog/namespaced",
        xrd_example: "xrd-v2-namespaced.yaml",
        xpkg: "target/xpkg/configuration-namespaced.xpkg",
        install_manifest: "docs/manifests/namespaced/40-configuration.yaml",
    },
];

/// The files of a package besides `crossplane.yaml`, in package order.
pub const PACKAGE_FILES: [&str; 2] = ["xrd.yaml", "composition.yaml"];

impl Package {
    /// Returns the path of a file of the package, relative to the root.
    pub fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// Returns the package metadata, `crossplane.yaml`.
    pub fn metadata(&self) -> Value {
        read_single(&self.file("crossplane.yaml"))
    }

    /// Returns the `(source, version constraint)` of every dependency that
    /// uses `field` (`provider`, `function` or `configuration`).
    pub fn dependencies(&self, field: &str) -> Vec<(String, String)> {
        let metadata = self.metadata();
        let Some(entries) = metadata["spec"]["dependsOn"].as_array() else {
            return Vec::new();
        };

        entries
            .iter()
            .filter_map(|entry| {
                let source = entry[field].as_str()?;
                let version = entry["version"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: dependency {source} has no version", self.dir));
                Some((source.to_string(), version.to_string()))
            })
            .collect()
    }

    /// Returns the version constraint on the dependency `source`.
    pub fn constraint(&self, field: &str, source: &str) -> Option<String> {
        self.dependencies(field)
            .into_iter()
            .find(|(candidate, _)| candidate == source)
            .map(|(_, version)| version)
    }

    /// Returns the constraint on the Crossplane version.
    pub fn crossplane_constraint(&self) -> String {
        self.metadata()["spec"]["crossplane"]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: spec.crossplane.version is missing", self.dir))
            .to_string()
    }
}

/// The one function dependency of the packages, as `(source, constraint)`.
pub fn function_dependency(package: &Package) -> (String, String) {
    let mut functions = package.dependencies("function");
    assert_eq!(
        functions.len(),
        1,
        "{}: expected one function dependency",
        package.dir
    );
    functions.remove(0)
}

/// Splits an OCI reference `registry/path:tag` into source and tag.
pub fn split_reference(reference: &str) -> (&str, &str) {
    let slash = reference.rfind('/').unwrap_or(0);
    match reference[slash..].find(':') {
        Some(colon) => (&reference[..slash + colon], &reference[slash + colon + 1..]),
        None => (reference, ""),
    }
}

/// Returns the name Crossplane's package manager gives a package it installs
/// as a dependency: the repository path without the registry, with `.`,
/// `/` and `:` turned into `-`, cut to a 63-character DNS label.
pub fn dependency_object_name(source: &str) -> String {
    let path = source.split_once('/').map_or(source, |(_, path)| path);

    let mut name: String = path
        .chars()
        .filter_map(|character| match character {
            'a'..='z' | '0'..='9' => Some(character),
            '.' | '/' | ':' | '-' => Some('-'),
            _ => None,
        })
        .take(63)
        .collect();
    while name.ends_with('-') {
        name.pop();
    }
    name.trim_start_matches('-').to_string()
}

/// Parses a package version constraint such as `">=v0.11.0, <v2.0.0"`.
///
/// Crossplane reads constraints with the Masterminds semver library, which
/// allows a `v` before each version; Cargo's semver does not, so it is
/// dropped here. Both treat a comma as "and".
pub fn version_requirement(constraint: &str) -> VersionReq {
    let comparators: Vec<String> = constraint
        .split(',')
        .map(|comparator| {
            let comparator = comparator.trim();
            let operator_end = comparator
                .find(|character: char| character.is_ascii_alphanumeric())
                .unwrap_or(comparator.len());
            let (operator, version) = comparator.split_at(operator_end);
            format!("{operator}{}", version.trim_start_matches('v'))
        })
        .collect();

    VersionReq::parse(&comparators.join(", "))
        .unwrap_or_else(|error| panic!("invalid version constraint {constraint:?}: {error}"))
}

/// Parses a package tag or chart version such as `v1.0.2` or `2.0.2`.
pub fn parse_version(tag: &str) -> Version {
    Version::parse(tag.trim_start_matches('v'))
        .unwrap_or_else(|error| panic!("invalid version {tag:?}: {error}"))
}

/// Returns the lowest version a constraint admits: the version of its `>=`
/// comparator.
pub fn constraint_floor(constraint: &str) -> Version {
    let floor = constraint
        .split(',')
        .map(str::trim)
        .find_map(|comparator| comparator.strip_prefix(">="))
        .unwrap_or_else(|| panic!("constraint {constraint:?} has no >= comparator"));
    parse_version(floor.trim())
}

/// Builds a package's `composition.yaml` from the text of
/// `examples/composition.yaml`: a header, then the example with each
/// pipeline step that calls `example_function` calling `function_name`.
///
/// The example's steps name the function as `examples/functions.yaml` does,
/// for `crossplane render`. In a cluster the package manager names the
/// function after its package when it installs it as a dependency, so the
/// package's Composition must use that name.
pub fn package_composition(example: &str, example_function: &str, function_name: &str) -> String {
    let mut text = String::from(
        "# Generated from examples/composition.yaml by tests/catalog_package.rs\n\
         # (UPDATE_CATALOG=1 cargo test --test catalog_package): the same\n\
         # Composition, with the function named as Crossplane names it when it\n\
         # installs the function as a dependency of this package.\n",
    );

    let example_name_line = format!("name: {example_function}");
    let mut after_function_ref = false;
    let mut renamed = 0;
    for line in example.lines() {
        let trimmed = line.trim();
        if after_function_ref && trimmed == example_name_line {
            let indent = &line[..line.len() - line.trim_start().len()];
            text.push_str(&format!("{indent}name: {function_name}\n"));
            renamed += 1;
        } else {
            text.push_str(line);
            text.push('\n');
        }
        after_function_ref = trimmed == "functionRef:";
    }

    assert!(
        renamed > 0,
        "examples/composition.yaml has no step whose functionRef is {example_function:?}"
    );
    text
}
