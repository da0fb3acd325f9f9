//! How `render` selects the `--required-resources` objects that match a
//! function's resource selectors.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use function_gitlab_runner_fleet::proto::v1::{
    MatchLabels, Requirements, ResourceSelector, SchemaSelector, resource_selector::Match,
};
use function_gitlab_runner_fleet::protocol::structs::struct_to_json;
use function_gitlab_runner_fleet::render::requirements::{
    fill_required_resources, requested_selectors, resolve, resolve_selector,
};

fn objects() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "spot-pool", "labels": {"pool": "spot", "team": "ci"}},
        }),
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "system-pool", "labels": {"pool": "system", "team": "ci"}},
        }),
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "arm-pool", "labels": {"pool": "spot", "team": "ci"}},
        }),
        json!({
            "apiVersion": "karpenter.sh/v1beta1", "kind": "NodePool",
            "metadata": {"name": "old-pool", "labels": {"pool": "spot"}},
        }),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "runner-amd64", "namespace": "gitlab-runner"},
        }),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "runner-amd64", "namespace": "other"},
        }),
    ]
}

fn by_name(api_version: &str, kind: &str, name: &str, namespace: Option<&str>) -> ResourceSelector {
    ResourceSelector {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        namespace: namespace.map(str::to_string),
        r#match: Some(Match::MatchName(name.to_string())),
    }
}

fn by_labels(api_version: &str, kind: &str, labels: &[(&str, &str)]) -> ResourceSelector {
    ResourceSelector {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        namespace: None,
        r#match: Some(Match::MatchLabels(MatchLabels {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })),
    }
}

/// Returns `namespace/name` of every selected object, in order.
fn names(selector: &ResourceSelector) -> Vec<String> {
    resolve_selector(selector, &objects())
        .items
        .iter()
        .map(|item| {
            let object = struct_to_json(item.resource.as_ref().unwrap());
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
            format!(
                "{namespace}/{}",
                object["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn resolve_selector_cases() {
    let cases: Vec<(&str, ResourceSelector, Vec<&str>)> = vec![
        (
            "matchName finds the object of that apiVersion, kind and name",
            by_name("karpenter.sh/v1", "NodePool", "spot-pool", None),
            vec!["/spot-pool"],
        ),
        (
            "matchName with another apiVersion finds nothing",
            by_name("karpenter.sh/v1beta1", "NodePool", "spot-pool", None),
            vec![],
        ),
        (
            "matchName of a missing object is not found, an empty answer",
            by_name("karpenter.sh/v1", "NodePool", "gpu-pool", None),
            vec![],
        ),
        (
            "matchName of another kind finds nothing",
            by_name("karpenter.sh/v1", "EC2NodeClass", "spot-pool", None),
            vec![],
        ),
        (
            "matchName with a namespace picks the object in it",
            by_name("v1", "Secret", "runner-amd64", Some("other")),
            vec!["other/runner-amd64"],
        ),
        (
            "matchName without a namespace picks one object, the first by namespace",
            by_name("v1", "Secret", "runner-amd64", None),
            vec!["gitlab-runner/runner-amd64"],
        ),
        (
            "matchName with a namespace nothing is in",
            by_name("v1", "Secret", "runner-amd64", Some("kube-system")),
            vec![],
        ),
        (
            "matchLabels finds every object with all labels, sorted by name",
            by_labels(
                "karpenter.sh/v1",
                "NodePool",
                &[("pool", "spot"), ("team", "ci")],
            ),
            vec!["/arm-pool", "/spot-pool"],
        ),
        (
            "matchLabels needs every label",
            by_labels(
                "karpenter.sh/v1",
                "NodePool",
                &[("pool", "system"), ("team", "web")],
            ),
            vec![],
        ),
        (
            "empty matchLabels finds every object of the kind",
            by_labels("karpenter.sh/v1", "NodePool", &[]),
            vec!["/arm-pool", "/spot-pool", "/system-pool"],
        ),
        (
            "matchLabels on objects without labels finds nothing",
            by_labels("v1", "Secret", &[("pool", "spot")]),
            vec![],
        ),
        (
            "a selector without a match finds nothing",
            ResourceSelector {
                api_version: "karpenter.sh/v1".to_string(),
                kind: "NodePool".to_string(),
                namespace: None,
                r#match: None,
            },
            vec![],
        ),
    ];

    for (reason, selector, expected) in cases {
        assert_eq!(names(&selector), expected, "{reason}");
    }
}

#[test]
fn resolve_keys_by_requirement() {
    let selectors = BTreeMap::from([
        (
            "nodepool".to_string(),
            by_name("karpenter.sh/v1", "NodePool", "spot-pool", None),
        ),
        (
            "missing".to_string(),
            by_name("karpenter.sh/v1", "NodePool", "gpu-pool", None),
        ),
    ]);

    let answers = resolve(&selectors, &objects());

    assert_eq!(
        answers.keys().collect::<Vec<_>>(),
        vec!["missing", "nodepool"]
    );
    assert_eq!(answers["nodepool"].items.len(), 1);
    assert!(
        answers["missing"].items.is_empty(),
        "a selector with no match is answered, with no items"
    );
}

#[test]
fn requested_selectors_merge_both_fields() {
    let mut requirements = Requirements::default();
    requirements.resources.insert(
        "nodepool".to_string(),
        by_name("karpenter.sh/v1", "NodePool", "spot-pool", None),
    );
    #[allow(deprecated)]
    {
        requirements.extra_resources.insert(
            "nodepool".to_string(),
            by_name("karpenter.sh/v1", "NodePool", "stale", None),
        );
        requirements.extra_resources.insert(
            "legacy".to_string(),
            by_name("v1", "Secret", "runner-amd64", None),
        );
    }

    let selectors = requested_selectors(&requirements);

    assert_eq!(
        selectors.keys().collect::<Vec<_>>(),
        vec!["legacy", "nodepool"]
    );
    assert_eq!(
        selectors["nodepool"].r#match,
        Some(Match::MatchName("spot-pool".to_string())),
        "requirements.resources wins over the deprecated field"
    );
}

#[test]
fn fill_sets_resources_and_schemas() {
    let mut requirements = Requirements::default();
    requirements.resources.insert(
        "nodepool".to_string(),
        by_name("karpenter.sh/v1", "NodePool", "spot-pool", None),
    );
    requirements.schemas.insert(
        "pool-schema".to_string(),
        SchemaSelector {
            api_version: "karpenter.sh/v1".to_string(),
            kind: "NodePool".to_string(),
        },
    );
    let mut request = Default::default();

    fill_required_resources(&mut request, &requirements, &objects());

    assert_eq!(request.required_resources["nodepool"].items.len(), 1);
    #[allow(deprecated)]
    let extra = &request.extra_resources;
    assert_eq!(extra["nodepool"], request.required_resources["nodepool"]);
    assert_eq!(
        request.required_schemas["pool-schema"].openapi_v3, None,
        "this render knows no schemas"
    );
}
