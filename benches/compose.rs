//! Micro-benchmarks of composing a fleet, with no gRPC: the whole function
//! on the example fleet's request, each of its steps, and how composing
//! scales with the fleet's architectures and the NodePool's requirements.
//!
//! The API allows two architectures, amd64 and arm64, so composing is
//! measured for one and two, and the per-architecture builder (one Release)
//! is measured on its own: composing N architectures costs the fixed part
//! plus N builder calls.
//!
//! `cargo bench --bench compose`; `cargo test --benches` runs each benchmark
//! once as a test.

#[path = "loadgen/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use function_gitlab_runner_fleet::fleet::{
    self, Arch, FleetRequest, NODE_POOL_REQUIREMENT, input, release, spec, validate,
};
use function_gitlab_runner_fleet::function::run_function;
use function_gitlab_runner_fleet::proto::v1::RunFunctionRequest;
use function_gitlab_runner_fleet::protocol::request::{
    input as request_input, observed_composite, observed_resource_states, required_resources,
};
use function_gitlab_runner_fleet::protocol::wire::encode_response;
use prost::Message;
use serde_json::{Value, json};

// The function binary's allocator, so the figures match the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Requirement counts of the NodePool to measure; Karpenter v1 allows at
/// most 100.
const REQUIREMENT_COUNTS: [usize; 5] = [1, 10, 25, 50, 100];

fn example_request() -> RunFunctionRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture::EXAMPLE_FIXTURE);
    fixture::read_fixture(&path).unwrap()
}

/// Reads the request into the domain's terms, as `run_function` does.
fn fleet_request(request: &RunFunctionRequest) -> FleetRequest {
    let mut required = BTreeMap::new();
    if let Some(items) = required_resources(request, NODE_POOL_REQUIREMENT) {
        required.insert(NODE_POOL_REQUIREMENT.to_string(), items);
    }

    FleetRequest {
        composite: observed_composite(request),
        observed: observed_resource_states(request),
        required,
        input: request_input(request),
    }
}

/// Returns the example request with `count` NodePool requirements: the
/// arch requirement and `count - 1` others.
fn with_requirements(base: &FleetRequest, count: usize) -> FleetRequest {
    let mut request = base.clone();
    let mut requirements = vec![json!({
        "key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"],
    })];
    for index in 1..count {
        requirements.push(json!({
            "key": format!("example.com/label-{index}"),
            "operator": "In",
            "values": [format!("value-{index}"), "other"],
        }));
    }

    let pool = request
        .required
        .get_mut(NODE_POOL_REQUIREMENT)
        .and_then(|items| items.first_mut())
        .expect("the example request carries the NodePool");
    pool["spec"]["template"]["spec"]["requirements"] = Value::Array(requirements);
    request
}

fn with_architectures(base: &FleetRequest, architectures: &[&str]) -> FleetRequest {
    let mut request = base.clone();
    let spec = &mut request.composite["spec"];
    spec["architectures"] = json!(architectures);
    let secrets = spec["runnerTokenSecrets"].as_object_mut().unwrap();
    secrets.retain(|arch, _| architectures.contains(&arch.as_str()));
    request
}

fn whole_function(c: &mut Criterion) {
    let request = example_request();
    let encoded = request.encode_to_vec();
    let response = run_function(&request);

    let mut group = c.benchmark_group("function");
    group.bench_function("decode_request", |b| {
        b.iter(|| RunFunctionRequest::decode(black_box(encoded.as_slice())).unwrap())
    });
    group.bench_function("run_function", |b| {
        b.iter(|| run_function(black_box(&request)))
    });
    group.bench_function("encode_response", |b| {
        b.iter(|| encode_response(black_box(&response)))
    });
    group.bench_function("encode_response_prost", |b| {
        b.iter(|| black_box(&response).encode_to_vec())
    });
    group.finish();
}

fn steps(c: &mut Criterion) {
    let request = example_request();
    let domain_request = fleet_request(&request);

    let mut group = c.benchmark_group("steps");
    group.bench_function("read_request", |b| {
        b.iter(|| fleet_request(black_box(&request)))
    });
    group.bench_function("compose", |b| {
        b.iter(|| fleet::compose(black_box(&domain_request)).unwrap())
    });
    group.finish();
}

fn architectures(c: &mut Criterion) {
    let base = fleet_request(&example_request());

    let mut group = c.benchmark_group("compose_architectures");
    for architectures in [&["amd64"][..], &["amd64", "arm64"][..]] {
        let request = with_architectures(&base, architectures);
        group.bench_with_input(
            BenchmarkId::from_parameter(architectures.len()),
            &request,
            |b, request| b.iter(|| fleet::compose(black_box(request)).unwrap()),
        );
    }
    group.finish();

    let defaults = input::resolve_defaults(
        &input::parse_input(base.input.as_ref()).expect("the example input is valid"),
    )
    .unwrap();
    let spec = spec::parse_spec(&base.composite).unwrap();
    let (fleet, _) = validate::validate(&base.composite, &spec, &defaults).unwrap();

    let mut group = c.benchmark_group("release_per_architecture");
    for arch in [Arch::Amd64, Arch::Arm64] {
        group.bench_with_input(BenchmarkId::from_parameter(arch), &arch, |b, &arch| {
            b.iter(|| release::release(black_box(&fleet), arch).unwrap())
        });
    }
    group.finish();
}

fn node_pool_requirements(c: &mut Criterion) {
    let base = fleet_request(&example_request());

    let mut group = c.benchmark_group("compose_nodepool_requirements");
    for count in REQUIREMENT_COUNTS {
        let request = with_requirements(&base, count);
        group.bench_with_input(
            BenchmarkId::from_parameter(count),
            &request,
            |b, request| b.iter(|| fleet::compose(black_box(request)).unwrap()),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = whole_function, steps, architectures, node_pool_requirements
}
criterion_main!(benches);
