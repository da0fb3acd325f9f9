//! The patch that lets a shared Karpenter `NodePool` launch every
//! architecture of the fleet: the `Widen` strategy. The `Dedicated` strategy
//! in `dedicated` leaves the shared pool alone instead.
//!
//! The function never composes the shared `NodePool` itself. A composed pool would
//! get an owner reference to the fleet, so deleting the fleet would delete the
//! pool and drain its nodes. A namespaced XR cannot compose a cluster-scoped
//! kind at all. Instead the function composes a provider-kubernetes `Object`
//! that may only observe and update the live pool.
//!
//! In `karpenter.sh/v1`, `spec.template.spec.requirements` is an atomic list
//! (at most 100 items), so a patch replaces it whole. The plan therefore reads
//! the live pool that Crossplane fetched as a required resource, rewrites only
//! the `kubernetes.io/arch` entries and sends every other entry unchanged.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Arch, EventSeverity, FleetCondition, FleetError, FleetEvent, Requirement, Scope};

/// The key under which Crossplane returns the live `NodePool`.
pub const REQUIREMENT_KEY: &str = "nodepool";

/// The apiVersion of the Karpenter `NodePool`.
pub const NODE_POOL_API_VERSION: &str = "karpenter.sh/v1";

/// The kind of the Karpenter `NodePool`.
pub const NODE_POOL_KIND: &str = "NodePool";

/// The node label whose requirement entries the patch rewrites.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";

/// Annotation on the composed `Object` that records, as a comma-separated
/// list, the architectures this fleet added to the pool. Once the patch is
/// applied the live pool allows them, so the record is the only way later
/// calls can tell that the fleet widened the pool.
pub const WIDENED_ANNOTATION: &str = "gitlabrunnerfleet.fn.crossplane.io/widened-architectures";

/// Condition type: whether the live pool allows every architecture of the
/// fleet.
pub const READY_CONDITION: &str = "NodePoolReady";

/// Condition type: whether this fleet added architectures to a shared pool.
pub const WIDENED_CONDITION: &str = "NodePoolWidened";

/// The path of the requirements list inside a `NodePool`, as error messages
/// spell it.
const REQUIREMENTS_PATH: &str = "spec.template.spec.requirements";

/// Inputs of the node pool plan for one function call.
#[derive(Debug, Clone, Copy)]
pub struct NodePoolRequest<'a> {
    /// The name of the shared `NodePool` (`spec.nodePool.name`).
    pub pool_name: &'a str,

    /// The fleet's architectures, sorted and unique.
    pub architectures: &'a [Arch],

    /// The scope of the composite resource, which picks the `Object` kind.
    pub scope: Scope,

    /// The provider-kubernetes `providerConfigRef` name for the `Object`.
    pub provider_config: &'a str,

    /// The resources Crossplane fetched for the `nodepool` requirement:
    /// `None` before Crossplane has fetched them, empty when the pool was not
    /// found.
    pub required: Option<&'a [Value]>,

    /// The observed composed `Object` (`nodepool-<name>`), if it exists.
    pub observed_object: Option<&'a Value>,
}

/// The composed `Object`, status, conditions and events of the fleet's node
/// pool for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePoolPlan {
    /// The request for the live `NodePool`, returned on every call.
    pub requirement: Requirement,

    /// The composed `Object` and its key (`nodepool-<name>`), present only
    /// when Crossplane returned the live pool and the pool can serve the
    /// fleet. Without the live pool there is nothing safe to send, because
    /// provider-kubernetes would otherwise build a pool from the partial
    /// manifest.
    pub object: Option<(String, Value)>,

    /// Readiness of the composed `Object` from the observed one: true when its
    /// `Ready` and `Synced` conditions are both True, `None` when there is no
    /// `Object` or it is not observed yet.
    pub ready: Option<bool>,

    /// The value of the composite's `status.nodePool`. It always has `name`,
    /// and `found` once Crossplane has fetched the pool. A found pool also
    /// gets `architectures` (what the pool allows after the patch) and
    /// `widened` (what this fleet added).
    pub status: Value,

    /// Conditions for the composite resource and its claim.
    pub conditions: Vec<FleetCondition>,

    /// Events for this call.
    pub events: Vec<FleetEvent>,
}

/// Plans the node pool patch for one call.
///
/// Returns an error only when the live pool is malformed. The message names
/// the path inside the `NodePool`.
pub fn plan_node_pool(request: &NodePoolRequest<'_>) -> Result<NodePoolPlan, FleetError> {
    let pool = request.pool_name;
    let requirement = requirement(pool);

    let Some(items) = request.required else {
        return Ok(waiting_plan(pool, requirement));
    };

    let Some(live) = find_live(pool, items) else {
        return Ok(not_found_plan(pool, requirement));
    };

    let entries = read_requirements(pool, live)?;

    // An entry that no architecture can satisfy is the pool owner's choice,
    // so the patch does not rewrite it and composes nothing.
    if let Some((index, entry)) = entries
        .iter()
        .enumerate()
        .find(|(_, entry)| entry.arch_rule() == Some(ArchRule::None))
    {
        return Ok(excluded_plan(request, requirement, &entries, index, entry));
    }

    let fleet: BTreeSet<&str> = request
        .architectures
        .iter()
        .map(|arch| arch.as_str())
        .collect();
    let patched = patch_entries(&entries, &fleet);
    let before = allowed_architectures(&live_rules(&entries));
    let after = allowed_architectures(&patched.rules);

    // What the live pool lacks now, plus what earlier calls recorded on the
    // Object, as long as the patched pool still allows it.
    let adding: BTreeSet<Arch> = request
        .architectures
        .iter()
        .copied()
        .filter(|arch| !before.contains(arch.as_str()))
        .collect();
    let widened: BTreeSet<Arch> = recorded_widening(request.observed_object)
        .into_iter()
        .chain(adding.iter().copied())
        .filter(|arch| after.contains(arch.as_str()))
        .collect();

    let key = format!("nodepool-{pool}");
    let object = patch_object(request, patched.requirements, &widened);

    Ok(NodePoolPlan {
        requirement,
        ready: request.observed_object.map(is_ready),
        status: json!({
            "name": pool,
            "found": true,
            "architectures": after.iter().collect::<Vec<_>>(),
            "widened": widened.iter().map(|arch| arch.as_str()).collect::<Vec<_>>(),
        }),
        conditions: vec![
            allows_condition(pool, &key, &adding, request.architectures),
            widened_condition(pool, &widened, request.architectures),
        ],
        events: widening_event(pool, &adding).into_iter().collect(),
        object: Some((key, object)),
    })
}

/// Builds the request for the live shared `NodePool` named `pool`.
pub(super) fn requirement(pool: &str) -> Requirement {
    Requirement {
        key: REQUIREMENT_KEY.to_string(),
        api_version: NODE_POOL_API_VERSION.to_string(),
        kind: NODE_POOL_KIND.to_string(),
        name: pool.to_string(),
        namespace: None,
    }
}

/// Finds the pool named `pool` among the resources Crossplane fetched.
/// Crossplane fetches the pool by name, so any other item is not the pool.
pub(super) fn find_live<'a>(pool: &str, items: &'a [Value]) -> Option<&'a Value> {
    items
        .iter()
        .find(|item| item.pointer("/metadata/name").and_then(Value::as_str) == Some(pool))
}

/// Reads the live pool's requirements and returns the architectures they
/// allow, sorted. The error names the malformed path inside the pool.
pub(super) fn live_architectures(pool: &str, live: &Value) -> Result<BTreeSet<String>, FleetError> {
    let entries = read_requirements(pool, live)?;
    Ok(allowed_architectures(&live_rules(&entries)))
}

/// Builds the `NodePoolReady` condition while Crossplane has not fetched the
/// pool yet.
pub(super) fn waiting_condition(pool: &str) -> FleetCondition {
    ready_condition(
        None,
        "WaitingForNodePool",
        format!(
            "waiting for Crossplane to fetch {NODE_POOL_KIND} {pool:?} ({NODE_POOL_API_VERSION})"
        ),
    )
}

/// Builds the `NodePoolReady` condition of a pool Crossplane did not find.
pub(super) fn not_found_condition(pool: &str) -> FleetCondition {
    ready_condition(
        Some(false),
        "NodePoolNotFound",
        format!(
            "{NODE_POOL_KIND} {pool:?} ({NODE_POOL_API_VERSION}) was not found: create it or set \
             spec.nodePool.name to an existing pool. If it exists, grant Crossplane RBAC to get, \
             list and watch nodepools.karpenter.sh"
        ),
    )
}

fn waiting_plan(pool: &str, requirement: Requirement) -> NodePoolPlan {
    NodePoolPlan {
        requirement,
        object: None,
        ready: None,
        status: json!({"name": pool}),
        conditions: vec![waiting_condition(pool)],
        events: Vec::new(),
    }
}

fn not_found_plan(pool: &str, requirement: Requirement) -> NodePoolPlan {
    NodePoolPlan {
        requirement,
        object: None,
        ready: None,
        status: json!({"name": pool, "found": false}),
        conditions: vec![not_found_condition(pool)],
        events: Vec::new(),
    }
}

/// One entry of `spec.template.spec.requirements`, checked for shape.
struct Entry<'a> {
    raw: &'a Map<String, Value>,
    key: &'a str,
    operator: &'a str,
    values: Vec<&'a str>,
}

/// The architectures a `kubernetes.io/arch` entry allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchRule {
    /// `In`: only the listed values.
    In,
    /// `NotIn`: any value but the listed ones.
    NotIn,
    /// `Exists`: any value.
    Any,
    /// `DoesNotExist`, `Gt`, `Lt`, `Gte` or `Lte`: no architecture, since
    /// nodes always carry the label and its values are not integers.
    None,
}

impl Entry<'_> {
    fn arch_rule(&self) -> Option<ArchRule> {
        if self.key != ARCH_LABEL {
            return None;
        }

        // The operator was checked when the entry was read.
        Some(match self.operator {
            "In" => ArchRule::In,
            "NotIn" => ArchRule::NotIn,
            "Exists" => ArchRule::Any,
            _ => ArchRule::None,
        })
    }
}

/// The operators a `karpenter.sh/v1` requirement may use.
const OPERATORS: [&str; 8] = [
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Gt",
    "Lt",
    "Gte",
    "Lte",
];

/// Reads and checks the live pool's requirements list.
fn read_requirements<'a>(pool: &str, live: &'a Value) -> Result<Vec<Entry<'a>>, FleetError> {
    let list = match live.pointer("/spec/template/spec/requirements") {
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(malformed(
                pool,
                REQUIREMENTS_PATH,
                &format!("expected a list, found {}", describe(other)),
            ));
        }
        None => return Err(malformed(pool, REQUIREMENTS_PATH, "missing")),
    };

    let mut entries = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let path = format!("{REQUIREMENTS_PATH}[{index}]");
        let Value::Object(raw) = item else {
            return Err(malformed(
                pool,
                &path,
                &format!("expected an object, found {}", describe(item)),
            ));
        };

        let key = read_string(pool, raw, &path, "key")?;
        let operator = read_string(pool, raw, &path, "operator")?;
        if key == ARCH_LABEL && !OPERATORS.contains(&operator) {
            return Err(malformed(
                pool,
                &format!("{path}.operator"),
                &format!(
                    "unsupported operator {operator:?} for {ARCH_LABEL}: use In, NotIn, Exists or DoesNotExist"
                ),
            ));
        }

        let values = match raw.get("values") {
            None => Vec::new(),
            Some(Value::Array(values)) => {
                let mut strings = Vec::with_capacity(values.len());
                for (position, value) in values.iter().enumerate() {
                    let Some(text) = value.as_str() else {
                        return Err(malformed(
                            pool,
                            &format!("{path}.values[{position}]"),
                            &format!("expected a string, found {}", describe(value)),
                        ));
                    };
                    strings.push(text);
                }
                strings
            }
            Some(other) => {
                return Err(malformed(
                    pool,
                    &format!("{path}.values"),
                    &format!("expected a list of strings, found {}", describe(other)),
                ));
            }
        };

        entries.push(Entry {
            raw,
            key,
            operator,
            values,
        });
    }

    Ok(entries)
}

fn read_string<'a>(
    pool: &str,
    raw: &'a Map<String, Value>,
    path: &str,
    field: &str,
) -> Result<&'a str, FleetError> {
    match raw.get(field) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(malformed(
            pool,
            &format!("{path}.{field}"),
            &format!("expected a string, found {}", describe(other)),
        )),
        None => Err(malformed(pool, &format!("{path}.{field}"), "missing")),
    }
}

/// Builds the error for a live pool with a malformed field at `path`.
pub(super) fn malformed(pool: &str, path: &str, problem: &str) -> FleetError {
    FleetError(format!(
        "{NODE_POOL_KIND} {pool:?} {path}: {problem}: fix the {NODE_POOL_KIND}, or set spec.nodePool.name to another pool"
    ))
}

/// Describes a JSON value for an error message without dumping large values.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => format!("{text:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// The requirements list after the patch, and the arch rules it holds.
struct PatchedEntries {
    requirements: Vec<Value>,
    rules: Vec<(ArchRule, Vec<String>)>,
}

/// Rewrites the `kubernetes.io/arch` entries so they allow the fleet's
/// architectures and keeps every other entry exactly as it is.
///
/// An entry that already allows every fleet architecture is kept byte for
/// byte, so a pool that needs nothing gets its own list back.
fn patch_entries(entries: &[Entry<'_>], fleet: &BTreeSet<&str>) -> PatchedEntries {
    let mut requirements = Vec::with_capacity(entries.len());
    let mut rules = Vec::new();

    for entry in entries {
        let Some(rule) = entry.arch_rule() else {
            requirements.push(Value::Object(entry.raw.clone()));
            continue;
        };

        let values = match rule {
            ArchRule::In if fleet.iter().any(|arch| !entry.values.contains(arch)) => {
                let union: BTreeSet<&str> =
                    entry.values.iter().chain(fleet.iter()).copied().collect();
                requirements.push(with_values(entry.raw, &union));
                union.into_iter().collect()
            }
            ArchRule::NotIn if entry.values.iter().any(|value| fleet.contains(value)) => {
                let remaining: Vec<&str> = entry
                    .values
                    .iter()
                    .copied()
                    .filter(|value| !fleet.contains(value))
                    .collect();

                // An empty NotIn excludes nothing, so the entry goes.
                if !remaining.is_empty() {
                    requirements.push(with_values(entry.raw, &remaining));
                }
                remaining
            }
            _ => {
                requirements.push(Value::Object(entry.raw.clone()));
                entry.values.clone()
            }
        };
        rules.push((rule, values.into_iter().map(str::to_string).collect()));
    }

    PatchedEntries {
        requirements,
        rules,
    }
}

fn with_values<'v>(
    raw: &Map<String, Value>,
    values: impl IntoIterator<Item = &'v &'v str>,
) -> Value {
    let mut entry = raw.clone();
    entry.insert(
        "values".to_string(),
        values.into_iter().map(|value| json!(value)).collect(),
    );
    Value::Object(entry)
}

/// Collects the arch rules of the live list for [`allowed_architectures`].
fn live_rules(entries: &[Entry<'_>]) -> Vec<(ArchRule, Vec<String>)> {
    entries
        .iter()
        .filter_map(|entry| {
            let rule = entry.arch_rule()?;
            Some((
                rule,
                entry.values.iter().map(|value| value.to_string()).collect(),
            ))
        })
        .collect()
}

/// Computes the architectures a list of arch rules allows, sorted.
///
/// The candidates are amd64 and arm64 plus every value an `In` entry names,
/// so a pool without any arch entry allows both known architectures.
fn allowed_architectures(rules: &[(ArchRule, Vec<String>)]) -> BTreeSet<String> {
    let mut candidates: BTreeSet<String> = Arch::ALL
        .iter()
        .map(|arch| arch.as_str().to_string())
        .collect();
    for (rule, values) in rules {
        if *rule == ArchRule::In {
            candidates.extend(values.iter().cloned());
        }
    }

    candidates.retain(|candidate| {
        rules.iter().all(|(rule, values)| {
            let listed = values.contains(candidate);
            match rule {
                ArchRule::In => listed,
                ArchRule::NotIn => !listed,
                ArchRule::Any => true,
                ArchRule::None => false,
            }
        })
    });
    candidates
}

/// Reads the architectures an earlier call recorded on the observed `Object`.
/// Unknown names are skipped: the record is advisory.
fn recorded_widening(observed: Option<&Value>) -> BTreeSet<Arch> {
    let record = observed
        .and_then(|object| object.pointer("/metadata/annotations"))
        .and_then(|annotations| annotations.get(WIDENED_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or_default();

    record
        .split(',')
        .filter_map(|name| name.trim().parse::<Arch>().ok())
        .collect()
}

/// Builds the provider-kubernetes `Object` that sends the patched list.
fn patch_object(
    request: &NodePoolRequest<'_>,
    requirements: Vec<Value>,
    widened: &BTreeSet<Arch>,
) -> Value {
    let mut metadata = Map::new();
    if !widened.is_empty() {
        metadata.insert(
            "annotations".to_string(),
            json!({WIDENED_ANNOTATION: join(widened.iter().map(|arch| arch.as_str()))}),
        );
    }

    let mut spec = Map::new();

    // Observe and Update only: the Object must never create the pool from
    // this partial manifest, nor delete the shared pool with the fleet.
    spec.insert(
        "managementPolicies".to_string(),
        json!(["Observe", "Update"]),
    );
    if request.scope == Scope::Cluster {
        // The cluster-scoped kind still honours the older deletionPolicy
        // when management policies are turned off in Crossplane. Orphan
        // keeps the pool in that case too.
        spec.insert("deletionPolicy".to_string(), json!("Orphan"));
    }

    // SuccessfulCreate marks the Object ready only once the live pool
    // matches the manifest, so readiness follows the patch, not the pool's
    // own health.
    spec.insert(
        "readiness".to_string(),
        json!({"policy": "SuccessfulCreate"}),
    );
    spec.insert(
        "forProvider".to_string(),
        json!({
            "manifest": {
                "apiVersion": NODE_POOL_API_VERSION,
                "kind": NODE_POOL_KIND,
                "metadata": {"name": request.pool_name},
                "spec": {"template": {"spec": {"requirements": requirements}}},
            }
        }),
    );

    // NOTE: the namespaced kind needs the kind of its provider config, but
    // the fleet input names only the provider config. The patch therefore
    // always points at a ClusterProviderConfig, which every namespace may use.
    let provider_config_ref = match request.scope {
        Scope::Cluster => json!({"name": request.provider_config}),
        Scope::Namespaced => {
            json!({"kind": "ClusterProviderConfig", "name": request.provider_config})
        }
    };
    spec.insert("providerConfigRef".to_string(), provider_config_ref);

    // NOTE: provider-kubernetes enforces this list until the next function
    // call reads the live pool again, so an edit someone makes to the
    // requirements in between may be reverted once before it is picked up.
    let mut object = Map::new();
    object.insert(
        "apiVersion".to_string(),
        json!(request.scope.object_api_version()),
    );
    object.insert("kind".to_string(), json!("Object"));
    if !metadata.is_empty() {
        object.insert("metadata".to_string(), Value::Object(metadata));
    }
    object.insert("spec".to_string(), Value::Object(spec));
    Value::Object(object)
}

/// Reports whether an observed provider-kubernetes `Object` has both its
/// `Ready` and `Synced` conditions True.
fn is_ready(observed: &Value) -> bool {
    let conditions = observed
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_true = |wanted: &str| {
        conditions.iter().any(|condition| {
            condition.get("type").and_then(Value::as_str) == Some(wanted)
                && condition.get("status").and_then(Value::as_str) == Some("True")
        })
    };

    is_true("Ready") && is_true("Synced")
}

fn excluded_plan(
    request: &NodePoolRequest<'_>,
    requirement: Requirement,
    entries: &[Entry<'_>],
    index: usize,
    entry: &Entry<'_>,
) -> NodePoolPlan {
    let pool = request.pool_name;
    let allowed = allowed_architectures(&live_rules(entries));

    NodePoolPlan {
        requirement,
        object: None,
        ready: None,
        status: json!({
            "name": pool,
            "found": true,
            "architectures": allowed.iter().collect::<Vec<_>>(),
            "widened": [],
        }),
        conditions: vec![ready_condition(
            Some(false),
            "NodePoolExcludesArchitectures",
            format!(
                "{NODE_POOL_KIND} {pool:?} {REQUIREMENTS_PATH}[{index}] requires {ARCH_LABEL} {}, so the pool \
                 can launch no node for {} and the function does not rewrite it: change that requirement, or \
                 set spec.nodePool.name to another pool",
                entry.operator,
                join(request.architectures.iter().map(|arch| arch.as_str())),
            ),
        )],
        events: Vec::new(),
    }
}

pub(super) fn ready_condition(
    status: Option<bool>,
    reason: &str,
    message: String,
) -> FleetCondition {
    FleetCondition {
        condition_type: READY_CONDITION.to_string(),
        status,
        reason: reason.to_string(),
        message,
    }
}

/// Builds the `NodePoolReady` condition of a found pool: True once the live
/// pool allows every fleet architecture, False while the patch is pending.
fn allows_condition(
    pool: &str,
    key: &str,
    adding: &BTreeSet<Arch>,
    fleet: &[Arch],
) -> FleetCondition {
    if adding.is_empty() {
        return allows_every_condition(pool, fleet);
    }

    ready_condition(
        Some(false),
        "UpdatingNodePool",
        format!(
            "{NODE_POOL_KIND} {pool:?} does not allow {} yet: the composed Object {key:?} adds {} to \
             {REQUIREMENTS_PATH}",
            join(adding.iter().map(|arch| arch.as_str())),
            if adding.len() == 1 { "it" } else { "them" },
        ),
    )
}

/// Builds the `NodePoolReady` condition of a live pool that allows every
/// architecture of the fleet.
pub(super) fn allows_every_condition(pool: &str, fleet: &[Arch]) -> FleetCondition {
    ready_condition(
        Some(true),
        "NodePoolAllowsArchitectures",
        format!(
            "{NODE_POOL_KIND} {pool:?} allows every architecture of the fleet: {}",
            join(fleet.iter().map(|arch| arch.as_str()))
        ),
    )
}

/// Builds the Warning event for a call whose patch adds architectures to the
/// live pool.
fn widening_event(pool: &str, adding: &BTreeSet<Arch>) -> Option<FleetEvent> {
    if adding.is_empty() {
        return None;
    }

    let added = join(adding.iter().map(|arch| arch.as_str()));
    Some(FleetEvent {
        severity: EventSeverity::Warning,
        reason: "NodePoolWidened".to_string(),
        message: format!(
            "widening {NODE_POOL_KIND} {pool:?} to allow {added}: workloads on that pool without a \
             {ARCH_LABEL} node selector or affinity may now run on {added} nodes. Setting \
             spec.nodePool.strategy to Dedicated avoids that: the function then leaves the pool \
             alone and composes a tainted NodePool per extra architecture for the runner jobs"
        ),
    })
}

fn widened_condition(pool: &str, widened: &BTreeSet<Arch>, fleet: &[Arch]) -> FleetCondition {
    if widened.is_empty() {
        return FleetCondition {
            condition_type: WIDENED_CONDITION.to_string(),
            status: Some(false),
            reason: "NoArchitecturesAdded".to_string(),
            message: format!(
                "the fleet added no architecture to {NODE_POOL_KIND} {pool:?}: it already allowed {}",
                join(fleet.iter().map(|arch| arch.as_str()))
            ),
        };
    }

    let added = join(widened.iter().map(|arch| arch.as_str()));
    FleetCondition {
        condition_type: WIDENED_CONDITION.to_string(),
        status: Some(true),
        reason: "ArchitecturesAdded".to_string(),
        message: format!(
            "the fleet added {added} to {NODE_POOL_KIND} {pool:?}: workloads on that pool without a {ARCH_LABEL} \
             node selector or affinity may now run on {added} nodes. To keep them off, set \
             spec.nodePool.strategy to Dedicated: the function then composes a tainted NodePool per \
             extra architecture for the runner jobs instead"
        ),
    }
}

pub(super) fn join<'v>(names: impl Iterator<Item = &'v str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD64_ONLY: &[Arch] = &[Arch::Amd64];
    const BOTH: &[Arch] = &[Arch::Amd64, Arch::Arm64];

    fn requirement() -> Requirement {
        Requirement {
            key: "nodepool".to_string(),
            api_version: "karpenter.sh/v1".to_string(),
            kind: "NodePool".to_string(),
            name: "spot-pool".to_string(),
            namespace: None,
        }
    }

    /// Builds a live pool named `spot-pool` with the given requirements list.
    fn live_pool(requirements: Value) -> Value {
        json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "spot-pool", "resourceVersion": "4711"},
            "spec": {
                "template": {
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": requirements,
                    }
                },
                "limits": {"cpu": "1000"},
            },
        })
    }

    // The other entries of the sandbox pool, which every patch keeps.
    fn capacity_type() -> Value {
        json!({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]})
    }

    fn instance_family() -> Value {
        json!({
            "key": "karpenter.k8s.aws/instance-family",
            "operator": "In",
            "values": ["m6g", "m6i", "m7g", "m7i"],
            "minValues": 2,
        })
    }

    fn linux() -> Value {
        json!({"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]})
    }

    /// Builds the cluster-scoped Object carrying `requirements`, with the
    /// widening record `widened` when it is not empty.
    fn cluster_object(requirements: Value, widened: &str) -> Value {
        let mut object = json!({
            "apiVersion": "kubernetes.crossplane.io/v1alpha2",
            "kind": "Object",
            "metadata": {"annotations": {WIDENED_ANNOTATION: widened}},
            "spec": {
                "managementPolicies": ["Observe", "Update"],
                "deletionPolicy": "Orphan",
                "readiness": {"policy": "SuccessfulCreate"},
                "forProvider": {
                    "manifest": {
                        "apiVersion": "karpenter.sh/v1",
                        "kind": "NodePool",
                        "metadata": {"name": "spot-pool"},
                        "spec": {"template": {"spec": {"requirements": requirements}}},
                    }
                },
                "providerConfigRef": {"name": "default"},
            },
        });
        if widened.is_empty() {
            object.as_object_mut().unwrap().remove("metadata");
        }
        object
    }

    fn ready_true() -> FleetCondition {
        FleetCondition {
            condition_type: "NodePoolReady".to_string(),
            status: Some(true),
            reason: "NodePoolAllowsArchitectures".to_string(),
            message: "NodePool \"spot-pool\" allows every architecture of the fleet: amd64, arm64"
                .to_string(),
        }
    }

    fn updating_arm64() -> FleetCondition {
        FleetCondition {
            condition_type: "NodePoolReady".to_string(),
            status: Some(false),
            reason: "UpdatingNodePool".to_string(),
            message: "NodePool \"spot-pool\" does not allow arm64 yet: the composed Object \
                      \"nodepool-spot-pool\" adds it to spec.template.spec.requirements"
                .to_string(),
        }
    }

    fn widened_arm64() -> FleetCondition {
        FleetCondition {
            condition_type: "NodePoolWidened".to_string(),
            status: Some(true),
            reason: "ArchitecturesAdded".to_string(),
            message: "the fleet added arm64 to NodePool \"spot-pool\": workloads on that pool \
                      without a kubernetes.io/arch node selector or affinity may now run on arm64 \
                      nodes. To keep them off, set spec.nodePool.strategy to Dedicated: the \
                      function then composes a tainted NodePool per extra architecture for the \
                      runner jobs instead"
                .to_string(),
        }
    }

    fn not_widened(fleet: &str) -> FleetCondition {
        FleetCondition {
            condition_type: "NodePoolWidened".to_string(),
            status: Some(false),
            reason: "NoArchitecturesAdded".to_string(),
            message: format!(
                "the fleet added no architecture to NodePool \"spot-pool\": it already allowed {fleet}"
            ),
        }
    }

    fn widening_arm64_event() -> FleetEvent {
        FleetEvent {
            severity: EventSeverity::Warning,
            reason: "NodePoolWidened".to_string(),
            message: "widening NodePool \"spot-pool\" to allow arm64: workloads on that pool \
                      without a kubernetes.io/arch node selector or affinity may now run on arm64 \
                      nodes. Setting spec.nodePool.strategy to Dedicated avoids that: the function \
                      then leaves the pool alone and composes a tainted NodePool per extra \
                      architecture for the runner jobs"
                .to_string(),
        }
    }

    /// Builds the plan for a found pool that the patch widens by arm64.
    fn widening_plan(requirements: Value, architectures: Value) -> NodePoolPlan {
        NodePoolPlan {
            requirement: requirement(),
            object: Some((
                "nodepool-spot-pool".to_string(),
                cluster_object(requirements, "arm64"),
            )),
            ready: None,
            status: json!({"name": "spot-pool", "found": true, "architectures": architectures, "widened": ["arm64"]}),
            conditions: vec![updating_arm64(), widened_arm64()],
            events: vec![widening_arm64_event()],
        }
    }

    /// Builds the plan for a found pool that already allows the fleet.
    fn unchanged_plan(requirements: Value, architectures: Value, fleet: &str) -> NodePoolPlan {
        let mut ready = ready_true();
        ready.message =
            format!("NodePool \"spot-pool\" allows every architecture of the fleet: {fleet}");
        NodePoolPlan {
            requirement: requirement(),
            object: Some((
                "nodepool-spot-pool".to_string(),
                cluster_object(requirements, ""),
            )),
            ready: None,
            status: json!({"name": "spot-pool", "found": true, "architectures": architectures, "widened": []}),
            conditions: vec![ready, not_widened(fleet)],
            events: Vec::new(),
        }
    }

    fn excluded_plan(index: usize, operator: &str) -> NodePoolPlan {
        NodePoolPlan {
            requirement: requirement(),
            object: None,
            ready: None,
            status: json!({"name": "spot-pool", "found": true, "architectures": [], "widened": []}),
            conditions: vec![FleetCondition {
                condition_type: "NodePoolReady".to_string(),
                status: Some(false),
                reason: "NodePoolExcludesArchitectures".to_string(),
                message: format!(
                    "NodePool \"spot-pool\" spec.template.spec.requirements[{index}] requires \
                     kubernetes.io/arch {operator}, so the pool can launch no node for amd64, arm64 \
                     and the function does not rewrite it: change that requirement, or set \
                     spec.nodePool.name to another pool"
                ),
            }],
            events: Vec::new(),
        }
    }

    fn observed_object(annotation: Option<&str>, ready: &str, synced: &str) -> Value {
        let mut object = cluster_object(json!([]), annotation.unwrap_or_default());
        object["metadata"]["name"] = json!("sandbox-x7k2p");
        object["status"] = json!({
            "conditions": [
                {"type": "Ready", "status": ready, "reason": "Available"},
                {"type": "Synced", "status": synced, "reason": "ReconcileSuccess"},
            ]
        });
        object
    }

    struct Case {
        reason: &'static str,
        architectures: &'static [Arch],
        scope: Scope,
        required: Option<Vec<Value>>,
        observed: Option<Value>,
        want: NodePoolPlan,
    }

    fn case(reason: &'static str, required: Option<Vec<Value>>, want: NodePoolPlan) -> Case {
        Case {
            reason,
            architectures: BOTH,
            scope: Scope::Cluster,
            required,
            observed: None,
            want,
        }
    }

    #[test]
    fn plan_node_pool_cases() {
        let cases = vec![
            case(
                "Crossplane has not fetched the pool yet: ask for it, compose nothing",
                None,
                NodePoolPlan {
                    requirement: requirement(),
                    object: None,
                    ready: None,
                    status: json!({"name": "spot-pool"}),
                    conditions: vec![FleetCondition {
                        condition_type: "NodePoolReady".to_string(),
                        status: None,
                        reason: "WaitingForNodePool".to_string(),
                        message: "waiting for Crossplane to fetch NodePool \"spot-pool\" (karpenter.sh/v1)"
                            .to_string(),
                    }],
                    events: Vec::new(),
                },
            ),
            case(
                "the pool does not exist: an Object would create it from the partial manifest, so \
                 compose none and say that RBAC may hide it",
                Some(Vec::new()),
                NodePoolPlan {
                    requirement: requirement(),
                    object: None,
                    ready: None,
                    status: json!({"name": "spot-pool", "found": false}),
                    conditions: vec![FleetCondition {
                        condition_type: "NodePoolReady".to_string(),
                        status: Some(false),
                        reason: "NodePoolNotFound".to_string(),
                        message: "NodePool \"spot-pool\" (karpenter.sh/v1) was not found: create it or \
                                  set spec.nodePool.name to an existing pool. If it exists, grant \
                                  Crossplane RBAC to get, list and watch nodepools.karpenter.sh"
                            .to_string(),
                    }],
                    events: Vec::new(),
                },
            ),
            case(
                "an answer holding only another pool is not the pool",
                Some(vec![json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "system-pool"}})]),
                NodePoolPlan {
                    requirement: requirement(),
                    object: None,
                    ready: None,
                    status: json!({"name": "spot-pool", "found": false}),
                    conditions: vec![FleetCondition {
                        condition_type: "NodePoolReady".to_string(),
                        status: Some(false),
                        reason: "NodePoolNotFound".to_string(),
                        message: "NodePool \"spot-pool\" (karpenter.sh/v1) was not found: create it or \
                                  set spec.nodePool.name to an existing pool. If it exists, grant \
                                  Crossplane RBAC to get, list and watch nodepools.karpenter.sh"
                            .to_string(),
                    }],
                    events: Vec::new(),
                },
            ),
            case(
                "In [amd64] gains arm64; every other entry, minValues included, is sent unchanged \
                 and in order, because the list is atomic",
                Some(vec![live_pool(json!([
                    capacity_type(),
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    instance_family(),
                    linux(),
                ]))]),
                widening_plan(
                    json!([
                        capacity_type(),
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                        instance_family(),
                        linux(),
                    ]),
                    json!(["amd64", "arm64"]),
                ),
            ),
            case(
                "an In entry is rewritten in place: its keys keep their order and minValues stays",
                Some(vec![live_pool(json!([
                    {"operator": "In", "minValues": 1, "values": ["amd64"], "key": "kubernetes.io/arch"},
                ]))]),
                widening_plan(
                    json!([
                        {"operator": "In", "minValues": 1, "values": ["amd64", "arm64"], "key": "kubernetes.io/arch"},
                    ]),
                    json!(["amd64", "arm64"]),
                ),
            ),
            case(
                "a widened In entry is sorted and loses duplicates, foreign values included",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["s390x", "amd64", "amd64"]},
                ]))]),
                widening_plan(
                    json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64", "s390x"]},
                    ]),
                    json!(["amd64", "arm64", "s390x"]),
                ),
            ),
            case(
                "an In entry that already allows the fleet is sent back exactly, unsorted, so the \
                 patch changes nothing",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64", "amd64"]},
                    linux(),
                ]))]),
                unchanged_plan(
                    json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64", "amd64"]},
                        linux(),
                    ]),
                    json!(["amd64", "arm64"]),
                    "amd64, arm64",
                ),
            ),
            case(
                "NotIn [arm64] loses arm64 and, empty, is dropped",
                Some(vec![live_pool(json!([
                    capacity_type(),
                    {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]},
                    linux(),
                ]))]),
                widening_plan(json!([capacity_type(), linux()]), json!(["amd64", "arm64"])),
            ),
            case(
                "NotIn keeps the values that are not the fleet's",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["s390x", "arm64", "ppc64le"]},
                ]))]),
                widening_plan(
                    json!([
                        {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["s390x", "ppc64le"]},
                    ]),
                    json!(["amd64", "arm64"]),
                ),
            ),
            case(
                "NotIn that names none of the fleet's architectures is kept",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["s390x"]},
                ]))]),
                unchanged_plan(
                    json!([{"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["s390x"]}]),
                    json!(["amd64", "arm64"]),
                    "amd64, arm64",
                ),
            ),
            case(
                "Exists allows every architecture: nothing to change",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "Exists"},
                    capacity_type(),
                ]))]),
                unchanged_plan(
                    json!([{"key": "kubernetes.io/arch", "operator": "Exists"}, capacity_type()]),
                    json!(["amd64", "arm64"]),
                    "amd64, arm64",
                ),
            ),
            case(
                "no arch entry allows every architecture: nothing to change, no entry added",
                Some(vec![live_pool(json!([capacity_type(), instance_family()]))]),
                unchanged_plan(
                    json!([capacity_type(), instance_family()]),
                    json!(["amd64", "arm64"]),
                    "amd64, arm64",
                ),
            ),
            case(
                "an empty requirements list allows every architecture",
                Some(vec![live_pool(json!([]))]),
                unchanged_plan(json!([]), json!(["amd64", "arm64"]), "amd64, arm64"),
            ),
            case(
                "two arch entries: the rule applies to each, and the pool is widened by what both \
                 together kept out",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                    capacity_type(),
                    {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]},
                ]))]),
                widening_plan(
                    json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                        capacity_type(),
                    ]),
                    json!(["amd64", "arm64"]),
                ),
            ),
            case(
                "DoesNotExist on the arch label matches no node: the fleet can never run there, \
                 and rewriting the pool owner's choice is not the function's job",
                Some(vec![live_pool(json!([
                    capacity_type(),
                    {"key": "kubernetes.io/arch", "operator": "DoesNotExist"},
                ]))]),
                excluded_plan(1, "DoesNotExist"),
            ),
            case(
                "Gt on the arch label matches no node, because architectures are not integers",
                Some(vec![live_pool(json!([
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "kubernetes.io/arch", "operator": "Gt", "values": ["1"]},
                ]))]),
                excluded_plan(1, "Gt"),
            ),
            Case {
                reason: "a fleet of amd64 alone on an amd64 pool changes nothing",
                architectures: AMD64_ONLY,
                ..case(
                    "",
                    Some(vec![live_pool(json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    ]))]),
                    unchanged_plan(
                        json!([{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]),
                        json!(["amd64"]),
                        "amd64",
                    ),
                )
            },
            Case {
                reason: "once the patch is applied the live pool allows arm64, and the record on \
                         the observed Object keeps the widening warning",
                observed: Some(observed_object(Some("arm64"), "True", "True")),
                ..case(
                    "",
                    Some(vec![live_pool(json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                    ]))]),
                    NodePoolPlan {
                        requirement: requirement(),
                        object: Some((
                            "nodepool-spot-pool".to_string(),
                            cluster_object(
                                json!([{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]),
                                "arm64",
                            ),
                        )),
                        ready: Some(true),
                        status: json!({"name": "spot-pool", "found": true, "architectures": ["amd64", "arm64"], "widened": ["arm64"]}),
                        conditions: vec![ready_true(), widened_arm64()],
                        events: Vec::new(),
                    },
                )
            },
            Case {
                reason: "an observed Object that is Ready but not Synced has not applied the patch",
                observed: Some(observed_object(None, "True", "False")),
                ..case(
                    "",
                    Some(vec![live_pool(json!([linux()]))]),
                    NodePoolPlan {
                        ready: Some(false),
                        ..unchanged_plan(json!([linux()]), json!(["amd64", "arm64"]), "amd64, arm64")
                    },
                )
            },
            Case {
                reason: "a recorded architecture keeps the warning alive while the fleet spans it",
                observed: Some(observed_object(Some("s390x, arm64"), "True", "True")),
                ..case(
                    "",
                    Some(vec![live_pool(json!([linux()]))]),
                    NodePoolPlan {
                        object: Some((
                            "nodepool-spot-pool".to_string(),
                            cluster_object(json!([linux()]), "arm64"),
                        )),
                        ready: Some(true),
                        status: json!({"name": "spot-pool", "found": true, "architectures": ["amd64", "arm64"], "widened": ["arm64"]}),
                        conditions: vec![ready_true(), widened_arm64()],
                        ..unchanged_plan(json!([linux()]), json!([]), "amd64, arm64")
                    },
                )
            },
            Case {
                reason: "a record naming an unknown architecture, or one the patched pool no longer \
                         allows, is dropped",
                architectures: AMD64_ONLY,
                observed: Some(observed_object(Some("s390x, arm64"), "True", "True")),
                ..case(
                    "",
                    Some(vec![live_pool(json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    ]))]),
                    NodePoolPlan {
                        ready: Some(true),
                        ..unchanged_plan(
                            json!([{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]),
                            json!(["amd64"]),
                            "amd64",
                        )
                    },
                )
            },
            Case {
                reason: "a namespaced XR uses the .m. Object, whose providerConfigRef needs a kind \
                         and which has no deletionPolicy",
                scope: Scope::Namespaced,
                ..case(
                    "",
                    Some(vec![live_pool(json!([
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    ]))]),
                    NodePoolPlan {
                        object: Some((
                            "nodepool-spot-pool".to_string(),
                            json!({
                                "apiVersion": "kubernetes.m.crossplane.io/v1alpha1",
                                "kind": "Object",
                                "metadata": {"annotations": {"gitlabrunnerfleet.fn.crossplane.io/widened-architectures": "arm64"}},
                                "spec": {
                                    "managementPolicies": ["Observe", "Update"],
                                    "readiness": {"policy": "SuccessfulCreate"},
                                    "forProvider": {
                                        "manifest": {
                                            "apiVersion": "karpenter.sh/v1",
                                            "kind": "NodePool",
                                            "metadata": {"name": "spot-pool"},
                                            "spec": {"template": {"spec": {"requirements": [
                                                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                                            ]}}},
                                        }
                                    },
                                    "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
                                },
                            }),
                        )),
                        ..widening_plan(json!([]), json!(["amd64", "arm64"]))
                    },
                )
            },
        ];

        for case in cases {
            let required = case.required.as_deref();
            let request = NodePoolRequest {
                pool_name: "spot-pool",
                architectures: case.architectures,
                scope: case.scope,
                provider_config: "default",
                required,
                observed_object: case.observed.as_ref(),
            };

            let got = plan_node_pool(&request);
            assert_eq!(got, Ok(case.want), "{}", case.reason);
        }
    }

    #[test]
    fn cluster_object_spelt_out() {
        // The helper above builds most expected Objects; this case spells one
        // out in full so the helper cannot hide a wrong field.
        let live = live_pool(json!([
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        ]));
        let request = NodePoolRequest {
            pool_name: "spot-pool",
            architectures: BOTH,
            scope: Scope::Cluster,
            provider_config: "kubernetes-provider",
            required: Some(std::slice::from_ref(&live)),
            observed_object: None,
        };

        let (key, object) = plan_node_pool(&request).unwrap().object.unwrap();

        assert_eq!(key, "nodepool-spot-pool");
        let want: Value = serde_json::from_str(
            r#"{
  "apiVersion": "kubernetes.crossplane.io/v1alpha2",
  "kind": "Object",
  "metadata": {
    "annotations": {
      "gitlabrunnerfleet.fn.crossplane.io/widened-architectures": "arm64"
    }
  },
  "spec": {
    "managementPolicies": [
      "Observe",
      "Update"
    ],
    "deletionPolicy": "Orphan",
    "readiness": {
      "policy": "SuccessfulCreate"
    },
    "forProvider": {
      "manifest": {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {
          "name": "spot-pool"
        },
        "spec": {
          "template": {
            "spec": {
              "requirements": [
                {
                  "key": "kubernetes.io/arch",
                  "operator": "In",
                  "values": [
                    "amd64",
                    "arm64"
                  ]
                }
              ]
            }
          }
        }
      }
    },
    "providerConfigRef": {
      "name": "kubernetes-provider"
    }
  }
}"#,
        )
        .unwrap();
        assert_eq!(object, want);
    }

    #[test]
    fn malformed_pool_errors() {
        let cases = [
            (
                "requirements must be a list",
                live_pool(json!({"key": "kubernetes.io/arch"})),
                "NodePool \"spot-pool\" spec.template.spec.requirements: expected a list, found an \
                 object: fix the NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "requirements must be present, since the CRD requires them",
                json!({"metadata": {"name": "spot-pool"}, "spec": {"template": {"spec": {}}}}),
                "NodePool \"spot-pool\" spec.template.spec.requirements: missing: fix the NodePool, \
                 or set spec.nodePool.name to another pool",
            ),
            (
                "each entry must be an object",
                live_pool(json!([capacity_type(), "kubernetes.io/arch"])),
                "NodePool \"spot-pool\" spec.template.spec.requirements[1]: expected an object, found \
                 \"kubernetes.io/arch\": fix the NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "each entry needs a key",
                live_pool(
                    json!([capacity_type(), linux(), {"operator": "In", "values": ["amd64"]}]),
                ),
                "NodePool \"spot-pool\" spec.template.spec.requirements[2].key: missing: fix the \
                 NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "an operator must be a string",
                live_pool(json!([{"key": "kubernetes.io/os", "operator": 1}])),
                "NodePool \"spot-pool\" spec.template.spec.requirements[0].operator: expected a \
                 string, found 1: fix the NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "values must be a list, even on entries the patch does not rewrite",
                live_pool(
                    json!([capacity_type(), linux(), {"key": "kubernetes.io/os", "operator": "In", "values": "linux"}]),
                ),
                "NodePool \"spot-pool\" spec.template.spec.requirements[2].values: expected a list of \
                 strings, found \"linux\": fix the NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "every value must be a string",
                live_pool(
                    json!([capacity_type(), linux(), {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", 64]}]),
                ),
                "NodePool \"spot-pool\" spec.template.spec.requirements[2].values[1]: expected a \
                 string, found 64: fix the NodePool, or set spec.nodePool.name to another pool",
            ),
            (
                "an operator Karpenter does not know cannot be rewritten safely",
                live_pool(
                    json!([{"key": "kubernetes.io/arch", "operator": "in", "values": ["amd64"]}]),
                ),
                "NodePool \"spot-pool\" spec.template.spec.requirements[0].operator: unsupported \
                 operator \"in\" for kubernetes.io/arch: use In, NotIn, Exists or DoesNotExist: fix \
                 the NodePool, or set spec.nodePool.name to another pool",
            ),
        ];

        for (reason, live, want) in cases {
            let request = NodePoolRequest {
                pool_name: "spot-pool",
                architectures: BOTH,
                scope: Scope::Cluster,
                provider_config: "default",
                required: Some(std::slice::from_ref(&live)),
                observed_object: None,
            };

            let got = plan_node_pool(&request);
            assert_eq!(got, Err(FleetError(want.to_string())), "{reason}");
        }
    }

    #[test]
    fn plan_is_deterministic() {
        let live = live_pool(json!([
            capacity_type(),
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["s390x", "amd64"]},
            instance_family(),
            {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64", "ppc64le"]},
        ]));
        let request = NodePoolRequest {
            pool_name: "spot-pool",
            architectures: BOTH,
            scope: Scope::Namespaced,
            provider_config: "default",
            required: Some(std::slice::from_ref(&live)),
            observed_object: None,
        };

        let first = plan_node_pool(&request).unwrap();
        let second = plan_node_pool(&request).unwrap();

        let (_, first_object) = first.object.as_ref().unwrap();
        let (_, second_object) = second.object.as_ref().unwrap();
        assert_eq!(
            serde_json::to_string(first_object).unwrap(),
            serde_json::to_string(second_object).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&first.status).unwrap(),
            serde_json::to_string(&second.status).unwrap()
        );
        assert_eq!(first, second);
    }
}
