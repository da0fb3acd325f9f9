//! GitLab CI/CD variables that publish each runner's tag, so pipelines route
//! jobs with `tags: [$CICD_TAG_ARM64]` instead of spelling the tag out.
//!
//! Per architecture the function composes a provider-gitlab `Variable` with
//! key `<keyPrefix><ARCH>` and value `<tagPrefix>-<arch>`. A tag is no
//! secret, so the variable is not masked.

use serde_json::{Map, Value, json};

use super::gitlab::{GitLabTarget, check_target, provider_config_ref};
use super::registration::Registration;
use super::spec::CiVariablesSpec;
use super::validate::Fleet;
use super::{Arch, FleetError};

/// Prefix of each variable key when the XR names none.
pub const DEFAULT_KEY_PREFIX: &str = "CICD_TAG_";

/// GitLab's maximum length of a CI/CD variable key.
pub const MAX_KEY_LENGTH: usize = 255;

/// The CI/CD variables of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiVariables {
    /// The group or project the variables belong to.
    pub target: GitLabTarget,
    /// Prefix of each key; the key of `arch` is `<prefix><ARCH>`.
    pub key_prefix: String,
    /// Whether only pipelines of protected branches and tags see the
    /// variables.
    pub protected: bool,
}

/// Checks `spec.ciVariables`. Without a group or project of its own, the
/// variables go where `registration` registers the runners.
pub fn check_ci_variables(
    spec: &CiVariablesSpec,
    registration: Option<&Registration>,
    architectures: &[Arch],
) -> Result<CiVariables, FleetError> {
    const PATH: &str = "spec.ciVariables";

    let target = match check_target(PATH, &spec.target_fields())? {
        Some(target) => target,
        None => match registration {
            Some(registration) => registration.target.clone(),
            None => {
                return Err(FleetError(format!(
                    "{PATH}: missing the group or project: set {PATH}.groupId or \
                     {PATH}.projectId to the numeric ID of the group or project whose pipelines \
                     use the runners, or use groupIdRef, groupIdSelector, projectIdRef or \
                     projectIdSelector"
                )));
            }
        },
    };

    let key_prefix = match spec.key_prefix.as_deref() {
        None => DEFAULT_KEY_PREFIX.to_string(),
        Some(prefix) => check_key_prefix(prefix, architectures)?,
    };

    Ok(CiVariables {
        target,
        key_prefix,
        protected: spec.protected.unwrap_or(false),
    })
}

/// Checks a key prefix against GitLab's rules for the keys it makes:
/// letters, digits and '_', at most [`MAX_KEY_LENGTH`] characters.
fn check_key_prefix(prefix: &str, architectures: &[Arch]) -> Result<String, FleetError> {
    const PATH: &str = "spec.ciVariables.keyPrefix";
    const HINT: &str = "use letters, digits and '_', such as \"CICD_TAG_\"";

    if prefix.is_empty() {
        return Err(FleetError(format!(
            "{PATH}: must not be empty: {HINT}, or remove the field for the default \
             {DEFAULT_KEY_PREFIX:?}"
        )));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(FleetError(format!(
            "{PATH}: {prefix:?} contains {c:?}, which GitLab does not allow in a variable key: \
             {HINT}"
        )));
    }

    for &arch in architectures {
        let key = variable_key(prefix, arch);
        if key.len() > MAX_KEY_LENGTH {
            return Err(FleetError(format!(
                "{PATH}: the key of {arch} is {} characters, more than GitLab's maximum of \
                 {MAX_KEY_LENGTH}: use a prefix of at most {} characters",
                key.len(),
                MAX_KEY_LENGTH - arch.as_str().len()
            )));
        }
    }

    Ok(prefix.to_string())
}

/// Returns the variable key of `arch`: `prefix` and the architecture in upper
/// case, such as `CICD_TAG_ARM64`.
pub fn variable_key(prefix: &str, arch: Arch) -> String {
    format!("{prefix}{}", arch.as_str().to_uppercase())
}

/// Returns the composed resource name of `arch`'s Variable.
pub fn resource_key(arch: Arch) -> String {
    format!("variable-{arch}")
}

/// Builds the provider-gitlab `Variable` of `arch`.
pub fn variable(fleet: &Fleet, variables: &CiVariables, arch: Arch) -> Value {
    let mut for_provider = Map::new();
    variables.target.insert_into(&mut for_provider);
    for_provider.insert(
        "key".to_string(),
        json!(variable_key(&variables.key_prefix, arch)),
    );
    for_provider.insert("value".to_string(), json!(fleet.tag(arch)));
    for_provider.insert("masked".to_string(), json!(false));
    for_provider.insert("protected".to_string(), json!(variables.protected));

    json!({
        "apiVersion": variables.target.api_version(fleet.scope),
        "kind": "Variable",
        "spec": {
            "forProvider": for_provider,
            "providerConfigRef": provider_config_ref(fleet.scope, &fleet.gitlab_provider_config),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fleet::gitlab::{Owner, OwnerId};
    use crate::fleet::testing::{composite, fleet_of, minimal_spec, namespaced_composite, set};

    const BOTH: &[Arch] = &[Arch::Amd64, Arch::Arm64];

    fn group(id: i64) -> GitLabTarget {
        GitLabTarget {
            owner: Owner::Group,
            id: OwnerId::Id(id),
        }
    }

    fn registration_in(target: GitLabTarget) -> Registration {
        Registration {
            target,
            run_untagged: false,
            access_level: None,
            paused: None,
            maximum_timeout: None,
        }
    }

    #[test]
    fn check_ci_variables_cases() {
        struct Case {
            reason: &'static str,
            spec: CiVariablesSpec,
            registration: Option<Registration>,
            want: Result<CiVariables, &'static str>,
        }

        let cases = [
            Case {
                reason: "defaults: key prefix CICD_TAG_, not protected",
                spec: CiVariablesSpec {
                    group_id: Some(42),
                    ..CiVariablesSpec::default()
                },
                registration: None,
                want: Ok(CiVariables {
                    target: group(42),
                    key_prefix: "CICD_TAG_".to_string(),
                    protected: false,
                }),
            },
            Case {
                reason: "without a target of its own, the variables go where the runners register",
                spec: CiVariablesSpec {
                    protected: Some(true),
                    ..CiVariablesSpec::default()
                },
                registration: Some(registration_in(group(7))),
                want: Ok(CiVariables {
                    target: group(7),
                    key_prefix: "CICD_TAG_".to_string(),
                    protected: true,
                }),
            },
            Case {
                reason: "a target of its own wins over the registration's",
                spec: CiVariablesSpec {
                    project_id: Some(99),
                    key_prefix: Some("RUNNER_TAG_".to_string()),
                    ..CiVariablesSpec::default()
                },
                registration: Some(registration_in(group(7))),
                want: Ok(CiVariables {
                    target: GitLabTarget {
                        owner: Owner::Project,
                        id: OwnerId::Id(99),
                    },
                    key_prefix: "RUNNER_TAG_".to_string(),
                    protected: false,
                }),
            },
            Case {
                reason: "without registration, the variables need a group or project",
                spec: CiVariablesSpec::default(),
                registration: None,
                want: Err("spec.ciVariables: missing the group or project: set \
                           spec.ciVariables.groupId or spec.ciVariables.projectId to the \
                           numeric ID of the group or project whose pipelines use the runners, \
                           or use groupIdRef, groupIdSelector, projectIdRef or \
                           projectIdSelector"),
            },
            Case {
                reason: "a group and a project at once",
                spec: CiVariablesSpec {
                    group_id: Some(1),
                    project_id_ref: Some(crate::fleet::spec::ReferenceSpec {
                        name: Some("app".to_string()),
                    }),
                    ..CiVariablesSpec::default()
                },
                registration: None,
                want: Err(
                    "spec.ciVariables.projectIdRef: spec.ciVariables.groupId is set too: \
                           set only one of groupId, groupIdRef, groupIdSelector, projectId, \
                           projectIdRef and projectIdSelector",
                ),
            },
            Case {
                reason: "GitLab keys allow no '-'",
                spec: CiVariablesSpec {
                    group_id: Some(42),
                    key_prefix: Some("CICD-TAG-".to_string()),
                    ..CiVariablesSpec::default()
                },
                registration: None,
                want: Err(
                    "spec.ciVariables.keyPrefix: \"CICD-TAG-\" contains '-', which GitLab \
                           does not allow in a variable key: use letters, digits and '_', such \
                           as \"CICD_TAG_\"",
                ),
            },
            Case {
                reason: "GitLab keys allow no '$', which would also expand in pipelines",
                spec: CiVariablesSpec {
                    group_id: Some(42),
                    key_prefix: Some("$TAG_".to_string()),
                    ..CiVariablesSpec::default()
                },
                registration: None,
                want: Err(
                    "spec.ciVariables.keyPrefix: \"$TAG_\" contains '$', which GitLab \
                           does not allow in a variable key: use letters, digits and '_', such \
                           as \"CICD_TAG_\"",
                ),
            },
            Case {
                reason: "an empty prefix is never meant",
                spec: CiVariablesSpec {
                    group_id: Some(42),
                    key_prefix: Some(String::new()),
                    ..CiVariablesSpec::default()
                },
                registration: None,
                want: Err(
                    "spec.ciVariables.keyPrefix: must not be empty: use letters, digits \
                           and '_', such as \"CICD_TAG_\", or remove the field for the default \
                           \"CICD_TAG_\"",
                ),
            },
            Case {
                reason: "the key must fit GitLab's maximum of 255 characters",
                spec: CiVariablesSpec {
                    group_id: Some(42),
                    key_prefix: Some("K".repeat(251)),
                    ..CiVariablesSpec::default()
                },
                registration: None,
                want: Err(
                    "spec.ciVariables.keyPrefix: the key of amd64 is 256 characters, more \
                           than GitLab's maximum of 255: use a prefix of at most 250 characters",
                ),
            },
        ];

        for case in cases {
            let got = check_ci_variables(&case.spec, case.registration.as_ref(), BOTH);
            let want = case.want.map_err(|message| FleetError(message.to_string()));
            assert_eq!(got, want, "{}", case.reason);
        }
    }

    #[test]
    fn key_prefix_at_maximum() {
        let spec = CiVariablesSpec {
            group_id: Some(42),
            key_prefix: Some("K".repeat(250)),
            ..CiVariablesSpec::default()
        };

        let variables = check_ci_variables(&spec, None, BOTH).unwrap();

        assert_eq!(variable_key(&variables.key_prefix, Arch::Arm64).len(), 255);
    }

    #[test]
    fn variable_key_upper_cases_arch() {
        assert_eq!(variable_key("CICD_TAG_", Arch::Amd64), "CICD_TAG_AMD64");
        assert_eq!(variable_key("runner_", Arch::Arm64), "runner_ARM64");
    }

    #[test]
    fn variable_of_group_cluster_xr() {
        let mut xr = composite(minimal_spec());
        set(&mut xr, "/spec/ciVariables", json!({"groupId": 42}));
        let fleet = fleet_of(&xr);

        assert_eq!(
            variable(&fleet, fleet.ci_variables.as_ref().unwrap(), Arch::Arm64),
            json!({
                "apiVersion": "groups.gitlab.crossplane.io/v1alpha1",
                "kind": "Variable",
                "spec": {
                    "forProvider": {
                        "groupId": 42,
                        "key": "CICD_TAG_ARM64",
                        "value": "sandbox-arm64",
                        "masked": false,
                        "protected": false,
                    },
                    "providerConfigRef": {"name": "default"},
                },
            })
        );
    }

    #[test]
    fn variable_of_project_namespaced_xr() {
        let mut xr = namespaced_composite(minimal_spec());
        set(
            &mut xr,
            "/spec/ciVariables",
            json!({"projectIdSelector": {"matchLabels": {"app": "web"}}, "keyPrefix": "TAG_", "protected": true}),
        );
        let fleet = fleet_of(&xr);

        assert_eq!(
            variable(&fleet, fleet.ci_variables.as_ref().unwrap(), Arch::Amd64),
            json!({
                "apiVersion": "projects.gitlab.m.crossplane.io/v1alpha1",
                "kind": "Variable",
                "spec": {
                    "forProvider": {
                        "projectIdSelector": {"matchLabels": {"app": "web"}},
                        "key": "TAG_AMD64",
                        "value": "sandbox-amd64",
                        "masked": false,
                        "protected": true,
                    },
                    "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
                },
            })
        );
    }

    #[test]
    fn resource_key_per_arch() {
        assert_eq!(resource_key(Arch::Amd64), "variable-amd64");
        assert_eq!(resource_key(Arch::Arm64), "variable-arm64");
    }
}
