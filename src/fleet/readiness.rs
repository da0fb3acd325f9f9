//! Readiness of composed resources, derived from what Crossplane observed.

use serde_json::Value;

/// The Helm release state provider-helm reports once an install or upgrade
/// has succeeded.
const DEPLOYED: &str = "deployed";

/// Reports whether an observed provider-helm Release is ready: its `Ready`
/// condition is `True` and its release state is `deployed`.
///
/// A Release that is not observed yet (`None`) is not ready. The function
/// reports it as not ready rather than leaving readiness to Crossplane, so the
/// XR never reads Ready before every runner is deployed.
pub fn release_ready(observed: Option<&Value>) -> bool {
    let Some(release) = observed else {
        return false;
    };

    let deployed = release
        .pointer("/status/atProvider/state")
        .and_then(Value::as_str)
        == Some(DEPLOYED);

    condition_ready(Some(release)) && deployed
}

/// Reports whether an observed resource has a `Ready` condition that is
/// `True`. provider-gitlab `Runner`s and `Variable`s, provider-kubernetes
/// `Object`s and Karpenter `NodePool`s all report readiness this way.
///
/// A resource not observed yet (`None`) is not ready.
pub fn condition_ready(observed: Option<&Value>) -> bool {
    observed
        .and_then(|resource| resource.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|condition| {
            condition.get("type").and_then(Value::as_str) == Some("Ready")
                && condition.get("status").and_then(Value::as_str) == Some("True")
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn release_ready_cases() {
        struct Case {
            reason: &'static str,
            observed: Option<Value>,
            ready: bool,
        }

        let cases = [
            Case {
                reason: "a Release not observed yet is not ready",
                observed: None,
                ready: false,
            },
            Case {
                reason: "a Release with no status yet is not ready",
                observed: Some(json!({"kind": "Release"})),
                ready: false,
            },
            Case {
                reason: "Ready True and deployed is ready",
                observed: Some(json!({"status": {
                    "conditions": [
                        {"type": "Synced", "status": "True"},
                        {"type": "Ready", "status": "True"},
                    ],
                    "atProvider": {"state": "deployed"},
                }})),
                ready: true,
            },
            Case {
                reason: "Ready True while the release is still pending is not ready",
                observed: Some(json!({"status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "atProvider": {"state": "pending-upgrade"},
                }})),
                ready: false,
            },
            Case {
                reason: "deployed but Ready False (for example, being deleted) is not ready",
                observed: Some(json!({"status": {
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "atProvider": {"state": "deployed"},
                }})),
                ready: false,
            },
            Case {
                reason: "a failed release is not ready",
                observed: Some(json!({"status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "atProvider": {"state": "failed"},
                }})),
                ready: false,
            },
            Case {
                reason: "only the Ready condition counts, not Synced",
                observed: Some(json!({"status": {
                    "conditions": [{"type": "Synced", "status": "True"}],
                    "atProvider": {"state": "deployed"},
                }})),
                ready: false,
            },
            Case {
                reason: "malformed conditions are not ready and do not panic",
                observed: Some(json!({"status": {
                    "conditions": {"type": "Ready"},
                    "atProvider": "deployed",
                }})),
                ready: false,
            },
        ];

        for case in cases {
            assert_eq!(
                release_ready(case.observed.as_ref()),
                case.ready,
                "{}",
                case.reason
            );
        }
    }

    #[test]
    fn condition_ready_cases() {
        let cases = [
            ("a resource not observed yet is not ready", None, false),
            (
                "a resource with no status yet is not ready",
                Some(json!({"kind": "Runner"})),
                false,
            ),
            (
                "Ready True is ready, whatever else the status holds",
                Some(json!({"status": {
                    "conditions": [
                        {"type": "Synced", "status": "False"},
                        {"type": "Ready", "status": "True"},
                    ],
                }})),
                true,
            ),
            (
                "Ready False is not ready",
                Some(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
                false,
            ),
            (
                "Ready Unknown is not ready",
                Some(json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})),
                false,
            ),
            (
                "only the Ready condition counts",
                Some(json!({"status": {"conditions": [{"type": "Synced", "status": "True"}]}})),
                false,
            ),
            (
                "malformed conditions are not ready and do not panic",
                Some(json!({"status": {"conditions": "Ready"}})),
                false,
            ),
        ];

        for (reason, observed, ready) in cases {
            assert_eq!(condition_ready(observed.as_ref()), ready, "{reason}");
        }
    }
}
