//! The `package.yaml` of the package's base layer: the Function metadata
//! (`package/crossplane.yaml`) followed by the input CRDs (`package/input/`),
//! as one YAML stream.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The package metadata file, as `crossplane xpkg build` names it.
pub const META_FILE: &str = "crossplane.yaml";

/// The folder of the function's input CRDs, inside the package folder.
pub const INPUT_DIR: &str = "input";

/// Reads the package folder and returns the YAML stream, each source file as
/// one or more documents, the metadata first and then the input files by
/// name. The files are copied as they are, comments included.
///
/// Fails unless the metadata is exactly one `meta.pkg.crossplane.io`
/// `Function` and every input document is a `CustomResourceDefinition`, the
/// only content Crossplane accepts in a function package.
pub fn assemble(package_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let meta_path = package_dir.join(META_FILE);
    let meta = std::fs::read_to_string(&meta_path)
        .with_context(|| format!("cannot read {}", meta_path.display()))?;
    let kinds =
        document_kinds(&meta).with_context(|| format!("invalid {}", meta_path.display()))?;
    match kinds.as_slice() {
        [kind] if kind.is_function_meta() => {}
        _ => bail!(
            "{}: expected one document of apiVersion meta.pkg.crossplane.io/v1 and kind Function, found {}",
            meta_path.display(),
            describe(&kinds)
        ),
    }

    let input_dir = package_dir.join(INPUT_DIR);
    let mut input_paths = Vec::new();
    for entry in std::fs::read_dir(&input_dir)
        .with_context(|| format!("cannot read {}", input_dir.display()))?
    {
        let path = entry
            .with_context(|| format!("cannot read {}", input_dir.display()))?
            .path();
        let is_yaml = matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && path.is_file() {
            input_paths.push(path);
        }
    }
    input_paths.sort();
    if input_paths.is_empty() {
        bail!("{}: no .yaml file with the input CRD", input_dir.display());
    }

    let mut stream = String::new();
    append_document(&mut stream, &meta);
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

/// The type of one YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kind {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

impl Kind {
    fn is_function_meta(&self) -> bool {
        matches!(
            self.api_version.as_str(),
            "meta.pkg.crossplane.io/v1" | "meta.pkg.crossplane.io/v1beta1"
        ) && self.kind == "Function"
    }

    fn is_crd(&self) -> bool {
        self.api_version == "apiextensions.k8s.io/v1" && self.kind == "CustomResourceDefinition"
    }
}

/// Parses every document of `text`, rejecting empty ones.
fn document_kinds(text: &str) -> anyhow::Result<Vec<Kind>> {
    let mut kinds = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(document)
            .with_context(|| format!("document {} is not valid YAML", index + 1))?;
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
        .map(|kind| format!("{} {}", kind.api_version, kind.kind))
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

    fn package_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(INPUT_DIR)).unwrap();
        for (path, content) in files {
            std::fs::write(dir.path().join(path), content).unwrap();
        }
        dir
    }

    #[test]
    fn stream_has_meta_then_inputs_by_name() {
        let dir = package_dir(&[
            (META_FILE, META),
            ("input/b.yaml", CRD),
            ("input/a.yml", CRD.trim_end()),
            ("input/notes.md", "not YAML"),
        ]);

        let stream = String::from_utf8(assemble(dir.path()).unwrap()).unwrap();

        let crd_body = CRD.strip_prefix("---\n").unwrap();
        assert_eq!(stream, format!("---\n{META}---\n{crd_body}---\n{crd_body}"));
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
                vec![(META_FILE, META), ("input/a.yaml", "---\n---\nkind: x\n")],
                "document 1 is empty: remove the extra `---`",
                "an empty document",
            ),
        ];
        for (files, expected, reason) in cases {
            let dir = package_dir(&files);
            let error = format!("{:#}", assemble(dir.path()).unwrap_err());
            assert!(error.contains(expected), "{reason}: {error}");
        }
    }
}
