//! The fleet domain: from an observed `XGitLabRunnerFleet` to the composed
//! resources, status, conditions and requirements of one runner per CPU
//! architecture. It works on JSON values and plain Rust types and never
//! sees gRPC, so every rule can be tested on its own.

pub mod arch;
pub mod input;
pub mod nodepool;
pub mod readiness;
pub mod release;
pub mod runner_config;
pub mod scope;
pub mod spec;
pub mod status;
#[cfg(test)]
mod testing;
pub mod validate;
pub mod values;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

pub use arch::Arch;
pub use scope::Scope;

use nodepool::{NodePoolRequest, plan_node_pool};

/// Everything the domain reads from one function call.
#[derive(Debug, Clone, Default)]
pub struct FleetRequest {
    /// The observed composite resource: apiVersion, kind, metadata, spec,
    /// status.
    pub composite: Value,

    /// Observed composed resources, keyed by their name in the composition
    /// (`release-amd64`, ...).
    pub observed: BTreeMap<String, Value>,

    /// Required resources Crossplane has fetched, keyed by requirement name.
    /// A key that is missing has not been answered yet; a key with no items
    /// was answered with "not found".
    pub required: BTreeMap<String, Vec<Value>>,

    /// The pipeline step's input (the platform team's defaults), if any.
    pub input: Option<Value>,
}

/// What the function composes for one fleet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Composition {
    /// Desired composed resources, keyed by their name in the composition.
    pub resources: BTreeMap<String, ComposedResource>,

    /// Fields to set under the composite resource's `status`.
    pub status: Map<String, Value>,

    /// Conditions on the composite resource and its claim, for states that
    /// last (node pool not found, registration pending).
    pub conditions: Vec<FleetCondition>,

    /// Warning and Normal results, for transitions the user should notice.
    pub events: Vec<FleetEvent>,

    /// Resources the function needs Crossplane to fetch. The same list is
    /// returned on every call for the same spec.
    pub requirements: Vec<Requirement>,

    /// How long Crossplane may reuse the response; `None` for the
    /// function's default.
    pub ttl: Option<Duration>,
}

/// One desired composed resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposedResource {
    /// The whole Kubernetes object.
    pub resource: Value,

    /// Readiness derived from the observed resource: `Some(true)` when ready,
    /// `Some(false)` when observed and not ready, `None` to let Crossplane
    /// decide.
    pub ready: Option<bool>,
}

/// A status condition for the composite resource and its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetCondition {
    /// CamelCase condition type, such as `NodePoolReady`.
    pub condition_type: String,
    /// `Some(true)` for True, `Some(false)` for False, `None` for Unknown.
    pub status: Option<bool>,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// How serious an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSeverity {
    /// Something needs the user's attention.
    Warning,
    /// For information.
    Normal,
}

/// A Warning or Normal result of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetEvent {
    /// Warning or Normal.
    pub severity: EventSeverity,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// A resource that Crossplane must fetch and pass in the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The key the answer comes back under.
    pub key: String,
    /// The apiVersion of the resource, such as `karpenter.sh/v1`.
    pub api_version: String,
    /// The kind of the resource, such as `NodePool`.
    pub kind: String,
    /// The name of the resource.
    pub name: String,
    /// The namespace, for namespaced kinds only.
    pub namespace: Option<String>,
}

/// Input that can never compose: the message names the field path, the value
/// and the fix, and the function returns it as a Fatal result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FleetError(pub String);

/// The requirement key under which Crossplane returns the live NodePool.
pub const NODE_POOL_REQUIREMENT: &str = "nodepool";

/// Composes the fleet described by `request.composite`.
///
/// The input is read first, because a broken input breaks every fleet of the
/// composition. Per-architecture resources and status are emitted in [`Arch`]
/// order, whatever order the spec lists them in.
///
/// The output's size is bounded by the number of architectures times the
/// size of one Release, plus one NodePool patch. The API allows two
/// architectures. A Release holds `spec.values` (at most
/// [`validate::MAX_VALUES_BYTES`]) and the other spec fields at most twice
/// each (as chart values and in the runner configuration), plus a fixed part
/// under 2 KiB. The patch holds the live pool's requirements, which
/// Karpenter v1 caps at 100 entries. Every spec field is part of the XR, one
/// Kubernetes object, which etcd caps at 1.5 MiB by default.
pub fn compose(request: &FleetRequest) -> Result<Composition, FleetError> {
    let input = input::parse_input(request.input.as_ref())?;
    let defaults = input::resolve_defaults(&input)?;
    let spec = spec::parse_spec(&request.composite)?;
    let (fleet, events) = validate::validate(&request.composite, &spec, &defaults)?;

    let mut composition = Composition {
        events,
        ttl: Some(fleet.ttl),
        ..Composition::default()
    };

    let mut ready = BTreeMap::new();
    for &arch in &fleet.architectures {
        let key = release::resource_key(arch);
        let resource = release::release(&fleet, arch)?;
        let is_ready = readiness::release_ready(request.observed.get(&key));

        ready.insert(arch, is_ready);
        composition.resources.insert(
            key,
            ComposedResource {
                resource,
                ready: Some(is_ready),
            },
        );
    }
    composition.status.insert(
        "runners".to_string(),
        status::runners_status(&fleet, &ready),
    );

    if let Some(pool_name) = &fleet.node_pool {
        let object_key = format!("nodepool-{pool_name}");
        let plan = plan_node_pool(&NodePoolRequest {
            pool_name,
            architectures: &fleet.architectures,
            scope: fleet.scope,
            provider_config: &fleet.kubernetes_provider_config,
            required: request
                .required
                .get(NODE_POOL_REQUIREMENT)
                .map(Vec::as_slice),
            observed_object: request.observed.get(&object_key),
        })?;

        composition.requirements.push(plan.requirement);
        if let Some((key, resource)) = plan.object {
            composition.resources.insert(
                key,
                ComposedResource {
                    resource,
                    ready: plan.ready,
                },
            );
        }
        composition
            .status
            .insert("nodePool".to_string(), plan.status);
        composition.conditions.extend(plan.conditions);
        composition.events.extend(plan.events);
    }

    Ok(composition)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fleet::testing::{composite, full_spec, minimal_spec, set};

    fn request(composite: Value) -> FleetRequest {
        FleetRequest {
            composite,
            ..FleetRequest::default()
        }
    }

    /// Serializes everything a composition holds, in its own order, so that
    /// two compositions compare equal only when their output is
    /// byte-identical. `Value` equality alone ignores map order.
    fn render(composition: &Composition) -> String {
        let resources: Vec<String> = composition
            .resources
            .iter()
            .map(|(key, composed)| {
                format!(
                    "{key} ready={:?} {}",
                    composed.ready,
                    serde_json::to_string(&composed.resource).unwrap()
                )
            })
            .collect();

        format!(
            "{resources:#?}\nstatus={}\nconditions={:?}\nevents={:?}\nrequirements={:?}\nttl={:?}",
            serde_json::to_string(&composition.status).unwrap(),
            composition.conditions,
            composition.events,
            composition.requirements,
            composition.ttl,
        )
    }

    #[test]
    fn compose_minimal_fleet() {
        let composition = compose(&request(composite(minimal_spec()))).unwrap();

        assert_eq!(
            composition.resources.keys().collect::<Vec<_>>(),
            vec!["release-amd64", "release-arm64"]
        );
        for composed in composition.resources.values() {
            assert_eq!(composed.ready, Some(false), "nothing is observed yet");
        }
        assert_eq!(
            serde_json::to_string(&composition.status).unwrap(),
            serde_json::to_string(&json!({
                "runners": {
                    "amd64": {"tag": "sandbox-amd64", "variable": "CICD_TAG_AMD64", "release": "sandbox-amd64", "ready": false},
                    "arm64": {"tag": "sandbox-arm64", "variable": "CICD_TAG_ARM64", "release": "sandbox-arm64", "ready": false},
                },
            }))
            .unwrap()
        );
        assert_eq!(
            composition.requirements,
            vec![],
            "no nodePool, no requirement"
        );
        assert_eq!(composition.conditions, vec![]);
        assert_eq!(composition.events, vec![]);
        assert_eq!(composition.ttl, Some(Duration::from_secs(60)));
    }

    #[test]
    fn compose_single_architecture() {
        let mut xr = composite(minimal_spec());
        set(&mut xr, "/spec/architectures", json!(["arm64"]));
        xr["spec"]["runnerTokenSecrets"]
            .as_object_mut()
            .unwrap()
            .remove("amd64");

        let composition = compose(&request(xr)).unwrap();

        assert_eq!(
            composition.resources.keys().collect::<Vec<_>>(),
            vec!["release-arm64"]
        );
        assert_eq!(
            composition.status["runners"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec!["arm64"]
        );
    }

    #[test]
    fn compose_reports_observed_readiness() {
        let mut fleet_request = request(composite(minimal_spec()));
        fleet_request.observed.insert(
            "release-amd64".into(),
            json!({"status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "atProvider": {"state": "deployed"},
            }}),
        );
        fleet_request.observed.insert(
            "release-arm64".into(),
            json!({"status": {
                "conditions": [{"type": "Ready", "status": "False"}],
                "atProvider": {"state": "pending-install"},
            }}),
        );

        let composition = compose(&fleet_request).unwrap();

        assert_eq!(composition.resources["release-amd64"].ready, Some(true));
        assert_eq!(composition.resources["release-arm64"].ready, Some(false));
        assert_eq!(composition.status["runners"]["amd64"]["ready"], true);
        assert_eq!(composition.status["runners"]["arm64"]["ready"], false);
    }

    #[test]
    fn compose_with_node_pool_asks_for_it() {
        let mut xr = composite(minimal_spec());
        set(&mut xr, "/spec/nodePool", json!({"name": "spot-pool"}));
        let live_pool = json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "spot-pool"},
            "spec": {"template": {"spec": {"requirements": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
            ]}}},
        });

        for required in [None, Some(vec![]), Some(vec![live_pool.clone()])] {
            let mut fleet_request = request(xr.clone());
            if let Some(items) = &required {
                fleet_request
                    .required
                    .insert(NODE_POOL_REQUIREMENT.into(), items.clone());
            }
            let plan = plan_node_pool(&NodePoolRequest {
                pool_name: "spot-pool",
                architectures: &[Arch::Amd64, Arch::Arm64],
                scope: Scope::Cluster,
                provider_config: "default",
                required: required.as_deref(),
                observed_object: None,
            })
            .unwrap();

            let composition = compose(&fleet_request).unwrap();

            assert_eq!(composition.requirements, vec![plan.requirement.clone()]);
            assert_eq!(composition.requirements[0].key, "nodepool");
            assert_eq!(composition.requirements[0].name, "spot-pool");
            assert_eq!(composition.status["nodePool"], plan.status);
            assert_eq!(composition.conditions, plan.conditions);
            match &plan.object {
                Some((key, resource)) => {
                    assert_eq!(&composition.resources[key].resource, resource);
                    assert_eq!(composition.resources[key].ready, plan.ready);
                }
                None => assert_eq!(composition.resources.len(), 2),
            }
        }
    }

    #[test]
    fn compose_without_node_pool() {
        let composition = compose(&request(composite(full_spec()))).unwrap();

        assert!(!composition.status.contains_key("nodePool"));
        assert!(composition.requirements.is_empty());
        assert!(
            composition
                .resources
                .keys()
                .all(|key| key.starts_with("release-"))
        );
    }

    #[test]
    fn compose_uses_input_ttl() {
        let mut fleet_request = request(composite(minimal_spec()));
        fleet_request.input = Some(json!({"ttlSeconds": 30}));

        let composition = compose(&fleet_request).unwrap();

        assert_eq!(composition.ttl, Some(Duration::from_secs(30)));
    }

    #[test]
    fn compose_merges_xr_input_and_defaults() {
        let mut fleet_request = request(composite(minimal_spec()));
        fleet_request.input = Some(json!({
            "chart": {"version": "0.79.1", "repository": "https://mirror.example.com/charts"},
            "providerConfigs": {"helm": "helm-ci"},
            "defaultJobImage": "alpine:3.20",
        }));
        set(
            &mut fleet_request.composite,
            "/spec/chart/version",
            json!("0.86.0"),
        );

        let composition = compose(&fleet_request).unwrap();
        let release = &composition.resources["release-amd64"].resource;

        assert_eq!(
            release["spec"]["forProvider"]["chart"],
            json!({"name": "gitlab-runner", "repository": "https://mirror.example.com/charts", "version": "0.86.0"})
        );
        assert_eq!(release["spec"]["providerConfigRef"]["name"], "helm-ci");
        assert!(
            release["spec"]["forProvider"]["values"]["runners"]["config"]
                .as_str()
                .unwrap()
                .contains("image = \"alpine:3.20\"")
        );
    }

    #[test]
    fn compose_checks_input_before_spec() {
        let mut fleet_request = request(json!({"spec": {"gitlabUrl": 1}}));
        fleet_request.input = Some(json!({"ttlSeconds": 0}));

        let error = compose(&fleet_request).unwrap_err();

        assert!(error.0.starts_with("input.ttlSeconds:"), "{error}");
    }

    #[test]
    fn compose_rejects_shared_token_secret() {
        let mut xr = composite(minimal_spec());
        set(
            &mut xr,
            "/spec/runnerTokenSecrets/arm64/name",
            json!("runner-amd64"),
        );

        let error = compose(&request(xr)).unwrap_err();

        assert!(
            error.0.starts_with(
                "spec.runnerTokenSecrets.arm64: the same Secret key as spec.runnerTokenSecrets.amd64"
            ),
            "{error}"
        );
    }

    #[test]
    fn compose_is_independent_of_architecture_and_key_order() {
        let forward = composite(full_spec());
        let mut backward = reverse_keys(&forward);
        set(
            &mut backward,
            "/spec/architectures",
            json!(["arm64", "amd64"]),
        );

        assert_eq!(
            render(&compose(&request(forward)).unwrap()),
            render(&compose(&request(backward)).unwrap())
        );
    }

    /// Returns `value` with the keys of every map in reverse order.
    fn reverse_keys(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .rev()
                    .map(|(key, value)| (key.clone(), reverse_keys(value)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(reverse_keys).collect()),
            other => other.clone(),
        }
    }

    mod properties {
        use proptest::prelude::*;
        use proptest::sample::subsequence;

        use super::*;

        /// Generates a small map of label-like keys to values that may
        /// contain template braces, quotes and white space.
        fn label_map() -> impl Strategy<Value = Vec<(String, String)>> {
            prop::collection::vec(
                (
                    "[a-z]{1,8}(\\.[a-z]{2,5}/[a-z]{1,6})?",
                    "[A-Za-z0-9 {}\"'.=-]{0,12}",
                ),
                0..4,
            )
        }

        fn tolerations() -> impl Strategy<Value = Vec<Value>> {
            prop::collection::btree_map(
                "[a-z]{1,6}",
                (
                    any::<bool>(),
                    "[a-z0-9]{0,4}",
                    prop::sample::select(vec!["", "NoSchedule", "PreferNoSchedule", "NoExecute"]),
                ),
                0..4,
            )
            .prop_map(|entries| {
                entries
                    .into_iter()
                    .map(|(key, (exists, value, effect))| {
                        let mut toleration = json!({"key": key});
                        if exists {
                            toleration["operator"] = json!("Exists");
                        } else {
                            toleration["operator"] = json!("Equal");
                            toleration["value"] = json!(value);
                        }
                        if !effect.is_empty() {
                            toleration["effect"] = json!(effect);
                        }
                        toleration
                    })
                    .collect()
            })
        }

        fn object(entries: Vec<(String, String)>) -> Value {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, Value::String(value)))
                    .collect(),
            )
        }

        prop_compose! {
            /// Generates a valid XR, with architectures in random order.
            fn valid_composite()(
                architectures in subsequence(vec!["amd64", "arm64"], 1..=2).prop_shuffle(),
                host in "[a-z]{1,10}",
                tag_prefix in "[a-z0-9._-]{1,20}",
                namespace in prop::option::of("[a-z]([a-z0-9-]{0,10}[a-z0-9])?"),
                prefix in prop::option::of("[a-z]([a-z0-9-]{0,20}[a-z0-9])?"),
                token_key in prop::option::of("[a-z-]{1,12}"),
                manager_selector in label_map(),
                manager_tolerations in tolerations(),
                concurrent in prop::option::of(1i64..100),
                job_selector in label_map(),
                job_tolerations in tolerations(),
                annotations in label_map(),
                poll_timeout in prop::option::of(1i64..2000),
                privileged in prop::option::of(any::<bool>()),
                helper in any::<bool>(),
                node_pool in prop::option::of("[a-z]([a-z0-9-]{0,10}[a-z0-9])?"),
                extra_values in label_map(),
            ) -> Value {
                let mut spec = json!({
                    "gitlabUrl": format!("https://{host}.example.com/"),
                    "tagPrefix": tag_prefix,
                    "architectures": architectures,
                    "runnerTokenSecrets": {},
                    "manager": {
                        "nodeSelector": object(manager_selector),
                        "tolerations": manager_tolerations,
                    },
                    "jobs": {
                        "nodeSelector": object(job_selector),
                        "tolerations": job_tolerations,
                        "podAnnotations": object(annotations),
                    },
                    "values": {"extra": object(extra_values)},
                });
                for arch in &architectures {
                    let mut secret = json!({"name": format!("runner-{arch}")});
                    if let Some(key) = &token_key {
                        secret["key"] = json!(key);
                    }
                    spec["runnerTokenSecrets"][*arch] = secret;
                    if helper {
                        let tag = if *arch == "amd64" { "x86_64" } else { "arm64" };
                        set(&mut spec, &format!("/jobs/helperImages/{arch}"), json!(format!("registry.example.com/helper:{tag}-v18.9.0")));
                    }
                }
                if let Some(namespace) = namespace {
                    spec["namespace"] = json!(namespace);
                }
                if let Some(prefix) = prefix {
                    spec["releaseNamePrefix"] = json!(prefix);
                }
                if let Some(concurrent) = concurrent {
                    spec["manager"]["concurrent"] = json!(concurrent);
                }
                if let Some(seconds) = poll_timeout {
                    spec["jobs"]["pollTimeoutSeconds"] = json!(seconds);
                }
                if let Some(privileged) = privileged {
                    spec["jobs"]["privileged"] = json!(privileged);
                }
                if let Some(name) = node_pool {
                    spec["nodePool"] = json!({"name": name});
                }
                composite(spec)
            }
        }

        /// Ways to break a valid XR, each of which must give a FleetError.
        fn break_composite(xr: &mut Value, how: usize) {
            let arch = xr["spec"]["architectures"][0].as_str().unwrap().to_string();
            match how {
                0 => set(xr, "/spec/gitlabUrl", json!("http://gitlab.example.com/")),
                1 => set(xr, "/spec/tagPrefix", json!("a,b")),
                2 => set(xr, "/spec/tagPrefix", json!("")),
                3 => set(xr, "/spec/architectures", json!([])),
                4 => {
                    let mut list = xr["spec"]["architectures"].as_array().unwrap().clone();
                    list.push(json!("s390x"));
                    set(xr, "/spec/architectures", json!(list));
                }
                5 => {
                    let mut list = xr["spec"]["architectures"].as_array().unwrap().clone();
                    list.push(json!(arch));
                    set(xr, "/spec/architectures", json!(list));
                }
                6 => set(xr, &format!("/spec/runnerTokenSecrets/{arch}"), json!({})),
                7 => set(xr, "/spec/manager/concurrent", json!(0)),
                8 => set(xr, "/spec/jobs/pollTimeoutSeconds", json!(-1)),
                9 => set(
                    xr,
                    "/spec/jobs/nodeSelector/kubernetes.io~1arch",
                    json!(arch),
                ),
                10 => set(
                    xr,
                    "/spec/manager/nodeSelector/kubernetes.io~1arch",
                    json!(arch),
                ),
                11 => {
                    let foreign = if arch == "amd64" { "arm64" } else { "x86_64" };
                    set(
                        xr,
                        &format!("/spec/jobs/helperImages/{arch}"),
                        json!(format!("helper:{foreign}-v1")),
                    );
                }
                12 => set(
                    xr,
                    "/spec/jobs/helperImages/s390x",
                    json!("helper:s390x-v1"),
                ),
                13 => set(xr, "/spec/releaseNamePrefix", json!("x".repeat(60))),
                14 => set(xr, "/spec/values/runners", json!({"tags": "a"})),
                15 => set(
                    xr,
                    "/spec/values/gitlabUrl",
                    json!("https://other.example.com/"),
                ),
                16 => set(xr, "/spec/values/runnerToken", json!("glrt-x")),
                17 => set(xr, "/spec/runnerTokenSecrets/ppc64le", json!({"name": "x"})),
                18 => set(xr, "/spec/manager/concurrent", json!("ten")),
                19 => set(
                    xr,
                    "/spec/jobs/podAnnotations/karpenter.sh~1do-not-evict",
                    json!("true"),
                ),
                _ => set(
                    xr,
                    "/spec/jobs/tolerations",
                    json!([{"key": "a", "operator": "Exists", "tolerationSeconds": 5}]),
                ),
            }
        }

        const BREAKAGES: usize = 21;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn valid_fleets_compose_deterministically(xr in valid_composite()) {
                let first = compose(&request(xr.clone()));
                prop_assert!(first.is_ok(), "{:?}", first.err());
                let first = render(&first.unwrap());

                let again = render(&compose(&request(xr.clone())).unwrap());
                prop_assert_eq!(&first, &again);

                let mut reordered = reverse_keys(&xr);
                let mut architectures = xr["spec"]["architectures"].as_array().unwrap().clone();
                architectures.reverse();
                set(&mut reordered, "/spec/architectures", json!(architectures));
                let reordered = render(&compose(&request(reordered)).unwrap());
                prop_assert_eq!(&first, &reordered);
            }

            #[test]
            fn runner_config_braces_always_escaped(xr in valid_composite()) {
                let composition = compose(&request(xr)).unwrap();
                for composed in composition.resources.values() {
                    if let Some(config) = composed.resource
                        .pointer("/spec/forProvider/values/runners/config")
                        .and_then(Value::as_str)
                    {
                        prop_assert!(!config.replace("{{ \"{{\" }}", "").contains("{{"), "{}", config);
                    }
                }
            }

            #[test]
            fn broken_fleets_always_fail(xr in valid_composite(), how in 0..BREAKAGES) {
                let mut xr = xr;
                break_composite(&mut xr, how);

                let result = compose(&request(xr));

                prop_assert!(result.is_err(), "breakage {} composed", how);
            }

            #[test]
            fn arbitrary_specs_never_panic(spec in arbitrary_json(3)) {
                if let Err(error) = compose(&request(composite(spec))) {
                    let subject = error.0.split(": ").next().unwrap_or_default();
                    prop_assert!(
                        subject.starts_with("spec") || subject.starts_with("metadata."),
                        "the error names no field: {}",
                        error.0
                    );
                }
            }
        }

        /// Any JSON value, nested up to `depth`, with keys drawn from the
        /// spec's field names so that parsing gets past the top level.
        fn arbitrary_json(depth: u32) -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                "[a-z0-9{}:/. -]{0,12}".prop_map(Value::String),
                Just(json!("https://gitlab.example.com/")),
                Just(json!("amd64")),
            ];
            leaf.prop_recursive(depth, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec(
                        (
                            prop::sample::select(vec![
                                "gitlabUrl",
                                "tagPrefix",
                                "architectures",
                                "namespace",
                                "runnerTokenSecrets",
                                "amd64",
                                "arm64",
                                "name",
                                "manager",
                                "jobs",
                                "nodeSelector",
                                "tolerations",
                                "values",
                                "nodePool",
                                "helperImages",
                                "concurrent",
                                "pollTimeoutSeconds",
                                "releaseNamePrefix",
                                "chart",
                                "repository",
                                "version",
                                "key",
                                "image",
                                "privileged",
                                "podAnnotations",
                                "operator",
                                "effect",
                                "tolerationSeconds",
                            ]),
                            inner,
                        ),
                        0..5,
                    )
                    .prop_map(|entries| Value::Object(
                        entries
                            .into_iter()
                            .map(|(key, value)| (key.to_string(), value))
                            .collect(),
                    )),
                ]
            })
        }
    }
}
