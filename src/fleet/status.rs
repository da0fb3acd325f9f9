//! The fields the function owns under the XR's `status`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Arch;
use super::validate::Fleet;

/// Builds `status.runners`: per architecture, in [`Arch`] order, the runner
/// tag, the key of the CI/CD variable that carries it, the Helm release name
/// and whether that release is ready. With registration, each entry also
/// reports whether provider-gitlab has registered the runner.
pub fn runners_status(
    fleet: &Fleet,
    ready: &BTreeMap<Arch, bool>,
    registered: Option<&BTreeMap<Arch, bool>>,
) -> Value {
    let runners: Map<String, Value> = fleet
        .architectures
        .iter()
        .map(|&arch| {
            let mut entry = json!({
                "tag": fleet.tag(arch),
                "variable": fleet.variable_key(arch),
                "release": fleet.release_name(arch),
                "ready": ready.get(&arch).copied().unwrap_or(false),
            });
            if let Some(registered) = registered {
                entry["registered"] = json!(registered.get(&arch).copied().unwrap_or(false));
            }
            (arch.to_string(), entry)
        })
        .collect();

    Value::Object(runners)
}
