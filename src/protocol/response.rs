//! Builders for a `RunFunctionResponse`: the response skeleton, results,
//! conditions and requirements.

use std::time::Duration;

use crate::proto::v1::{
    Condition, Requirements, ResourceSelector, ResponseMeta, Result as FunctionResult,
    RunFunctionRequest, RunFunctionResponse, Severity, Status, Target, resource_selector::Match,
};

/// Starts the response to `request`: it echoes the request's tag, sets the
/// TTL for which Crossplane may reuse it, and carries over the desired state
/// and context of earlier pipeline steps unchanged.
pub fn response_to(request: &RunFunctionRequest, ttl: Duration) -> RunFunctionResponse {
    RunFunctionResponse {
        meta: Some(ResponseMeta {
            tag: crate::protocol::request::tag(request).to_string(),
            ttl: Some(prost_types::Duration {
                seconds: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(ttl.subsec_nanos()).unwrap_or(0),
            }),
        }),
        desired: request.desired.clone(),
        context: request.context.clone(),
        ..Default::default()
    }
}

/// Builds a result with `severity` and `message`, reported on the composite
/// resource only.
pub fn result(severity: Severity, message: impl Into<String>) -> FunctionResult {
    FunctionResult {
        severity: severity as i32,
        message: message.into(),
        reason: None,
        target: None,
    }
}

/// Extra settings of a result, chained after [`result`].
pub trait ResultExt {
    /// Sets the CamelCase reason Crossplane uses for the event.
    fn with_reason(self, reason: impl Into<String>) -> Self;

    /// Reports the result on the claim too, not only on the composite.
    fn for_composite_and_claim(self) -> Self;
}

impl ResultExt for FunctionResult {
    fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    fn for_composite_and_claim(mut self) -> Self {
        self.target = Some(Target::CompositeAndClaim as i32);
        self
    }
}

/// Appends a Fatal result: Crossplane applies nothing from this call and
/// reports `message` on the composite resource.
pub fn fatal(response: &mut RunFunctionResponse, message: impl Into<String>) {
    response.results.push(result(Severity::Fatal, message));
}

/// Appends a Warning result.
pub fn warning(response: &mut RunFunctionResponse, message: impl Into<String>) {
    response.results.push(result(Severity::Warning, message));
}

/// Appends a Normal result.
pub fn normal(response: &mut RunFunctionResponse, message: impl Into<String>) {
    response.results.push(result(Severity::Normal, message));
}

/// Reports whether the response contains a Fatal result.
pub fn is_fatal(response: &RunFunctionResponse) -> bool {
    response
        .results
        .iter()
        .any(|r| r.severity == Severity::Fatal as i32)
}

/// Builds a condition for the composite resource and its claim.
///
/// `status` maps `Some(true)` to True, `Some(false)` to False and `None` to
/// Unknown.
pub fn condition(
    condition_type: impl Into<String>,
    status: Option<bool>,
    reason: impl Into<String>,
    message: Option<String>,
) -> Condition {
    let status = match status {
        Some(true) => Status::ConditionTrue,
        Some(false) => Status::ConditionFalse,
        None => Status::ConditionUnknown,
    };

    Condition {
        r#type: condition_type.into(),
        status: status as i32,
        reason: reason.into(),
        message,
        target: Some(Target::CompositeAndClaim as i32),
    }
}

/// Asks Crossplane for the resource of `kind` named `name`, under the key
/// `key`.
///
/// The selector goes into both `resources` (Crossplane 2.x) and the
/// deprecated `extra_resources` (Crossplane 1.x): each version reads the
/// field it supports and ignores the other.
pub fn require_resource_by_name(
    requirements: &mut Requirements,
    key: impl Into<String>,
    api_version: impl Into<String>,
    kind: impl Into<String>,
    name: impl Into<String>,
    namespace: Option<String>,
) {
    let key = key.into();
    let selector = ResourceSelector {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace,
        r#match: Some(Match::MatchName(name.into())),
    };

    #[allow(deprecated)]
    requirements
        .extra_resources
        .insert(key.clone(), selector.clone());
    requirements.resources.insert(key, selector);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{RequestMeta, State};

    #[test]
    fn response_echoes_tag_and_sets_ttl() {
        let request = RunFunctionRequest {
            meta: Some(RequestMeta {
                tag: "abc".into(),
                capabilities: vec![],
            }),
            desired: Some(State::default()),
            ..Default::default()
        };

        let response = response_to(&request, Duration::from_secs(60));
        let meta = response.meta.unwrap();

        assert_eq!(meta.tag, "abc");
        assert_eq!(meta.ttl.unwrap().seconds, 60);
        assert_eq!(response.desired, Some(State::default()));
    }

    #[test]
    fn requirement_fills_both_fields() {
        let mut requirements = Requirements::default();

        require_resource_by_name(
            &mut requirements,
            "nodepool",
            "karpenter.sh/v1",
            "NodePool",
            "spot-pool",
            None,
        );

        #[allow(deprecated)]
        let extra = requirements.extra_resources["nodepool"].clone();
        assert_eq!(requirements.resources["nodepool"], extra);
        assert_eq!(
            extra.r#match,
            Some(Match::MatchName("spot-pool".to_string()))
        );
    }

    #[test]
    fn fatal_is_detected() {
        let mut response = RunFunctionResponse::default();
        warning(&mut response, "w");
        assert!(!is_fatal(&response));

        fatal(&mut response, "f");
        assert!(is_fatal(&response));
    }
}
