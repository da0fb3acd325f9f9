//! The fleet domain: from an observed `XGitLabRunnerFleet` to the composed
//! resources, status, conditions and requirements of one runner per CPU
//! architecture. It works on JSON values and plain Rust types and never
//! imports gRPC types, so every rule can be tested on its own.

pub mod arch;
pub mod dedicated;
pub mod gitlab;
pub mod input;
pub mod nodepool;
pub mod readiness;
pub mod registration;
pub mod release;
pub mod runner_config;
pub mod scope;
pub mod secrets;
pub mod spec;
pub mod status;
#[cfg(test)]
mod testing;
pub mod validate;
pub mod values;
pub mod variables;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

pub use arch::Arch;
pub use scope::Scope;

use dedicated::{DedicatedRequest, NodePoolStrategy, plan_dedicated, schedule_jobs_on};
use nodepool::{NodePoolRequest, plan_node_pool};
use readiness::condition_ready;
use validate::Fleet;

/// Everything the domain reads from one function call.
#[derive(Debug, Clone, Default)]
pub struct FleetRequest {
    /// The observed composite resource: apiVersion, kind, metadata, spec,
    /// status.
    pub composite: Value,

    /// Observed composed resources, keyed by their name in the composition
    /// (`release-amd64`, ...). The fleet reads only their metadata and
    /// status, so the function passes nothing else: every desired field
    /// comes from the composite resource.
    pub observed: BTreeMap<String, Value>,

    /// Required resources Crossplane has fetched, keyed by requirement name.
    /// A key that is missing has not been answered yet; a key with no items
    /// was answered with "not found".
    pub required: BTreeMap<String, Vec<Value>>,

    /// The pipeline step's input (the platform team's defaults), if any.
    pub input: Option<Value>,
}

/// The composed output for one fleet.
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

/// The severity of an event.
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
    /// The key under which Crossplane returns the fetched resources.
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
/// order, whatever order the spec lists them in. An error message never
/// contains a GitLab token, even one that the XR has in the wrong field.
///
/// The output's size is bounded by the number of architectures times the
/// size of one Release, plus one NodePool patch. The API allows two
/// architectures. A Release holds `spec.values` (at most
/// [`validate::MAX_VALUES_BYTES`]) and the other spec fields at most twice
/// each (as chart values and in the runner configuration), plus a fixed part
/// under 2 KiB. The patch holds the live pool's requirements, which
/// Karpenter v1 caps at 100 entries. A Runner and a Variable per architecture
/// are small and of fixed shape. A dedicated NodePool copies the shared
/// pool's spec, one Kubernetes object like the XR itself, which etcd caps at
/// 1.5 MiB by default.
pub fn compose(request: &FleetRequest) -> Result<Composition, FleetError> {
    compose_fleet(request).map_err(|error| FleetError(secrets::redact_tokens(&error.0)))
}

fn compose_fleet(request: &FleetRequest) -> Result<Composition, FleetError> {
    let input = input::parse_input(request.input.as_ref())?;
    let defaults = input::resolve_defaults(&input)?;
    let spec = spec::parse_spec(&request.composite)?;
    let (fleet, events) = validate::validate(&request.composite, &spec, &defaults)?;

    let mut composition = Composition {
        events,
        ttl: Some(fleet.ttl),
        ..Composition::default()
    };

    // The node pool comes first: with the Dedicated strategy, the job pods
    // of some architectures move to their own pool, which the Releases must
    // select.
    let pool = plan_pool(request, &fleet)?;
    let dedicated = pool
        .as_ref()
        .map(|pool| pool.dedicated.clone())
        .unwrap_or_default();

    let mut ready = BTreeMap::new();
    for &arch in &fleet.architectures {
        let key = release::resource_key(arch);
        let resource = match dedicated.get(&arch) {
            Some(pool_name) => release::release(&schedule_jobs_on(&fleet, arch, pool_name), arch)?,
            None => release::release(&fleet, arch)?,
        };
        let is_ready = readiness::release_ready(request.observed.get(&key));

        ready.insert(arch, is_ready);
        insert_resource(&mut composition, key, resource, is_ready);
    }

    let registered = fleet
        .registration
        .as_ref()
        .map(|registration| compose_runners(request, &fleet, registration, &mut composition));
    if let Some(variables) = &fleet.ci_variables {
        compose_variables(request, &fleet, variables, &mut composition);
    }

    composition.status.insert(
        "runners".to_string(),
        status::runners_status(&fleet, &ready, registered.as_ref()),
    );

    if let Some(pool) = pool {
        composition.requirements.push(pool.requirement);
        composition.resources.extend(pool.resources);
        composition
            .status
            .insert("nodePool".to_string(), pool.status);
        composition.conditions.extend(pool.conditions);
        composition.events.extend(pool.events);
    }

    Ok(composition)
}

/// Adds a provider-gitlab `Runner` per architecture and the
/// `RunnerRegistered` condition, and returns which runners are registered.
fn compose_runners(
    request: &FleetRequest,
    fleet: &Fleet,
    registration: &registration::Registration,
    composition: &mut Composition,
) -> BTreeMap<Arch, bool> {
    let mut registered = BTreeMap::new();
    for &arch in &fleet.architectures {
        let key = registration::resource_key(arch);
        let is_ready = condition_ready(request.observed.get(&key));

        registered.insert(arch, is_ready);
        insert_resource(
            composition,
            key,
            registration::runner(fleet, registration, arch),
            is_ready,
        );
    }

    composition
        .conditions
        .push(registration::registered_condition(fleet, &registered));
    registered
}

/// Adds a provider-gitlab `Variable` per architecture.
fn compose_variables(
    request: &FleetRequest,
    fleet: &Fleet,
    variables: &variables::CiVariables,
    composition: &mut Composition,
) {
    for &arch in &fleet.architectures {
        let key = variables::resource_key(arch);
        let is_ready = condition_ready(request.observed.get(&key));
        insert_resource(
            composition,
            key,
            variables::variable(fleet, variables, arch),
            is_ready,
        );
    }
}

fn insert_resource(composition: &mut Composition, key: String, resource: Value, ready: bool) {
    composition.resources.insert(
        key,
        ComposedResource {
            resource,
            ready: Some(ready),
        },
    );
}

/// Contribution of the node pool to one call, whichever the strategy.
struct PoolOutcome {
    requirement: Requirement,
    resources: BTreeMap<String, ComposedResource>,
    status: Value,
    conditions: Vec<FleetCondition>,
    events: Vec<FleetEvent>,
    /// The dedicated pool per architecture that has one.
    dedicated: BTreeMap<Arch, String>,
}

/// Plans the fleet's node pool with its strategy, or nothing without
/// `spec.nodePool`.
fn plan_pool(request: &FleetRequest, fleet: &Fleet) -> Result<Option<PoolOutcome>, FleetError> {
    let Some(pool_name) = &fleet.node_pool else {
        return Ok(None);
    };
    let required = request
        .required
        .get(NODE_POOL_REQUIREMENT)
        .map(Vec::as_slice);

    let outcome = match fleet.node_pool_strategy {
        NodePoolStrategy::Widen => {
            let object_key = format!("nodepool-{pool_name}");
            let plan = plan_node_pool(&NodePoolRequest {
                pool_name,
                architectures: &fleet.architectures,
                scope: fleet.scope,
                provider_config: &fleet.kubernetes_provider_config,
                required,
                observed_object: request.observed.get(&object_key),
            })?;

            PoolOutcome {
                requirement: plan.requirement,
                resources: plan
                    .object
                    .map(|(key, resource)| {
                        (
                            key,
                            ComposedResource {
                                resource,
                                ready: plan.ready,
                            },
                        )
                    })
                    .into_iter()
                    .collect(),
                status: plan.status,
                conditions: plan.conditions,
                events: plan.events,
                dedicated: BTreeMap::new(),
            }
        }
        NodePoolStrategy::Dedicated => {
            let plan = plan_dedicated(&DedicatedRequest {
                pool_name,
                architectures: &fleet.architectures,
                scope: fleet.scope,
                provider_config: &fleet.kubernetes_provider_config,
                required,
                observed: &request.observed,
            })?;

            PoolOutcome {
                requirement: plan.requirement,
                resources: plan.resources,
                status: plan.status,
                conditions: plan.conditions,
                events: Vec::new(),
                dedicated: plan.pools,
            }
        }
    };

    Ok(Some(outcome))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fleet::testing::{composite, full_spec, minimal_spec, registration_spec, set};

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

    /// Returns an observed resource whose `Ready` condition has `status`.
    fn observed_ready(status: &str) -> Value {
        json!({"status": {"conditions": [{"type": "Ready", "status": status}]}})
    }

    #[test]
    fn compose_registers_runners() {
        let xr = composite(registration_spec(json!({"groupId": 42})));

        let composition = compose(&request(xr.clone())).unwrap();

        assert_eq!(
            composition.resources.keys().collect::<Vec<_>>(),
            vec![
                "release-amd64",
                "release-arm64",
                "runner-amd64",
                "runner-arm64"
            ]
        );
        let release = &composition.resources["release-arm64"].resource;
        assert_eq!(
            release["spec"]["forProvider"]["set"],
            json!([{"name": "runnerToken", "valueFrom": {"secretKeyRef": {
                "key": "token",
                "name": "sandbox-arm64-runner-token",
                "namespace": "gitlab-runner",
            }}}]),
            "the Release reads the token the Runner writes"
        );
        let runner = &composition.resources["runner-arm64"].resource;
        assert_eq!(
            runner["spec"]["writeConnectionSecretToRef"],
            json!({"name": "sandbox-arm64-runner-token", "namespace": "gitlab-runner"})
        );
        assert_eq!(
            runner["spec"]["forProvider"]["tagList"],
            json!(["sandbox-arm64"])
        );
        assert_eq!(composition.resources["runner-arm64"].ready, Some(false));
        assert_eq!(
            composition
                .conditions
                .iter()
                .map(|c| (c.condition_type.as_str(), c.status, c.reason.as_str()))
                .collect::<Vec<_>>(),
            vec![("RunnerRegistered", Some(false), "WaitingForRunnerToken")],
            "the Releases are emitted while the runners wait, and the XR says why"
        );
        assert_eq!(composition.status["runners"]["arm64"]["registered"], false);

        let mut registered = request(xr);
        for arch in ["amd64", "arm64"] {
            registered
                .observed
                .insert(format!("runner-{arch}"), observed_ready("True"));
        }
        let composition = compose(&registered).unwrap();

        assert_eq!(composition.resources["runner-amd64"].ready, Some(true));
        assert_eq!(composition.status["runners"]["amd64"]["registered"], true);
        assert_eq!(composition.conditions[0].status, Some(true));
        assert_eq!(composition.conditions[0].reason, "RunnersRegistered");
    }

    #[test]
    fn compose_publishes_ci_variables() {
        let mut xr = composite(minimal_spec());
        set(
            &mut xr,
            "/spec/ciVariables",
            json!({"groupId": 42, "keyPrefix": "RUNNER_TAG_"}),
        );
        let mut fleet_request = request(xr);
        fleet_request
            .observed
            .insert("variable-amd64".into(), observed_ready("True"));

        let composition = compose(&fleet_request).unwrap();

        assert_eq!(
            composition.resources.keys().collect::<Vec<_>>(),
            vec![
                "release-amd64",
                "release-arm64",
                "variable-amd64",
                "variable-arm64"
            ]
        );
        assert_eq!(composition.resources["variable-amd64"].ready, Some(true));
        assert_eq!(composition.resources["variable-arm64"].ready, Some(false));
        assert_eq!(
            composition.resources["variable-arm64"].resource["spec"]["forProvider"]["key"],
            "RUNNER_TAG_ARM64"
        );
        assert_eq!(
            composition.status["runners"]["arm64"]["variable"], "RUNNER_TAG_ARM64",
            "the status lists the key of the composed variable"
        );
        assert!(
            composition.status["runners"]["arm64"]
                .get("registered")
                .is_none(),
            "runners registered by hand have no registration status"
        );
        assert_eq!(composition.conditions, vec![]);
    }

    #[test]
    fn compose_dedicated_pool_moves_jobs() {
        let mut xr = composite(full_spec());
        set(
            &mut xr,
            "/spec/nodePool",
            json!({"name": "spot-pool", "strategy": "Dedicated"}),
        );
        let live_pool = json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "spot-pool"},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
            }}},
        });
        let config = |composition: &Composition, arch: &str| {
            composition.resources[&format!("release-{arch}")].resource
                ["spec"]["forProvider"]["values"]["runners"]["config"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let without_pool = compose(&request(composite(full_spec()))).unwrap();

        let mut fleet_request = request(xr.clone());
        fleet_request
            .required
            .insert(NODE_POOL_REQUIREMENT.into(), vec![live_pool]);
        let composition = compose(&fleet_request).unwrap();

        assert_eq!(
            composition.resources.keys().collect::<Vec<_>>(),
            vec!["nodepool-spot-pool-arm64", "release-amd64", "release-arm64"],
            "no patch of the shared pool, one pool for the architecture it lacks"
        );
        assert_eq!(
            composition.resources["nodepool-spot-pool-arm64"].resource["kind"],
            "NodePool"
        );
        assert_eq!(
            config(&composition, "amd64"),
            config(&without_pool, "amd64"),
            "amd64 jobs stay on the shared pool"
        );
        let arm64 = config(&composition, "arm64");
        assert!(
            arm64.contains("\"karpenter.sh/nodepool\" = \"spot-pool-arm64\""),
            "{arm64}"
        );
        assert!(
            arm64.contains("\"gitlabrunnerfleet.fn.crossplane.io/arch=arm64\" = \"NoSchedule\""),
            "{arm64}"
        );
        assert_eq!(
            composition.status["nodePool"]["dedicated"],
            json!({"arm64": "spot-pool-arm64"})
        );
        assert_eq!(composition.requirements[0].name, "spot-pool");
        assert_eq!(composition.events, vec![], "nothing widens the shared pool");

        let waiting = compose(&request(xr)).unwrap();
        assert_eq!(
            config(&waiting, "arm64"),
            config(&without_pool, "arm64"),
            "until Crossplane fetches the shared pool, no architecture is known to need a pool"
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
                (registered, variables, dedicated) in (
                    any::<bool>(),
                    prop::option::of(prop::option::of("[A-Z_]{1,10}")),
                    any::<bool>(),
                ),
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
                    if dedicated {
                        spec["nodePool"]["strategy"] = json!("Dedicated");
                    }
                }
                if registered {
                    spec.as_object_mut().unwrap().remove("runnerTokenSecrets");
                    spec["registration"] = json!({"groupId": 42});
                }
                if let Some(prefix) = variables {
                    spec["ciVariables"] = json!({"projectId": 7});
                    if let Some(prefix) = prefix {
                        spec["ciVariables"]["keyPrefix"] = json!(prefix);
                    }
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
                                "strategy",
                                "registration",
                                "ciVariables",
                                "groupId",
                                "projectIdRef",
                                "keyPrefix",
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
