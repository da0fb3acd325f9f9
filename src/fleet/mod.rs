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

/// The requirement key under which Crossplane answers with the NodePool.
pub const NODE_POOL_REQUIREMENT: &str = "nodepool";

/// Composes the fleet described by `request.composite`.
///
/// The input is read first, because a broken input breaks every fleet of the
/// composition. Per-architecture resources and status are emitted in [`Arch`]
/// order, whatever order the spec lists them in.
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
