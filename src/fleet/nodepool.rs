//! PLACEHOLDER so that the `fleet` branch compiles: the real module, which
//! widens the shared Karpenter NodePool, comes from the `nodepool` branch and
//! replaces this file whole at merge. Only the signatures here are the
//! contract; the bodies do the least that type-checks.

use serde_json::{Value, json};

use super::{Arch, FleetCondition, FleetError, FleetEvent, Requirement, Scope};

/// What the function does about the NodePool on this call.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePoolPlan {
    /// The request for the live NodePool, under key `nodepool`.
    pub requirement: Requirement,
    /// The provider-kubernetes Object that patches the NodePool, keyed
    /// `nodepool-<name>`, when the NodePool was found.
    pub object: Option<(String, Value)>,
    /// Readiness of that Object, from what is observed.
    pub ready: Option<bool>,
    /// `status.nodePool`: name, found, architectures, widened.
    pub status: Value,
    /// Conditions for states that last, such as "not found".
    pub conditions: Vec<FleetCondition>,
    /// Results for transitions, such as "widened".
    pub events: Vec<FleetEvent>,
}

/// Everything the NodePool plan reads.
#[derive(Debug, Clone, Copy)]
pub struct NodePoolRequest<'a> {
    /// Name of the NodePool.
    pub pool_name: &'a str,
    /// The fleet's architectures, sorted and unique.
    pub architectures: &'a [Arch],
    /// Scope of the XR.
    pub scope: Scope,
    /// provider-kubernetes' ProviderConfig name.
    pub provider_config: &'a str,
    /// The answer to the requirement: `None` when not answered yet, empty
    /// when the NodePool was not found.
    pub required: Option<&'a [Value]>,
    /// The observed `nodepool-<name>` Object, if any.
    pub observed_object: Option<&'a Value>,
}

/// Plans the NodePool patch. PLACEHOLDER body: asks for the NodePool and
/// patches nothing.
pub fn plan_node_pool(request: &NodePoolRequest<'_>) -> Result<NodePoolPlan, FleetError> {
    let _ = (
        request.scope,
        request.provider_config,
        request.observed_object,
    );

    Ok(NodePoolPlan {
        requirement: Requirement {
            key: "nodepool".to_string(),
            api_version: "karpenter.sh/v1".to_string(),
            kind: "NodePool".to_string(),
            name: request.pool_name.to_string(),
            namespace: None,
        },
        object: None,
        ready: None,
        status: json!({
            "name": request.pool_name,
            "found": request.required.is_some_and(|items| !items.is_empty()),
            "architectures": [],
            "widened": [],
        }),
        conditions: Vec::new(),
        events: Vec::new(),
    })
}
