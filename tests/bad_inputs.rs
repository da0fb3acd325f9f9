//! The corpus of bad inputs in `tests/bad_inputs/`: each file is an XR
//! (`xr-*.yaml`) or a function Input (`input-*.yaml`) that can never
//! compose, with a comment saying why and an `# expect:` line holding the
//! exact Fatal message. An XR is sent with the
//! example Composition's input, an Input with the example XR, both with the
//! example's observed Releases and required NodePool.
//!
//! Every field of the XR's schema (examples/xrd.yaml) and of the Input's
//! (package/input/) must be named by at least one expected message.
//!
//! Regenerate the messages with `UPDATE_GOLDEN=1 cargo test --test
//! bad_inputs`, then review every changed line.

#[path = "../benches/loadgen/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::{Resource, Severity};
use function_gitlab_runner_fleet::protocol::structs::json_to_struct;
use serde_json::Value;

const EXPECT: &str = "# expect: ";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One corpus file.
struct BadInput {
    path: PathBuf,
    text: String,
    expected: String,
    document: Value,
}

impl BadInput {
    /// Files named `input-*` hold a function Input; the others an XR.
    fn is_function_input(&self) -> bool {
        self.path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("input-"))
    }
}

fn corpus() -> Vec<BadInput> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repository().join("tests/bad_inputs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();

    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let expected: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix(EXPECT))
                .collect();
            assert_eq!(
                expected.len(),
                1,
                "{}: needs exactly one {EXPECT:?} line",
                path.display()
            );
            let document: Value = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));

            BadInput {
                expected: expected[0].to_string(),
                path,
                text: text.clone(),
                document,
            }
        })
        .collect()
}

/// Runs the function on `document` and returns its one Fatal message.
fn fatal_message(input: &BadInput) -> String {
    let mut request = fixture::read_fixture(&repository().join(fixture::EXAMPLE_FIXTURE)).unwrap();
    let body = json_to_struct(&input.document).unwrap();
    if input.is_function_input() {
        request.input = Some(body);
    } else {
        request.observed.as_mut().unwrap().composite = Some(Resource {
            resource: Some(body),
            ..Default::default()
        });
    }

    let response = run_function(&request);

    let name = input.path.display();
    assert_eq!(response.results.len(), 1, "{name}: {:#?}", response.results);
    let result = &response.results[0];
    assert_eq!(
        result.severity,
        Severity::Fatal as i32,
        "{name}: {result:?}"
    );
    assert_eq!(
        response.desired, request.desired,
        "{name}: a Fatal response must leave the desired state as it came"
    );
    result.message.clone()
}

#[test]
fn every_bad_input_gets_its_fatal_message() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();

    for input in corpus() {
        let actual = fatal_message(&input);
        if update && actual != input.expected {
            let old = format!("{EXPECT}{}", input.expected);
            let new = format!("{EXPECT}{actual}");
            std::fs::write(&input.path, input.text.replacen(&old, &new, 1)).unwrap();
        } else if actual != input.expected {
            failures.push(format!(
                "{}:\n  expected: {}\n  actual:   {actual}",
                input.path.display(),
                input.expected
            ));
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Collects the path of every field in an OpenAPI schema, with `prefix`.
/// List items add no segment, so `tolerations[0].key` reads as
/// `tolerations.key`.
fn schema_fields(schema: &Value, prefix: &str, fields: &mut BTreeSet<String>) {
    if let Some(items) = schema.get("items") {
        schema_fields(items, prefix, fields);
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        fields.insert(prefix.to_string());
        return;
    };
    for (name, property) in properties {
        schema_fields(property, &format!("{prefix}.{name}"), fields);
    }
}

/// Returns the field a message is about: its text before the first ": ",
/// with list indexes and quoted map keys left out.
fn subject(message: &str) -> String {
    let subject = message.split(": ").next().unwrap_or_default();
    let mut plain = String::new();
    let mut depth = 0;
    for c in subject.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    plain
}

#[test]
fn corpus_names_every_field() {
    let mut fields = BTreeSet::new();

    let xrd: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repository().join("examples/xrd.yaml")).unwrap(),
    )
    .unwrap();
    let xr_schema = &xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema_fields(&xr_schema["properties"]["spec"], "spec", &mut fields);

    let crd: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(
            repository().join("package/input/gitlabrunnerfleet.fn.crossplane.io_inputs.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let input_schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema_fields(input_schema, "input", &mut fields);
    // The function ignores the Input's metadata, so no metadata is bad.
    fields.remove("input.metadata");

    let subjects: BTreeSet<String> = corpus()
        .iter()
        .map(|input| subject(&input.expected))
        .collect();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|field| {
            !subjects
                .iter()
                .any(|subject| subject == *field || subject.starts_with(&format!("{field}.")))
        })
        .collect();

    assert!(
        missing.is_empty(),
        "no bad input names these fields: {missing:#?}"
    );
}
