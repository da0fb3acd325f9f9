//! Registration of one GitLab runner per architecture through provider-gitlab.
//!
//! With runner authentication tokens (`glrt-...`), a runner's tags, its
//! access level and its timeout live in GitLab, and the chart can no longer
//! set them. So the function composes a provider-gitlab `Runner` per
//! architecture that carries the tag `<tagPrefix>-<arch>`. provider-gitlab
//! writes the runner's token under the key `token` of the Runner's connection
//! Secret, and the architecture's Release reads it from there through
//! `set[].valueFrom.secretKeyRef`, so the token never appears in a spec.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::gitlab::{GitLabTarget, check_target, provider_config_ref};
use super::spec::RegistrationSpec;
use super::validate::{Fleet, TokenSecret};
use super::{Arch, FleetCondition, FleetError, Scope};

/// The connection detail under which provider-gitlab writes a runner's
/// authentication token.
pub const TOKEN_KEY: &str = "token";

/// Suffix of each token Secret's name, after the Helm release name.
const TOKEN_SECRET_SUFFIX: &str = "-runner-token";

/// GitLab rejects a runner maximum job timeout below 10 minutes.
pub const MIN_MAXIMUM_TIMEOUT_SECONDS: i64 = 600;

/// The access levels GitLab accepts for a runner.
const ACCESS_LEVELS: [&str; 2] = ["not_protected", "ref_protected"];

/// Condition type: whether every runner is registered and its token written.
pub const REGISTERED_CONDITION: &str = "RunnerRegistered";

/// Settings of the runners that provider-gitlab registers for the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The group or project the runners register in.
    pub target: GitLabTarget,
    /// Whether the runners also pick jobs without tags.
    pub run_untagged: bool,
    /// `not_protected` or `ref_protected`, where set.
    pub access_level: Option<String>,
    /// Whether the runners are paused, where set.
    pub paused: Option<bool>,
    /// Maximum job timeout, in seconds, where set.
    pub maximum_timeout: Option<i64>,
}

/// Checks `spec.registration`.
pub fn check_registration(spec: &RegistrationSpec) -> Result<Registration, FleetError> {
    const PATH: &str = "spec.registration";

    let target = check_target(PATH, &spec.target_fields())?.ok_or_else(|| {
        FleetError(format!(
            "{PATH}: missing the group or project: set {PATH}.groupId or {PATH}.projectId to the \
             numeric ID of the group or project to register the runners in, or use groupIdRef, \
             groupIdSelector, projectIdRef or projectIdSelector"
        ))
    })?;

    if let Some(level) = spec.access_level.as_deref()
        && !ACCESS_LEVELS.contains(&level)
    {
        return Err(FleetError(format!(
            "{PATH}.accessLevel: unsupported access level {level:?}: use \"not_protected\" for \
             jobs of every branch and tag, or \"ref_protected\" for jobs of protected branches \
             and tags only"
        )));
    }

    if let Some(seconds) = spec.maximum_timeout
        && seconds < MIN_MAXIMUM_TIMEOUT_SECONDS
    {
        return Err(FleetError(format!(
            "{PATH}.maximumTimeout: {seconds} is less than {MIN_MAXIMUM_TIMEOUT_SECONDS}: GitLab \
             requires a runner's maximum job timeout to be at least 10 minutes; set \
             {MIN_MAXIMUM_TIMEOUT_SECONDS} seconds or more, or remove the field for no limit"
        )));
    }

    Ok(Registration {
        target,
        run_untagged: spec.run_untagged.unwrap_or(false),
        access_level: spec.access_level.clone(),
        paused: spec.paused,
        maximum_timeout: spec.maximum_timeout,
    })
}

/// Names the Secret that `arch`'s Runner writes its token to and its Release
/// reads it from: `<release name>-runner-token`, in the charts' namespace.
///
/// A namespaced Runner writes its connection Secret into its own namespace,
/// which is the namespace a namespaced Release reads from, so the Secret
/// then has no namespace of its own.
pub fn token_secret(fleet_namespace: &str, release_name: &str, scope: Scope) -> TokenSecret {
    TokenSecret {
        name: format!("{release_name}{TOKEN_SECRET_SUFFIX}"),
        key: TOKEN_KEY.to_string(),
        namespace: match scope {
            Scope::Cluster => Some(fleet_namespace.to_string()),
            Scope::Namespaced => None,
        },
    }
}

/// Returns the composed resource name of `arch`'s Runner.
pub fn resource_key(arch: Arch) -> String {
    format!("runner-{arch}")
}

/// Builds the provider-gitlab `Runner` of `arch`.
pub fn runner(fleet: &Fleet, registration: &Registration, arch: Arch) -> Value {
    let secret = token_secret(&fleet.namespace, &fleet.release_name(arch), fleet.scope);

    let mut for_provider = Map::new();
    registration.target.insert_into(&mut for_provider);
    for_provider.insert(
        "description".to_string(),
        json!(format!(
            "GitLab runner fleet {}: {arch} runner with tag {}",
            fleet.composite_name,
            fleet.tag(arch)
        )),
    );
    for_provider.insert("tagList".to_string(), json!([fleet.tag(arch)]));
    for_provider.insert("runUntagged".to_string(), json!(registration.run_untagged));
    if let Some(level) = &registration.access_level {
        for_provider.insert("accessLevel".to_string(), json!(level));
    }
    if let Some(paused) = registration.paused {
        for_provider.insert("paused".to_string(), json!(paused));
    }
    if let Some(seconds) = registration.maximum_timeout {
        for_provider.insert("maximumTimeout".to_string(), json!(seconds));
    }

    let mut secret_ref = Map::new();
    secret_ref.insert("name".to_string(), json!(secret.name));
    if let Some(namespace) = &secret.namespace {
        secret_ref.insert("namespace".to_string(), json!(namespace));
    }

    json!({
        "apiVersion": registration.target.api_version(fleet.scope),
        "kind": "Runner",
        "spec": {
            "forProvider": for_provider,
            "providerConfigRef": provider_config_ref(fleet.scope, &fleet.gitlab_provider_config),
            "writeConnectionSecretToRef": secret_ref,
        },
    })
}

/// Builds the `RunnerRegistered` condition: True once every Runner is
/// ready, False while any runner waits for its token.
///
/// A Release whose Secret does not exist yet is still composed: provider-helm
/// retries it until the Runner has written the token.
pub fn registered_condition(fleet: &Fleet, registered: &BTreeMap<Arch, bool>) -> FleetCondition {
    let waiting: Vec<String> = fleet
        .architectures
        .iter()
        .filter(|arch| !registered.get(arch).copied().unwrap_or(false))
        .map(|&arch| {
            let secret = token_secret(&fleet.namespace, &fleet.release_name(arch), fleet.scope);
            format!(
                "{arch} (Runner {:?}, Secret {})",
                resource_key(arch),
                secret.describe()
            )
        })
        .collect();

    if waiting.is_empty() {
        return FleetCondition {
            condition_type: REGISTERED_CONDITION.to_string(),
            status: Some(true),
            reason: "RunnersRegistered".to_string(),
            message: format!(
                "provider-gitlab registered the runner of every architecture in GitLab and wrote \
                 its token: {}",
                fleet
                    .architectures
                    .iter()
                    .map(|arch| arch.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }

    FleetCondition {
        condition_type: REGISTERED_CONDITION.to_string(),
        status: Some(false),
        reason: "WaitingForRunnerToken".to_string(),
        message: format!(
            "waiting for provider-gitlab to register the runner in GitLab and write its token: \
             {}. Each Release is applied already and installs once its Secret holds the token",
            waiting.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fleet::gitlab::{Owner, OwnerId};
    use crate::fleet::testing::{
        composite, fleet_of, namespaced_composite, registration_spec, set,
    };

    #[test]
    fn check_registration_defaults() {
        let spec = RegistrationSpec {
            group_id: Some(42),
            ..RegistrationSpec::default()
        };

        assert_eq!(
            check_registration(&spec),
            Ok(Registration {
                target: GitLabTarget {
                    owner: Owner::Group,
                    id: OwnerId::Id(42),
                },
                run_untagged: false,
                access_level: None,
                paused: None,
                maximum_timeout: None,
            })
        );
    }

    #[test]
    fn check_registration_errors() {
        struct Case {
            reason: &'static str,
            spec: RegistrationSpec,
            error: &'static str,
        }

        let cases = [
            Case {
                reason: "a runner must register somewhere",
                spec: RegistrationSpec {
                    run_untagged: Some(true),
                    ..RegistrationSpec::default()
                },
                error: "spec.registration: missing the group or project: set \
                        spec.registration.groupId or spec.registration.projectId to the numeric \
                        ID of the group or project to register the runners in, or use \
                        groupIdRef, groupIdSelector, projectIdRef or projectIdSelector",
            },
            Case {
                reason: "GitLab knows two access levels",
                spec: RegistrationSpec {
                    project_id: Some(7),
                    access_level: Some("protected".to_string()),
                    ..RegistrationSpec::default()
                },
                error: "spec.registration.accessLevel: unsupported access level \"protected\": \
                        use \"not_protected\" for jobs of every branch and tag, or \
                        \"ref_protected\" for jobs of protected branches and tags only",
            },
            Case {
                reason: "GitLab rejects a maximum timeout under 10 minutes",
                spec: RegistrationSpec {
                    group_id: Some(42),
                    maximum_timeout: Some(599),
                    ..RegistrationSpec::default()
                },
                error: "spec.registration.maximumTimeout: 599 is less than 600: GitLab requires \
                        a runner's maximum job timeout to be at least 10 minutes; set 600 \
                        seconds or more, or remove the field for no limit",
            },
        ];

        for case in cases {
            assert_eq!(
                check_registration(&case.spec),
                Err(FleetError(case.error.to_string())),
                "{}",
                case.reason
            );
        }
    }

    #[test]
    fn check_registration_accepts_limits() {
        let spec = RegistrationSpec {
            group_id: Some(42),
            access_level: Some("ref_protected".to_string()),
            maximum_timeout: Some(600),
            paused: Some(true),
            run_untagged: Some(true),
            ..RegistrationSpec::default()
        };

        let registration = check_registration(&spec).unwrap();

        assert_eq!(registration.maximum_timeout, Some(600), "600 is allowed");
        assert_eq!(registration.access_level.as_deref(), Some("ref_protected"));
        assert!(registration.run_untagged);
        assert_eq!(registration.paused, Some(true));
    }

    #[test]
    fn runner_of_group_cluster_xr() {
        let fleet = fleet_of(&composite(registration_spec(json!({"groupId": 42}))));

        assert_eq!(
            runner(&fleet, fleet.registration.as_ref().unwrap(), Arch::Arm64),
            json!({
                "apiVersion": "groups.gitlab.crossplane.io/v1alpha1",
                "kind": "Runner",
                "spec": {
                    "forProvider": {
                        "groupId": 42,
                        "description": "GitLab runner fleet sandbox: arm64 runner with tag sandbox-arm64",
                        "tagList": ["sandbox-arm64"],
                        "runUntagged": false,
                    },
                    "providerConfigRef": {"name": "default"},
                    "writeConnectionSecretToRef": {
                        "name": "sandbox-arm64-runner-token",
                        "namespace": "gitlab-runner",
                    },
                },
            })
        );
    }

    #[test]
    fn runner_of_project_namespaced_xr() {
        let fleet = fleet_of(&namespaced_composite(registration_spec(json!({
            "projectIdRef": {"name": "platform-ci"},
            "runUntagged": true,
            "accessLevel": "ref_protected",
            "paused": false,
            "maximumTimeout": 3600,
        }))));

        assert_eq!(
            runner(&fleet, fleet.registration.as_ref().unwrap(), Arch::Amd64),
            json!({
                "apiVersion": "projects.gitlab.m.crossplane.io/v1alpha1",
                "kind": "Runner",
                "spec": {
                    "forProvider": {
                        "projectIdRef": {"name": "platform-ci"},
                        "description": "GitLab runner fleet team-a/sandbox: amd64 runner with tag sandbox-amd64",
                        "tagList": ["sandbox-amd64"],
                        "runUntagged": true,
                        "accessLevel": "ref_protected",
                        "paused": false,
                        "maximumTimeout": 3600,
                    },
                    "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
                    "writeConnectionSecretToRef": {"name": "sandbox-amd64-runner-token"},
                },
            }),
            "a namespaced Runner writes its Secret into its own namespace, so the ref has no namespace"
        );
    }

    #[test]
    fn token_secret_follows_release_name() {
        let mut xr = composite(registration_spec(json!({"groupId": 42})));
        set(&mut xr, "/spec/releaseNamePrefix", json!("ci"));
        set(&mut xr, "/spec/namespace", json!("runners"));

        let fleet = fleet_of(&xr);

        assert_eq!(
            fleet.token_secrets[&Arch::Amd64],
            TokenSecret {
                name: "ci-amd64-runner-token".to_string(),
                key: "token".to_string(),
                namespace: Some("runners".to_string()),
            }
        );
    }

    #[test]
    fn registered_condition_cases() {
        let fleet = fleet_of(&composite(registration_spec(json!({"groupId": 42}))));

        struct Case {
            reason: &'static str,
            registered: BTreeMap<Arch, bool>,
            want: FleetCondition,
        }

        let cases = [
            Case {
                reason: "nothing observed yet: both wait for their token",
                registered: BTreeMap::new(),
                want: FleetCondition {
                    condition_type: "RunnerRegistered".to_string(),
                    status: Some(false),
                    reason: "WaitingForRunnerToken".to_string(),
                    message: "waiting for provider-gitlab to register the runner in GitLab and \
                              write its token: amd64 (Runner \"runner-amd64\", Secret \
                              gitlab-runner/sandbox-amd64-runner-token, key \"token\"); arm64 \
                              (Runner \"runner-arm64\", Secret \
                              gitlab-runner/sandbox-arm64-runner-token, key \"token\"). Each \
                              Release is applied already and installs once its Secret holds the \
                              token"
                        .to_string(),
                },
            },
            Case {
                reason: "one runner registered, one waiting",
                registered: [(Arch::Amd64, true), (Arch::Arm64, false)].into(),
                want: FleetCondition {
                    condition_type: "RunnerRegistered".to_string(),
                    status: Some(false),
                    reason: "WaitingForRunnerToken".to_string(),
                    message: "waiting for provider-gitlab to register the runner in GitLab and \
                              write its token: arm64 (Runner \"runner-arm64\", Secret \
                              gitlab-runner/sandbox-arm64-runner-token, key \"token\"). Each \
                              Release is applied already and installs once its Secret holds the \
                              token"
                        .to_string(),
                },
            },
            Case {
                reason: "every runner registered",
                registered: [(Arch::Amd64, true), (Arch::Arm64, true)].into(),
                want: FleetCondition {
                    condition_type: "RunnerRegistered".to_string(),
                    status: Some(true),
                    reason: "RunnersRegistered".to_string(),
                    message: "provider-gitlab registered the runner of every architecture in \
                              GitLab and wrote its token: amd64, arm64"
                        .to_string(),
                },
            },
        ];

        for case in cases {
            assert_eq!(
                registered_condition(&fleet, &case.registered),
                case.want,
                "{}",
                case.reason
            );
        }
    }
}
