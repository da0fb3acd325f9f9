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

use super::input::{Defaults, ResolvedChart};
use super::runner_config::node_tolerations;
use super::spec::{FleetSpec, JobsSpec, ManagerSpec, TokenSecretSpec};
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

/// Node labels that carry the architecture. The function sets
/// `kubernetes.io/arch` itself; `beta.kubernetes.io/arch` is its deprecated
/// twin and would contradict it.
const ARCH_LABELS: [&str; 2] = ["kubernetes.io/arch", "beta.kubernetes.io/arch"];

/// The job pod annotation that keeps Karpenter v1 consolidation from
/// interrupting a running job.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";

/// The Karpenter v0 annotation that Karpenter v1 no longer reads.
const DO_NOT_EVICT: &str = "karpenter.sh/do-not-evict";

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
    /// Token Secret key per architecture.
    pub token_secrets: BTreeMap<Arch, TokenSecret>,
    /// The runner manager pod.
    pub manager: Manager,
    /// The job pods.
    pub jobs: Jobs,
    /// Name of the Karpenter NodePool to widen, if any.
    pub node_pool: Option<String>,
    /// Extra chart values from `spec.values`.
    pub values: Map<String, Value>,
    /// Scope of the XR, which picks the provider API groups.
    pub scope: Scope,
    /// provider-helm's ProviderConfig name.
    pub helm_provider_config: String,
    /// provider-kubernetes' ProviderConfig name.
    pub kubernetes_provider_config: String,
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
    let token_secrets = check_token_secrets(
        spec.runner_token_secrets.as_ref(),
        &architectures,
        &namespace,
        scope,
        xr_namespace,
    )?;

    let manager = check_manager(spec.manager.as_ref())?;
    let jobs = check_jobs(
        spec.jobs.as_ref(),
        &architectures,
        &namespace,
        defaults,
        &mut events,
    )?;

    let node_pool = match &spec.node_pool {
        None => None,
        Some(pool) => Some(check_node_pool_name(pool.name.as_deref())?),
    };

    let fleet = Fleet {
        gitlab_url,
        tag_prefix,
        architectures,
        namespace,
        release_name_prefix,
        chart,
        token_secrets,
        manager,
        jobs,
        node_pool,
        values: spec.values.clone().unwrap_or_default(),
        scope,
        helm_provider_config: defaults.helm_provider_config.clone(),
        kubernetes_provider_config: defaults.kubernetes_provider_config.clone(),
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
    fn describe(&self) -> String {
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
