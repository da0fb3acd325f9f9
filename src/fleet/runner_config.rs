//! The chart's `runners.config`: the `config.toml` fragment of one runner's
//! Kubernetes executor, generated with the `toml` crate from serde structs so
//! that quoting is always right and key order is fixed by the structs.
//!
//! The chart passes `runners.config` through Helm's `tpl`, so every `{{` in
//! the TOML text is escaped before it leaves this module; otherwise user text
//! such as an annotation value would be evaluated as a template.

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
