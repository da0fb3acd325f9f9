//! Composes the example fleet before and after the changes a user makes to
//! a live fleet (architectures, chart version, tag prefix) and checks that
//! what need not change stays byte-identical, so Crossplane updates nothing
//! else. docs/upgrades.md describes what a user sees for each change.

#[path = "catalog_support/mod.rs"]
mod catalog_support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use function_gitlab_runner_fleet::fleet::{
    Composition, FleetError, FleetRequest, NODE_POOL_REQUIREMENT, compose,
};

use catalog_support::{read_documents, read_single, repo_root};

const ARCH_LABEL: &str = "kubernetes.io/arch";
const EXTERNAL_NAME: &str = "crossplane.io/external-name";

/// Returns the example XR with `change` applied.
fn example_fleet(change: impl FnOnce(&mut Value)) -> Value {
    let mut xr = read_single("examples/xr.yaml");
    change(&mut xr);
    xr
}

/// Restricts a fleet to amd64, as it was before arm64 was added.
fn amd64_only(xr: &mut Value) {
    xr["spec"]["architectures"] = json!(["amd64"]);
    xr["spec"]["runnerTokenSecrets"]
        .as_object_mut()
        .unwrap()
        .remove("arm64");
}

/// Returns the example NodePool allowing `architectures`.
fn live_pool(architectures: &[&str]) -> Value {
    let mut pool = read_single("examples/required.yaml");
    let requirements = pool["spec"]["template"]["spec"]["requirements"]
        .as_array_mut()
        .unwrap();
    let arch = requirements
        .iter_mut()
        .find(|requirement| requirement["key"] == ARCH_LABEL)
        .unwrap();
    arch["values"] = json!(architectures);
    pool
}

/// Returns the example's observed Releases of `architectures`, keyed by
/// their composed resource name.
fn observed_releases(architectures: &[&str]) -> BTreeMap<String, Value> {
    read_documents(&repo_root().join("examples/observed.yaml"))
        .into_iter()
        .map(|release| {
            let key = release["metadata"]["annotations"]["crossplane.io/composition-resource-name"]
                .as_str()
                .unwrap()
                .to_string();
            (key, release)
        })
        .filter(|(key, _)| {
            architectures
                .iter()
                .any(|arch| key == &format!("release-{arch}"))
        })
        .collect()
}

/// Composes `xr` with the example Composition's input, on a pool that allows
/// `pool`, with the Releases of `deployed` observed.
fn try_compose(xr: &Value, pool: &[&str], deployed: &[&str]) -> Result<Composition, FleetError> {
    let composition = read_single("examples/composition.yaml");
    compose(&FleetRequest {
        composite: xr.clone(),
        observed: observed_releases(deployed),
        required: BTreeMap::from([(NODE_POOL_REQUIREMENT.to_string(), vec![live_pool(pool)])]),
        input: Some(composition["spec"]["pipeline"][0]["input"].clone()),
    })
}

fn compose_fleet(xr: &Value, pool: &[&str], deployed: &[&str]) -> Composition {
    try_compose(xr, pool, deployed).unwrap()
}

/// Returns a composed resource as the JSON text the function sends.
fn text(composition: &Composition, key: &str) -> String {
    let resource = &composition
        .resources
        .get(key)
        .unwrap_or_else(|| panic!("no composed resource {key:?}"))
        .resource;
    serde_json::to_string(resource).unwrap()
}

fn keys(composition: &Composition) -> BTreeSet<String> {
    composition.resources.keys().cloned().collect()
}

fn key_set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|key| key.to_string()).collect()
}

/// Returns the requirements of the NodePool patch.
fn patched_requirements(composition: &Composition) -> Vec<Value> {
    composition.resources["nodepool-spot-pool"].resource["spec"]["forProvider"]["manifest"]["spec"]
        ["template"]["spec"]["requirements"]
        .as_array()
        .unwrap()
        .clone()
}

/// Returns the NodePool requirements other than the architecture.
fn other_requirements(requirements: &[Value]) -> Vec<Value> {
    requirements
        .iter()
        .filter(|requirement| requirement["key"] != ARCH_LABEL)
        .cloned()
        .collect()
}

fn arch_requirement(requirements: &[Value]) -> Value {
    requirements
        .iter()
        .find(|requirement| requirement["key"] == ARCH_LABEL)
        .cloned()
        .unwrap()
}

#[test]
fn adding_arm64_keeps_amd64_release() {
    let before = compose_fleet(&example_fleet(amd64_only), &["amd64"], &["amd64"]);
    let after = compose_fleet(&example_fleet(|_| {}), &["amd64"], &["amd64"]);

    assert_eq!(
        keys(&before),
        key_set(&["nodepool-spot-pool", "release-amd64"])
    );
    assert_eq!(
        keys(&after),
        key_set(&["nodepool-spot-pool", "release-amd64", "release-arm64"]),
        "arm64 adds one Release and keeps every key"
    );
    assert_eq!(
        text(&after, "release-amd64"),
        text(&before, "release-amd64"),
        "the amd64 Release must not change, or Helm upgrades the amd64 runner"
    );

    let (old, new) = (patched_requirements(&before), patched_requirements(&after));
    assert_eq!(
        arch_requirement(&old),
        json!({"key": ARCH_LABEL, "operator": "In", "values": ["amd64"]})
    );
    assert_eq!(
        arch_requirement(&new),
        json!({"key": ARCH_LABEL, "operator": "In", "values": ["amd64", "arm64"]})
    );
    assert_eq!(
        other_requirements(&new),
        other_requirements(&old),
        "every other requirement is sent back as it was, in order"
    );

    let arm64 = &after.resources["release-arm64"].resource;
    assert_eq!(
        arm64["metadata"]["annotations"][EXTERNAL_NAME],
        "sandbox-arm64"
    );
    assert_eq!(
        arm64["spec"]["forProvider"]["values"]["nodeSelector"][ARCH_LABEL],
        "arm64"
    );
    assert_eq!(after.resources["release-arm64"].ready, Some(false));
}

#[test]
fn removing_arm64_deletes_only_its_release() {
    // The pool was widened while the fleet ran arm64.
    let before = compose_fleet(
        &example_fleet(|_| {}),
        &["amd64", "arm64"],
        &["amd64", "arm64"],
    );
    let after = compose_fleet(
        &example_fleet(amd64_only),
        &["amd64", "arm64"],
        &["amd64", "arm64"],
    );

    assert_eq!(
        keys(&after),
        key_set(&["nodepool-spot-pool", "release-amd64"]),
        "Crossplane deletes the composed resource the function stops returning"
    );
    assert_eq!(
        text(&after, "release-amd64"),
        text(&before, "release-amd64")
    );

    assert_eq!(
        text(&after, "nodepool-spot-pool"),
        text(&before, "nodepool-spot-pool"),
        "the shared pool is never narrowed: other workloads may run on arm64 nodes"
    );
    assert_eq!(
        arch_requirement(&patched_requirements(&after))["values"],
        json!(["amd64", "arm64"])
    );
}

#[test]
fn removing_arch_keeps_its_secret_rejected() {
    let xr = example_fleet(|xr| xr["spec"]["architectures"] = json!(["amd64"]));

    let error = try_compose(&xr, &["amd64", "arm64"], &["amd64", "arm64"]).unwrap_err();

    assert_eq!(
        error.0,
        "spec.runnerTokenSecrets.arm64: \"arm64\" is not in spec.architectures (amd64): remove \
         the entry or add the architecture",
        "a Fatal result makes Crossplane apply nothing, so the arm64 Release stays until both \
         fields change"
    );
}

#[test]
fn adding_arch_without_secret_rejected() {
    let xr = example_fleet(|xr| {
        amd64_only(xr);
        xr["spec"]["architectures"] = json!(["amd64", "arm64"]);
    });

    let error = try_compose(&xr, &["amd64"], &["amd64"]).unwrap_err();

    assert!(
        error
            .0
            .starts_with("spec.runnerTokenSecrets.arm64: missing:"),
        "{error}"
    );
}

/// Returns `release` with its chart version replaced by `version`.
fn with_chart_version(release: &str, version: &str) -> String {
    let mut release: Value = serde_json::from_str(release).unwrap();
    release["spec"]["forProvider"]["chart"]["version"] = json!(version);
    serde_json::to_string(&release).unwrap()
}

#[test]
fn chart_version_changes_only_chart_version() {
    let before = compose_fleet(
        &example_fleet(|_| {}),
        &["amd64", "arm64"],
        &["amd64", "arm64"],
    );
    let after = compose_fleet(
        &example_fleet(|xr| xr["spec"]["chart"]["version"] = json!("0.87.0")),
        &["amd64", "arm64"],
        &["amd64", "arm64"],
    );

    assert_eq!(keys(&after), keys(&before));
    for key in ["release-amd64", "release-arm64"] {
        let new = text(&after, key);
        assert_ne!(new, text(&before, key), "{key}");
        assert_eq!(
            with_chart_version(&new, "0.86.0"),
            text(&before, key),
            "{key}: only spec.forProvider.chart.version changes, so provider-helm runs one \
             helm upgrade of the same release"
        );
        assert_eq!(
            after.resources[key].resource["metadata"], before.resources[key].resource["metadata"],
            "{key}: the release name stays"
        );
    }
    assert_eq!(
        text(&after, "nodepool-spot-pool"),
        text(&before, "nodepool-spot-pool")
    );
}

#[test]
fn input_chart_version_reaches_unpinned_fleets() {
    let unpinned = example_fleet(|xr| {
        xr["spec"]["chart"]
            .as_object_mut()
            .unwrap()
            .remove("version");
    });
    let composition = read_single("examples/composition.yaml");
    let mut input = composition["spec"]["pipeline"][0]["input"].clone();

    let compose_with = |input: &Value| {
        compose(&FleetRequest {
            composite: unpinned.clone(),
            observed: BTreeMap::new(),
            required: BTreeMap::from([(
                NODE_POOL_REQUIREMENT.to_string(),
                vec![live_pool(&["amd64", "arm64"])],
            )]),
            input: Some(input.clone()),
        })
        .unwrap()
    };

    let before = compose_with(&input);
    input["chart"]["version"] = json!("0.87.0");
    let after = compose_with(&input);

    for key in ["release-amd64", "release-arm64"] {
        assert_eq!(
            with_chart_version(&text(&after, key), "0.86.0"),
            text(&before, key),
            "{key}: a fleet without spec.chart.version follows the Composition's input"
        );
        assert_eq!(
            after.resources[key].resource["spec"]["forProvider"]["chart"]["version"],
            "0.87.0"
        );
    }
}

#[test]
fn tag_prefix_change_keeps_releases() {
    let cases = [
        ("with spec.releaseNamePrefix", None),
        (
            "with the release names taken from metadata.name",
            Some("releaseNamePrefix"),
        ),
    ];

    for (reason, removed) in cases {
        let base = example_fleet(|xr| {
            if let Some(field) = removed {
                xr["spec"].as_object_mut().unwrap().remove(field);
            }
        });
        let mut renamed = base.clone();
        renamed["spec"]["tagPrefix"] = json!("ci");

        let before = compose_fleet(&base, &["amd64", "arm64"], &["amd64", "arm64"]);
        let after = compose_fleet(&renamed, &["amd64", "arm64"], &["amd64", "arm64"]);

        assert_eq!(keys(&after), keys(&before), "{reason}");
        for key in keys(&before) {
            // The provider-gitlab Runner and CI/CD variable carry the tag; the
            // Releases and the NodePool patch do not.
            if key.starts_with("runner-") || key.starts_with("variable-") {
                continue;
            }
            assert_eq!(text(&after, &key), text(&before, &key), "{reason}: {key}");
        }

        for arch in ["amd64", "arm64"] {
            assert_eq!(
                after.status["runners"][arch]["tag"],
                json!(format!("ci-{arch}")),
                "{reason}"
            );
            assert_eq!(
                after.status["runners"][arch]["release"], before.status["runners"][arch]["release"],
                "{reason}: the Helm release name never comes from the tag prefix"
            );
        }
    }
}

#[test]
fn architecture_order_changes_nothing() {
    let forward = compose_fleet(&example_fleet(|_| {}), &["amd64"], &[]);
    let backward = compose_fleet(
        &example_fleet(|xr| xr["spec"]["architectures"] = json!(["arm64", "amd64"])),
        &["amd64"],
        &[],
    );

    assert_eq!(keys(&backward), keys(&forward));
    for key in keys(&forward) {
        assert_eq!(text(&backward, &key), text(&forward, &key), "{key}");
    }
}

#[test]
fn release_name_prefix_renames_only_releases() {
    let before = compose_fleet(&example_fleet(|_| {}), &["amd64", "arm64"], &[]);
    let after = compose_fleet(
        &example_fleet(|xr| xr["spec"]["releaseNamePrefix"] = json!("ci")),
        &["amd64", "arm64"],
        &[],
    );

    assert_eq!(keys(&after), keys(&before));
    for arch in ["amd64", "arm64"] {
        let key = format!("release-{arch}");
        let mut renamed = after.resources[&key].resource.clone();
        assert_eq!(
            renamed["metadata"]["annotations"][EXTERNAL_NAME],
            json!(format!("ci-{arch}"))
        );

        renamed["metadata"]["annotations"][EXTERNAL_NAME] = json!(format!("sandbox-{arch}"));
        assert_eq!(
            serde_json::to_string(&renamed).unwrap(),
            text(&before, &key),
            "{key}: only the Helm release name changes"
        );
    }
    assert_eq!(
        text(&after, "nodepool-spot-pool"),
        text(&before, "nodepool-spot-pool")
    );
}
