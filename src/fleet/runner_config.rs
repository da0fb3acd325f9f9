//! The chart's `runners.config`: the `config.toml` fragment of one runner's
//! Kubernetes executor, generated with the `toml` crate from serde structs so
//! that quoting is always right and key order is fixed by the structs.
//!
//! The chart passes `runners.config` through Helm's `tpl`, which would
//! evaluate user text such as an annotation value as a template. So every
//! `{{` in the TOML text is escaped before it leaves this module.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Toleration;
use serde::Serialize;

use super::validate::{DO_NOT_DISRUPT, Fleet};
use super::{Arch, FleetError};

/// The node label that pins job pods, and so the helper image the executor
/// picks, to one architecture.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";

/// The whole `config.toml` fragment: one `[[runners]]` entry.
#[derive(Debug, Serialize)]
struct RunnerConfig {
    runners: Vec<RunnerEntry>,
}

/// One `[[runners]]` entry. Registration fills in the URL, token and
/// executor from the chart's values.
#[derive(Debug, Serialize)]
struct RunnerEntry {
    kubernetes: KubernetesExecutor,
}

/// `[runners.kubernetes]`. Plain values come before tables, as TOML needs.
#[derive(Debug, Serialize)]
struct KubernetesExecutor {
    namespace: String,
    image: String,
    privileged: bool,
    /// Seconds the executor waits for a job pod to be scheduled and started.
    poll_timeout: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    helper_image: Option<String>,
    node_selector: BTreeMap<String, String>,
    pod_annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    node_tolerations: BTreeMap<String, String>,
}

/// Renders the `runners.config` value of `arch`'s release, escaped for
/// Helm's `tpl`.
pub fn runner_config(fleet: &Fleet, arch: Arch) -> Result<String, FleetError> {
    let jobs = &fleet.jobs;

    let mut node_selector = jobs.node_selector.clone();
    node_selector.insert(ARCH_LABEL.to_string(), arch.to_string());

    let mut pod_annotations = jobs.pod_annotations.clone();
    pod_annotations.insert(DO_NOT_DISRUPT.to_string(), "true".to_string());

    let config = RunnerConfig {
        runners: vec![RunnerEntry {
            kubernetes: KubernetesExecutor {
                namespace: jobs.namespace.clone(),
                image: jobs.image.clone(),
                privileged: jobs.privileged,
                poll_timeout: jobs.poll_timeout_seconds,
                helper_image: jobs.helper_images.get(&arch).cloned(),
                node_selector,
                pod_annotations,
                node_tolerations: jobs.node_tolerations.clone(),
            },
        }],
    };

    let text = toml::to_string(&config).map_err(|error| {
        FleetError(format!(
            "cannot render the runner configuration of {arch:?}: {error}"
        ))
    })?;

    Ok(escape_for_tpl(&text))
}

/// Escapes `text` for Helm's `tpl`: every `{{` becomes `{{ "{{" }}`, which
/// `tpl` renders back to `{{`. One left-to-right pass, so the `{{` that the
/// escape itself contains is never escaped again.
pub fn escape_for_tpl(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

/// Converts Kubernetes tolerations into the executor's `node_tolerations`
/// table, which maps `"key=value"` (operator Equal) or `"key"` (operator
/// Exists) to an effect, where an empty effect matches every effect.
///
/// The table cannot express everything a Toleration can, so a toleration it
/// cannot carry exactly is an error naming `path[index]`, never a silent
/// change. Exact duplicates collapse into one entry.
pub fn node_tolerations(
    path: &str,
    tolerations: &[Toleration],
) -> Result<BTreeMap<String, String>, FleetError> {
    let mut table = BTreeMap::new();
    let mut first_index: BTreeMap<String, usize> = BTreeMap::new();

    for (index, toleration) in tolerations.iter().enumerate() {
        let (entry, effect) = toleration_entry(&format!("{path}[{index}]"), toleration)?;

        if let Some(existing) = table.get(&entry) {
            if existing != &effect {
                let first = first_index[&entry];
                return Err(FleetError(format!(
                    "{path}[{index}]: same key and value as {path}[{first}] with another \
                     effect, but the executor's node_tolerations table holds one effect per key \
                     and value: merge them into one toleration with no effect, which matches \
                     every effect"
                )));
            }
            continue;
        }

        first_index.insert(entry.clone(), index);
        table.insert(entry, effect);
    }

    Ok(table)
}

/// Returns the `node_tolerations` key and effect of one toleration.
fn toleration_entry(path: &str, toleration: &Toleration) -> Result<(String, String), FleetError> {
    if let Some(seconds) = toleration.toleration_seconds {
        return Err(FleetError(format!(
            "{path}.tolerationSeconds: {seconds}: the executor's node_tolerations table cannot \
             express tolerationSeconds: remove it"
        )));
    }

    let effect = toleration.effect.clone().unwrap_or_default();
    if !matches!(
        effect.as_str(),
        "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute"
    ) {
        return Err(FleetError(format!(
            "{path}.effect: unsupported effect {effect:?}: use \"NoSchedule\", \
             \"PreferNoSchedule\" or \"NoExecute\", or no effect to match every effect"
        )));
    }

    let key = toleration.key.as_deref().unwrap_or_default();
    if key.contains('=') {
        return Err(FleetError(format!(
            "{path}.key: {key:?} contains '=', which the executor's node_tolerations table \
             uses to separate key and value: use a taint key without '='"
        )));
    }
    let value = toleration.value.as_deref().unwrap_or_default();

    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => {
            if !value.is_empty() {
                return Err(FleetError(format!(
                    "{path}.value: {value:?}: operator \"Exists\" matches every value, so the \
                     value must be empty: remove it or use operator \"Equal\""
                )));
            }
            Ok((key.to_string(), effect))
        }
        "Equal" => {
            if key.is_empty() {
                return Err(FleetError(format!(
                    "{path}.key: missing: operator \"Equal\" needs a key; to tolerate every \
                     taint, use operator \"Exists\" with no key"
                )));
            }
            if value.contains('=') {
                return Err(FleetError(format!(
                    "{path}.value: {value:?} contains '=', which the executor's \
                     node_tolerations table uses to separate key and value: use a taint value \
                     without '='"
                )));
            }
            Ok((format!("{key}={value}"), effect))
        }
        other => Err(FleetError(format!(
            "{path}.operator: unsupported operator {other:?}: use \"Equal\" or \"Exists\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::fleet::testing::{composite, fleet_of, full_spec, minimal_spec, set};

    /// Renders `text` as Helm's `tpl` would for text whose only actions are
    /// the escapes [`escape_for_tpl`] writes.
    fn render_like_tpl(text: &str) -> String {
        text.replace("{{ \"{{\" }}", "{{")
    }

    /// Reports whether every `{{` in `text` is the start of an escape.
    fn all_braces_escaped(text: &str) -> bool {
        !text.replace("{{ \"{{\" }}", "").contains("{{")
    }

    #[test]
    fn runner_config_of_full_spec() {
        let fleet = fleet_of(&composite(full_spec()));

        assert_eq!(
            runner_config(&fleet, Arch::Arm64).unwrap(),
            r#"[[runners]]

[runners.kubernetes]
namespace = "gitlab-runner"
image = "ubuntu:22.04"
privileged = false
poll_timeout = 600
helper_image = "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:arm64-v18.9.0"

[runners.kubernetes.node_selector]
"karpenter.sh/nodepool" = "spot-pool"
"kubernetes.io/arch" = "arm64"
lifecycle = "Ec2Spot"

[runners.kubernetes.pod_annotations]
"eks.amazonaws.com/compute-type" = "ec2"
"karpenter.sh/do-not-disrupt" = "true"

[runners.kubernetes.node_tolerations]
"dedicated=ci" = "NoSchedule"
spot = "NoSchedule"
"#
        );
    }

    #[test]
    fn runner_config_of_minimal_spec() {
        let fleet = fleet_of(&composite(minimal_spec()));

        assert_eq!(
            runner_config(&fleet, Arch::Amd64).unwrap(),
            r#"[[runners]]

[runners.kubernetes]
namespace = "gitlab-runner"
image = "ubuntu:22.04"
privileged = false
poll_timeout = 600

[runners.kubernetes.node_selector]
"kubernetes.io/arch" = "amd64"

[runners.kubernetes.pod_annotations]
"karpenter.sh/do-not-disrupt" = "true"
"#
        );
    }

    #[test]
    fn runner_config_pins_each_arch_and_its_helper() {
        let fleet = fleet_of(&composite(full_spec()));

        for arch in Arch::ALL {
            let text = render_like_tpl(&runner_config(&fleet, arch).unwrap());
            let parsed: toml::Table = toml::from_str(&text).unwrap();
            let kubernetes = &parsed["runners"][0]["kubernetes"];

            assert_eq!(
                kubernetes["node_selector"]["kubernetes.io/arch"].as_str(),
                Some(arch.as_str()),
                "the helper image's architecture follows this selector alone"
            );
            assert_eq!(
                kubernetes.get("helper_image").and_then(toml::Value::as_str),
                fleet.jobs.helper_images.get(&arch).map(String::as_str),
                "a helper image is set only for the architecture it was given for"
            );
        }
    }

    #[test]
    fn runner_config_sets_do_not_disrupt() {
        let fleet = fleet_of(&composite(minimal_spec()));
        let text = runner_config(&fleet, Arch::Amd64).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let annotations = &parsed["runners"][0]["kubernetes"]["pod_annotations"];

        assert_eq!(
            annotations["karpenter.sh/do-not-disrupt"].as_str(),
            Some("true")
        );
        assert!(annotations.get("karpenter.sh/do-not-evict").is_none());
    }

    #[test]
    fn runner_config_poll_timeout_outlasts_executor_default() {
        struct Case {
            reason: &'static str,
            seconds: Option<i64>,
            expected: i64,
        }

        let cases = [
            Case {
                reason: "the default leaves room for a cold Karpenter launch",
                seconds: None,
                expected: 600,
            },
            Case {
                reason: "the XR may set another value",
                seconds: Some(1200),
                expected: 1200,
            },
        ];

        for case in cases {
            let mut xr = composite(minimal_spec());
            if let Some(seconds) = case.seconds {
                set(&mut xr, "/spec/jobs/pollTimeoutSeconds", json!(seconds));
            }
            let fleet = fleet_of(&xr);
            let parsed: toml::Table =
                toml::from_str(&runner_config(&fleet, Arch::Amd64).unwrap()).unwrap();
            let poll_timeout = parsed["runners"][0]["kubernetes"]["poll_timeout"]
                .as_integer()
                .unwrap();

            assert_eq!(poll_timeout, case.expected, "{}", case.reason);
            assert!(poll_timeout > 180, "{}", case.reason);
        }
    }

    #[test]
    fn runner_config_quotes_user_text_as_toml() {
        let mut xr = composite(minimal_spec());
        let tricky = "line one\nsays \"hi\" \\ and ' = [x]";
        set(
            &mut xr,
            "/spec/jobs/podAnnotations",
            json!({"note": tricky, "a\"b": "c"}),
        );
        set(
            &mut xr,
            "/spec/jobs/image",
            json!("registry.example.com/a b\"c"),
        );
        let fleet = fleet_of(&xr);

        let text = render_like_tpl(&runner_config(&fleet, Arch::Amd64).unwrap());
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let kubernetes = &parsed["runners"][0]["kubernetes"];

        assert_eq!(kubernetes["pod_annotations"]["note"].as_str(), Some(tricky));
        assert_eq!(kubernetes["pod_annotations"]["a\"b"].as_str(), Some("c"));
        assert_eq!(
            kubernetes["image"].as_str(),
            Some("registry.example.com/a b\"c")
        );
        assert_eq!(parsed.len(), 1, "user text adds no table: {text}");
    }

    #[test]
    fn runner_config_escapes_templates_for_tpl() {
        let mut xr = composite(minimal_spec());
        set(
            &mut xr,
            "/spec/jobs/podAnnotations",
            json!({"release": "{{ .Release.Name }}", "{{key}}": "{{{x}}}"}),
        );
        set(&mut xr, "/spec/jobs/image", json!("{{ .Values.image }}"));
        let fleet = fleet_of(&xr);

        let escaped = runner_config(&fleet, Arch::Arm64).unwrap();

        assert!(all_braces_escaped(&escaped), "{escaped}");
        let parsed: toml::Table = toml::from_str(&render_like_tpl(&escaped)).unwrap();
        let kubernetes = &parsed["runners"][0]["kubernetes"];
        assert_eq!(
            kubernetes["pod_annotations"]["release"].as_str(),
            Some("{{ .Release.Name }}"),
            "user text survives tpl unchanged"
        );
        assert_eq!(
            kubernetes["pod_annotations"]["{{key}}"].as_str(),
            Some("{{{x}}}")
        );
        assert_eq!(kubernetes["image"].as_str(), Some("{{ .Values.image }}"));
    }

    #[test]
    fn escape_for_tpl_cases() {
        struct Case {
            reason: &'static str,
            text: &'static str,
            escaped: &'static str,
        }

        let cases = [
            Case {
                reason: "text without braces is unchanged",
                text: "a = \"b\"",
                escaped: "a = \"b\"",
            },
            Case {
                reason: "a template action is escaped",
                text: "{{ .Release.Name }}",
                escaped: "{{ \"{{\" }} .Release.Name }}",
            },
            Case {
                reason: "three braces escape the first two only",
                text: "{{{",
                escaped: "{{ \"{{\" }}{",
            },
            Case {
                reason: "four braces escape twice",
                text: "{{{{",
                escaped: "{{ \"{{\" }}{{ \"{{\" }}",
            },
            Case {
                reason: "a single brace and closing braces need no escape",
                text: "{ }} }",
                escaped: "{ }} }",
            },
            Case {
                reason: "text that is already an escape is escaped again: it is user text",
                text: "{{ \"{{\" }}",
                escaped: "{{ \"{{\" }} \"{{ \"{{\" }}\" }}",
            },
        ];

        for case in cases {
            let escaped = escape_for_tpl(case.text);

            assert_eq!(escaped, case.escaped, "{}", case.reason);
            assert!(all_braces_escaped(&escaped), "{}", case.reason);
            assert_eq!(render_like_tpl(&escaped), case.text, "{}", case.reason);
        }
    }

    #[test]
    fn node_tolerations_table() {
        struct Case {
            reason: &'static str,
            tolerations: Value,
            table: Vec<(&'static str, &'static str)>,
        }

        let cases = [
            Case {
                reason: "no tolerations give an empty table",
                tolerations: json!([]),
                table: vec![],
            },
            Case {
                reason: "Equal is the default operator and becomes key=value",
                tolerations: json!([{"key": "dedicated", "value": "ci", "effect": "NoSchedule"}]),
                table: vec![("dedicated=ci", "NoSchedule")],
            },
            Case {
                reason: "Equal with an empty value keeps the '='",
                tolerations: json!([{"key": "gpu", "operator": "Equal", "effect": "NoExecute"}]),
                table: vec![("gpu=", "NoExecute")],
            },
            Case {
                reason: "Exists becomes the bare key",
                tolerations: json!([{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]),
                table: vec![("spot", "NoSchedule")],
            },
            Case {
                reason: "no effect matches every effect",
                tolerations: json!([{"key": "spot", "operator": "Exists"}]),
                table: vec![("spot", "")],
            },
            Case {
                reason: "Exists with no key tolerates every taint",
                tolerations: json!([{"operator": "Exists"}]),
                table: vec![("", "")],
            },
            Case {
                reason: "exact duplicates collapse",
                tolerations: json!([
                    {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
                ]),
                table: vec![("spot", "NoSchedule")],
            },
        ];

        for case in cases {
            let tolerations: Vec<Toleration> = serde_json::from_value(case.tolerations).unwrap();
            let expected: BTreeMap<String, String> = case
                .table
                .iter()
                .map(|(key, effect)| (key.to_string(), effect.to_string()))
                .collect();

            assert_eq!(
                node_tolerations("spec.jobs.tolerations", &tolerations).unwrap(),
                expected,
                "{}",
                case.reason
            );
        }
    }

    #[test]
    fn node_tolerations_errors() {
        struct Case {
            reason: &'static str,
            tolerations: Value,
            error: &'static str,
        }

        let cases = [
            Case {
                reason: "the table has no place for tolerationSeconds",
                tolerations: json!([{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
                error: "spec.jobs.tolerations[0].tolerationSeconds: 300: the executor's \
                        node_tolerations table cannot express tolerationSeconds: remove it",
            },
            Case {
                reason: "an effect Kubernetes does not know",
                tolerations: json!([{"key": "a", "operator": "Exists", "effect": "Never"}]),
                error: "spec.jobs.tolerations[0].effect: unsupported effect \"Never\": use \
                        \"NoSchedule\", \"PreferNoSchedule\" or \"NoExecute\", or no effect to \
                        match every effect",
            },
            Case {
                reason: "an operator Kubernetes does not know",
                tolerations: json!([{"key": "a", "operator": "In", "value": "b"}]),
                error: "spec.jobs.tolerations[0].operator: unsupported operator \"In\": use \
                        \"Equal\" or \"Exists\"",
            },
            Case {
                reason: "Exists with a value is rejected by Kubernetes too",
                tolerations: json!([{"key": "a", "operator": "Exists", "value": "b"}]),
                error: "spec.jobs.tolerations[0].value: \"b\": operator \"Exists\" matches every \
                        value, so the value must be empty: remove it or use operator \"Equal\"",
            },
            Case {
                reason: "Equal needs a key",
                tolerations: json!([{"value": "b", "effect": "NoSchedule"}]),
                error: "spec.jobs.tolerations[0].key: missing: operator \"Equal\" needs a key; to \
                        tolerate every taint, use operator \"Exists\" with no key",
            },
            Case {
                reason: "a '=' in the key would be read as the separator",
                tolerations: json!([{"key": "a=b", "operator": "Exists"}]),
                error: "spec.jobs.tolerations[0].key: \"a=b\" contains '=', which the executor's \
                        node_tolerations table uses to separate key and value: use a taint key \
                        without '='",
            },
            Case {
                reason: "a '=' in the value would be cut off",
                tolerations: json!([{"key": "a", "value": "b=c"}]),
                error: "spec.jobs.tolerations[0].value: \"b=c\" contains '=', which the \
                        executor's node_tolerations table uses to separate key and value: use a \
                        taint value without '='",
            },
            Case {
                reason: "one key and value with two effects do not fit one table entry",
                tolerations: json!([
                    {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "other", "operator": "Exists"},
                    {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
                ]),
                error: "spec.jobs.tolerations[2]: same key and value as \
                        spec.jobs.tolerations[0] with another effect, but the executor's \
                        node_tolerations table holds one effect per key and value: merge them \
                        into one toleration with no effect, which matches every effect",
            },
        ];

        for case in cases {
            let tolerations: Vec<Toleration> = serde_json::from_value(case.tolerations).unwrap();

            assert_eq!(
                node_tolerations("spec.jobs.tolerations", &tolerations)
                    .unwrap_err()
                    .0,
                case.error,
                "{}",
                case.reason
            );
        }
    }
}
