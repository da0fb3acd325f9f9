//! Reading the files `render` takes: a YAML file that contains one object, and
//! a YAML stream read from one file or from every `.yaml` and `.yml` file of
//! a folder, as `crossplane render` reads them.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

/// One object of a YAML stream, with where it came from so an error can
/// point at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file and position the object was read from.
    pub origin: Origin,
    /// The object, as JSON.
    pub value: Value,
}

/// The file and the position of a document in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file the document was read from.
    pub path: PathBuf,
    /// The position of the document in its file, counted from 1 and
    /// counting empty documents too, so it matches what an editor shows
    /// between `---` separators.
    pub index: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.path.display(), self.index)
    }
}

/// Reads a YAML file that contains exactly one Kubernetes object.
pub fn read_object(path: &Path) -> anyhow::Result<Document> {
    let mut documents = read_file(path)?;

    match documents.len() {
        0 => bail!("{}: contains no YAML document", path.display()),
        1 => Ok(documents.remove(0)),
        n => bail!(
            "{}: contains {n} YAML documents, expected one object",
            path.display()
        ),
    }
}

/// Reads a YAML stream from `path`: the documents of one file, or, when
/// `path` is a folder, the documents of every `.yaml` and `.yml` file in it
/// in the order of their file names. Subfolders are not read.
///
/// Fails when the stream contains no object at all, because an empty file
/// given on purpose is almost always a wrong path or a wrong file.
pub fn read_stream(path: &Path) -> anyhow::Result<Vec<Document>> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;

    let files = if metadata.is_dir() {
        yaml_files_in(path)?
    } else {
        vec![path.to_path_buf()]
    };

    let mut documents = Vec::new();
    for file in &files {
        documents.extend(read_file(file)?);
    }

    if documents.is_empty() {
        bail!("{}: contains no YAML document", path.display());
    }

    Ok(documents)
}

/// Lists the `.yaml` and `.yml` files of `folder`, sorted by file name.
fn yaml_files_in(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read folder {}", folder.display()))?;

    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", folder.display()))?;
        let path = entry.path();
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");

        if is_yaml && path.is_file() {
            files.push(path);
        }
    }

    if files.is_empty() {
        bail!(
            "{}: no YAML files (.yaml or .yml) in this folder",
            folder.display()
        );
    }

    files.sort();
    Ok(files)
}

/// Reads every non-empty document of one file; each must be a YAML mapping.
fn read_file(path: &Path) -> anyhow::Result<Vec<Document>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;

    let mut documents = Vec::new();
    for (position, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let origin = Origin {
            path: path.to_path_buf(),
            index: position + 1,
        };
        let value =
            Value::deserialize(document).with_context(|| format!("{origin}: invalid YAML"))?;

        match value {
            Value::Null => continue,
            Value::Object(_) => documents.push(Document { origin, value }),
            other => bail!(
                "{origin}: expected a Kubernetes object (a YAML mapping), found {}",
                json_type_name(&other)
            ),
        }
    }

    Ok(documents)
}

/// Returns the string at `pointer` (a JSON pointer such as `/metadata/name`)
/// or fails naming the field, the document and what is wrong.
pub fn required_str<'a>(document: &'a Document, pointer: &str) -> anyhow::Result<&'a str> {
    let field = field_path(pointer);

    match document.value.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => bail!("{}: {field} is empty", document.origin),
        None | Some(Value::Null) => bail!("{}: {field} is missing", document.origin),
        Some(other) => bail!(
            "{}: {field} must be a string, found {}",
            document.origin,
            json_type_name(other)
        ),
    }
}

/// Turns a JSON pointer into the dotted field path Kubernetes users know.
fn field_path(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// Names the JSON type of `value` for error messages.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn stream_skips_empty_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "s.yaml",
            "---\napiVersion: v1\nkind: A\n---\n---\napiVersion: v1\nkind: B\n",
        );

        let documents = read_stream(&path).unwrap();

        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].value, json!({"apiVersion": "v1", "kind": "A"}));
        assert_eq!(documents[1].origin.index, 3);
    }

    #[test]
    fn folder_reads_yaml_files_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.yml", "kind: B\n");
        write(dir.path(), "a.yaml", "kind: A\n");
        write(dir.path(), "c.json", "{\"kind\": \"C\"}");
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();

        let kinds: Vec<Value> = read_stream(dir.path())
            .unwrap()
            .into_iter()
            .map(|d| d.value["kind"].clone())
            .collect();

        assert_eq!(kinds, vec![json!("A"), json!("B")]);
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty_dir = tempfile::tempdir().unwrap();
        let scalar = write(dir.path(), "scalar.yaml", "just text\n");
        let broken = write(dir.path(), "broken.yaml", "a: [1\n");
        let two = write(dir.path(), "two.yaml", "kind: A\n---\nkind: B\n");
        let blank = write(dir.path(), "blank.yaml", "---\n");

        let cases = [
            (
                "a scalar is not an object",
                read_object(&scalar).unwrap_err(),
                format!(
                    "{} (document 1): expected a Kubernetes object (a YAML mapping), found a string",
                    scalar.display()
                ),
            ),
            (
                "two objects where one is expected",
                read_object(&two).unwrap_err(),
                format!(
                    "{}: contains 2 YAML documents, expected one object",
                    two.display()
                ),
            ),
            (
                "a stream with only empty documents",
                read_stream(&blank).unwrap_err(),
                format!("{}: contains no YAML document", blank.display()),
            ),
            (
                "a folder without YAML files",
                read_stream(empty_dir.path()).unwrap_err(),
                format!(
                    "{}: no YAML files (.yaml or .yml) in this folder",
                    empty_dir.path().display()
                ),
            ),
        ];

        for (reason, error, expected) in cases {
            assert_eq!(format!("{error:#}"), expected, "{reason}");
        }

        let error = format!("{:#}", read_object(&broken).unwrap_err());
        assert!(
            error.starts_with(&format!(
                "{} (document 1): invalid YAML: ",
                broken.display()
            )),
            "invalid YAML names the file: {error}"
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        let error = read_stream(Path::new("/nonexistent/observed.yaml")).unwrap_err();

        assert_eq!(
            format!("{error:#}"),
            "cannot read /nonexistent/observed.yaml: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn required_str_names_the_field() {
        let document = Document {
            origin: Origin {
                path: "xr.yaml".into(),
                index: 1,
            },
            value: json!({"kind": "", "metadata": {"name": 3}}),
        };

        let cases = [
            ("/apiVersion", "xr.yaml (document 1): apiVersion is missing"),
            ("/kind", "xr.yaml (document 1): kind is empty"),
            (
                "/metadata/name",
                "xr.yaml (document 1): metadata.name must be a string, found a number",
            ),
        ];

        for (pointer, expected) in cases {
            let error = required_str(&document, pointer).unwrap_err();
            assert_eq!(error.to_string(), expected, "{pointer}");
        }
    }
}
