//! Merging `spec.values` under the chart values the function derives.
//!
//! User values may add keys anywhere. A user value at a path the function
//! sets, or at a path the function must never send to the chart, is rejected
//! with the spec field to use instead. Accepting it silently would either lose
//! it or break the runner.

use serde_json::{Map, Value};

use super::FleetError;
use super::validate::key_path;

/// A path that user values must not set, and the advice the error gives.
struct Reserved {
    path: &'static [&'static str],
    advice: &'static str,
}

/// Chart keys that the function never sends, because a runner
/// authentication token (`glrt-...`) makes them harmful: the chart's
/// registration drops `tags`, `runUntagged`, `locked` and `protected`, and
/// `maximumTimeout` makes registration fail. Token keys would put a token in
/// the Release spec or take the token out of the function's hands.
const FORBIDDEN: &[Reserved] = &[
    Reserved {
        path: &["runnerToken"],
        advice: "never put a token in the Release spec: name its Secret in \
                 spec.runnerTokenSecrets",
    },
    Reserved {
        path: &["runnerRegistrationToken"],
        advice: "registration tokens are deprecated and the function feeds a runner \
                 authentication token: name its Secret in spec.runnerTokenSecrets",
    },
    Reserved {
        path: &["runners", "secret"],
        advice: "the function feeds the token from spec.runnerTokenSecrets, which the chart \
                 ignores when runners.secret is set: remove it",
    },
    Reserved {
        path: &["runners", "tags"],
        advice: "with a runner authentication token (glrt-...) the chart drops it: the function \
                 tags each runner \"<spec.tagPrefix>-<arch>\", and the tag is set on the runner \
                 in GitLab",
    },
    Reserved {
        path: &["runners", "runUntagged"],
        advice: "with a runner authentication token (glrt-...) the chart drops it: set it on \
                 the runner in GitLab",
    },
    Reserved {
        path: &["runners", "locked"],
        advice: "with a runner authentication token (glrt-...) the chart drops it: set it on \
                 the runner in GitLab",
    },
    Reserved {
        path: &["runners", "protected"],
        advice: "with a runner authentication token (glrt-...) the chart drops it: set it on \
                 the runner in GitLab",
    },
    Reserved {
        path: &["runners", "maximumTimeout"],
        advice: "with a runner authentication token (glrt-...) it makes registration fail: set \
                 the maximum job timeout on the runner in GitLab",
    },
];

/// Advice for a user value that collides with a value the function derives.
/// The longest matching path wins; a collision no entry covers gets a
/// general message.
const DERIVED: &[Reserved] = &[
    Reserved {
        path: &["gitlabUrl"],
        advice: "set spec.gitlabUrl instead",
    },
    Reserved {
        path: &["concurrent"],
        advice: "set spec.manager.concurrent instead",
    },
    Reserved {
        path: &["nodeSelector"],
        advice: "set spec.manager.nodeSelector instead",
    },
    Reserved {
        path: &["nodeSelector", "kubernetes.io/arch"],
        advice: "the function pins each release to its architecture: list the architectures \
                 in spec.architectures",
    },
    Reserved {
        path: &["tolerations"],
        advice: "set spec.manager.tolerations instead",
    },
    Reserved {
        path: &["runners", "config"],
        advice: "the function generates the runner configuration: configure job pods with \
                 spec.jobs",
    },
    Reserved {
        path: &["runners", "jobNamespace"],
        advice: "set spec.jobs.namespace instead",
    },
    Reserved {
        path: &["rbac", "create"],
        advice: "the function sets it so that the Kubernetes executor may create job pods",
    },
    Reserved {
        path: &["serviceAccount", "create"],
        advice: "the function sets it so that the Kubernetes executor may create job pods",
    },
];

/// Deep-merges `user` under `derived`. Every map comes out sorted by key,
/// as `serde_json::Map` keeps its keys sorted.
///
/// Fails on a user value at a forbidden path, on a user value that collides
/// with a derived one (unless both are maps, which merge), and on a string
/// that looks like a runner authentication token.
pub fn merge_values(
    derived: &Map<String, Value>,
    user: &Map<String, Value>,
) -> Result<Map<String, Value>, FleetError> {
    for reserved in FORBIDDEN {
        if lookup(user, reserved.path).is_some() {
            return Err(FleetError(format!(
                "{}: cannot be set: {}",
                values_path(reserved.path),
                reserved.advice
            )));
        }
    }

    check_no_token(&mut Vec::new(), user)?;

    let mut merged = user.clone();
    merge_into(&mut Vec::new(), &mut merged, derived)?;

    Ok(merged)
}

/// Overlays `derived` onto `target`, which contains the user's values.
fn merge_into(
    path: &mut Vec<String>,
    target: &mut Map<String, Value>,
    derived: &Map<String, Value>,
) -> Result<(), FleetError> {
    for (key, derived_value) in derived {
        path.push(key.clone());

        match (target.get_mut(key), derived_value) {
            (None, _) => {
                target.insert(key.clone(), derived_value.clone());
            }
            (Some(Value::Object(user_map)), Value::Object(derived_map)) => {
                merge_into(path, user_map, derived_map)?;
            }
            (Some(_), _) => return Err(collision(path)),
        }

        path.pop();
    }
    Ok(())
}

fn collision(path: &[String]) -> FleetError {
    let advice = DERIVED
        .iter()
        .filter(|reserved| {
            reserved.path.len() <= path.len() && reserved.path.iter().zip(path).all(|(a, b)| a == b)
        })
        .max_by_key(|reserved| reserved.path.len())
        .map_or("the function sets this value", |reserved| reserved.advice);

    FleetError(format!("{}: cannot be set: {advice}", values_path(path)))
}

/// Rejects any string that starts like a runner authentication token. The
/// message never repeats the string.
fn check_no_token(path: &mut Vec<String>, map: &Map<String, Value>) -> Result<(), FleetError> {
    for (key, value) in map {
        path.push(key.clone());
        check_value_no_token(path, value)?;
        path.pop();
    }
    Ok(())
}

fn check_value_no_token(path: &mut Vec<String>, value: &Value) -> Result<(), FleetError> {
    match value {
        Value::String(text) if text.trim_start().starts_with("glrt-") => Err(FleetError(format!(
            "{}: holds what looks like a runner authentication token (glrt-...): never put a \
             token in the Release spec, where anyone who can read the Release sees it: store \
             it in a Secret and name that in spec.runnerTokenSecrets",
            values_path(path)
        ))),
        Value::Object(map) => check_no_token(path, map),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(format!("[{index}]"));
                check_value_no_token(path, item)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn lookup<'a, S: AsRef<str>>(map: &'a Map<String, Value>, path: &[S]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = map.get(first.as_ref())?;
    if rest.is_empty() {
        return Some(value);
    }
    lookup(value.as_object()?, rest)
}

/// Formats a path under `spec.values`; list indexes arrive as `[n]`.
fn values_path<S: AsRef<str>>(path: &[S]) -> String {
    path.iter().fold("spec.values".to_string(), |base, key| {
        let key = key.as_ref();
        if key.starts_with('[') {
            format!("{base}{key}")
        } else {
            key_path(&base, key)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn derived() -> Map<String, Value> {
        json!({
            "concurrent": 10,
            "gitlabUrl": "https://gitlab.example.com/",
            "nodeSelector": {"kubernetes.io/arch": "arm64", "lifecycle": "OnDemand"},
            "rbac": {"create": true},
            "runners": {"config": "[[runners]]\n", "jobNamespace": "gitlab-runner"},
            "serviceAccount": {"create": true},
            "tolerations": [],
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn merge_values_adds_user_keys_and_sorts() {
        let user = object(json!({
            "metrics": {"enabled": true, "portName": "metrics"},
            "rbac": {"rules": [{"resources": ["pods"], "verbs": ["get"]}]},
            "nodeSelector": {"team": "ci"},
            "runners": {"cache": {"z": 1, "a": 2}},
        }));

        let merged = merge_values(&derived(), &user).unwrap();

        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            serde_json::to_string(&json!({
                "concurrent": 10,
                "gitlabUrl": "https://gitlab.example.com/",
                "metrics": {"enabled": true, "portName": "metrics"},
                "nodeSelector": {"kubernetes.io/arch": "arm64", "lifecycle": "OnDemand", "team": "ci"},
                "rbac": {"create": true, "rules": [{"resources": ["pods"], "verbs": ["get"]}]},
                "runners": {"cache": {"a": 2, "z": 1}, "config": "[[runners]]\n", "jobNamespace": "gitlab-runner"},
                "serviceAccount": {"create": true},
                "tolerations": [],
            }))
            .unwrap()
        );
    }

    #[test]
    fn merge_values_without_user_values() {
        let merged = merge_values(&derived(), &Map::new()).unwrap();

        assert_eq!(merged, derived());
    }

    #[test]
    fn merged_maps_are_sorted() {
        let user = json!({"podLabels": {"team": "ci"}, "affinity": {"z": 1, "a": 2}});
        let merged = merge_values(&derived(), user.as_object().unwrap()).unwrap();

        let keys: Vec<&String> = merged.keys().collect();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(keys, want, "user and derived keys interleave in key order");
        assert_eq!(
            serde_json::to_string(&merged["affinity"]).unwrap(),
            r#"{"a":2,"z":1}"#
        );
    }

    #[test]
    fn merge_values_errors() {
        struct Case {
            reason: &'static str,
            user: Value,
            error: &'static str,
        }

        let cases = [
            Case {
                reason: "the GitLab URL comes from spec.gitlabUrl",
                user: json!({"gitlabUrl": "https://other.example.com/"}),
                error: "spec.values.gitlabUrl: cannot be set: set spec.gitlabUrl instead",
            },
            Case {
                reason: "concurrency comes from spec.manager.concurrent",
                user: json!({"concurrent": 3}),
                error: "spec.values.concurrent: cannot be set: set spec.manager.concurrent instead",
            },
            Case {
                reason: "the manager's architecture is pinned by the function",
                user: json!({"nodeSelector": {"kubernetes.io/arch": "amd64"}}),
                error: "spec.values.nodeSelector[\"kubernetes.io/arch\"]: cannot be set: the \
                        function pins each release to its architecture: list the architectures \
                        in spec.architectures",
            },
            Case {
                reason: "a node selector that is not a map collides with the derived one",
                user: json!({"nodeSelector": "lifecycle=OnDemand"}),
                error: "spec.values.nodeSelector: cannot be set: set spec.manager.nodeSelector \
                        instead",
            },
            Case {
                reason: "the manager's tolerations come from spec.manager.tolerations",
                user: json!({"tolerations": [{"operator": "Exists"}]}),
                error: "spec.values.tolerations: cannot be set: set spec.manager.tolerations \
                        instead",
            },
            Case {
                reason: "the runner configuration is generated",
                user: json!({"runners": {"config": "[[runners]]"}}),
                error: "spec.values.runners.config: cannot be set: the function generates the \
                        runner configuration: configure job pods with spec.jobs",
            },
            Case {
                reason: "the job namespace comes from spec.jobs.namespace",
                user: json!({"runners": {"jobNamespace": "elsewhere"}}),
                error: "spec.values.runners.jobNamespace: cannot be set: set spec.jobs.namespace \
                        instead",
            },
            Case {
                reason: "the executor needs the chart's Role",
                user: json!({"rbac": {"create": false}}),
                error: "spec.values.rbac.create: cannot be set: the function sets it so that the \
                        Kubernetes executor may create job pods",
            },
            Case {
                reason: "replacing a derived map by a scalar is a collision too",
                user: json!({"serviceAccount": false}),
                error: "spec.values.serviceAccount: cannot be set: the function sets this value",
            },
            Case {
                reason: "a token never goes into values",
                user: json!({"runnerToken": "glrt-secret"}),
                error: "spec.values.runnerToken: cannot be set: never put a token in the Release \
                        spec: name its Secret in spec.runnerTokenSecrets",
            },
            Case {
                reason: "registration tokens are not used",
                user: json!({"runnerRegistrationToken": ""}),
                error: "spec.values.runnerRegistrationToken: cannot be set: registration tokens \
                        are deprecated and the function feeds a runner authentication token: \
                        name its Secret in spec.runnerTokenSecrets",
            },
            Case {
                reason: "runners.secret makes the chart ignore the fed token",
                user: json!({"runners": {"secret": "my-secret"}}),
                error: "spec.values.runners.secret: cannot be set: the function feeds the token \
                        from spec.runnerTokenSecrets, which the chart ignores when \
                        runners.secret is set: remove it",
            },
            Case {
                reason: "tags are dropped by the chart with glrt- tokens",
                user: json!({"runners": {"tags": "arm64"}}),
                error: "spec.values.runners.tags: cannot be set: with a runner authentication \
                        token (glrt-...) the chart drops it: the function tags each runner \
                        \"<spec.tagPrefix>-<arch>\", and the tag is set on the runner in GitLab",
            },
            Case {
                reason: "runUntagged is dropped by the chart with glrt- tokens",
                user: json!({"runners": {"runUntagged": true}}),
                error: "spec.values.runners.runUntagged: cannot be set: with a runner \
                        authentication token (glrt-...) the chart drops it: set it on the runner \
                        in GitLab",
            },
            Case {
                reason: "locked is dropped by the chart with glrt- tokens",
                user: json!({"runners": {"locked": false}}),
                error: "spec.values.runners.locked: cannot be set: with a runner authentication \
                        token (glrt-...) the chart drops it: set it on the runner in GitLab",
            },
            Case {
                reason: "protected is dropped by the chart with glrt- tokens",
                user: json!({"runners": {"protected": true}}),
                error: "spec.values.runners.protected: cannot be set: with a runner \
                        authentication token (glrt-...) the chart drops it: set it on the runner \
                        in GitLab",
            },
            Case {
                reason: "maximumTimeout makes registration fail with glrt- tokens",
                user: json!({"runners": {"maximumTimeout": 3600}}),
                error: "spec.values.runners.maximumTimeout: cannot be set: with a runner \
                        authentication token (glrt-...) it makes registration fail: set the \
                        maximum job timeout on the runner in GitLab",
            },
            Case {
                reason: "a token anywhere in values is rejected without echoing it",
                user: json!({"extraEnv": {"TOKEN": "glrt-abc123"}}),
                error: "spec.values.extraEnv.TOKEN: holds what looks like a runner \
                        authentication token (glrt-...): never put a token in the Release spec, \
                        where anyone who can read the Release sees it: store it in a Secret and \
                        name that in spec.runnerTokenSecrets",
            },
            Case {
                reason: "a token inside a list is found too",
                user: json!({"extraContainers": [{"args": ["--token", "glrt-abc"]}]}),
                error: "spec.values.extraContainers[0].args[1]: holds what looks like a runner \
                        authentication token (glrt-...): never put a token in the Release spec, \
                        where anyone who can read the Release sees it: store it in a Secret and \
                        name that in spec.runnerTokenSecrets",
            },
        ];

        for case in cases {
            let error = merge_values(&derived(), &object(case.user)).unwrap_err();
            assert_eq!(error.0, case.error, "{}", case.reason);
        }
    }
}
