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

    let condition_ready = release
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|condition| {
            condition.get("type").and_then(Value::as_str) == Some("Ready")
                && condition.get("status").and_then(Value::as_str) == Some("True")
        });

    let deployed = release
        .pointer("/status/atProvider/state")
        .and_then(Value::as_str)
        == Some(DEPLOYED);

    condition_ready && deployed
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
}
