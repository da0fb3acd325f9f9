//! The `Dedicated` node pool strategy: the safe alternative to widening a
//! shared Karpenter `NodePool`.
//!
//! Widening a shared pool to arm64 lets every workload on it without an
//! architecture selector land on arm64 nodes. Instead, for each architecture
//! the shared pool does not allow, this strategy composes a `NodePool` of its
//! own. It copies the shared pool's `spec` (template, disruption, limits,
//! weight), requires that one architecture and adds a `NoSchedule` taint
//! that only the fleet's job pods tolerate. The shared pool is left as it is.
//!
//! A cluster-scoped composite resource composes the `NodePool` directly. A
//! namespaced one cannot compose a cluster-scoped kind, so it composes a
//! provider-kubernetes `Object` that owns the pool. Either way, deleting the
//! fleet deletes its dedicated pools.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::nodepool::{
    ARCH_LABEL, NODE_POOL_API_VERSION, NODE_POOL_KIND, WIDENED_CONDITION, allows_every_condition,
    describe, find_live, join, live_architectures, malformed, not_found_condition, ready_condition,
    requirement, waiting_condition,
};
use super::readiness::condition_ready;
use super::validate::Fleet;
use super::{Arch, ComposedResource, FleetCondition, FleetError, Requirement, Scope};

/// Key of the taint on each dedicated pool's nodes. Its value is the
/// architecture.
pub const TAINT_KEY: &str = "gitlabrunnerfleet.fn.crossplane.io/arch";

/// Label on each dedicated pool naming the architecture it serves.
pub const ARCHITECTURE_LABEL: &str = "gitlabrunnerfleet.fn.crossplane.io/architecture";

/// The node label Karpenter sets to the name of the node's pool.
pub const NODE_POOL_LABEL: &str = "karpenter.sh/nodepool";

/// The maximum length of a label value, and so of a pool name that Karpenter
/// writes into the [`NODE_POOL_LABEL`] of each node.
pub const MAX_NODE_POOL_NAME_LENGTH: usize = 63;

/// Strategy for getting nodes of every architecture of the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NodePoolStrategy {
    /// Patch the shared pool's `kubernetes.io/arch` requirement to allow
    /// every architecture of the fleet.
    #[default]
    Widen,
    /// Leave the shared pool alone and compose a tainted pool per
    /// architecture it does not allow.
    Dedicated,
}

/// Checks `spec.nodePool.strategy`, and for `Dedicated`, that the name of
/// each architecture's pool fits a label value.
pub fn check_strategy(
    strategy: Option<&str>,
    pool: &str,
    architectures: &[Arch],
) -> Result<NodePoolStrategy, FleetError> {
    match strategy {
        None | Some("Widen") => Ok(NodePoolStrategy::Widen),
        Some("Dedicated") => {
            for &arch in architectures {
                let name = pool_name(pool, arch);
                if name.len() > MAX_NODE_POOL_NAME_LENGTH {
                    return Err(FleetError(format!(
                        "spec.nodePool.name: dedicated NodePool name {name:?} is {} characters, \
                         more than {MAX_NODE_POOL_NAME_LENGTH}: Karpenter writes the pool name \
                         into the {NODE_POOL_LABEL} label of each node, and label values are at \
                         most {MAX_NODE_POOL_NAME_LENGTH} characters; use a shared pool whose \
                         name is at most {} characters",
                        name.len(),
                        MAX_NODE_POOL_NAME_LENGTH - arch.as_str().len() - 1
                    )));
                }
            }
            Ok(NodePoolStrategy::Dedicated)
        }
        Some(other) => Err(FleetError(format!(
            "spec.nodePool.strategy: unsupported strategy {other:?}: use \"Widen\" to let the \
             shared NodePool launch every architecture of the fleet, or \"Dedicated\" for a \
             tainted NodePool per architecture the shared pool does not allow"
        ))),
    }
}

/// Returns the name of the pool dedicated to `arch`: `<shared>-<arch>`.
pub fn pool_name(shared: &str, arch: Arch) -> String {
    format!("{shared}-{arch}")
}

/// Returns the composed resource name of a dedicated pool, or of the
/// `Object` that carries it: `nodepool-<pool name>`.
pub fn resource_key(pool_name: &str) -> String {
    format!("nodepool-{pool_name}")
}

/// Inputs of the dedicated pool plan for one function call.
#[derive(Debug, Clone, Copy)]
pub struct DedicatedRequest<'a> {
    /// The name of the shared `NodePool` (`spec.nodePool.name`).
    pub pool_name: &'a str,

    /// The fleet's architectures, sorted and unique.
    pub architectures: &'a [Arch],

    /// The scope of the composite resource: a namespaced one wraps each
    /// pool in an `Object`.
    pub scope: Scope,

    /// The provider-kubernetes `providerConfigRef` name for the `Object`s.
    pub provider_config: &'a str,

    /// The resources Crossplane fetched for the shared pool's requirement:
    /// `None` before Crossplane has fetched them, empty when the pool was
    /// not found.
    pub required: Option<&'a [Value]>,

    /// Every observed composed resource, keyed by composed resource name.
    pub observed: &'a BTreeMap<String, Value>,
}

/// The dedicated pools, status and conditions of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct DedicatedPlan {
    /// The request for the live shared `NodePool`, returned on every call.
    pub requirement: Requirement,

    /// The dedicated pool's name per architecture that has one. The job pods
    /// of those architectures must select and tolerate it.
    pub pools: BTreeMap<Arch, String>,

    /// The composed `NodePool`s, or `Object`s for a namespaced XR.
    pub resources: BTreeMap<String, ComposedResource>,

    /// The value of the composite's `status.nodePool`: `name`, `found` once
    /// Crossplane has fetched the pool, and for a found pool the
    /// architectures it allows and the dedicated pool per architecture.
    pub status: Value,

    /// Conditions for the composite resource and its claim.
    pub conditions: Vec<FleetCondition>,
}

/// Plans the dedicated pools for one call.
///
/// Returns an error only when the live shared pool is malformed. The
/// message names the path inside the `NodePool`.
pub fn plan_dedicated(request: &DedicatedRequest<'_>) -> Result<DedicatedPlan, FleetError> {
    let shared = request.pool_name;
    let mut plan = DedicatedPlan {
        requirement: requirement(shared),
        pools: BTreeMap::new(),
        resources: BTreeMap::new(),
        status: json!({"name": shared}),
        conditions: Vec::new(),
    };

    let Some(items) = request.required else {
        plan.conditions.push(waiting_condition(shared));
        return Ok(plan);
    };
    let Some(live) = find_live(shared, items) else {
        plan.status = json!({"name": shared, "found": false});
        plan.conditions.push(not_found_condition(shared));
        return Ok(plan);
    };

    let allowed = live_architectures(shared, live)?;
    let mut unready = Vec::new();
    for &arch in request.architectures {
        if allowed.contains(arch.as_str()) {
            continue;
        }

        let name = pool_name(shared, arch);
        let key = resource_key(&name);
        let pool = dedicated_pool(shared, live, &name, arch)?;
        let ready = condition_ready(request.observed.get(&key));
        let resource = match request.scope {
            Scope::Cluster => pool,
            Scope::Namespaced => owning_object(pool, request.provider_config),
        };

        if !ready {
            unready.push((arch, name.clone()));
        }
        plan.resources.insert(
            key,
            ComposedResource {
                resource,
                ready: Some(ready),
            },
        );
        plan.pools.insert(arch, name);
    }

    plan.status = json!({
        "name": shared,
        "found": true,
        "architectures": allowed.iter().collect::<Vec<_>>(),
        "dedicated": plan
            .pools
            .iter()
            .map(|(arch, name)| (arch.to_string(), json!(name)))
            .collect::<Map<_, _>>(),
    });
    plan.conditions = vec![
        dedicated_ready_condition(shared, request.architectures, &plan.pools, &unready),
        FleetCondition {
            condition_type: WIDENED_CONDITION.to_string(),
            status: Some(false),
            reason: "DedicatedNodePools".to_string(),
            message: format!(
                "the fleet does not change {NODE_POOL_KIND} {shared:?}: with \
                 spec.nodePool.strategy Dedicated, it composes a tainted {NODE_POOL_KIND} per \
                 architecture that {shared:?} does not allow"
            ),
        },
    ];
    Ok(plan)
}

/// Returns a copy of `fleet` whose job pods for `arch` select the dedicated
/// pool `pool` and tolerate its taint. Only the runner configuration of
/// `arch` may be built from the copy.
pub fn schedule_jobs_on(fleet: &Fleet, arch: Arch, pool: &str) -> Fleet {
    let mut scheduled = fleet.clone();
    scheduled
        .jobs
        .node_selector
        .insert(NODE_POOL_LABEL.to_string(), pool.to_string());
    scheduled
        .jobs
        .node_tolerations
        .insert(format!("{TAINT_KEY}={arch}"), "NoSchedule".to_string());
    scheduled
}

/// Builds the `NodePool` dedicated to `arch` from the live shared pool.
///
/// The copy keeps the shared pool's whole `spec`, but of its metadata only
/// the name: the shared pool's labels may carry the tracking label of a
/// GitOps tool, which would then prune the copy as its own.
// NOTE: the copy keeps the shared pool's `limits`, so the fleet's pools may
// together launch more than the shared pool's limits allow. It also keeps
// every `minValues`, which an architecture with fewer instance types may not
// meet; Karpenter then launches no node for that pool.
fn dedicated_pool(shared: &str, live: &Value, name: &str, arch: Arch) -> Result<Value, FleetError> {
    let Some(Value::Object(spec)) = live.get("spec") else {
        return Err(malformed(shared, "spec", "expected an object"));
    };
    let mut spec = spec.clone();
    let Some(Value::Object(template_spec)) = spec
        .get_mut("template")
        .and_then(|template| template.get_mut("spec"))
    else {
        return Err(malformed(
            shared,
            "spec.template.spec",
            "expected an object",
        ));
    };

    let requirements = match template_spec.get("requirements") {
        Some(Value::Array(list)) => list.clone(),
        _ => {
            return Err(malformed(
                shared,
                "spec.template.spec.requirements",
                "expected a list",
            ));
        }
    };
    template_spec.insert(
        "requirements".to_string(),
        Value::Array(single_arch_requirements(&requirements, arch)),
    );

    let mut taints = match template_spec.get("taints") {
        None => Vec::new(),
        Some(Value::Array(taints)) => taints
            .iter()
            .filter(|taint| taint.get("key").and_then(Value::as_str) != Some(TAINT_KEY))
            .cloned()
            .collect(),
        Some(other) => {
            return Err(malformed(
                shared,
                "spec.template.spec.taints",
                &format!("expected a list, found {}", describe(other)),
            ));
        }
    };
    taints.push(json!({"key": TAINT_KEY, "value": arch.as_str(), "effect": "NoSchedule"}));
    template_spec.insert("taints".to_string(), Value::Array(taints));

    Ok(json!({
        "apiVersion": NODE_POOL_API_VERSION,
        "kind": NODE_POOL_KIND,
        "metadata": {
            "name": name,
            "labels": {ARCHITECTURE_LABEL: arch.as_str()},
        },
        "spec": spec,
    }))
}

/// Rewrites a requirements list to require `arch` alone. The first
/// `kubernetes.io/arch` entry becomes `In [arch]` in its position, later ones
/// go, and a list without one gets it at the end. Every other entry stays
/// exactly as it is, in order.
fn single_arch_requirements(requirements: &[Value], arch: Arch) -> Vec<Value> {
    let arch_entry = json!({"key": ARCH_LABEL, "operator": "In", "values": [arch.as_str()]});
    let mut rewritten = Vec::with_capacity(requirements.len() + 1);
    let mut placed = false;

    for entry in requirements {
        if entry.get("key").and_then(Value::as_str) != Some(ARCH_LABEL) {
            rewritten.push(entry.clone());
        } else if !placed {
            rewritten.push(arch_entry.clone());
            placed = true;
        }
    }
    if !placed {
        rewritten.push(arch_entry);
    }

    rewritten
}

/// Wraps a dedicated pool in the provider-kubernetes `Object` a namespaced
/// composite resource composes. The `Object` has every management policy, so
/// it creates the pool and deletes it with the fleet, and it is ready when
/// the pool's own `Ready` condition is True.
fn owning_object(pool: Value, provider_config: &str) -> Value {
    json!({
        "apiVersion": Scope::Namespaced.object_api_version(),
        "kind": "Object",
        "spec": {
            "managementPolicies": ["*"],
            "readiness": {"policy": "DeriveFromObject"},
            "forProvider": {"manifest": pool},
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": provider_config},
        },
    })
}

/// Builds the `NodePoolReady` condition of the Dedicated strategy.
fn dedicated_ready_condition(
    shared: &str,
    fleet: &[Arch],
    pools: &BTreeMap<Arch, String>,
    unready: &[(Arch, String)],
) -> FleetCondition {
    if pools.is_empty() {
        return allows_every_condition(shared, fleet);
    }

    if !unready.is_empty() {
        return ready_condition(
            Some(false),
            "WaitingForDedicatedNodePools",
            format!(
                "waiting for the dedicated {NODE_POOL_KIND}s to become ready: {}",
                pool_list(unready.iter().map(|(arch, name)| (*arch, name.as_str())))
            ),
        );
    }

    let on_shared: BTreeSet<&str> = fleet
        .iter()
        .filter(|arch| !pools.contains_key(arch))
        .map(|arch| arch.as_str())
        .collect();
    let dedicated = pool_list(pools.iter().map(|(arch, name)| (*arch, name.as_str())));
    let message = if on_shared.is_empty() {
        format!("dedicated {NODE_POOL_KIND}s serve every architecture of the fleet: {dedicated}")
    } else {
        format!(
            "{NODE_POOL_KIND} {shared:?} serves {}, and dedicated {NODE_POOL_KIND}s serve the \
             others: {dedicated}",
            join(on_shared.into_iter())
        )
    };
    ready_condition(Some(true), "DedicatedNodePoolsReady", message)
}

/// Lists pools for a message: `"spot-pool-arm64" (arm64), ...`.
fn pool_list<'a>(pools: impl Iterator<Item = (Arch, &'a str)>) -> String {
    pools
        .map(|(arch, name)| format!("{name:?} ({arch})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::testing::{composite, fleet_of, full_spec};

    const BOTH: &[Arch] = &[Arch::Amd64, Arch::Arm64];

    /// Builds a live shared pool named `spot-pool` with the given
    /// requirements and extra template fields.
    fn live_pool(requirements: Value, taints: Option<Value>) -> Value {
        let mut pool = json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {
                "name": "spot-pool",
                "labels": {"app.kubernetes.io/instance": "platform"},
                "annotations": {"karpenter.sh/nodepool-hash": "6821555240594823858"},
                "resourceVersion": "918273",
                "uid": "3f0c6a52-1d4e-4c0b-9b77-5e2f8a1c9d10",
            },
            "spec": {
                "template": {
                    "metadata": {"labels": {"lifecycle": "Ec2Spot"}},
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": requirements,
                        "expireAfter": "720h",
                    },
                },
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
                "limits": {"cpu": "1000"},
                "weight": 10,
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        if let Some(taints) = taints {
            pool["spec"]["template"]["spec"]["taints"] = taints;
        }
        pool
    }

    fn capacity_type() -> Value {
        json!({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]})
    }

    fn amd64_only() -> Value {
        json!({"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"], "minValues": 1})
    }

    /// Builds the pool dedicated to arm64 that [`live_pool`] gives, with the
    /// requirements and taints it should have.
    fn arm64_pool(requirements: Value, taints: Value) -> Value {
        json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {
                "name": "spot-pool-arm64",
                "labels": {"gitlabrunnerfleet.fn.crossplane.io/architecture": "arm64"},
            },
            "spec": {
                "template": {
                    "metadata": {"labels": {"lifecycle": "Ec2Spot"}},
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": requirements,
                        "expireAfter": "720h",
                        "taints": taints,
                    },
                },
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
                "limits": {"cpu": "1000"},
                "weight": 10,
            },
        })
    }

    fn arch_taint(arch: &str) -> Value {
        json!({"key": "gitlabrunnerfleet.fn.crossplane.io/arch", "value": arch, "effect": "NoSchedule"})
    }

    fn widened_false() -> FleetCondition {
        FleetCondition {
            condition_type: "NodePoolWidened".to_string(),
            status: Some(false),
            reason: "DedicatedNodePools".to_string(),
            message: "the fleet does not change NodePool \"spot-pool\": with \
                      spec.nodePool.strategy Dedicated, it composes a tainted NodePool per \
                      architecture that \"spot-pool\" does not allow"
                .to_string(),
        }
    }

    fn observed_ready(status: &str) -> Value {
        json!({"status": {"conditions": [{"type": "Ready", "status": status}]}})
    }

    fn plan(
        scope: Scope,
        architectures: &[Arch],
        required: Option<Vec<Value>>,
        observed: &BTreeMap<String, Value>,
    ) -> Result<DedicatedPlan, FleetError> {
        plan_dedicated(&DedicatedRequest {
            pool_name: "spot-pool",
            architectures,
            scope,
            provider_config: "default",
            required: required.as_deref(),
            observed,
        })
    }

    #[test]
    fn plan_dedicated_cases() {
        struct Case {
            reason: &'static str,
            scope: Scope,
            architectures: &'static [Arch],
            required: Option<Vec<Value>>,
            observed: BTreeMap<String, Value>,
            want: DedicatedPlan,
        }

        let requirement = requirement("spot-pool");
        let arm64_cluster = arm64_pool(
            json!([
                capacity_type(),
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
            ]),
            json!([arch_taint("arm64")]),
        );

        let cases = vec![
            Case {
                reason: "Crossplane has not fetched the shared pool yet: ask for it, compose nothing",
                scope: Scope::Cluster,
                architectures: BOTH,
                required: None,
                observed: BTreeMap::new(),
                want: DedicatedPlan {
                    requirement: requirement.clone(),
                    pools: BTreeMap::new(),
                    resources: BTreeMap::new(),
                    status: json!({"name": "spot-pool"}),
                    conditions: vec![waiting_condition("spot-pool")],
                },
            },
            Case {
                reason: "the shared pool does not exist: there is no template to copy",
                scope: Scope::Cluster,
                architectures: BOTH,
                required: Some(Vec::new()),
                observed: BTreeMap::new(),
                want: DedicatedPlan {
                    requirement: requirement.clone(),
                    pools: BTreeMap::new(),
                    resources: BTreeMap::new(),
                    status: json!({"name": "spot-pool", "found": false}),
                    conditions: vec![not_found_condition("spot-pool")],
                },
            },
            Case {
                reason: "an amd64 pool gets an arm64 pool beside it, copied from its spec, with \
                         the arch entry rewritten in place (minValues gone) and the taint added; \
                         not observed yet, so not ready",
                scope: Scope::Cluster,
                architectures: BOTH,
                required: Some(vec![live_pool(json!([capacity_type(), amd64_only()]), None)]),
                observed: BTreeMap::new(),
                want: DedicatedPlan {
                    requirement: requirement.clone(),
                    pools: [(Arch::Arm64, "spot-pool-arm64".to_string())].into(),
                    resources: [(
                        "nodepool-spot-pool-arm64".to_string(),
                        ComposedResource {
                            resource: arm64_cluster.clone(),
                            ready: Some(false),
                        },
                    )]
                    .into(),
                    status: json!({"name": "spot-pool", "found": true, "architectures": ["amd64"], "dedicated": {"arm64": "spot-pool-arm64"}}),
                    conditions: vec![
                        FleetCondition {
                            condition_type: "NodePoolReady".to_string(),
                            status: Some(false),
                            reason: "WaitingForDedicatedNodePools".to_string(),
                            message: "waiting for the dedicated NodePools to become ready: \
                                      \"spot-pool-arm64\" (arm64)"
                                .to_string(),
                        },
                        widened_false(),
                    ],
                },
            },
            Case {
                reason: "an observed pool whose Ready condition is True is ready",
                scope: Scope::Cluster,
                architectures: BOTH,
                required: Some(vec![live_pool(json!([capacity_type(), amd64_only()]), None)]),
                observed: [("nodepool-spot-pool-arm64".to_string(), observed_ready("True"))].into(),
                want: DedicatedPlan {
                    requirement: requirement.clone(),
                    pools: [(Arch::Arm64, "spot-pool-arm64".to_string())].into(),
                    resources: [(
                        "nodepool-spot-pool-arm64".to_string(),
                        ComposedResource {
                            resource: arm64_cluster.clone(),
                            ready: Some(true),
                        },
                    )]
                    .into(),
                    status: json!({"name": "spot-pool", "found": true, "architectures": ["amd64"], "dedicated": {"arm64": "spot-pool-arm64"}}),
                    conditions: vec![
                        FleetCondition {
                            condition_type: "NodePoolReady".to_string(),
                            status: Some(true),
                            reason: "DedicatedNodePoolsReady".to_string(),
                            message: "NodePool \"spot-pool\" serves amd64, and dedicated \
                                      NodePools serve the others: \"spot-pool-arm64\" (arm64)"
                                .to_string(),
                        },
                        widened_false(),
                    ],
                },
            },
            Case {
                reason: "a shared pool that allows the fleet needs no dedicated pool",
                scope: Scope::Cluster,
                architectures: BOTH,
                required: Some(vec![live_pool(json!([capacity_type()]), None)]),
                observed: BTreeMap::new(),
                want: DedicatedPlan {
                    requirement: requirement.clone(),
                    pools: BTreeMap::new(),
                    resources: BTreeMap::new(),
                    status: json!({"name": "spot-pool", "found": true, "architectures": ["amd64", "arm64"], "dedicated": {}}),
                    conditions: vec![allows_every_condition("spot-pool", BOTH), widened_false()],
                },
            },
            Case {
                reason: "a namespaced XR wraps the pool in an Object that owns it, ready when \
                         the Object's Ready condition is True",
                scope: Scope::Namespaced,
                architectures: &[Arch::Arm64],
                required: Some(vec![live_pool(json!([capacity_type(), amd64_only()]), None)]),
                observed: [("nodepool-spot-pool-arm64".to_string(), observed_ready("False"))].into(),
                want: DedicatedPlan {
                    requirement: requirement.clone(),
                    pools: [(Arch::Arm64, "spot-pool-arm64".to_string())].into(),
                    resources: [(
                        "nodepool-spot-pool-arm64".to_string(),
                        ComposedResource {
                            resource: json!({
                                "apiVersion": "kubernetes.m.crossplane.io/v1alpha1",
                                "kind": "Object",
                                "spec": {
                                    "managementPolicies": ["*"],
                                    "readiness": {"policy": "DeriveFromObject"},
                                    "forProvider": {"manifest": arm64_cluster.clone()},
                                    "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
                                },
                            }),
                            ready: Some(false),
                        },
                    )]
                    .into(),
                    status: json!({"name": "spot-pool", "found": true, "architectures": ["amd64"], "dedicated": {"arm64": "spot-pool-arm64"}}),
                    conditions: vec![
                        FleetCondition {
                            condition_type: "NodePoolReady".to_string(),
                            status: Some(false),
                            reason: "WaitingForDedicatedNodePools".to_string(),
                            message: "waiting for the dedicated NodePools to become ready: \
                                      \"spot-pool-arm64\" (arm64)"
                                .to_string(),
                        },
                        widened_false(),
                    ],
                },
            },
        ];

        for case in cases {
            let got = plan(
                case.scope,
                case.architectures,
                case.required,
                &case.observed,
            );
            assert_eq!(got, Ok(case.want), "{}", case.reason);
        }
    }

    #[test]
    fn plan_dedicated_pool_per_missing_architecture() {
        // A pool that excludes both architectures gets a pool for each,
        // whatever operator its arch entries use.
        let live = live_pool(
            json!([
                {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["amd64", "arm64"]},
                capacity_type(),
                {"key": "kubernetes.io/arch", "operator": "DoesNotExist"},
            ]),
            Some(json!([
                {"key": "spot", "effect": "NoSchedule"},
                {"key": "gitlabrunnerfleet.fn.crossplane.io/arch", "value": "s390x", "effect": "NoExecute"},
            ])),
        );

        let got = plan(Scope::Cluster, BOTH, Some(vec![live]), &BTreeMap::new()).unwrap();

        assert_eq!(
            got.pools,
            [
                (Arch::Amd64, "spot-pool-amd64".to_string()),
                (Arch::Arm64, "spot-pool-arm64".to_string()),
            ]
            .into()
        );
        let amd64 = &got.resources["nodepool-spot-pool-amd64"].resource;
        assert_eq!(
            amd64["spec"]["template"]["spec"]["requirements"],
            json!([
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                capacity_type(),
            ]),
            "the first arch entry is rewritten where it stands, the later one goes"
        );
        assert_eq!(
            amd64["spec"]["template"]["spec"]["taints"],
            json!([{"key": "spot", "effect": "NoSchedule"}, arch_taint("amd64")]),
            "the pool's own taints stay, a taint with the function's key is replaced"
        );
        assert_eq!(
            got.conditions[0],
            FleetCondition {
                condition_type: "NodePoolReady".to_string(),
                status: Some(false),
                reason: "WaitingForDedicatedNodePools".to_string(),
                message: "waiting for the dedicated NodePools to become ready: \
                          \"spot-pool-amd64\" (amd64), \"spot-pool-arm64\" (arm64)"
                    .to_string(),
            }
        );
        assert_eq!(got.status["architectures"], json!([]));
    }

    #[test]
    fn plan_dedicated_every_pool_ready() {
        let live = live_pool(
            json!([{"key": "kubernetes.io/arch", "operator": "DoesNotExist"}]),
            None,
        );
        let observed = [
            (
                "nodepool-spot-pool-amd64".to_string(),
                observed_ready("True"),
            ),
            (
                "nodepool-spot-pool-arm64".to_string(),
                observed_ready("True"),
            ),
        ]
        .into();

        let got = plan(Scope::Cluster, BOTH, Some(vec![live]), &observed).unwrap();

        assert_eq!(
            got.conditions[0],
            FleetCondition {
                condition_type: "NodePoolReady".to_string(),
                status: Some(true),
                reason: "DedicatedNodePoolsReady".to_string(),
                message: "dedicated NodePools serve every architecture of the fleet: \
                          \"spot-pool-amd64\" (amd64), \"spot-pool-arm64\" (arm64)"
                    .to_string(),
            }
        );
    }

    #[test]
    fn single_arch_requirements_appends_missing_entry() {
        let requirements = single_arch_requirements(&[capacity_type()], Arch::Arm64);

        assert_eq!(
            requirements,
            vec![
                capacity_type(),
                json!({"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}),
            ]
        );
    }

    #[test]
    fn plan_dedicated_malformed_pool_errors() {
        let cases = [
            (
                "requirements must be a list, as for Widen",
                live_pool(json!("amd64"), None),
                "NodePool \"spot-pool\" spec.template.spec.requirements: expected a list, found \
                 \"amd64\": fix the NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "taints must be a list",
                live_pool(
                    json!([capacity_type(), amd64_only()]),
                    Some(json!({"key": "spot"})),
                ),
                "NodePool \"spot-pool\" spec.template.spec.taints: expected a list, found an \
                 object: fix the NodePool, or set spec.nodePool.name to another pool",
            ),
        ];

        for (reason, live, want) in cases {
            let got = plan(Scope::Cluster, BOTH, Some(vec![live]), &BTreeMap::new());
            assert_eq!(got, Err(FleetError(want.to_string())), "{reason}");
        }
    }

    #[test]
    fn check_strategy_cases() {
        struct Case {
            reason: &'static str,
            strategy: Option<&'static str>,
            pool: String,
            want: Result<NodePoolStrategy, String>,
        }

        let too_long = "p".repeat(58);
        let cases = [
            Case {
                reason: "the default is Widen",
                strategy: None,
                pool: "spot-pool".to_string(),
                want: Ok(NodePoolStrategy::Widen),
            },
            Case {
                reason: "Widen",
                strategy: Some("Widen"),
                pool: "spot-pool".to_string(),
                want: Ok(NodePoolStrategy::Widen),
            },
            Case {
                reason: "Dedicated",
                strategy: Some("Dedicated"),
                pool: "spot-pool".to_string(),
                want: Ok(NodePoolStrategy::Dedicated),
            },
            Case {
                reason: "a pool name of 57 characters leaves room for -amd64",
                strategy: Some("Dedicated"),
                pool: "p".repeat(57),
                want: Ok(NodePoolStrategy::Dedicated),
            },
            Case {
                reason: "a long name is fine when nothing is dedicated",
                strategy: Some("Widen"),
                pool: too_long.clone(),
                want: Ok(NodePoolStrategy::Widen),
            },
            Case {
                reason: "a dedicated pool's name must fit the karpenter.sh/nodepool label",
                strategy: Some("Dedicated"),
                pool: too_long.clone(),
                want: Err(format!(
                    "spec.nodePool.name: dedicated NodePool name \"{too_long}-amd64\" is 64 \
                     characters, more than 63: Karpenter writes the pool name into the \
                     karpenter.sh/nodepool label of each node, and label values are at most 63 \
                     characters; use a shared pool whose name is at most 57 characters"
                )),
            },
            Case {
                reason: "strategies are case-sensitive, like every Kubernetes enum",
                strategy: Some("dedicated"),
                pool: "spot-pool".to_string(),
                want: Err(
                    "spec.nodePool.strategy: unsupported strategy \"dedicated\": use \
                           \"Widen\" to let the shared NodePool launch every architecture of \
                           the fleet, or \"Dedicated\" for a tainted NodePool per architecture \
                           the shared pool does not allow"
                        .to_string(),
                ),
            },
        ];

        for case in cases {
            let got = check_strategy(case.strategy, &case.pool, BOTH).map_err(|error| error.0);
            assert_eq!(got, case.want, "{}", case.reason);
        }
    }

    #[test]
    fn schedule_jobs_on_dedicated_pool() {
        let fleet = fleet_of(&composite(full_spec()));

        let scheduled = schedule_jobs_on(&fleet, Arch::Arm64, "spot-pool-arm64");

        assert_eq!(
            scheduled.jobs.node_selector,
            [
                (
                    "karpenter.sh/nodepool".to_string(),
                    "spot-pool-arm64".to_string()
                ),
                ("lifecycle".to_string(), "Ec2Spot".to_string()),
            ]
            .into(),
            "the dedicated pool replaces the shared one in the selector"
        );
        assert_eq!(
            scheduled.jobs.node_tolerations,
            [
                ("dedicated=ci".to_string(), "NoSchedule".to_string()),
                (
                    "gitlabrunnerfleet.fn.crossplane.io/arch=arm64".to_string(),
                    "NoSchedule".to_string()
                ),
                ("spot".to_string(), "NoSchedule".to_string()),
            ]
            .into(),
            "the user's tolerations stay"
        );
        assert_eq!(scheduled.manager, fleet.manager, "the manager is not moved");
    }
}
