//! The fields the function owns under the XR's `status`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Arch;
use super::validate::Fleet;

/// Returns the name of the GitLab CI/CD variable that carries `arch`'s tag,
/// such as `CICD_TAG_ARM64`.
pub fn tag_variable(arch: Arch) -> String {
    format!("CICD_TAG_{}", arch.as_str().to_uppercase())
}

/// Builds `status.runners`: per architecture, in [`Arch`] order, the runner
/// tag, the CI/CD variable that carries it, the Helm release name and whether
/// that release is ready.
pub fn runners_status(fleet: &Fleet, ready: &BTreeMap<Arch, bool>) -> Value {
    let runners: Map<String, Value> = fleet
        .architectures
        .iter()
        .map(|&arch| {
            (
                arch.to_string(),
                json!({
                    "tag": fleet.tag(arch),
                    "variable": tag_variable(arch),
                    "release": fleet.release_name(arch),
                    "ready": ready.get(&arch).copied().unwrap_or(false),
                }),
            )
        })
        .collect();

    Value::Object(runners)
}
