//! The `package.yaml` of a package's base layer: the package metadata
//! (`crossplane.yaml`) followed by the package's objects, as one YAML stream.
//!
//! A Function package's objects are the input CRDs in `input/`. A
//! Configuration package's objects are the XRDs and Compositions in the other
//! YAML files beside `crossplane.yaml`. Subfolders are not read, so
//! `catalog/namespaced/` stays a package of its own.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The package metadata file, as `crossplane xpkg build` names it.
pub const META_FILE: &str = "crossplane.yaml";

/// The folder of the function's input CRDs, inside the package folder.
pub const INPUT_DIR: &str = "input";

/// The `package.yaml` of a Configuration package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationYaml {
    /// `metadata.name` of the Configuration metadata.
    pub name: String,
    /// The YAML stream.
    pub stream: Vec<u8>,
}

/// Reads a Function package folder and returns the YAML stream, each source
/// file as one or more documents, the metadata first and then the input files
/// by name. The files are copied as they are, comments included.
///
/// Fails unless the metadata is exactly one `meta.pkg.crossplane.io`
/// `Function` and every input document is a `CustomResourceDefinition`, the
/// only content Crossplane accepts in a function package.
pub fn assemble_function(package_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = read_meta(package_dir, PackageType::Function)?;

    let input_dir = package_dir.join(INPUT_DIR);
    let input_paths = yaml_files(&input_dir, None)?;
    if input_paths.is_empty() {
        bail!("{}: no .yaml file with the input CRD", input_dir.display());
    }

    let mut stream = String::new();
    append_document(&mut stream, &meta.text);
    for path in &input_paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let kinds = document_kinds(&text).with_context(|| format!("invalid {}", path.display()))?;
        if kinds.is_empty() || !kinds.iter().all(Kind::is_crd) {
            bail!(
                "{}: expected documents of apiVersion apiextensions.k8s.io/v1 and kind CustomResourceDefinition, found {}",
                path.display(),
                describe(&kinds)
            );
        }
        append_document(&mut stream, &text);
    }
    Ok(stream.into_bytes())
}

/// Reads a Configuration package folder and returns the YAML stream: the
/// metadata, then every other `.yaml` or `.yml` file of the folder by name,
/// copied as it is. Subfolders are skipped.
///
/// Fails unless the metadata is exactly one `meta.pkg.crossplane.io`
/// `Configuration` with a name, and every other document is a
/// `CompositeResourceDefinition` or a `Composition`, the only objects
/// Crossplane accepts in a Configuration package.
pub fn assemble_configuration(package_dir: &Path) -> anyhow::Result<ConfigurationYaml> {
    let meta = read_meta(package_dir, PackageType::Configuration)?;
    let name = meta.kind.metadata.name.clone();
    if name.is_empty() {
        bail!(
            "{}: metadata.name is missing: set it to the package's name",
            meta.path.display()
        );
    }

    let object_paths = yaml_files(package_dir, Some(META_FILE))?;
    if object_paths.is_empty() {
        bail!(
            "{}: no .yaml file besides {META_FILE}: add the package's CompositeResourceDefinitions and Compositions",
            package_dir.display()
        );
    }

    let mut stream = String::new();
    append_document(&mut stream, &meta.text);
    for path in &object_paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let kinds = document_kinds(&text).with_context(|| format!("invalid {}", path.display()))?;
        if kinds.is_empty() {
            bail!(
                "{}: no document: remove the file, or add a CompositeResourceDefinition or Composition to it",
                path.display()
            );
        }
        for (index, kind) in kinds.iter().enumerate() {
            if !kind.is_configuration_object() {
                bail!(
                    "{}: document {} is {kind}, which a Configuration package cannot contain: keep only CompositeResourceDefinitions (apiextensions.crossplane.io/v1 or v2) and Compositions (apiextensions.crossplane.io/v1) beside {META_FILE}",
                    path.display(),
                    index + 1
                );
            }
        }
        append_document(&mut stream, &text);
    }
    Ok(ConfigurationYaml {
        name,
        stream: stream.into_bytes(),
    })
}

/// The package types this packager builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PackageType {
    Function,
    Configuration,
}

impl PackageType {
    fn kind(self) -> &'static str {
        match self {
            PackageType::Function => "Function",
            PackageType::Configuration => "Configuration",
        }
    }

    /// Returns whether `kind` is this type's metadata, in one of the
    /// `meta.pkg.crossplane.io` versions that Crossplane reads for it.
    fn is_meta(self, kind: &Kind) -> bool {
        let versions: &[&str] = match self {
            PackageType::Function => &[
                "meta.pkg.crossplane.io/v1",
                "meta.pkg.crossplane.io/v1beta1",
            ],
            PackageType::Configuration => &[
                "meta.pkg.crossplane.io/v1",
                "meta.pkg.crossplane.io/v1alpha1",
            ],
        };
        versions.contains(&kind.api_version.as_str()) && kind.kind == self.kind()
    }
}

/// The metadata file of a package folder.
struct Meta {
    path: PathBuf,
    text: String,
    kind: Kind,
}

/// Reads `crossplane.yaml` and checks that it is exactly one metadata
/// document of `package_type`.
fn read_meta(package_dir: &Path, package_type: PackageType) -> anyhow::Result<Meta> {
    let path = package_dir.join(META_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut kinds = document_kinds(&text).with_context(|| format!("invalid {}", path.display()))?;
    if kinds.len() != 1 || !package_type.is_meta(&kinds[0]) {
        bail!(
            "{}: expected one document of apiVersion meta.pkg.crossplane.io/v1 and kind {}, found {}",
            path.display(),
            package_type.kind(),
            describe(&kinds)
        );
    }
    let kind = kinds.remove(0);
    Ok(Meta { path, text, kind })
}

/// Lists the `.yaml` and `.yml` files directly in `dir` except `skip`, sorted
/// by name.
fn yaml_files(dir: &Path, skip: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let is_yaml = matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "yml")
        );
        let skipped = skip.is_some_and(|name| path.file_name() == Some(name.as_ref()));
        if is_yaml && !skipped && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The type and name of one YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kind {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: ObjectMeta,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct ObjectMeta {
    #[serde(default)]
    name: String,
}

impl Kind {
    fn is_crd(&self) -> bool {
        self.api_version == "apiextensions.k8s.io/v1" && self.kind == "CustomResourceDefinition"
    }

    /// Returns whether Crossplane accepts this document in a Configuration
    /// package: an XRD of `apiextensions.crossplane.io/v1`, or `v2` from
    /// Crossplane 2.0 on, or a `v1` Composition.
    fn is_configuration_object(&self) -> bool {
        match self.kind.as_str() {
            "CompositeResourceDefinition" => matches!(
                self.api_version.as_str(),
                "apiextensions.crossplane.io/v1" | "apiextensions.crossplane.io/v2"
            ),
            "Composition" => self.api_version == "apiextensions.crossplane.io/v1",
            _ => false,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api_version = if self.api_version.is_empty() {
            "<no apiVersion>"
        } else {
            &self.api_version
        };
        let kind = if self.kind.is_empty() {
            "<no kind>"
        } else {
            &self.kind
        };
        write!(formatter, "{api_version} {kind}")
    }
}

/// Parses every document of `text`, rejecting empty ones. A text with only
/// comments or blank lines has no document.
fn document_kinds(text: &str) -> anyhow::Result<Vec<Kind>> {
    let mut values = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(document)
            .with_context(|| format!("document {} is not valid YAML", index + 1))?;
        values.push(value);
    }
    if let [value] = values.as_slice()
        && value.is_null()
    {
        return Ok(Vec::new());
    }

    let mut kinds = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        if value.is_null() {
            bail!("document {} is empty: remove the extra `---`", index + 1);
        }
        let kind = serde_yaml_ng::from_value(value)
            .with_context(|| format!("document {} is not an object", index + 1))?;
        kinds.push(kind);
    }
    Ok(kinds)
}

fn describe(kinds: &[Kind]) -> String {
    if kinds.is_empty() {
        return "no document".to_owned();
    }
    kinds
        .iter()
        .map(Kind::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends `text` behind a `---` separator, dropping a separator the file
/// starts with so that the stream has no empty document.
fn append_document(stream: &mut String, text: &str) {
    let body = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .unwrap_or(text);
    stream.push_str("---\n");
    stream.push_str(body);
    if !body.ends_with('\n') {
        stream.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str =
        "apiVersion: meta.pkg.crossplane.io/v1\nkind: Function\nmetadata:\n  name: fn\n";
    const CRD: &str = "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: inputs.fn.example.org\n";
    const CONFIGURATION_META: &str =
        "apiVersion: meta.pkg.crossplane.io/v1\nkind: Configuration\nmetadata:\n  name: config\n";
    const XRD: &str = "apiVersion: apiextensions.crossplane.io/v2\nkind: CompositeResourceDefinition\nmetadata:\n  name: xfleets.example.org\n";
    const COMPOSITION: &str =
        "apiVersion: apiextensions.crossplane.io/v1\nkind: Composition\nmetadata:\n  name: fleet\n";

    fn package_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(INPUT_DIR)).unwrap();
        for (path, content) in files {
            std::fs::write(dir.path().join(path), content).unwrap();
        }
        dir
    }

    /// Returns a folder of the repository, e.g. `catalog`.
    fn repository_dir(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(relative)
    }

    #[test]
    fn stream_has_meta_then_inputs_by_name() {
        let dir = package_dir(&[
            (META_FILE, META),
            ("input/b.yaml", CRD),
            ("input/a.yml", CRD.trim_end()),
            ("input/notes.md", "not YAML"),
        ]);

        let stream = String::from_utf8(assemble_function(dir.path()).unwrap()).unwrap();

        let crd_body = CRD.strip_prefix("---\n").unwrap();
        assert_eq!(stream, format!("---\n{META}---\n{crd_body}---\n{crd_body}"));
    }

    #[test]
    fn repository_function_package_assembles() {
        let dir = repository_dir("package");
        let meta = std::fs::read_to_string(dir.join(META_FILE)).unwrap();

        let stream = String::from_utf8(assemble_function(&dir).unwrap()).unwrap();

        assert!(!meta.starts_with("---"));
        assert!(stream.starts_with(&format!("---\n{meta}---\n")), "{stream}");
    }

    #[test]
    fn invalid_packages_are_rejected() {
        let cases = [
            (
                vec![(META_FILE, CRD), ("input/a.yaml", CRD)],
                "crossplane.yaml: expected one document of apiVersion meta.pkg.crossplane.io/v1 and kind Function, found apiextensions.k8s.io/v1 CustomResourceDefinition",
                "metadata of the wrong kind",
            ),
            (
                vec![(META_FILE, CONFIGURATION_META), ("input/a.yaml", CRD)],
                "crossplane.yaml: expected one document of apiVersion meta.pkg.crossplane.io/v1 and kind Function, found meta.pkg.crossplane.io/v1 Configuration",
                "Configuration metadata in a Function package",
            ),
            (
                vec![(META_FILE, META), ("input/a.yaml", META)],
                "a.yaml: expected documents of apiVersion apiextensions.k8s.io/v1 and kind CustomResourceDefinition, found meta.pkg.crossplane.io/v1 Function",
                "an input file that is not a CRD",
            ),
            (
                vec![(META_FILE, META)],
                "input: no .yaml file with the input CRD",
                "no input CRD",
            ),
            (
                vec![(META_FILE, META), ("input/a.yaml", "# TODO\n")],
                "a.yaml: expected documents of apiVersion apiextensions.k8s.io/v1 and kind CustomResourceDefinition, found no document",
                "an input file with only a comment",
            ),
            (
                vec![(META_FILE, META), ("input/a.yaml", "---\n---\nkind: x\n")],
                "document 1 is empty: remove the extra `---`",
                "an empty document",
            ),
        ];
        for (files, expected, reason) in cases {
            let dir = package_dir(&files);
            let error = format!("{:#}", assemble_function(dir.path()).unwrap_err());
            assert!(error.contains(expected), "{reason}: {error}");
        }
    }

    #[test]
    fn configuration_stream_has_meta_then_files_by_name() {
        let dir = package_dir(&[
            (META_FILE, CONFIGURATION_META),
            ("xrd.yaml", XRD),
            ("composition.yml", &format!("---\n{COMPOSITION}")),
            ("README.md", "not YAML"),
            ("input/ignored.yaml", "kind: Ignored\n"),
        ]);

        let assembled = assemble_configuration(dir.path()).unwrap();

        assert_eq!(assembled.name, "config");
        assert_eq!(
            String::from_utf8(assembled.stream).unwrap(),
            format!("---\n{CONFIGURATION_META}---\n{COMPOSITION}---\n{XRD}")
        );
    }

    #[test]
    fn catalog_folders_assemble_in_name_order() {
        let cases = [
            ("catalog", "configuration-gitlab-runner-fleet"),
            (
                "catalog/namespaced",
                "configuration-gitlab-runner-fleet-namespaced",
            ),
        ];
        for (relative, name) in cases {
            let dir = repository_dir(relative);
            let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
            let sources = [read(META_FILE), read("composition.yaml"), read("xrd.yaml")];
            for source in &sources {
                // The expected stream below adds a separator before each file.
                assert!(!source.starts_with("---"), "{relative}");
                assert!(source.ends_with('\n'), "{relative}");
            }

            let assembled = assemble_configuration(&dir).unwrap();

            assert_eq!(assembled.name, name, "{relative}");
            assert_eq!(
                String::from_utf8(assembled.stream).unwrap(),
                format!("---\n{}---\n{}---\n{}", sources[0], sources[1], sources[2]),
                "{relative}: crossplane.yaml, composition.yaml, xrd.yaml and nothing from subfolders"
            );
        }
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        let crd = CRD.strip_prefix("---\n").unwrap();
        let function_meta = META;
        let two_objects = format!("{COMPOSITION}---\n{crd}");
        let two_metas = format!("{CONFIGURATION_META}---\n{CONFIGURATION_META}");
        let v1beta1_xrd = XRD.replace("crossplane.io/v2", "crossplane.io/v1beta1");
        let cases = [
            (
                vec![(META_FILE, function_meta), ("xrd.yaml", XRD)],
                "{dir}/crossplane.yaml: expected one document of apiVersion meta.pkg.crossplane.io/v1 and kind Configuration, found meta.pkg.crossplane.io/v1 Function",
                "Function metadata in a Configuration package",
            ),
            (
                vec![(META_FILE, &two_metas), ("xrd.yaml", XRD)],
                "{dir}/crossplane.yaml: expected one document of apiVersion meta.pkg.crossplane.io/v1 and kind Configuration, found meta.pkg.crossplane.io/v1 Configuration, meta.pkg.crossplane.io/v1 Configuration",
                "two metadata documents",
            ),
            (
                vec![
                    (
                        META_FILE,
                        "apiVersion: meta.pkg.crossplane.io/v1\nkind: Configuration\n",
                    ),
                    ("xrd.yaml", XRD),
                ],
                "{dir}/crossplane.yaml: metadata.name is missing: set it to the package's name",
                "metadata without a name",
            ),
            (
                vec![
                    (META_FILE, CONFIGURATION_META),
                    ("extra.yaml", &two_objects),
                ],
                "{dir}/extra.yaml: document 2 is apiextensions.k8s.io/v1 CustomResourceDefinition, which a Configuration package cannot contain: keep only CompositeResourceDefinitions (apiextensions.crossplane.io/v1 or v2) and Compositions (apiextensions.crossplane.io/v1) beside crossplane.yaml",
                "a CRD after a Composition in one file",
            ),
            (
                vec![(META_FILE, CONFIGURATION_META), ("map.yaml", "data: {}\n")],
                "{dir}/map.yaml: document 1 is <no apiVersion> <no kind>, which a Configuration package cannot contain: keep only CompositeResourceDefinitions (apiextensions.crossplane.io/v1 or v2) and Compositions (apiextensions.crossplane.io/v1) beside crossplane.yaml",
                "a document without apiVersion and kind",
            ),
            (
                vec![(META_FILE, CONFIGURATION_META), ("xrd.yaml", &v1beta1_xrd)],
                "{dir}/xrd.yaml: document 1 is apiextensions.crossplane.io/v1beta1 CompositeResourceDefinition, which a Configuration package cannot contain: keep only CompositeResourceDefinitions (apiextensions.crossplane.io/v1 or v2) and Compositions (apiextensions.crossplane.io/v1) beside crossplane.yaml",
                "an XRD of apiextensions.crossplane.io/v1beta1",
            ),
            (
                vec![
                    (META_FILE, CONFIGURATION_META),
                    ("empty.yaml", "# nothing yet\n"),
                ],
                "{dir}/empty.yaml: no document: remove the file, or add a CompositeResourceDefinition or Composition to it",
                "a file with only a comment",
            ),
            (
                vec![(META_FILE, CONFIGURATION_META)],
                "{dir}: no .yaml file besides crossplane.yaml: add the package's CompositeResourceDefinitions and Compositions",
                "no objects",
            ),
        ];
        for (files, expected, reason) in cases {
            let dir = package_dir(&files);
            let error = format!("{:#}", assemble_configuration(dir.path()).unwrap_err());
            let expected = expected.replace("{dir}", &dir.path().display().to_string());
            assert_eq!(error, expected, "{reason}");
        }
    }
}
