//! Checks the Configuration packages under `catalog/`. Their files match the
//! examples they come from, and every object validates against its CRD. The
//! package metadata depends on the function and on each provider whose kinds
//! the function composes, at versions that serve those kinds.
//!
//! `UPDATE_CATALOG=1 cargo test --test catalog_package` rewrites the
//! generated package files from `examples/`; review the diff.

#[path = "support/crd.rs"]
mod crd;

#[path = "catalog_support/mod.rs"]
mod catalog_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use serde_json::{Value, json};

use function_gitlab_runner_fleet::fleet::{FleetRequest, NODE_POOL_REQUIREMENT, compose};

use catalog_support::{
    PACKAGE_FILES, PACKAGES, Package, constraint_floor, dependency_object_name,
    function_dependency, package_composition, parse_version, read_documents, read_single,
    read_text, repo_root, split_reference, version_requirement,
};
use crd::Catalog;

/// The package source of each provider the packages depend on.
const PROVIDER_HELM: &str = "xpkg.crossplane.io/crossplane-contrib/provider-helm";
const PROVIDER_KUBERNETES: &str = "xpkg.crossplane.io/crossplane-contrib/provider-kubernetes";
const PROVIDER_GITLAB: &str = "xpkg.crossplane.io/crossplane-contrib/provider-gitlab";

/// Every kind the function may compose, with the provider that serves it and
/// a release of that provider known to serve it. A package that can compose
/// the kind must depend on the provider from that release on.
///
/// provider-kubernetes v0.11.0 introduced the v1alpha2 Object; provider-helm
/// and provider-kubernetes v1.0.0 added the namespaced `.m.` groups for
/// Crossplane 2. provider-helm served the v1beta1 Release long before
/// v0.15.0, and the first provider-gitlab release with the group and project
/// Runner kinds was not confirmed, so those entries name a later release
/// known to exist.
const EMITTED_KINDS: [(&str, &str, &str, &str); 13] = [
    (
        "helm.crossplane.io/v1beta1",
        "Release",
        PROVIDER_HELM,
        "0.15.0",
    ),
    (
        "helm.m.crossplane.io/v1beta1",
        "Release",
        PROVIDER_HELM,
        "1.0.0",
    ),
    (
        "kubernetes.crossplane.io/v1alpha2",
        "Object",
        PROVIDER_KUBERNETES,
        "0.11.0",
    ),
    (
        "kubernetes.m.crossplane.io/v1alpha1",
        "Object",
        PROVIDER_KUBERNETES,
        "1.0.0",
    ),
    (
        "groups.gitlab.crossplane.io/v1alpha1",
        "Runner",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "groups.gitlab.crossplane.io/v1alpha1",
        "Variable",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "projects.gitlab.crossplane.io/v1alpha1",
        "Runner",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "projects.gitlab.crossplane.io/v1alpha1",
        "Variable",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "groups.gitlab.m.crossplane.io/v1alpha1",
        "Runner",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "groups.gitlab.m.crossplane.io/v1alpha1",
        "Variable",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "projects.gitlab.m.crossplane.io/v1alpha1",
        "Runner",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    (
        "projects.gitlab.m.crossplane.io/v1alpha1",
        "Variable",
        PROVIDER_GITLAB,
        "0.18.1",
    ),
    // Crossplane fetches the NodePool, and no package installs Karpenter.
    ("karpenter.sh/v1", "NodePool", "", "1.0.0"),
];

/// Returns the name the package manager gives the function dependency.
fn function_object_name(package: &Package) -> String {
    let (source, _) = function_dependency(package);
    dependency_object_name(&source)
}

/// Returns the expected text of each generated file of a package.
fn generated_files(package: &Package) -> Vec<(String, String)> {
    let example_function = read_single("examples/functions.yaml")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();

    vec![
        (
            package.file("xrd.yaml"),
            read_text(&format!("examples/{}", package.xrd_example)),
        ),
        (
            package.file("composition.yaml"),
            package_composition(
                &read_text("examples/composition.yaml"),
                &example_function,
                &function_object_name(package),
            ),
        ),
    ]
}

#[test]
fn package_files_match_examples() {
    let update = std::env::var_os("UPDATE_CATALOG").is_some();

    for package in &PACKAGES {
        for (path, expected) in generated_files(package) {
            if update {
                fs::write(repo_root().join(&path), &expected).unwrap();
            }

            let actual = read_text(&path);
            assert!(
                actual == expected,
                "{path} is out of date with examples/: run \
                 `UPDATE_CATALOG=1 cargo test --test catalog_package` and review the diff"
            );
        }
    }
}

#[test]
fn package_holds_only_its_files() {
    for package in &PACKAGES {
        let mut names: Vec<String> = fs::read_dir(repo_root().join(package.dir))
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().unwrap().is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();

        let mut expected: Vec<String> = PACKAGE_FILES.iter().map(|name| name.to_string()).collect();
        expected.push("crossplane.yaml".to_string());
        expected.sort();

        assert_eq!(names, expected, "{}", package.dir);
    }
}

#[test]
fn composition_differs_only_in_function_name() {
    let example = read_single("examples/composition.yaml");

    for package in &PACKAGES {
        let composition = read_single(&package.file("composition.yaml"));

        let mut expected = example.clone();
        for step in expected["spec"]["pipeline"].as_array_mut().unwrap() {
            step["functionRef"]["name"] = json!(function_object_name(package));
        }
        assert_eq!(composition, expected, "{}", package.dir);
    }
}

#[test]
fn metadata_validates() {
    let catalog = Catalog::fixtures();

    for package in &PACKAGES {
        let metadata = package.metadata();

        assert_eq!(catalog.validate(&metadata), Ok(()), "{}", package.dir);
        assert_eq!(metadata["apiVersion"], "meta.pkg.crossplane.io/v1");
        assert_eq!(metadata["kind"], "Configuration");
    }
}

#[test]
fn package_objects_validate() {
    for package in &PACKAGES {
        let xrd = read_single(&package.file("xrd.yaml"));
        let mut catalog = Catalog::fixtures();
        catalog.add_xrd(&xrd, package.dir).unwrap();

        for name in PACKAGE_FILES {
            let path = package.file(name);
            for document in read_documents(&repo_root().join(&path)) {
                assert_eq!(catalog.validate(&document), Ok(()), "{path}");
            }
        }
    }
}

#[test]
fn composition_serves_packaged_xrd() {
    for package in &PACKAGES {
        let xrd = read_single(&package.file("xrd.yaml"));
        let composition = read_single(&package.file("composition.yaml"));

        let group = xrd["spec"]["group"].as_str().unwrap();
        let referenceable: Vec<&Value> = xrd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|version| version["referenceable"] == json!(true))
            .collect();
        assert_eq!(referenceable.len(), 1, "{}", package.dir);
        let api_version = format!("{group}/{}", referenceable[0]["name"].as_str().unwrap());

        assert_eq!(
            composition["spec"]["compositeTypeRef"],
            json!({"apiVersion": api_version, "kind": xrd["spec"]["names"]["kind"]}),
            "{}",
            package.dir
        );
        assert_eq!(
            xrd["spec"]["defaultCompositionRef"]["name"], composition["metadata"]["name"],
            "{}",
            package.dir
        );
    }
}

#[test]
fn function_dependency_matches_examples() {
    let example = read_single("examples/functions.yaml");
    let (example_source, example_tag) =
        split_reference(example["spec"]["package"].as_str().unwrap());

    for package in &PACKAGES {
        let (source, constraint) = function_dependency(package);
        let requirement = version_requirement(&constraint);

        assert_eq!(source, example_source, "{}", package.dir);
        assert!(
            requirement.matches(&parse_version(example_tag)),
            "{}: {constraint:?} rejects the example function {example_tag}",
            package.dir
        );
        assert!(
            requirement.matches(&parse_version(env!("CARGO_PKG_VERSION"))),
            "{}: {constraint:?} rejects this crate's version {}: the Configuration and the \
             function are released together, so update the constraint",
            package.dir,
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[test]
fn function_object_name_rule() {
    let cases = [
        (
            "the repository path, without the registry",
            "ghcr.io/function-gitlab-runner-fleet/function-gitlab-runner-fleet",
            "function-gitlab-runner-fleet-function-gitlab-runner-fleet",
        ),
        (
            "dots and slashes become dashes",
            "xpkg.crossplane.io/crossplane-contrib/function-patch-and-transform",
            "crossplane-contrib-function-patch-and-transform",
        ),
        (
            "cut to 63 characters, without a trailing dash",
            "registry.example.com/a-very-long-organisation-name/and-an-even-longer-function-name",
            "a-very-long-organisation-name-and-an-even-longer-function-name",
        ),
    ];

    for (reason, source, name) in cases {
        assert_eq!(dependency_object_name(source), name, "{reason}");
        assert!(name.len() <= 63, "{reason}");
    }
}

#[test]
fn packages_depend_on_every_provider() {
    for package in &PACKAGES {
        let providers: BTreeSet<String> = package
            .dependencies("provider")
            .into_iter()
            .map(|(source, _)| source)
            .collect();

        assert_eq!(
            providers,
            BTreeSet::from([
                PROVIDER_GITLAB.to_string(),
                PROVIDER_HELM.to_string(),
                PROVIDER_KUBERNETES.to_string(),
            ]),
            "{}",
            package.dir
        );
    }
}

#[test]
fn constraints_are_valid_and_bounded() {
    for package in &PACKAGES {
        for field in ["provider", "function"] {
            for (source, constraint) in package.dependencies(field) {
                let requirement = version_requirement(&constraint);
                let floor = constraint_floor(&constraint);

                assert!(
                    requirement.matches(&floor),
                    "{}: {source} {constraint:?}",
                    package.dir
                );
                assert_eq!(
                    requirement.comparators.len(),
                    2,
                    "{}: {source} {constraint:?} needs a floor and a ceiling, so a new major \
                     release that drops a served version is never pulled in",
                    package.dir
                );
            }
        }
    }
}

/// Composes an example XR, with the example's NodePool and input, and
/// returns the `(apiVersion, kind)` of every composed resource and required
/// resource.
fn emitted_kinds(xr_file: &str) -> BTreeSet<(String, String)> {
    let composition = read_single("examples/composition.yaml");
    let request = FleetRequest {
        composite: read_single(xr_file),
        observed: BTreeMap::new(),
        required: BTreeMap::from([(
            NODE_POOL_REQUIREMENT.to_string(),
            vec![read_single("examples/required.yaml")],
        )]),
        input: Some(composition["spec"]["pipeline"][0]["input"].clone()),
    };

    let composed = compose(&request).unwrap();

    let mut kinds: BTreeSet<(String, String)> = composed
        .resources
        .values()
        .map(|resource| {
            (
                resource.resource["apiVersion"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                resource.resource["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.extend(
        composed
            .requirements
            .iter()
            .map(|requirement| (requirement.api_version.clone(), requirement.kind.clone())),
    );
    kinds
}

#[test]
fn dependencies_serve_emitted_kinds() {
    let xr_files = ["examples/xr.yaml", "examples/namespaced/xr.yaml"];

    for (package, xr_file) in PACKAGES.iter().zip(xr_files) {
        let kinds = emitted_kinds(xr_file);
        assert!(kinds.len() >= 3, "{xr_file}: {kinds:?}");

        for (api_version, kind) in &kinds {
            let Some((_, _, provider, first_release)) = EMITTED_KINDS
                .iter()
                .find(|entry| entry.0 == api_version && entry.1 == kind)
            else {
                panic!(
                    "{xr_file}: the function composes {api_version} {kind}, which EMITTED_KINDS \
                     does not list: add it with its provider and the first release serving it"
                );
            };
            if provider.is_empty() {
                continue;
            }

            let constraint = package.constraint("provider", provider).unwrap_or_else(|| {
                panic!("{}: no dependency on {provider}", package.dir);
            });
            assert!(
                constraint_floor(&constraint) >= parse_version(first_release),
                "{}: {provider} {constraint:?} admits releases before {first_release}, which \
                 may not serve {api_version} {kind}",
                package.dir
            );
        }
    }
}

#[test]
fn crossplane_constraints() {
    // The function's own package must not demand a newer Crossplane than the
    // Configuration that depends on it.
    let function = read_single("package/crossplane.yaml");
    let function_floor =
        constraint_floor(function["spec"]["crossplane"]["version"].as_str().unwrap());

    let cases = [
        (
            &PACKAGES[0],
            "1.17.2-0",
            "Crossplane installs the function's meta.pkg.crossplane.io/v1 package metadata \
             from 1.17.2 on, and required resources arrived in 1.15",
        ),
        (
            &PACKAGES[1],
            "2.0.0-0",
            "namespaced composite resources arrived in Crossplane 2.0",
        ),
    ];
    for (package, minimum, reason) in cases {
        let constraint = package.crossplane_constraint();
        let floor = constraint_floor(&constraint);

        assert_eq!(floor, parse_version(minimum), "{}: {reason}", package.dir);
        assert!(function_floor <= floor, "{}: {constraint:?}", package.dir);
        assert!(
            version_requirement(&constraint).matches(&parse_version("2.0.2")),
            "{}",
            package.dir
        );
    }

    let cluster = version_requirement(&PACKAGES[0].crossplane_constraint());
    assert!(
        !cluster.matches(&parse_version("1.14.5")),
        "Crossplane 1.14 ignores the function's request for the NodePool"
    );
    assert!(
        !cluster.matches(&parse_version("1.17.1")),
        "Crossplane 1.17.1 rejects meta.pkg.crossplane.io/v1 Function metadata"
    );
}

#[test]
fn packages_name_their_install_manifest() {
    for package in &PACKAGES {
        let install = read_single(package.install_manifest);
        let metadata = package.metadata();
        let (source, tag) = split_reference(install["spec"]["package"].as_str().unwrap());

        assert_eq!(install["kind"], "Configuration");
        assert_eq!(install["metadata"]["name"], metadata["metadata"]["name"]);
        assert!(
            source.ends_with(&format!(
                "/{}",
                metadata["metadata"]["name"].as_str().unwrap()
            )),
            "{}: the package is pushed as {source}",
            package.dir
        );
        assert_eq!(parse_version(tag), parse_version(env!("CARGO_PKG_VERSION")));
        assert!(package.xpkg.starts_with("target/xpkg/"));
    }
}
