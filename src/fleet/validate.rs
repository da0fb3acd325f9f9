//! Checks a fleet's spec against every rule that makes it composable and
//! resolves it, with the input's and the built-in defaults, into a [`Fleet`].
//!
//! Checks run in a fixed order and the first failure is returned, so the same
//! spec always gets the same message. Each message names the field path, the
//! value and the fix.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Toleration;
use serde_json::{Map, Value};

use super::dedicated::{NodePoolStrategy, check_strategy};
use super::input::{Defaults, ResolvedChart};
use super::registration::{Registration, check_registration, token_secret};
use super::runner_config::node_tolerations;
use super::spec::{FleetSpec, JobsSpec, ManagerSpec, TokenSecretSpec};
use super::variables::{CiVariables, DEFAULT_KEY_PREFIX, check_ci_variables, variable_key};
use super::{Arch, EventSeverity, FleetError, FleetEvent, Scope};

/// Namespace the charts install into when the XR names none.
pub const DEFAULT_NAMESPACE: &str = "gitlab-runner";

/// Key of the token inside its Secret when the XR names none.
pub const DEFAULT_TOKEN_KEY: &str = "runner-token";

/// The manager's `concurrent` when the XR sets none (the chart's default).
pub const DEFAULT_CONCURRENT: i64 = 10;

/// The Kubernetes executor's own default `poll_timeout`, in seconds. A cold
/// Karpenter node launch can take longer, so a shorter value gets a warning.
pub const EXECUTOR_DEFAULT_POLL_TIMEOUT_SECONDS: i64 = 180;

/// Helm's maximum length of a release name.
pub const MAX_RELEASE_NAME_LENGTH: usize = 53;

/// Largest `spec.values`, in bytes of compact JSON. Every Release carries a
/// copy, each Release must fit in one Kubernetes object (etcd rejects a
/// request over 1.5 MiB by default), and Helm stores a release's values in
/// a Secret of at most 1 MiB. A limit well under both leaves room for the
/// rest of the Release and keeps the function's response, which holds one
/// Release per architecture, far from gRPC's 4 MiB.
pub const MAX_VALUES_BYTES: usize = 512 * 1024;

/// Node labels that carry the architecture. The function sets
/// `kubernetes.io/arch` itself; `beta.kubernetes.io/arch` is its deprecated
/// twin and would contradict it.
const ARCH_LABELS: [&str; 2] = ["kubernetes.io/arch", "beta.kubernetes.io/arch"];

/// The job pod annotation that keeps Karpenter v1 consolidation from
/// interrupting a running job.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";

/// The Karpenter v0 annotation that Karpenter v1 no longer reads.
const DO_NOT_EVICT: &str = "karpenter.sh/do-not-evict";

/// Fix for a fleet with both or neither source of runner tokens.
const TOKEN_SOURCE_FIX: &str = "set exactly one: spec.registration to let the function register \
     a runner per architecture in GitLab through provider-gitlab, or spec.runnerTokenSecrets to \
     name the token Secrets of runners registered by hand";

/// A fleet that passed every check, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// GitLab URL, as written.
    pub gitlab_url: String,
    /// Tag prefix; each runner's tag is `<tag_prefix>-<arch>`.
    pub tag_prefix: String,
    /// Architectures, sorted and unique.
    pub architectures: Vec<Arch>,
    /// Namespace the charts install into.
    pub namespace: String,
    /// Prefix of each Helm release name, `<prefix>-<arch>`.
    pub release_name_prefix: String,
    /// Chart reference.
    pub chart: ResolvedChart,
    /// Token Secret key per architecture: the Secrets the XR names, or
    /// with `registration` the Secrets the composed Runners write.
    pub token_secrets: BTreeMap<Arch, TokenSecret>,
    /// Registration of the runners through provider-gitlab, if the XR
    /// requests it.
    pub registration: Option<Registration>,
    /// CI/CD variables that publish the tags, if the XR requests them.
    pub ci_variables: Option<CiVariables>,
    /// The runner manager pod.
    pub manager: Manager,
    /// The job pods.
    pub jobs: Jobs,
    /// Name of the shared Karpenter NodePool, if any.
    pub node_pool: Option<String>,
    /// How the fleet gets nodes of every architecture from that pool.
    pub node_pool_strategy: NodePoolStrategy,
    /// Extra chart values from `spec.values`.
    pub values: Map<String, Value>,
    /// Scope of the XR, which picks the provider API groups.
    pub scope: Scope,
    /// provider-helm's ProviderConfig name.
    pub helm_provider_config: String,
    /// provider-kubernetes' ProviderConfig name.
    pub kubernetes_provider_config: String,
    /// provider-gitlab's ProviderConfig name.
    pub gitlab_provider_config: String,
    /// The composite resource as descriptions name it: `name`, or
    /// `namespace/name` for a namespaced XR.
    pub composite_name: String,
    /// Response TTL.
    pub ttl: Duration,
}

impl Fleet {
    /// Returns the Helm release name of `arch`.
    pub fn release_name(&self, arch: Arch) -> String {
        format!("{}-{arch}", self.release_name_prefix)
    }

    /// Returns the runner tag of `arch`.
    pub fn tag(&self, arch: Arch) -> String {
        format!("{}-{arch}", self.tag_prefix)
    }

    /// Returns the key of the CI/CD variable that carries `arch`'s tag, such
    /// as `CICD_TAG_ARM64`: the composed Variable's key, or without
    /// `ciVariables` the key the default prefix gives.
    pub fn variable_key(&self, arch: Arch) -> String {
        let prefix = self
            .ci_variables
            .as_ref()
            .map_or(DEFAULT_KEY_PREFIX, |variables| &variables.key_prefix);
        variable_key(prefix, arch)
    }
}

/// A key of a Secret holding one runner's authentication token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenSecret {
    /// Secret name.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
    /// Secret namespace. `None` for a namespaced XR, whose Release can read
    /// Secrets only in its own namespace and has no field to name another.
    pub namespace: Option<String>,
}

/// The runner manager pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    /// Node selector, without the architecture.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations, in the order given.
    pub tolerations: Vec<Toleration>,
    /// How many jobs the manager runs at once.
    pub concurrent: i64,
}

/// The job pods the Kubernetes executor creates.
#[derive(Debug, Clone, PartialEq)]
pub struct Jobs {
    /// Namespace of the job pods.
    pub namespace: String,
    /// Image of jobs that name none.
    pub image: String,
    /// Whether job containers run privileged.
    pub privileged: bool,
    /// Node selector, without the architecture.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations as the executor's `node_tolerations` table:
    /// `"key=value"` or `"key"` to effect.
    pub node_tolerations: BTreeMap<String, String>,
    /// Pod annotations, without `karpenter.sh/do-not-disrupt`.
    pub pod_annotations: BTreeMap<String, String>,
    /// The executor's `poll_timeout`, in seconds.
    pub poll_timeout_seconds: i64,
    /// Helper image per architecture, where the XR sets one.
    pub helper_images: BTreeMap<Arch, String>,
}

/// Checks `spec` and resolves it into a [`Fleet`]. Also returns the Warning
/// events for settings that work but are likely to hurt.
pub fn validate(
    composite: &Value,
    spec: &FleetSpec,
    defaults: &Defaults,
) -> Result<(Fleet, Vec<FleetEvent>), FleetError> {
    let scope = Scope::of_composite(composite);
    let mut events = Vec::new();

    let gitlab_url = check_gitlab_url(spec.gitlab_url.as_deref())?;
    let tag_prefix = check_tag_prefix(spec.tag_prefix.as_deref())?;
    let architectures = check_architectures(spec.architectures.as_deref())?;

    let namespace = match spec.namespace.as_deref() {
        None => DEFAULT_NAMESPACE.to_string(),
        Some(namespace) => check_namespace("spec.namespace", namespace)?,
    };

    let release_name_prefix = check_release_name_prefix(composite, spec, &architectures)?;
    let chart = resolve_chart(spec, &defaults.chart)?;

    let xr_namespace = composite
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (token_secrets, registration) = match (&spec.registration, &spec.runner_token_secrets) {
        (Some(_), Some(_)) => {
            return Err(FleetError(format!(
                "spec.registration, spec.runnerTokenSecrets: both are set: {TOKEN_SOURCE_FIX}"
            )));
        }
        (None, None) => {
            return Err(FleetError(format!(
                "spec.registration, spec.runnerTokenSecrets: neither is set: {TOKEN_SOURCE_FIX}"
            )));
        }
        (Some(registration), None) => {
            let registration = check_registration(registration)?;
            let secrets = architectures
                .iter()
                .map(|&arch| {
                    let release = format!("{release_name_prefix}-{arch}");
                    (arch, token_secret(&namespace, &release, scope))
                })
                .collect();
            (secrets, Some(registration))
        }
        (None, Some(secrets)) => {
            let secrets = check_token_secrets(
                Some(secrets),
                &architectures,
                &namespace,
                scope,
                xr_namespace,
            )?;
            (secrets, None)
        }
    };
    let ci_variables = spec
        .ci_variables
        .as_ref()
        .map(|variables| check_ci_variables(variables, registration.as_ref(), &architectures))
        .transpose()?;

    let manager = check_manager(spec.manager.as_ref())?;
    let jobs = check_jobs(
        spec.jobs.as_ref(),
        &architectures,
        &namespace,
        defaults,
        &mut events,
    )?;

    let (node_pool, node_pool_strategy) = match &spec.node_pool {
        None => (None, NodePoolStrategy::default()),
        Some(pool) => {
            let name = check_node_pool_name(pool.name.as_deref())?;
            let strategy = check_strategy(pool.strategy.as_deref(), &name, &architectures)?;
            (Some(name), strategy)
        }
    };

    let name = composite
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let composite_name = match scope {
        Scope::Cluster => name.to_string(),
        Scope::Namespaced => format!("{xr_namespace}/{name}"),
    };

    let fleet = Fleet {
        gitlab_url,
        tag_prefix,
        architectures,
        namespace,
        release_name_prefix,
        chart,
        token_secrets,
        registration,
        ci_variables,
        manager,
        jobs,
        node_pool,
        node_pool_strategy,
        values: check_values(spec.values.as_ref())?,
        scope,
        helm_provider_config: defaults.helm_provider_config.clone(),
        kubernetes_provider_config: defaults.kubernetes_provider_config.clone(),
        gitlab_provider_config: defaults.gitlab_provider_config.clone(),
        composite_name,
        ttl: defaults.ttl,
    };

    Ok((fleet, events))
}

fn check_gitlab_url(url: Option<&str>) -> Result<String, FleetError> {
    const EXAMPLE: &str = "\"https://gitlab.example.com/\"";

    let Some(url) = url else {
        return Err(FleetError(format!(
            "spec.gitlabUrl: missing: set the https URL of the GitLab instance, such as {EXAMPLE}"
        )));
    };

    let parsed = url::Url::parse(url).map_err(|error| {
        FleetError(format!(
            "spec.gitlabUrl: {url:?} is not a URL ({error}): set the full https URL of the \
             GitLab instance, such as {EXAMPLE}"
        ))
    })?;

    if parsed.scheme() != "https" {
        return Err(FleetError(format!(
            "spec.gitlabUrl: {url:?} does not use https: runners send their authentication \
             token to this URL, so use an https URL, such as {EXAMPLE}"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(FleetError(format!(
            "spec.gitlabUrl: {url:?} has no host: set the full https URL of the GitLab \
             instance, such as {EXAMPLE}"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(FleetError(
            "spec.gitlabUrl: the URL contains credentials: remove the user and password, \
             because the Release spec is readable by anyone who can read the Release"
                .to_string(),
        ));
    }

    Ok(url.to_string())
}

fn check_tag_prefix(prefix: Option<&str>) -> Result<String, FleetError> {
    const HINT: &str = "use lowercase letters, digits, '-', '.' and '_', such as \"sandbox\"";

    let Some(prefix) = prefix else {
        return Err(FleetError(format!(
            "spec.tagPrefix: missing: set the prefix of the runner tags; {HINT}"
        )));
    };
    if prefix.is_empty() {
        return Err(FleetError(format!(
            "spec.tagPrefix: must not be empty: {HINT}"
        )));
    }

    let invalid = prefix
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '.' | '_'));
    match invalid {
        None => Ok(prefix.to_string()),
        Some(',') => Err(FleetError(format!(
            "spec.tagPrefix: {prefix:?} contains a comma, which GitLab reads as a separator \
             between tags: {HINT}"
        ))),
        Some(c) if c.is_whitespace() => Err(FleetError(format!(
            "spec.tagPrefix: {prefix:?} contains white space, which GitLab trims or splits \
             tags on: {HINT}"
        ))),
        Some(c) => Err(FleetError(format!(
            "spec.tagPrefix: {prefix:?} contains {c:?}: {HINT}"
        ))),
    }
}

fn check_architectures(names: Option<&[String]>) -> Result<Vec<Arch>, FleetError> {
    const HINT: &str = "list the architectures to serve, such as [\"amd64\", \"arm64\"]";

    let Some(names) = names else {
        return Err(FleetError(format!("spec.architectures: missing: {HINT}")));
    };
    if names.is_empty() {
        return Err(FleetError(format!(
            "spec.architectures: must not be empty: {HINT}"
        )));
    }

    let mut seen: BTreeMap<Arch, usize> = BTreeMap::new();
    for (index, name) in names.iter().enumerate() {
        let arch: Arch = name
            .parse()
            .map_err(|error| FleetError(format!("spec.architectures[{index}]: {error}")))?;

        if let Some(first) = seen.insert(arch, index) {
            return Err(FleetError(format!(
                "spec.architectures[{index}]: duplicate architecture {name:?}, already at index \
                 {first}: list each architecture once"
            )));
        }
    }

    Ok(seen.into_keys().collect())
}

/// Checks that `name` is a DNS-1123 label: at most 63 lowercase letters,
/// digits and '-', starting and ending with a letter or digit.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());

    name.len() <= 63
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn check_namespace(path: &str, namespace: &str) -> Result<String, FleetError> {
    if is_dns1123_label(namespace) {
        return Ok(namespace.to_string());
    }
    Err(FleetError(format!(
        "{path}: {namespace:?} is not a valid namespace name: use at most 63 lowercase letters, \
         digits and '-', starting and ending with a letter or digit"
    )))
}

/// Resolves the release name prefix and checks the release name of every
/// architecture against Helm's rules.
fn check_release_name_prefix(
    composite: &Value,
    spec: &FleetSpec,
    architectures: &[Arch],
) -> Result<String, FleetError> {
    let (path, prefix, fix) = match spec.release_name_prefix.as_deref() {
        Some(prefix) => (
            "spec.releaseNamePrefix",
            prefix,
            "set a shorter spec.releaseNamePrefix",
        ),
        None => {
            let name = composite
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name.is_empty() {
                return Err(FleetError(
                    "metadata.name: missing: the release names derive from the composite's \
                     name; set spec.releaseNamePrefix"
                        .to_string(),
                ));
            }
            (
                "metadata.name",
                name,
                "set spec.releaseNamePrefix to a shorter prefix",
            )
        }
    };

    for &arch in architectures {
        let release = format!("{prefix}-{arch}");
        if release.len() > MAX_RELEASE_NAME_LENGTH {
            return Err(FleetError(format!(
                "{path}: release name {release:?} is {} characters, more than Helm's maximum of \
                 {MAX_RELEASE_NAME_LENGTH}: {fix}",
                release.len()
            )));
        }
        if !is_dns1123_label(&release) {
            return Err(FleetError(format!(
                "{path}: release name {release:?} is not a DNS-1123 label (lowercase letters, \
                 digits and '-', starting with a letter or digit): set spec.releaseNamePrefix \
                 to such a prefix"
            )));
        }
    }

    Ok(prefix.to_string())
}

fn resolve_chart(spec: &FleetSpec, defaults: &ResolvedChart) -> Result<ResolvedChart, FleetError> {
    let chart = spec.chart.clone().unwrap_or_default();
    let pick = |field: &str, value: Option<String>, default: &str| match value {
        None => Ok(default.to_string()),
        Some(value) if value.is_empty() => Err(FleetError(format!(
            "spec.chart.{field}: must not be empty: set a value or remove the field for the \
             default {default:?}"
        ))),
        Some(value) => Ok(value),
    };

    Ok(ResolvedChart {
        repository: pick("repository", chart.repository, &defaults.repository)?,
        name: pick("name", chart.name, &defaults.name)?,
        version: pick("version", chart.version, &defaults.version)?,
    })
}

fn check_token_secrets(
    secrets: Option<&BTreeMap<String, TokenSecretSpec>>,
    architectures: &[Arch],
    namespace: &str,
    scope: Scope,
    xr_namespace: &str,
) -> Result<BTreeMap<Arch, TokenSecret>, FleetError> {
    let empty = BTreeMap::new();
    let secrets = secrets.unwrap_or(&empty);
    let mut resolved: BTreeMap<Arch, TokenSecret> = BTreeMap::new();

    for &arch in architectures {
        let path = format!("spec.runnerTokenSecrets.{arch}");
        let Some(secret) = secrets.get(arch.as_str()) else {
            return Err(FleetError(format!(
                "{path}: missing: name the Secret holding the {arch} runner's authentication \
                 token (glrt-...); each architecture needs its own runner in GitLab"
            )));
        };
        resolved.insert(
            arch,
            resolve_token_secret(&path, secret, namespace, scope, xr_namespace)?,
        );
    }

    for name in secrets.keys() {
        let in_fleet = name
            .parse::<Arch>()
            .is_ok_and(|arch| architectures.contains(&arch));
        if !in_fleet {
            return Err(FleetError(format!(
                "spec.runnerTokenSecrets.{name}: {name:?} is not in spec.architectures ({}): \
                 remove the entry or add the architecture",
                arch_list(architectures)
            )));
        }
    }

    let mut owners: BTreeMap<&TokenSecret, Arch> = BTreeMap::new();
    for (&arch, secret) in &resolved {
        if let Some(first) = owners.insert(secret, arch) {
            return Err(FleetError(format!(
                "spec.runnerTokenSecrets.{arch}: the same Secret key as \
                 spec.runnerTokenSecrets.{first} ({}): two releases with one token register two \
                 managers of one runner, so GitLab cannot route jobs by architecture; create a \
                 runner per architecture and give each its own Secret",
                secret.describe()
            )));
        }
    }

    Ok(resolved)
}

impl TokenSecret {
    /// Describes the Secret key for messages: `namespace/name, key "key"`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}, key {:?}", self.name, self.key),
            None => format!("{}, key {:?}", self.name, self.key),
        }
    }
}

fn resolve_token_secret(
    path: &str,
    secret: &TokenSecretSpec,
    namespace: &str,
    scope: Scope,
    xr_namespace: &str,
) -> Result<TokenSecret, FleetError> {
    let name = match secret.name.as_deref() {
        None | Some("") => {
            return Err(FleetError(format!(
                "{path}.name: missing: name the Secret holding the runner authentication token"
            )));
        }
        Some(name) => name.to_string(),
    };

    let key = match secret.key.as_deref() {
        None => DEFAULT_TOKEN_KEY.to_string(),
        Some("") => {
            return Err(FleetError(format!(
                "{path}.key: must not be empty: name the key holding the token, or remove the \
                 field for the default {DEFAULT_TOKEN_KEY:?}"
            )));
        }
        Some(key) => key.to_string(),
    };

    let namespace = match (scope, secret.namespace.as_deref()) {
        (_, Some("")) => {
            return Err(FleetError(format!(
                "{path}.namespace: must not be empty: name the Secret's namespace, or remove \
                 the field"
            )));
        }
        (Scope::Cluster, None) => Some(namespace.to_string()),
        (Scope::Cluster, Some(namespace)) => {
            Some(check_namespace(&format!("{path}.namespace"), namespace)?)
        }
        (Scope::Namespaced, None) => None,
        (Scope::Namespaced, Some(other)) if other == xr_namespace => None,
        (Scope::Namespaced, Some(other)) => {
            return Err(FleetError(format!(
                "{path}.namespace: {other:?} is not the composite's namespace \
                 {xr_namespace:?}: a namespaced Release reads Secrets only from its own \
                 namespace; move the Secret there and remove the field"
            )));
        }
    };

    Ok(TokenSecret {
        name,
        key,
        namespace,
    })
}

fn check_manager(manager: Option<&ManagerSpec>) -> Result<Manager, FleetError> {
    let manager = manager.cloned().unwrap_or_default();

    let node_selector = manager.node_selector.unwrap_or_default();
    check_no_arch_label("spec.manager.nodeSelector", &node_selector)?;

    let concurrent = manager.concurrent.unwrap_or(DEFAULT_CONCURRENT);
    if concurrent < 1 {
        return Err(FleetError(format!(
            "spec.manager.concurrent: {concurrent} is less than 1: set how many jobs each \
             runner manager may run at once, 1 or more"
        )));
    }

    Ok(Manager {
        node_selector,
        tolerations: manager.tolerations.unwrap_or_default(),
        concurrent,
    })
}

fn check_jobs(
    jobs: Option<&JobsSpec>,
    architectures: &[Arch],
    namespace: &str,
    defaults: &Defaults,
    events: &mut Vec<FleetEvent>,
) -> Result<Jobs, FleetError> {
    let jobs = jobs.cloned().unwrap_or_default();

    let namespace = match jobs.namespace.as_deref() {
        None => namespace.to_string(),
        Some(namespace) => check_namespace("spec.jobs.namespace", namespace)?,
    };

    let image = match jobs.image {
        None => defaults.job_image.clone(),
        Some(image) if image.is_empty() => {
            return Err(FleetError(format!(
                "spec.jobs.image: must not be empty: name the image of jobs that name none, or \
                 remove the field for the default {:?}",
                defaults.job_image
            )));
        }
        Some(image) => image,
    };

    let node_selector = jobs.node_selector.unwrap_or_default();
    check_no_arch_label("spec.jobs.nodeSelector", &node_selector)?;

    let node_tolerations = node_tolerations(
        "spec.jobs.tolerations",
        jobs.tolerations.as_deref().unwrap_or_default(),
    )?;

    let pod_annotations = check_pod_annotations(jobs.pod_annotations.unwrap_or_default())?;

    let (poll_timeout_seconds, poll_timeout_path) = match jobs.poll_timeout_seconds {
        Some(seconds) => (seconds, "spec.jobs.pollTimeoutSeconds"),
        None => defaults.poll_timeout_seconds,
    };
    if poll_timeout_seconds < 1 {
        return Err(FleetError(format!(
            "spec.jobs.pollTimeoutSeconds: {poll_timeout_seconds} is less than 1: set how many \
             seconds the executor waits for a job pod to start, such as 600"
        )));
    }
    if poll_timeout_seconds < EXECUTOR_DEFAULT_POLL_TIMEOUT_SECONDS {
        events.push(FleetEvent {
            severity: EventSeverity::Warning,
            reason: "ShortPollTimeout".to_string(),
            message: format!(
                "job pods wait at most {poll_timeout_seconds} s for a node (from \
                 {poll_timeout_path}), less than the executor's default of \
                 {EXECUTOR_DEFAULT_POLL_TIMEOUT_SECONDS} s, and a cold Karpenter node launch \
                 can take longer: jobs may fail while their node starts; set \
                 spec.jobs.pollTimeoutSeconds to 600 or more"
            ),
        });
    }

    let helper_images = check_helper_images(jobs.helper_images.unwrap_or_default(), architectures)?;

    Ok(Jobs {
        namespace,
        image,
        privileged: jobs.privileged.unwrap_or(false),
        node_selector,
        node_tolerations,
        pod_annotations,
        poll_timeout_seconds,
        helper_images,
    })
}

fn check_no_arch_label(path: &str, selector: &BTreeMap<String, String>) -> Result<(), FleetError> {
    for label in ARCH_LABELS {
        if let Some(value) = selector.get(label) {
            return Err(FleetError(format!(
                "{}: {value:?}: the function pins each runner to its architecture itself; \
                 remove the entry and list the architectures in spec.architectures",
                key_path(path, label)
            )));
        }
    }
    Ok(())
}

fn check_pod_annotations(
    mut annotations: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, FleetError> {
    const PATH: &str = "spec.jobs.podAnnotations";

    if annotations.contains_key(DO_NOT_EVICT) {
        return Err(FleetError(format!(
            "{}: Karpenter v1 no longer reads this annotation: remove it; the function sets \
             \"{DO_NOT_DISRUPT}\": \"true\" on job pods, which Karpenter v1 reads",
            key_path(PATH, DO_NOT_EVICT)
        )));
    }

    match annotations.remove(DO_NOT_DISRUPT) {
        None => {}
        Some(value) if value == "true" => {}
        Some(value) => {
            return Err(FleetError(format!(
                "{}: {value:?} would let Karpenter consolidation interrupt running jobs: remove \
                 it; the function sets it to \"true\"",
                key_path(PATH, DO_NOT_DISRUPT)
            )));
        }
    }

    Ok(annotations)
}

/// Architecture names that must not appear in a helper image's name or tag
/// for each architecture. Helper image tags are single-architecture, such as
/// `arm64-v18.9.0` or `x86_64-v18.9.0`.
fn foreign_arch_words(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::Amd64 => &["arm64", "aarch64", "s390x", "ppc64le", "riscv64"],
        Arch::Arm64 => &["x86_64", "amd64", "s390x", "ppc64le", "riscv64"],
    }
}

fn check_helper_images(
    images: BTreeMap<String, String>,
    architectures: &[Arch],
) -> Result<BTreeMap<Arch, String>, FleetError> {
    let mut resolved = BTreeMap::new();

    for (name, image) in images {
        let path = format!("spec.jobs.helperImages.{name}");
        let arch = name
            .parse::<Arch>()
            .ok()
            .filter(|arch| architectures.contains(arch))
            .ok_or_else(|| {
                FleetError(format!(
                    "{path}: {name:?} is not in spec.architectures ({}): remove the entry or \
                     add the architecture",
                    arch_list(architectures)
                ))
            })?;

        if image.is_empty() {
            return Err(FleetError(format!(
                "{path}: must not be empty: name the {arch} helper image, or remove the entry \
                 for the runner's default"
            )));
        }

        // NOTE: only the last path segment (name and tag) is checked; an image
        // pinned by digest alone carries no architecture to check.
        let last_segment = image.rsplit('/').next().unwrap_or(&image).to_lowercase();

        if arch == Arch::Arm64 && last_segment.contains("ubi-fips") {
            return Err(FleetError(format!(
                "{path}: {image:?} is a ubi-fips helper image, which is built for amd64 only: \
                 use a non-FIPS arm64 helper image"
            )));
        }
        if let Some(word) = foreign_arch_words(arch)
            .iter()
            .find(|word| last_segment.contains(*word))
        {
            return Err(FleetError(format!(
                "{path}: {image:?} names architecture {word:?}, but this runner's job pods run \
                 on {arch} nodes and helper images are single-architecture: use the {arch} \
                 helper image"
            )));
        }

        resolved.insert(arch, image);
    }

    Ok(resolved)
}

fn check_values(values: Option<&Map<String, Value>>) -> Result<Map<String, Value>, FleetError> {
    let Some(values) = values else {
        return Ok(Map::new());
    };

    // Serializing a map of JSON values cannot fail: every key is a string.
    let size = serde_json::to_vec(values).map_or(0, |json| json.len());
    if size > MAX_VALUES_BYTES {
        return Err(FleetError(format!(
            "spec.values: {size} bytes of JSON, more than the maximum of {MAX_VALUES_BYTES}: \
             every Release carries a copy of these values and Helm stores them in a Secret of \
             at most 1 MiB; move large content, such as certificates, into a Secret or \
             ConfigMap that the values name"
        )));
    }

    Ok(values.clone())
}

fn check_node_pool_name(name: Option<&str>) -> Result<String, FleetError> {
    match name {
        None | Some("") => Err(FleetError(
            "spec.nodePool.name: missing: name the Karpenter NodePool to widen, or remove \
             spec.nodePool"
                .to_string(),
        )),
        Some(name) => Ok(name.to_string()),
    }
}

/// Formats the path of a map entry: `base.key` for a plain key, and
/// `base["key"]` for a key with characters such as '.' or '/'.
pub fn key_path(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{base}.{key}")
    } else {
        format!("{base}[{key:?}]")
    }
}

fn arch_list(architectures: &[Arch]) -> String {
    architectures
        .iter()
        .map(|arch| arch.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::fleet::testing::{
        composite, fleet_of, full_spec, minimal_spec, namespaced_composite, registration_spec,
        remove, set, validate_composite,
    };

    #[test]
    fn validate_resolves_built_in_defaults() {
        let (fleet, events) = validate_composite(&composite(minimal_spec())).unwrap();

        assert_eq!(events, vec![]);
        assert_eq!(fleet.gitlab_url, "https://gitlab.example.com/");
        assert_eq!(fleet.tag_prefix, "sandbox");
        assert_eq!(fleet.architectures, vec![Arch::Amd64, Arch::Arm64]);
        assert_eq!(fleet.namespace, "gitlab-runner");
        assert_eq!(fleet.release_name_prefix, "sandbox");
        assert_eq!(
            fleet.chart,
            ResolvedChart {
                repository: "https://charts.gitlab.io/".into(),
                name: "gitlab-runner".into(),
                version: "0.86.0".into(),
            }
        );
        assert_eq!(
            fleet.token_secrets[&Arch::Arm64],
            TokenSecret {
                name: "runner-arm64".into(),
                key: "runner-token".into(),
                namespace: Some("gitlab-runner".into()),
            }
        );
        assert_eq!(
            fleet.manager,
            Manager {
                node_selector: BTreeMap::new(),
                tolerations: vec![],
                concurrent: 10,
            }
        );
        assert_eq!(
            fleet.jobs,
            Jobs {
                namespace: "gitlab-runner".into(),
                image: "ubuntu:22.04".into(),
                privileged: false,
                node_selector: BTreeMap::new(),
                node_tolerations: BTreeMap::new(),
                pod_annotations: BTreeMap::new(),
                poll_timeout_seconds: 600,
                helper_images: BTreeMap::new(),
            }
        );
        assert_eq!(fleet.node_pool, None);
        assert_eq!(fleet.node_pool_strategy, NodePoolStrategy::Widen);
        assert_eq!(fleet.registration, None);
        assert_eq!(fleet.ci_variables, None);
        assert_eq!(fleet.values, Map::new());
        assert_eq!(fleet.scope, Scope::Cluster);
        assert_eq!(fleet.helm_provider_config, "default");
        assert_eq!(fleet.gitlab_provider_config, "default");
        assert_eq!(fleet.ttl, Duration::from_secs(60));
    }

    #[test]
    fn validate_xr_values_win_over_defaults() {
        let mut xr = composite(minimal_spec());
        set(&mut xr, "/spec/namespace", json!("runners"));
        set(&mut xr, "/spec/releaseNamePrefix", json!("ci"));
        set(&mut xr, "/spec/chart/version", json!("0.79.1"));
        set(&mut xr, "/spec/jobs/image", json!("alpine:3.20"));
        set(&mut xr, "/spec/jobs/pollTimeoutSeconds", json!(900));
        set(
            &mut xr,
            "/spec/runnerTokenSecrets/amd64/namespace",
            json!("secrets"),
        );

        let (fleet, _) = validate_composite(&xr).unwrap();

        assert_eq!(fleet.namespace, "runners");
        assert_eq!(fleet.release_name(Arch::Amd64), "ci-amd64");
        assert_eq!(fleet.chart.version, "0.79.1");
        assert_eq!(fleet.chart.name, "gitlab-runner");
        assert_eq!(fleet.jobs.image, "alpine:3.20");
        assert_eq!(
            fleet.jobs.namespace, "runners",
            "jobs default to spec.namespace"
        );
        assert_eq!(fleet.jobs.poll_timeout_seconds, 900);
        assert_eq!(
            fleet.token_secrets[&Arch::Amd64].namespace.as_deref(),
            Some("secrets")
        );
        assert_eq!(
            fleet.token_secrets[&Arch::Arm64].namespace.as_deref(),
            Some("runners"),
            "a token Secret defaults to the release namespace"
        );
    }

    #[test]
    fn validate_sorts_architectures() {
        let mut xr = composite(minimal_spec());
        set(&mut xr, "/spec/architectures", json!(["arm64", "amd64"]));

        let (fleet, _) = validate_composite(&xr).unwrap();

        assert_eq!(fleet.architectures, vec![Arch::Amd64, Arch::Arm64]);
    }

    #[test]
    fn validate_namespaced_token_secrets_have_no_namespace() {
        let mut xr = namespaced_composite(minimal_spec());
        set(
            &mut xr,
            "/spec/runnerTokenSecrets/amd64/namespace",
            json!("team-a"),
        );

        let (fleet, _) = validate_composite(&xr).unwrap();

        assert_eq!(fleet.scope, Scope::Namespaced);
        assert_eq!(fleet.token_secrets[&Arch::Amd64].namespace, None);
        assert_eq!(fleet.token_secrets[&Arch::Arm64].namespace, None);
    }

    #[test]
    fn validate_full_spec_has_no_events() {
        let (fleet, events) = validate_composite(&composite(full_spec())).unwrap();

        assert_eq!(events, vec![]);
        assert_eq!(
            fleet.jobs.node_tolerations,
            BTreeMap::from([
                ("dedicated=ci".to_string(), "NoSchedule".to_string()),
                ("spot".to_string(), "NoSchedule".to_string()),
            ])
        );
        assert_eq!(fleet.manager.tolerations.len(), 2);
    }

    #[test]
    fn validate_warns_about_short_poll_timeout() {
        struct Case {
            reason: &'static str,
            seconds: i64,
            events: Vec<FleetEvent>,
        }

        let cases = [
            Case {
                reason: "below the executor's 180 s default a cold node launch can time out",
                seconds: 120,
                events: vec![FleetEvent {
                    severity: EventSeverity::Warning,
                    reason: "ShortPollTimeout".into(),
                    message: "job pods wait at most 120 s for a node (from \
                              spec.jobs.pollTimeoutSeconds), less than the executor's default \
                              of 180 s, and a cold Karpenter node launch can take longer: jobs \
                              may fail while their node starts; set \
                              spec.jobs.pollTimeoutSeconds to 600 or more"
                        .into(),
                }],
            },
            Case {
                reason: "the executor's default itself gets no warning",
                seconds: 180,
                events: vec![],
            },
            Case {
                reason: "one second is valid, if short",
                seconds: 1,
                events: vec![FleetEvent {
                    severity: EventSeverity::Warning,
                    reason: "ShortPollTimeout".into(),
                    message: "job pods wait at most 1 s for a node (from \
                              spec.jobs.pollTimeoutSeconds), less than the executor's default \
                              of 180 s, and a cold Karpenter node launch can take longer: jobs \
                              may fail while their node starts; set \
                              spec.jobs.pollTimeoutSeconds to 600 or more"
                        .into(),
                }],
            },
        ];

        for case in cases {
            let mut xr = composite(minimal_spec());
            set(
                &mut xr,
                "/spec/jobs/pollTimeoutSeconds",
                json!(case.seconds),
            );

            let (_, events) = validate_composite(&xr).unwrap();

            assert_eq!(events, case.events, "{}", case.reason);
        }
    }

    #[test]
    fn validate_warns_about_short_input_poll_timeout() {
        let xr = composite(minimal_spec());
        let input = crate::fleet::input::parse_input(Some(&json!({
            "defaultPollTimeoutSeconds": 60,
        })))
        .unwrap();
        let defaults = crate::fleet::input::resolve_defaults(&input).unwrap();
        let spec = crate::fleet::spec::parse_spec(&xr).unwrap();

        let (fleet, events) = validate(&xr, &spec, &defaults).unwrap();

        assert_eq!(fleet.jobs.poll_timeout_seconds, 60);
        assert_eq!(events.len(), 1);
        assert!(
            events[0]
                .message
                .contains("(from input.defaultPollTimeoutSeconds)"),
            "{}",
            events[0].message
        );
    }

    /// An edit of the XR that makes it invalid.
    type Edit = fn(&mut Value);

    struct ErrorCase {
        reason: &'static str,
        edit: Edit,
        error: &'static str,
    }

    fn assert_error_cases(cases: Vec<ErrorCase>, base: fn(Value) -> Value) {
        for case in cases {
            let mut xr = base(minimal_spec());
            (case.edit)(&mut xr);

            let result = validate_composite(&xr);

            match result {
                Ok(_) => panic!("{}: expected an error, got a valid fleet", case.reason),
                Err(error) => assert_eq!(error.0, case.error, "{}", case.reason),
            }
        }
    }

    #[test]
    fn validate_gitlab_url_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "the URL is required",
                    edit: |xr| remove(xr, "/spec/gitlabUrl"),
                    error: "spec.gitlabUrl: missing: set the https URL of the GitLab instance, \
                            such as \"https://gitlab.example.com/\"",
                },
                ErrorCase {
                    reason: "a host name alone is not a URL",
                    edit: |xr| set(xr, "/spec/gitlabUrl", json!("gitlab.example.com")),
                    error: "spec.gitlabUrl: \"gitlab.example.com\" is not a URL (relative URL \
                            without a base): set the full https URL of the GitLab instance, \
                            such as \"https://gitlab.example.com/\"",
                },
                ErrorCase {
                    reason: "the token must not travel in clear text",
                    edit: |xr| set(xr, "/spec/gitlabUrl", json!("http://gitlab.example.com/")),
                    error: "spec.gitlabUrl: \"http://gitlab.example.com/\" does not use https: \
                            runners send their authentication token to this URL, so use an https \
                            URL, such as \"https://gitlab.example.com/\"",
                },
                ErrorCase {
                    reason: "an https URL with no host",
                    edit: |xr| set(xr, "/spec/gitlabUrl", json!("https://")),
                    error: "spec.gitlabUrl: \"https://\" is not a URL (empty host): set the full \
                            https URL of the GitLab instance, such as \
                            \"https://gitlab.example.com/\"",
                },
                ErrorCase {
                    reason: "credentials in the URL would be readable in the Release",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/gitlabUrl",
                            json!("https://ci:pw@gitlab.example.com/"),
                        )
                    },
                    error: "spec.gitlabUrl: the URL contains credentials: remove the user and \
                            password, because the Release spec is readable by anyone who can \
                            read the Release",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_tag_prefix_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "the tag prefix is required",
                    edit: |xr| remove(xr, "/spec/tagPrefix"),
                    error: "spec.tagPrefix: missing: set the prefix of the runner tags; use \
                            lowercase letters, digits, '-', '.' and '_', such as \"sandbox\"",
                },
                ErrorCase {
                    reason: "an empty prefix gives tags \"-amd64\"",
                    edit: |xr| set(xr, "/spec/tagPrefix", json!("")),
                    error: "spec.tagPrefix: must not be empty: use lowercase letters, digits, \
                            '-', '.' and '_', such as \"sandbox\"",
                },
                ErrorCase {
                    reason: "a comma splits the tag in two",
                    edit: |xr| set(xr, "/spec/tagPrefix", json!("a,b")),
                    error: "spec.tagPrefix: \"a,b\" contains a comma, which GitLab reads as a \
                            separator between tags: use lowercase letters, digits, '-', '.' and \
                            '_', such as \"sandbox\"",
                },
                ErrorCase {
                    reason: "white space is trimmed or split on",
                    edit: |xr| set(xr, "/spec/tagPrefix", json!("my runners")),
                    error: "spec.tagPrefix: \"my runners\" contains white space, which GitLab \
                            trims or splits tags on: use lowercase letters, digits, '-', '.' and \
                            '_', such as \"sandbox\"",
                },
                ErrorCase {
                    reason: "upper case is outside the allowed set",
                    edit: |xr| set(xr, "/spec/tagPrefix", json!("Sandbox")),
                    error: "spec.tagPrefix: \"Sandbox\" contains 'S': use lowercase letters, \
                            digits, '-', '.' and '_', such as \"sandbox\"",
                },
                ErrorCase {
                    reason: "a variable reference is not a tag",
                    edit: |xr| set(xr, "/spec/tagPrefix", json!("$CI_TAG")),
                    error: "spec.tagPrefix: \"$CI_TAG\" contains '$': use lowercase letters, \
                            digits, '-', '.' and '_', such as \"sandbox\"",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_architectures_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "architectures are required",
                    edit: |xr| remove(xr, "/spec/architectures"),
                    error: "spec.architectures: missing: list the architectures to serve, such \
                            as [\"amd64\", \"arm64\"]",
                },
                ErrorCase {
                    reason: "a fleet of no architecture composes nothing",
                    edit: |xr| set(xr, "/spec/architectures", json!([])),
                    error: "spec.architectures: must not be empty: list the architectures to \
                            serve, such as [\"amd64\", \"arm64\"]",
                },
                ErrorCase {
                    reason: "only amd64 and arm64 are supported",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/architectures",
                            json!(["amd64", "arm64", "s390x"]),
                        )
                    },
                    error: "spec.architectures[2]: unsupported architecture \"s390x\": use \
                            \"amd64\" or \"arm64\"",
                },
                ErrorCase {
                    reason: "the Go name of x86-64 is amd64, not x86_64",
                    edit: |xr| set(xr, "/spec/architectures", json!(["x86_64"])),
                    error: "spec.architectures[0]: unsupported architecture \"x86_64\": use \
                            \"amd64\" or \"arm64\"",
                },
                ErrorCase {
                    reason: "a duplicate names both indexes",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/architectures",
                            json!(["amd64", "arm64", "amd64"]),
                        )
                    },
                    error: "spec.architectures[2]: duplicate architecture \"amd64\", already at \
                            index 0: list each architecture once",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_namespace_and_release_name_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "a namespace must be a DNS-1123 label",
                    edit: |xr| set(xr, "/spec/namespace", json!("GitLab_Runner")),
                    error: "spec.namespace: \"GitLab_Runner\" is not a valid namespace name: use \
                            at most 63 lowercase letters, digits and '-', starting and ending \
                            with a letter or digit",
                },
                ErrorCase {
                    reason: "the job namespace too",
                    edit: |xr| set(xr, "/spec/jobs/namespace", json!("jobs.ci")),
                    error: "spec.jobs.namespace: \"jobs.ci\" is not a valid namespace name: use \
                            at most 63 lowercase letters, digits and '-', starting and ending \
                            with a letter or digit",
                },
                ErrorCase {
                    reason: "a long prefix makes release names longer than Helm allows",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/releaseNamePrefix",
                            json!("a-very-long-release-name-prefix-for-gitlab-runner"),
                        )
                    },
                    error: "spec.releaseNamePrefix: release name \
                            \"a-very-long-release-name-prefix-for-gitlab-runner-amd64\" is 55 \
                            characters, more than Helm's maximum of 53: set a shorter \
                            spec.releaseNamePrefix",
                },
                ErrorCase {
                    reason: "without a prefix, a long XR name is the cause",
                    edit: |xr| {
                        set(
                            xr,
                            "/metadata/name",
                            json!("team-platform-shared-gitlab-runner-fleet-xk2p9-abcde"),
                        )
                    },
                    error: "metadata.name: release name \
                            \"team-platform-shared-gitlab-runner-fleet-xk2p9-abcde-amd64\" is 58 \
                            characters, more than Helm's maximum of 53: set \
                            spec.releaseNamePrefix to a shorter prefix",
                },
                ErrorCase {
                    reason: "release names must be DNS-1123 labels",
                    edit: |xr| set(xr, "/spec/releaseNamePrefix", json!("CI.Runners")),
                    error: "spec.releaseNamePrefix: release name \"CI.Runners-amd64\" is not a \
                            DNS-1123 label (lowercase letters, digits and '-', starting with a \
                            letter or digit): set spec.releaseNamePrefix to such a prefix",
                },
                ErrorCase {
                    reason: "an XR with no name and no prefix gives no release name",
                    edit: |xr| remove(xr, "/metadata/name"),
                    error: "metadata.name: missing: the release names derive from the \
                            composite's name; set spec.releaseNamePrefix",
                },
                ErrorCase {
                    reason: "an empty chart version would be late-initialised and fought over",
                    edit: |xr| set(xr, "/spec/chart/version", json!("")),
                    error: "spec.chart.version: must not be empty: set a value or remove the \
                            field for the default \"0.86.0\"",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_release_name_at_helm_maximum() {
        let at_maximum = "p".repeat(MAX_RELEASE_NAME_LENGTH - "-arm64".len());
        let mut xr = composite(minimal_spec());
        set(&mut xr, "/spec/releaseNamePrefix", json!(at_maximum));

        let (fleet, _) = validate_composite(&xr).unwrap();

        assert_eq!(fleet.release_name(Arch::Arm64).len(), 53);

        let one_over = format!("{at_maximum}p");
        set(&mut xr, "/spec/releaseNamePrefix", json!(one_over));

        let error = validate_composite(&xr).unwrap_err();

        assert!(error.0.contains("is 54 characters"), "{error}");
    }

    #[test]
    fn validate_token_secret_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "an empty map names no token for any architecture",
                    edit: |xr| set(xr, "/spec/runnerTokenSecrets", json!({})),
                    error: "spec.runnerTokenSecrets.amd64: missing: name the Secret holding the \
                            amd64 runner's authentication token (glrt-...); each architecture \
                            needs its own runner in GitLab",
                },
                ErrorCase {
                    reason: "one architecture without a token",
                    edit: |xr| remove(xr, "/spec/runnerTokenSecrets/arm64"),
                    error: "spec.runnerTokenSecrets.arm64: missing: name the Secret holding the \
                            arm64 runner's authentication token (glrt-...); each architecture \
                            needs its own runner in GitLab",
                },
                ErrorCase {
                    reason: "a token for an architecture outside the fleet is probably a typo",
                    edit: |xr| {
                        set(xr, "/spec/architectures", json!(["amd64"]));
                    },
                    error: "spec.runnerTokenSecrets.arm64: \"arm64\" is not in \
                            spec.architectures (amd64): remove the entry or add the architecture",
                },
                ErrorCase {
                    reason: "an unknown architecture name as a key",
                    edit: |xr| set(xr, "/spec/runnerTokenSecrets/aarch64", json!({"name": "x"})),
                    error: "spec.runnerTokenSecrets.aarch64: \"aarch64\" is not in \
                            spec.architectures (amd64, arm64): remove the entry or add the \
                            architecture",
                },
                ErrorCase {
                    reason: "two architectures sharing one token register one runner twice",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/runnerTokenSecrets/arm64/name",
                            json!("runner-amd64"),
                        )
                    },
                    error: "spec.runnerTokenSecrets.arm64: the same Secret key as \
                            spec.runnerTokenSecrets.amd64 (gitlab-runner/runner-amd64, key \
                            \"runner-token\"): two releases with one token register two managers \
                            of one runner, so GitLab cannot route jobs by architecture; create a \
                            runner per architecture and give each its own Secret",
                },
                ErrorCase {
                    reason: "sharing is found after defaults fill in key and namespace",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/runnerTokenSecrets/arm64",
                            json!({"name": "runner-amd64", "key": "runner-token", "namespace": "gitlab-runner"}),
                        )
                    },
                    error: "spec.runnerTokenSecrets.arm64: the same Secret key as \
                            spec.runnerTokenSecrets.amd64 (gitlab-runner/runner-amd64, key \
                            \"runner-token\"): two releases with one token register two managers \
                            of one runner, so GitLab cannot route jobs by architecture; create a \
                            runner per architecture and give each its own Secret",
                },
                ErrorCase {
                    reason: "a Secret needs a name",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/runnerTokenSecrets/amd64",
                            json!({"key": "token"}),
                        )
                    },
                    error: "spec.runnerTokenSecrets.amd64.name: missing: name the Secret holding \
                            the runner authentication token",
                },
                ErrorCase {
                    reason: "an empty key never holds a token",
                    edit: |xr| set(xr, "/spec/runnerTokenSecrets/amd64/key", json!("")),
                    error: "spec.runnerTokenSecrets.amd64.key: must not be empty: name the key \
                            holding the token, or remove the field for the default \
                            \"runner-token\"",
                },
                ErrorCase {
                    reason: "an empty namespace is never meant",
                    edit: |xr| set(xr, "/spec/runnerTokenSecrets/amd64/namespace", json!("")),
                    error: "spec.runnerTokenSecrets.amd64.namespace: must not be empty: name the \
                            Secret's namespace, or remove the field",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_token_secrets_one_secret_two_keys() {
        let mut xr = composite(minimal_spec());
        set(
            &mut xr,
            "/spec/runnerTokenSecrets",
            json!({
                "amd64": {"name": "runners", "key": "amd64"},
                "arm64": {"name": "runners", "key": "arm64"},
            }),
        );

        let (fleet, _) = validate_composite(&xr).unwrap();

        assert_eq!(fleet.token_secrets[&Arch::Arm64].key, "arm64");
    }

    #[test]
    fn validate_namespaced_token_secret_errors() {
        assert_error_cases(
            vec![ErrorCase {
                reason: "a namespaced Release cannot read a Secret in another namespace",
                edit: |xr| {
                    set(
                        xr,
                        "/spec/runnerTokenSecrets/amd64/namespace",
                        json!("other"),
                    )
                },
                error: "spec.runnerTokenSecrets.amd64.namespace: \"other\" is not the \
                        composite's namespace \"team-a\": a namespaced Release reads Secrets \
                        only from its own namespace; move the Secret there and remove the field",
            }],
            namespaced_composite,
        );
    }

    #[test]
    fn validate_manager_and_jobs_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "a manager that may run no job",
                    edit: |xr| set(xr, "/spec/manager/concurrent", json!(0)),
                    error: "spec.manager.concurrent: 0 is less than 1: set how many jobs each \
                            runner manager may run at once, 1 or more",
                },
                ErrorCase {
                    reason: "the function pins the manager's architecture",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/manager/nodeSelector",
                            json!({"kubernetes.io/arch": "arm64"}),
                        )
                    },
                    error: "spec.manager.nodeSelector[\"kubernetes.io/arch\"]: \"arm64\": the \
                            function pins each runner to its architecture itself; remove the \
                            entry and list the architectures in spec.architectures",
                },
                ErrorCase {
                    reason: "the function pins the job pods' architecture",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/nodeSelector",
                            json!({"lifecycle": "Ec2Spot", "kubernetes.io/arch": "amd64"}),
                        )
                    },
                    error: "spec.jobs.nodeSelector[\"kubernetes.io/arch\"]: \"amd64\": the \
                            function pins each runner to its architecture itself; remove the \
                            entry and list the architectures in spec.architectures",
                },
                ErrorCase {
                    reason: "the deprecated arch label would contradict the pinned one",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/nodeSelector",
                            json!({"beta.kubernetes.io/arch": "amd64"}),
                        )
                    },
                    error: "spec.jobs.nodeSelector[\"beta.kubernetes.io/arch\"]: \"amd64\": the \
                            function pins each runner to its architecture itself; remove the \
                            entry and list the architectures in spec.architectures",
                },
                ErrorCase {
                    reason: "a poll timeout below one second fails every job",
                    edit: |xr| set(xr, "/spec/jobs/pollTimeoutSeconds", json!(0)),
                    error: "spec.jobs.pollTimeoutSeconds: 0 is less than 1: set how many seconds \
                            the executor waits for a job pod to start, such as 600",
                },
                ErrorCase {
                    reason: "an empty job image",
                    edit: |xr| set(xr, "/spec/jobs/image", json!("")),
                    error: "spec.jobs.image: must not be empty: name the image of jobs that name \
                            none, or remove the field for the default \"ubuntu:22.04\"",
                },
                ErrorCase {
                    reason: "Karpenter v1 dropped do-not-evict",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/podAnnotations",
                            json!({"karpenter.sh/do-not-evict": "true"}),
                        )
                    },
                    error: "spec.jobs.podAnnotations[\"karpenter.sh/do-not-evict\"]: Karpenter v1 \
                            no longer reads this annotation: remove it; the function sets \
                            \"karpenter.sh/do-not-disrupt\": \"true\" on job pods, which \
                            Karpenter v1 reads",
                },
                ErrorCase {
                    reason: "do-not-disrupt false lets consolidation kill running jobs",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/podAnnotations",
                            json!({"karpenter.sh/do-not-disrupt": "false"}),
                        )
                    },
                    error: "spec.jobs.podAnnotations[\"karpenter.sh/do-not-disrupt\"]: \"false\" \
                            would let Karpenter consolidation interrupt running jobs: remove it; \
                            the function sets it to \"true\"",
                },
                ErrorCase {
                    reason: "job tolerations the executor cannot express",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/tolerations",
                            json!([{"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]),
                        )
                    },
                    error: "spec.jobs.tolerations[0].tolerationSeconds: 30: the executor's \
                            node_tolerations table cannot express tolerationSeconds: remove it",
                },
                ErrorCase {
                    reason: "a node pool needs a name",
                    edit: |xr| set(xr, "/spec/nodePool", json!({})),
                    error: "spec.nodePool.name: missing: name the Karpenter NodePool to widen, or \
                            remove spec.nodePool",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_helper_image_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "a helper image for an architecture outside the fleet",
                    edit: |xr| {
                        set(xr, "/spec/architectures", json!(["amd64"]));
                        remove(xr, "/spec/runnerTokenSecrets/arm64");
                        set(
                            xr,
                            "/spec/jobs/helperImages/arm64",
                            json!("helper:arm64-v18.9.0"),
                        );
                    },
                    error: "spec.jobs.helperImages.arm64: \"arm64\" is not in spec.architectures \
                            (amd64): remove the entry or add the architecture",
                },
                ErrorCase {
                    reason: "an x86_64 helper on arm64 nodes fails with exec format error",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/helperImages/arm64",
                            json!(
                                "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v18.9.0"
                            ),
                        )
                    },
                    error: "spec.jobs.helperImages.arm64: \
                            \"registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v18.9.0\" \
                            names architecture \"x86_64\", but this runner's job pods run on \
                            arm64 nodes and helper images are single-architecture: use the arm64 \
                            helper image",
                },
                ErrorCase {
                    reason: "an amd64 helper on arm64 nodes",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/helperImages/arm64",
                            json!("mirror/helper:amd64-latest"),
                        )
                    },
                    error: "spec.jobs.helperImages.arm64: \"mirror/helper:amd64-latest\" names \
                            architecture \"amd64\", but this runner's job pods run on arm64 \
                            nodes and helper images are single-architecture: use the arm64 \
                            helper image",
                },
                ErrorCase {
                    reason: "an arm64 helper on amd64 nodes",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/helperImages/amd64",
                            json!("helper:arm64-v18.9.0"),
                        )
                    },
                    error: "spec.jobs.helperImages.amd64: \"helper:arm64-v18.9.0\" names \
                            architecture \"arm64\", but this runner's job pods run on amd64 \
                            nodes and helper images are single-architecture: use the amd64 \
                            helper image",
                },
                ErrorCase {
                    reason: "an aarch64 helper on amd64 nodes",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/helperImages/amd64",
                            json!("helper:AARCH64-v1"),
                        )
                    },
                    error: "spec.jobs.helperImages.amd64: \"helper:AARCH64-v1\" names \
                            architecture \"aarch64\", but this runner's job pods run on amd64 \
                            nodes and helper images are single-architecture: use the amd64 \
                            helper image",
                },
                ErrorCase {
                    reason: "the ubi-fips helper is built for amd64 only",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/jobs/helperImages/arm64",
                            json!(
                                "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:ubi-fips-arm64-v18.9.0"
                            ),
                        )
                    },
                    error: "spec.jobs.helperImages.arm64: \
                            \"registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:ubi-fips-arm64-v18.9.0\" \
                            is a ubi-fips helper image, which is built for amd64 only: use a \
                            non-FIPS arm64 helper image",
                },
                ErrorCase {
                    reason: "an empty helper image",
                    edit: |xr| set(xr, "/spec/jobs/helperImages/amd64", json!("")),
                    error: "spec.jobs.helperImages.amd64: must not be empty: name the amd64 \
                            helper image, or remove the entry for the runner's default",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_token_source_errors() {
        assert_error_cases(
            vec![
                ErrorCase {
                    reason: "runners registered by hand and by the function would be two \
                             runners per architecture",
                    edit: |xr| set(xr, "/spec/registration", json!({"groupId": 42})),
                    error: "spec.registration, spec.runnerTokenSecrets: both are set: set \
                            exactly one: spec.registration to let the function register a runner \
                            per architecture in GitLab through provider-gitlab, or \
                            spec.runnerTokenSecrets to name the token Secrets of runners \
                            registered by hand",
                },
                ErrorCase {
                    reason: "without either, no Release has a token",
                    edit: |xr| remove(xr, "/spec/runnerTokenSecrets"),
                    error: "spec.registration, spec.runnerTokenSecrets: neither is set: set \
                            exactly one: spec.registration to let the function register a runner \
                            per architecture in GitLab through provider-gitlab, or \
                            spec.runnerTokenSecrets to name the token Secrets of runners \
                            registered by hand",
                },
                ErrorCase {
                    reason: "registration errors name their field",
                    edit: |xr| {
                        remove(xr, "/spec/runnerTokenSecrets");
                        set(
                            xr,
                            "/spec/registration",
                            json!({"groupId": 42, "maximumTimeout": 60}),
                        );
                    },
                    error: "spec.registration.maximumTimeout: 60 is less than 600: GitLab \
                            requires a runner's maximum job timeout to be at least 10 minutes; \
                            set 600 seconds or more, or remove the field for no limit",
                },
                ErrorCase {
                    reason: "variables need a group or project when the function registers \
                             no runner",
                    edit: |xr| set(xr, "/spec/ciVariables", json!({"keyPrefix": "TAG_"})),
                    error: "spec.ciVariables: missing the group or project: set \
                            spec.ciVariables.groupId or spec.ciVariables.projectId to the \
                            numeric ID of the group or project whose pipelines use the runners, \
                            or use groupIdRef, groupIdSelector, projectIdRef or \
                            projectIdSelector",
                },
                ErrorCase {
                    reason: "an unknown node pool strategy",
                    edit: |xr| {
                        set(
                            xr,
                            "/spec/nodePool",
                            json!({"name": "spot-pool", "strategy": "Taint"}),
                        )
                    },
                    error: "spec.nodePool.strategy: unsupported strategy \"Taint\": use \
                            \"Widen\" to let the shared NodePool launch every architecture of \
                            the fleet, or \"Dedicated\" for a tainted NodePool per architecture \
                            the shared pool does not allow",
                },
            ],
            composite,
        );
    }

    #[test]
    fn validate_resolves_registration() {
        struct Case {
            reason: &'static str,
            base: fn(Value) -> Value,
            want: BTreeMap<Arch, TokenSecret>,
        }

        let secret = |arch: &str, namespace: Option<&str>| TokenSecret {
            name: format!("sandbox-{arch}-runner-token"),
            key: "token".to_string(),
            namespace: namespace.map(str::to_string),
        };
        let cases = [
            Case {
                reason: "a cluster-scoped Release reads the Secret from the charts' namespace",
                base: composite,
                want: [
                    (Arch::Amd64, secret("amd64", Some("gitlab-runner"))),
                    (Arch::Arm64, secret("arm64", Some("gitlab-runner"))),
                ]
                .into(),
            },
            Case {
                reason: "a namespaced Runner and Release share the XR's namespace",
                base: namespaced_composite,
                want: [
                    (Arch::Amd64, secret("amd64", None)),
                    (Arch::Arm64, secret("arm64", None)),
                ]
                .into(),
            },
        ];

        for case in cases {
            let xr = (case.base)(registration_spec(json!({"projectId": 7})));

            let (fleet, events) = validate_composite(&xr).unwrap();

            assert_eq!(fleet.token_secrets, case.want, "{}", case.reason);
            assert!(fleet.registration.is_some(), "{}", case.reason);
            assert_eq!(events, vec![], "{}", case.reason);
        }
    }

    #[test]
    fn validate_variable_key_follows_prefix() {
        let mut xr = composite(registration_spec(json!({"groupId": 42})));

        let (fleet, _) = validate_composite(&xr).unwrap();
        assert_eq!(
            fleet.variable_key(Arch::Arm64),
            "CICD_TAG_ARM64",
            "without ciVariables the key is the one the default prefix gives"
        );

        set(
            &mut xr,
            "/spec/ciVariables",
            json!({"keyPrefix": "RUNNER_"}),
        );
        let (fleet, _) = validate_composite(&xr).unwrap();
        assert_eq!(fleet.variable_key(Arch::Arm64), "RUNNER_ARM64");
        assert_eq!(
            fleet.ci_variables.unwrap().target,
            fleet.registration.unwrap().target,
            "without a group or project of their own, the variables go where the runners register"
        );
    }

    #[test]
    fn validate_composite_name_follows_scope() {
        let cluster = fleet_of(&composite(minimal_spec()));
        let namespaced = fleet_of(&namespaced_composite(minimal_spec()));

        assert_eq!(cluster.composite_name, "sandbox");
        assert_eq!(namespaced.composite_name, "team-a/sandbox");
    }

    #[test]
    fn validate_accepts_matching_helper_images() {
        let mut xr = composite(minimal_spec());
        set(
            &mut xr,
            "/spec/jobs/helperImages",
            json!({
                "amd64": "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:ubi-fips-x86_64-v18.9.0",
                "arm64": "registry.example.com/x86_64-mirror/gitlab-runner-helper:arm64-v18.9.0",
            }),
        );

        let (fleet, _) = validate_composite(&xr).unwrap();

        assert_eq!(
            fleet.jobs.helper_images.len(),
            2,
            "the fips image is fine on amd64, and only the last path segment names the architecture"
        );
    }

    #[test]
    fn key_path_quotes_keys_with_dots_or_slashes() {
        assert_eq!(key_path("spec.a", "b"), "spec.a.b");
        assert_eq!(key_path("spec.a", "b_c-1"), "spec.a.b_c-1");
        assert_eq!(
            key_path("spec.a", "kubernetes.io/arch"),
            "spec.a[\"kubernetes.io/arch\"]"
        );
        assert_eq!(key_path("spec.a", ""), "spec.a[\"\"]");
    }

    #[test]
    fn is_dns1123_label_cases() {
        for (name, valid) in [
            ("a", true),
            ("gitlab-runner", true),
            ("0abc9", true),
            ("", false),
            ("-a", false),
            ("a-", false),
            ("A", false),
            ("a.b", false),
            (&"a".repeat(63), true),
            (&"a".repeat(64), false),
        ] {
            assert_eq!(is_dns1123_label(name), valid, "{name:?}");
        }
    }

    #[test]
    fn validate_values_size_limit() {
        let mut xr = composite(minimal_spec());
        let filler = MAX_VALUES_BYTES - r#"{"extra":""}"#.len();
        set(
            &mut xr,
            "/spec/values",
            json!({"extra": "x".repeat(filler)}),
        );

        let at_limit = validate_composite(&xr);

        assert!(at_limit.is_ok(), "{:?}", at_limit.err());

        set(
            &mut xr,
            "/spec/values",
            json!({"extra": "x".repeat(filler + 1)}),
        );
        let error = validate_composite(&xr).unwrap_err();

        assert_eq!(
            error.0,
            format!(
                "spec.values: {} bytes of JSON, more than the maximum of 524288: every Release \
                 carries a copy of these values and Helm stores them in a Secret of at most 1 \
                 MiB; move large content, such as certificates, into a Secret or ConfigMap that \
                 the values name",
                MAX_VALUES_BYTES + 1
            )
        );
    }
}
