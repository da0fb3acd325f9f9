//! The function itself: turns a `RunFunctionRequest` into the fleet domain's
//! terms, composes, and writes the result back as a `RunFunctionResponse`.
//! Both the gRPC server and `render` call [`run_function`].

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use serde_json::{Map, Value};

use crate::fleet::{self, Composition, EventSeverity, FleetRequest};
use crate::proto::v1::{
    Ready, Requirements, Resource, RunFunctionRequest, RunFunctionResponse, Severity, State,
};
use crate::protocol::request::{input, observed_composite, observed_resource_states, tag};
use crate::protocol::response::{
    ResultExt, condition, fatal, require_resource_by_name, response_to, result,
};
use crate::protocol::structs::{json_to_struct, map_to_struct, struct_to_map};

/// How long Crossplane may reuse a response when the input sets no TTL, or
/// when the fleet cannot compose.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Largest response, in encoded bytes, the function returns. grpc-go
/// clients, Crossplane among them, reject a larger message unless
/// configured otherwise.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Runs the function on one request. Never fails: input that cannot compose
/// becomes a Fatal result in the response, and so does a response over
/// [`MAX_RESPONSE_BYTES`].
pub fn run_function(request: &RunFunctionRequest) -> RunFunctionResponse {
    let composite = observed_composite(request);
    let xr_kind = composite
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let xr_name = composite
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let span = tracing::info_span!(
        "run_function",
        tag = tag(request),
        xr.kind = xr_kind,
        xr.name = xr_name
    );
    let _entered = span.enter();

    let fleet_request = FleetRequest {
        composite,
        observed: observed_resource_states(request),
        required: answered_requirements(request),
        input: input(request),
    };

    let composed = fleet::compose(&fleet_request);
    let ttl = composed
        .as_ref()
        .ok()
        .and_then(|composition| composition.ttl)
        .unwrap_or(DEFAULT_TTL);
    let mut response = response_to(request, ttl);

    match composed {
        Ok(composition) => {
            apply_composition(&mut response, composition);
            tracing::info!(resources = desired_count(&response), "composed fleet");
        }
        Err(error) => {
            tracing::warn!(error = %error, "cannot compose fleet");
            fatal(&mut response, error.to_string());
        }
    }

    let size = response.encoded_len();
    if size > MAX_RESPONSE_BYTES {
        return too_large(request, response, size);
    }
    response
}

/// Replaces a response over [`MAX_RESPONSE_BYTES`] with a Fatal result that
/// states where the bytes come from. The fleet's own resources are bounded
/// (see [`fleet::compose`]), so the bulk is usually the desired state that
/// earlier pipeline steps passed along.
fn too_large(
    request: &RunFunctionRequest,
    response: RunFunctionResponse,
    size: usize,
) -> RunFunctionResponse {
    let carried = request.desired.as_ref().map_or(0, Message::encoded_len);
    let message = format!(
        "the response would be {size} bytes, more than the {MAX_RESPONSE_BYTES} bytes \
         Crossplane accepts, and {carried} bytes of it are the desired state of earlier pipeline \
         steps: shrink spec.values or the resources that earlier steps compose"
    );
    tracing::warn!(size, carried, "response too large");

    let mut small = RunFunctionResponse {
        meta: response.meta,
        ..Default::default()
    };
    fatal(&mut small, message);
    small
}

/// Collects every requirement Crossplane has answered, from either the
/// current or the deprecated field.
fn answered_requirements(request: &RunFunctionRequest) -> BTreeMap<String, Vec<Value>> {
    #[allow(deprecated)]
    let keys = request
        .required_resources
        .keys()
        .chain(request.extra_resources.keys());

    keys.filter_map(|key| {
        crate::protocol::request::required_resources(request, key).map(|items| (key.clone(), items))
    })
    .collect()
}

/// Writes a composition into the response, changing only what the fleet
/// owns: its composed resources, its status fields, its conditions, results
/// and requirements. Resources of earlier pipeline steps stay as they are.
fn apply_composition(response: &mut RunFunctionResponse, composition: Composition) {
    let desired = response.desired.get_or_insert_with(State::default);

    for (name, composed) in composition.resources {
        let ready = match composed.ready {
            Some(true) => Ready::True,
            Some(false) => Ready::False,
            None => Ready::Unspecified,
        };
        let Ok(body) = json_to_struct(&composed.resource) else {
            continue;
        };

        desired.resources.insert(
            name,
            Resource {
                resource: Some(body),
                connection_details: Default::default(),
                ready: ready as i32,
            },
        );
    }

    if !composition.status.is_empty() {
        set_desired_status(desired, composition.status);
    }

    for c in composition.conditions {
        response.conditions.push(condition(
            c.condition_type,
            c.status,
            c.reason,
            Some(c.message),
        ));
    }

    for event in composition.events {
        let severity = match event.severity {
            EventSeverity::Warning => Severity::Warning,
            EventSeverity::Normal => Severity::Normal,
        };
        response.results.push(
            result(severity, event.message)
                .with_reason(event.reason)
                .for_composite_and_claim(),
        );
    }

    if !composition.requirements.is_empty() {
        let requirements = response
            .requirements
            .get_or_insert_with(Requirements::default);
        for r in composition.requirements {
            require_resource_by_name(
                requirements,
                r.key,
                r.api_version,
                r.kind,
                r.name,
                r.namespace,
            );
        }
    }
}

/// Merges `status` into the desired composite's status, keeping any status
/// fields an earlier step set that the fleet does not own.
fn set_desired_status(desired: &mut State, status: Map<String, Value>) {
    let composite = desired.composite.get_or_insert_with(Resource::default);
    let mut body = composite
        .resource
        .as_ref()
        .map(struct_to_map)
        .unwrap_or_default();

    let merged = match body.remove("status") {
        Some(Value::Object(mut existing)) => {
            existing.extend(status);
            existing
        }
        _ => status,
    };
    body.insert("status".to_string(), Value::Object(merged));

    composite.resource = Some(map_to_struct(&body));
}

fn desired_count(response: &RunFunctionResponse) -> usize {
    response
        .desired
        .as_ref()
        .map_or(0, |state| state.resources.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::structs::struct_to_json;

    fn request_with_input(input: Value) -> RunFunctionRequest {
        let composite = json!({
            "apiVersion": "ci.platform.example.org/v1alpha1",
            "kind": "XGitLabRunnerFleet",
            "metadata": {"name": "sandbox"},
            "spec": {
                "gitlabUrl": "https://gitlab.example.com/",
                "tagPrefix": "sandbox",
                "architectures": ["amd64"],
                "runnerTokenSecrets": {"amd64": {"name": "runner-amd64"}},
            },
        });

        RunFunctionRequest {
            observed: Some(State {
                composite: Some(Resource {
                    resource: Some(json_to_struct(&composite).unwrap()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            input: Some(json_to_struct(&input).unwrap()),
            ..Default::default()
        }
    }

    fn ttl_seconds(response: &RunFunctionResponse) -> i64 {
        response.meta.as_ref().unwrap().ttl.unwrap().seconds
    }

    #[test]
    fn run_function_uses_input_ttl() {
        let response = run_function(&request_with_input(json!({"ttlSeconds": 30})));

        assert_eq!(ttl_seconds(&response), 30);
    }

    #[test]
    fn run_function_uses_default_ttl_on_fatal() {
        let response = run_function(&request_with_input(json!({"ttlSeconds": 0})));

        assert_eq!(ttl_seconds(&response), 60);
        assert_eq!(response.results[0].severity, Severity::Fatal as i32);
    }

    fn desired_json(response: &RunFunctionResponse) -> Value {
        let desired = response.desired.as_ref().unwrap();
        let resources: Map<String, Value> = desired
            .resources
            .iter()
            .map(|(name, r)| (name.clone(), struct_to_json(r.resource.as_ref().unwrap())))
            .collect();

        json!({
            "composite": desired
                .composite
                .as_ref()
                .and_then(|c| c.resource.as_ref())
                .map_or(Value::Null, struct_to_json),
            "resources": resources,
        })
    }

    #[test]
    fn desired_composite_carries_only_status() {
        let response = run_function(&request_with_input(json!({})));
        let composite = &desired_json(&response)["composite"];

        assert_eq!(
            composite.as_object().unwrap().keys().collect::<Vec<_>>(),
            vec!["status"],
            "the function must never set the XR's spec or metadata: {composite}"
        );
        assert_eq!(
            composite["status"]["runners"]["amd64"]["tag"],
            "sandbox-amd64"
        );
    }

    #[test]
    fn earlier_steps_survive_composition() {
        let mut request = request_with_input(json!({}));
        let earlier_resource = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        let earlier_composite = json!({"status": {"fromEarlierStep": true}});
        request.desired = Some(State {
            composite: Some(Resource {
                resource: Some(json_to_struct(&earlier_composite).unwrap()),
                ..Default::default()
            }),
            resources: [(
                "config".to_string(),
                Resource {
                    resource: Some(json_to_struct(&earlier_resource).unwrap()),
                    ..Default::default()
                },
            )]
            .into(),
        });

        let desired = desired_json(&run_function(&request));

        assert_eq!(desired["resources"]["config"], earlier_resource);
        assert!(desired["resources"]["release-amd64"].is_object());
        assert_eq!(desired["composite"]["status"]["fromEarlierStep"], true);
        assert!(desired["composite"]["status"]["runners"].is_object());
    }

    #[test]
    fn fatal_leaves_desired_state_untouched() {
        let mut request = request_with_input(json!({}));
        let earlier = State {
            composite: None,
            resources: [("config".to_string(), Resource::default())].into(),
        };
        request.desired = Some(earlier.clone());
        let mut composite = observed_composite(&request);
        composite["spec"]["architectures"] = json!(["s390x"]);
        request.observed.as_mut().unwrap().composite = Some(Resource {
            resource: Some(json_to_struct(&composite).unwrap()),
            ..Default::default()
        });

        let response = run_function(&request);

        assert_eq!(response.desired, Some(earlier));
        assert_eq!(response.results.len(), 1);
        assert_eq!(response.results[0].severity, Severity::Fatal as i32);
        assert!(
            response.results[0]
                .message
                .contains("spec.architectures[0]"),
            "{}",
            response.results[0].message
        );
    }

    #[test]
    fn response_bytes_are_deterministic() {
        let mut request = request_with_input(json!({}));
        let mut composite = observed_composite(&request);
        composite["spec"]["architectures"] = json!(["arm64", "amd64"]);
        composite["spec"]["runnerTokenSecrets"]["arm64"] = json!({"name": "runner-arm64"});
        composite["spec"]["nodePool"] = json!({"name": "spot-pool"});
        request.observed.as_mut().unwrap().composite = Some(Resource {
            resource: Some(json_to_struct(&composite).unwrap()),
            ..Default::default()
        });

        let first = prost::Message::encode_to_vec(&run_function(&request));

        // Map fields are generated as BTreeMap, so every call encodes the
        // desired resources and requirements in the same order.
        for _ in 0..10 {
            let again = prost::Message::encode_to_vec(&run_function(&request));
            assert_eq!(again, first);
        }
    }
}
