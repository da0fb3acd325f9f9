//! Property tests over arbitrary protobuf `Struct` values in every part of
//! the request the function reads: the XR, its spec, the input, the observed
//! Releases and the required NodePool. Whatever arrives, `run_function`
//! returns, never panics, never answers over 4 MiB, and every Fatal result
//! names the field it is about.
//!
//! The budget is fixed (`CASES` per property) so CI time stays bounded. Set
//! `PROPTEST_CASES` to search longer.

#[path = "../benches/loadgen/fixture.rs"]
mod fixture;

use std::path::Path;

use function_gitlab_runner_fleet::function::{MAX_RESPONSE_BYTES, run_function};
use function_gitlab_runner_fleet::proto::v1::{
    Resource, Resources, RunFunctionRequest, RunFunctionResponse, Severity,
};
use function_gitlab_runner_fleet::protocol::structs::{json_to_struct, struct_to_json};
use proptest::prelude::*;
use prost::Message;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

const CASES: u32 = 256;

/// Field names of the XR's spec, the input, Releases and NodePools, so that
/// generated objects get past the top level of parsing.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "status",
    "gitlabUrl",
    "tagPrefix",
    "architectures",
    "releaseNamePrefix",
    "chart",
    "repository",
    "version",
    "runnerTokenSecrets",
    "amd64",
    "arm64",
    "key",
    "manager",
    "jobs",
    "nodeSelector",
    "tolerations",
    "operator",
    "value",
    "effect",
    "tolerationSeconds",
    "concurrent",
    "image",
    "privileged",
    "podAnnotations",
    "pollTimeoutSeconds",
    "helperImages",
    "nodePool",
    "values",
    "providerConfigs",
    "helm",
    "kubernetes",
    "ttlSeconds",
    "defaultPollTimeoutSeconds",
    "defaultJobImage",
    "template",
    "requirements",
    "values",
    "minValues",
    "conditions",
    "type",
    "atProvider",
    "state",
    "annotations",
];

fn example_request() -> RunFunctionRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture::EXAMPLE_FIXTURE);
    fixture::read_fixture(&path).unwrap()
}

/// Any protobuf `Value`: every kind, doubles that JSON cannot hold (NaN,
/// infinities, 2^63 and beyond), strings with template braces, control
/// characters and non-ASCII text, nested up to `depth` levels.
fn any_value(depth: u32) -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(9_223_372_036_854_775_808.0),
        Just(-0.0),
        (-5i64..2000).prop_map(|n| n as f64),
    ];
    let string = prop_oneof![
        ".{0,16}",
        "[a-z0-9{}:/. =,-]{0,16}",
        Just("amd64".to_string()),
        Just("arm64".to_string()),
        Just("https://gitlab.example.com/".to_string()),
        Just("{{ .Values.secret }}".to_string()),
        Just("glrt-abcdef".to_string()),
        Just("kubernetes.io/arch".to_string()),
    ];
    let leaf = prop_oneof![
        Just(Kind::NullValue(0)),
        any::<bool>().prop_map(Kind::BoolValue),
        number.prop_map(Kind::NumberValue),
        string.prop_map(Kind::StringValue),
    ]
    .prop_map(|kind| Value { kind: Some(kind) });

    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|values| Value {
                kind: Some(Kind::ListValue(ListValue { values })),
            }),
            any_struct_of(inner).prop_map(|fields| Value {
                kind: Some(Kind::StructValue(fields)),
            }),
        ]
    })
}

fn any_struct_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Struct> {
    prop::collection::btree_map(
        prop_oneof![
            4 => prop::sample::select(KEYS).prop_map(str::to_string),
            1 => ".{0,8}",
        ],
        values,
        0..6,
    )
    .prop_map(|fields| Struct { fields })
}

fn any_struct() -> impl Strategy<Value = Struct> {
    any_struct_of(any_value(4))
}

/// Reports whether `message` starts with a field path: of the XR, the
/// input or the live NodePool.
fn names_a_field(message: &str) -> bool {
    let subject = message.split(": ").next().unwrap_or_default();
    subject.starts_with("spec")
        || subject.starts_with("metadata.")
        || subject.starts_with("input")
        || (subject.starts_with("NodePool \"") && subject.contains("\" "))
}

/// Checks the properties every response has, whatever the request.
fn check(response: &RunFunctionResponse) -> Result<(), TestCaseError> {
    prop_assert!(response.encoded_len() <= MAX_RESPONSE_BYTES);
    for result in &response.results {
        if result.severity == Severity::Fatal as i32 {
            prop_assert!(
                names_a_field(&result.message),
                "a Fatal result names no field: {}",
                result.message
            );
        }
    }
    Ok(())
}

fn set_composite(request: &mut RunFunctionRequest, composite: Struct) {
    let observed = request.observed.get_or_insert_default();
    observed.composite = Some(Resource {
        resource: Some(composite),
        ..Default::default()
    });
}

fn example_composite(request: &RunFunctionRequest) -> serde_json::Value {
    let composite = request.observed.as_ref().unwrap().composite.as_ref();
    struct_to_json(composite.unwrap().resource.as_ref().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_composite(composite in any_struct()) {
        let mut request = example_request();
        set_composite(&mut request, composite);

        check(&run_function(&request))?;
    }

    #[test]
    fn arbitrary_spec(spec in any_value(5)) {
        let mut request = example_request();
        let mut composite = json_to_struct(&example_composite(&request)).unwrap();
        composite.fields.insert("spec".to_string(), spec);
        set_composite(&mut request, composite);

        check(&run_function(&request))?;
    }

    #[test]
    fn arbitrary_spec_field(field in prop::sample::select(KEYS), value in any_value(4)) {
        let mut request = example_request();
        let mut composite = json_to_struct(&example_composite(&request)).unwrap();
        if let Some(Value { kind: Some(Kind::StructValue(spec)) }) = composite.fields.get_mut("spec") {
            spec.fields.insert(field.to_string(), value);
        }
        set_composite(&mut request, composite);

        check(&run_function(&request))?;
    }

    #[test]
    fn arbitrary_input(input in any_struct()) {
        let mut request = example_request();
        request.input = Some(input);

        check(&run_function(&request))?;
    }

    #[test]
    fn arbitrary_observed_and_required(
        release in any_struct(),
        pool in any_struct(),
        requirements in any_value(3),
    ) {
        let mut request = example_request();
        let observed = request.observed.get_or_insert_default();
        observed.resources.insert(
            "release-arm64".to_string(),
            Resource { resource: Some(release), ..Default::default() },
        );
        let mut live = pool;
        live.fields.insert("spec".to_string(), json_value(serde_json::json!({
            "template": {"spec": {}},
        })));
        if let Some(Value { kind: Some(Kind::StructValue(spec)) }) = live.fields.get_mut("spec")
            && let Some(Value { kind: Some(Kind::StructValue(template)) }) = spec.fields.get_mut("template")
            && let Some(Value { kind: Some(Kind::StructValue(pod)) }) = template.fields.get_mut("spec")
        {
            pod.fields.insert("requirements".to_string(), requirements);
        }
        live.fields.insert("metadata".to_string(), json_value(serde_json::json!({"name": "spot-pool"})));
        request.required_resources.insert(
            "nodepool".to_string(),
            Resources { items: vec![Resource { resource: Some(live), ..Default::default() }] },
        );

        check(&run_function(&request))?;
    }
}

fn json_value(value: serde_json::Value) -> Value {
    Value {
        kind: Some(Kind::StructValue(json_to_struct(&value).unwrap())),
    }
}
