//! The group or project that provider-gitlab resources belong to, named by
//! numeric ID, by a reference to a provider-gitlab `Group` or `Project`, or
//! by a label selector. Also the API group of the provider-gitlab kinds for
//! each scope of the composite resource.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::spec::{CiVariablesSpec, ReferenceSpec, RegistrationSpec, SelectorSpec};
use super::{FleetError, Scope};

/// The version of every provider-gitlab kind the function composes.
const API_VERSION: &str = "v1alpha1";

/// The kind of ProviderConfig a namespaced provider-gitlab resource refers
/// to.
const NAMESPACED_PROVIDER_CONFIG_KIND: &str = "ClusterProviderConfig";

/// Whether a resource belongs to a GitLab group or to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A group: the runners serve every project in it.
    Group,
    /// A single project.
    Project,
}

impl Owner {
    /// Returns the provider-gitlab kind that represents the owner, which
    /// references and selectors point at.
    pub fn kind(self) -> &'static str {
        match self {
            Owner::Group => "Group",
            Owner::Project => "Project",
        }
    }

    /// Returns the field of provider-gitlab's `forProvider` that contains the
    /// owner's numeric ID.
    fn id_field(self) -> &'static str {
        match self {
            Owner::Group => "groupId",
            Owner::Project => "projectId",
        }
    }

    /// Returns the first label of the provider-gitlab API group, such as
    /// `groups` in `groups.gitlab.crossplane.io`.
    fn api_group_prefix(self) -> &'static str {
        match self {
            Owner::Group => "groups",
            Owner::Project => "projects",
        }
    }
}

/// Reference to the group or project: numeric ID, resource name or label
/// selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerId {
    /// The numeric ID, as GitLab shows it on the group or project page.
    Id(i64),
    /// The name of a provider-gitlab `Group` or `Project` to take the ID
    /// from.
    Reference(String),
    /// Labels of a provider-gitlab `Group` or `Project` to take the ID from.
    Selector {
        /// Labels the selected resource carries.
        match_labels: BTreeMap<String, String>,
        /// Whether only a resource composed by the same composite resource
        /// may match.
        match_controller_ref: bool,
    },
}

/// The group or project a provider-gitlab resource belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabTarget {
    /// Group or project.
    pub owner: Owner,
    /// Reference to the group or project.
    pub id: OwnerId,
}

impl GitLabTarget {
    /// Returns the apiVersion of the provider-gitlab kinds for this owner
    /// and scope, such as `groups.gitlab.m.crossplane.io/v1alpha1`.
    pub fn api_version(&self, scope: Scope) -> String {
        let prefix = self.owner.api_group_prefix();
        match scope {
            Scope::Cluster => format!("{prefix}.gitlab.crossplane.io/{API_VERSION}"),
            Scope::Namespaced => format!("{prefix}.gitlab.m.crossplane.io/{API_VERSION}"),
        }
    }

    /// Inserts the field that names the group or project into a
    /// provider-gitlab `forProvider`: `groupId`, `groupIdRef` or
    /// `groupIdSelector`, or the same for a project.
    pub fn insert_into(&self, for_provider: &mut Map<String, Value>) {
        let field = self.owner.id_field();
        match &self.id {
            OwnerId::Id(id) => {
                for_provider.insert(field.to_string(), json!(id));
            }
            OwnerId::Reference(name) => {
                for_provider.insert(format!("{field}Ref"), json!({"name": name}));
            }
            OwnerId::Selector {
                match_labels,
                match_controller_ref,
            } => {
                let mut selector = Map::new();
                if *match_controller_ref {
                    selector.insert("matchControllerRef".to_string(), json!(true));
                }
                if !match_labels.is_empty() {
                    selector.insert("matchLabels".to_string(), json!(match_labels));
                }
                for_provider.insert(format!("{field}Selector"), Value::Object(selector));
            }
        }
    }
}

/// Returns the `providerConfigRef` of a provider-gitlab resource.
pub fn provider_config_ref(scope: Scope, name: &str) -> Value {
    match scope {
        Scope::Cluster => json!({"name": name}),
        Scope::Namespaced => json!({"kind": NAMESPACED_PROVIDER_CONFIG_KIND, "name": name}),
    }
}

/// The six fields that may name a group or project, as one spec section
/// contains them.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetFields<'a> {
    /// `groupId`.
    pub group_id: Option<i64>,
    /// `groupIdRef`.
    pub group_id_ref: Option<&'a ReferenceSpec>,
    /// `groupIdSelector`.
    pub group_id_selector: Option<&'a SelectorSpec>,
    /// `projectId`.
    pub project_id: Option<i64>,
    /// `projectIdRef`.
    pub project_id_ref: Option<&'a ReferenceSpec>,
    /// `projectIdSelector`.
    pub project_id_selector: Option<&'a SelectorSpec>,
}

impl RegistrationSpec {
    /// Returns the fields that name the group or project.
    pub fn target_fields(&self) -> TargetFields<'_> {
        TargetFields {
            group_id: self.group_id,
            group_id_ref: self.group_id_ref.as_ref(),
            group_id_selector: self.group_id_selector.as_ref(),
            project_id: self.project_id,
            project_id_ref: self.project_id_ref.as_ref(),
            project_id_selector: self.project_id_selector.as_ref(),
        }
    }
}

impl CiVariablesSpec {
    /// Returns the fields that name the group or project.
    pub fn target_fields(&self) -> TargetFields<'_> {
        TargetFields {
            group_id: self.group_id,
            group_id_ref: self.group_id_ref.as_ref(),
            group_id_selector: self.group_id_selector.as_ref(),
            project_id: self.project_id,
            project_id_ref: self.project_id_ref.as_ref(),
            project_id_selector: self.project_id_selector.as_ref(),
        }
    }
}

/// One of the six fields, before it is checked.
enum Field<'a> {
    Id(i64),
    Reference(&'a ReferenceSpec),
    Selector(&'a SelectorSpec),
}

/// Checks the fields under `path` that name a group or project. Returns
/// `None` when none is set, so the caller decides whether that is an error.
pub fn check_target(
    path: &str,
    fields: &TargetFields<'_>,
) -> Result<Option<GitLabTarget>, FleetError> {
    let candidates = [
        ("groupId", Owner::Group, fields.group_id.map(Field::Id)),
        (
            "groupIdRef",
            Owner::Group,
            fields.group_id_ref.map(Field::Reference),
        ),
        (
            "groupIdSelector",
            Owner::Group,
            fields.group_id_selector.map(Field::Selector),
        ),
        (
            "projectId",
            Owner::Project,
            fields.project_id.map(Field::Id),
        ),
        (
            "projectIdRef",
            Owner::Project,
            fields.project_id_ref.map(Field::Reference),
        ),
        (
            "projectIdSelector",
            Owner::Project,
            fields.project_id_selector.map(Field::Selector),
        ),
    ];
    let mut set = candidates
        .into_iter()
        .filter_map(|(name, owner, field)| field.map(|field| (name, owner, field)));

    let Some((name, owner, field)) = set.next() else {
        return Ok(None);
    };
    if let Some((second, _, _)) = set.next() {
        return Err(FleetError(format!(
            "{path}.{second}: {path}.{name} is set too: set only one of groupId, groupIdRef, \
             groupIdSelector, projectId, projectIdRef and projectIdSelector"
        )));
    }

    let field_path = format!("{path}.{name}");
    let kind = owner.kind();
    let id = match field {
        Field::Id(id) if id < 1 => {
            return Err(FleetError(format!(
                "{field_path}: {id} is not a GitLab ID: set the numeric ID of the {}, 1 or more, \
                 as GitLab shows it on the {} page",
                kind.to_lowercase(),
                kind.to_lowercase()
            )));
        }
        Field::Id(id) => OwnerId::Id(id),
        Field::Reference(reference) => match reference.name.as_deref() {
            None | Some("") => {
                return Err(FleetError(format!(
                    "{field_path}.name: missing: name the provider-gitlab {kind} to take the ID from"
                )));
            }
            Some(name) => OwnerId::Reference(name.to_string()),
        },
        Field::Selector(selector) => {
            let match_labels = selector.match_labels.clone().unwrap_or_default();
            let match_controller_ref = selector.match_controller_ref.unwrap_or(false);
            if match_labels.is_empty() && !match_controller_ref {
                return Err(FleetError(format!(
                    "{field_path}: selects every {kind}: set matchLabels, or matchControllerRef: \
                     true for a {kind} composed by the same composite resource"
                )));
            }
            OwnerId::Selector {
                match_labels,
                match_controller_ref,
            }
        }
    };

    Ok(Some(GitLabTarget { owner, id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> ReferenceSpec {
        ReferenceSpec {
            name: Some(name.to_string()),
        }
    }

    fn selector(labels: &[(&str, &str)], controller: Option<bool>) -> SelectorSpec {
        SelectorSpec {
            match_labels: Some(
                labels
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect(),
            ),
            match_controller_ref: controller,
        }
    }

    #[test]
    fn check_target_cases() {
        struct Case {
            reason: &'static str,
            spec: RegistrationSpec,
            want: Result<Option<GitLabTarget>, &'static str>,
        }

        let cases = [
            Case {
                reason: "no field set is for the caller to judge",
                spec: RegistrationSpec::default(),
                want: Ok(None),
            },
            Case {
                reason: "a group ID",
                spec: RegistrationSpec {
                    group_id: Some(42),
                    ..RegistrationSpec::default()
                },
                want: Ok(Some(GitLabTarget {
                    owner: Owner::Group,
                    id: OwnerId::Id(42),
                })),
            },
            Case {
                reason: "a project reference",
                spec: RegistrationSpec {
                    project_id_ref: Some(reference("platform")),
                    ..RegistrationSpec::default()
                },
                want: Ok(Some(GitLabTarget {
                    owner: Owner::Project,
                    id: OwnerId::Reference("platform".to_string()),
                })),
            },
            Case {
                reason: "a group selector by labels",
                spec: RegistrationSpec {
                    group_id_selector: Some(selector(&[("team", "ci")], None)),
                    ..RegistrationSpec::default()
                },
                want: Ok(Some(GitLabTarget {
                    owner: Owner::Group,
                    id: OwnerId::Selector {
                        match_labels: [("team".to_string(), "ci".to_string())].into(),
                        match_controller_ref: false,
                    },
                })),
            },
            Case {
                reason: "a selector of the composite's own project",
                spec: RegistrationSpec {
                    project_id_selector: Some(selector(&[], Some(true))),
                    ..RegistrationSpec::default()
                },
                want: Ok(Some(GitLabTarget {
                    owner: Owner::Project,
                    id: OwnerId::Selector {
                        match_labels: BTreeMap::new(),
                        match_controller_ref: true,
                    },
                })),
            },
            Case {
                reason: "a group and a project at once",
                spec: RegistrationSpec {
                    group_id: Some(42),
                    project_id: Some(7),
                    ..RegistrationSpec::default()
                },
                want: Err(
                    "spec.registration.projectId: spec.registration.groupId is set too: set \
                           only one of groupId, groupIdRef, groupIdSelector, projectId, \
                           projectIdRef and projectIdSelector",
                ),
            },
            Case {
                reason: "a reference and a selector of the same kind",
                spec: RegistrationSpec {
                    group_id_ref: Some(reference("platform")),
                    group_id_selector: Some(selector(&[("team", "ci")], None)),
                    ..RegistrationSpec::default()
                },
                want: Err(
                    "spec.registration.groupIdSelector: spec.registration.groupIdRef is \
                           set too: set only one of groupId, groupIdRef, groupIdSelector, \
                           projectId, projectIdRef and projectIdSelector",
                ),
            },
            Case {
                reason: "GitLab IDs start at 1",
                spec: RegistrationSpec {
                    project_id: Some(0),
                    ..RegistrationSpec::default()
                },
                want: Err(
                    "spec.registration.projectId: 0 is not a GitLab ID: set the numeric ID \
                           of the project, 1 or more, as GitLab shows it on the project page",
                ),
            },
            Case {
                reason: "a reference needs a name",
                spec: RegistrationSpec {
                    group_id_ref: Some(ReferenceSpec::default()),
                    ..RegistrationSpec::default()
                },
                want: Err(
                    "spec.registration.groupIdRef.name: missing: name the provider-gitlab \
                           Group to take the ID from",
                ),
            },
            Case {
                reason: "an empty selector would pick any group",
                spec: RegistrationSpec {
                    group_id_selector: Some(selector(&[], Some(false))),
                    ..RegistrationSpec::default()
                },
                want: Err(
                    "spec.registration.groupIdSelector: selects every Group: set \
                           matchLabels, or matchControllerRef: true for a Group composed by the \
                           same composite resource",
                ),
            },
        ];

        for case in cases {
            let got = check_target("spec.registration", &case.spec.target_fields())
                .map_err(|error| error.0);
            let want = case.want.map_err(str::to_string);
            assert_eq!(got, want, "{}", case.reason);
        }
    }

    #[test]
    fn api_version_per_owner_and_scope() {
        let cases = [
            (
                Owner::Group,
                Scope::Cluster,
                "groups.gitlab.crossplane.io/v1alpha1",
            ),
            (
                Owner::Group,
                Scope::Namespaced,
                "groups.gitlab.m.crossplane.io/v1alpha1",
            ),
            (
                Owner::Project,
                Scope::Cluster,
                "projects.gitlab.crossplane.io/v1alpha1",
            ),
            (
                Owner::Project,
                Scope::Namespaced,
                "projects.gitlab.m.crossplane.io/v1alpha1",
            ),
        ];

        for (owner, scope, want) in cases {
            let target = GitLabTarget {
                owner,
                id: OwnerId::Id(1),
            };
            assert_eq!(target.api_version(scope), want, "{owner:?} {scope:?}");
        }
    }

    #[test]
    fn insert_into_writes_one_field() {
        let cases = [
            (OwnerId::Id(42), json!({"groupId": 42})),
            (
                OwnerId::Reference("platform".to_string()),
                json!({"groupIdRef": {"name": "platform"}}),
            ),
            (
                OwnerId::Selector {
                    match_labels: [("team".to_string(), "ci".to_string())].into(),
                    match_controller_ref: true,
                },
                json!({"groupIdSelector": {"matchControllerRef": true, "matchLabels": {"team": "ci"}}}),
            ),
            (
                OwnerId::Selector {
                    match_labels: [("team".to_string(), "ci".to_string())].into(),
                    match_controller_ref: false,
                },
                json!({"groupIdSelector": {"matchLabels": {"team": "ci"}}}),
            ),
        ];

        for (id, want) in cases {
            let mut for_provider = Map::new();
            GitLabTarget {
                owner: Owner::Group,
                id,
            }
            .insert_into(&mut for_provider);
            assert_eq!(Value::Object(for_provider), want);
        }
    }

    #[test]
    fn provider_config_ref_per_scope() {
        assert_eq!(
            provider_config_ref(Scope::Cluster, "gitlab"),
            json!({"name": "gitlab"})
        );
        assert_eq!(
            provider_config_ref(Scope::Namespaced, "gitlab"),
            json!({"kind": "ClusterProviderConfig", "name": "gitlab"}),
            "the namespaced kinds require the kind of their provider config"
        );
    }
}
