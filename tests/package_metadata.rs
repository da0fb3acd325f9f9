//! Checks the package metadata (`package/crossplane.yaml`) against the
//! upstream schema of `meta.pkg.crossplane.io` Function, and the Dockerfile
//! against the image layout that `cargo xtask package` writes.

#[path = "support/crd.rs"]
mod crd;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crd::{Catalog, read_yaml_documents};

fn repository_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn package_metadata() -> Value {
    let mut documents = read_yaml_documents(&repository_file("package/crossplane.yaml")).unwrap();
    assert_eq!(
        documents.len(),
        1,
        "crossplane.yaml should hold one document"
    );
    documents.remove(0)
}

#[test]
fn metadata_matches_upstream_schema() {
    let mut catalog = Catalog::default();
    catalog
        .add_crd_dir(&repository_file("tests/fixtures/package"))
        .unwrap();

    let metadata = package_metadata();

    assert_eq!(metadata["apiVersion"], "meta.pkg.crossplane.io/v1");
    assert_eq!(metadata["kind"], "Function");
    assert_eq!(catalog.validate(&metadata), Ok(()));
}

#[test]
fn metadata_agrees_with_cargo_package() {
    let metadata = package_metadata();
    let annotations = &metadata["metadata"]["annotations"];

    assert_eq!(metadata["metadata"]["name"], env!("CARGO_PKG_NAME"));
    assert_eq!(
        annotations["meta.crossplane.io/license"],
        env!("CARGO_PKG_LICENSE")
    );
    assert_eq!(
        annotations["meta.crossplane.io/source"],
        env!("CARGO_PKG_REPOSITORY")
    );
}

#[test]
fn metadata_has_every_package_annotation() {
    let metadata = package_metadata();
    let annotations = &metadata["metadata"]["annotations"];

    for key in [
        "meta.crossplane.io/maintainer",
        "meta.crossplane.io/source",
        "meta.crossplane.io/license",
        "meta.crossplane.io/description",
        "meta.crossplane.io/readme",
    ] {
        let value = annotations[key].as_str().unwrap_or_default();
        assert!(
            !value.trim().is_empty(),
            "annotation {key} is missing or empty"
        );
    }
}

/// Crossplane releases before v1.17.2 reject Function metadata of
/// `meta.pkg.crossplane.io/v1` when they lint the package, so the version
/// constraint must exclude them.
#[test]
fn version_constraint_excludes_crossplane_without_v1_metadata() {
    let metadata = package_metadata();
    let constraint = metadata["spec"]["crossplane"]["version"]
        .as_str()
        .expect("spec.crossplane.version should be a string");

    let minimum = constraint
        .strip_prefix(">=v")
        .expect("the constraint should be a lower bound like >=v1.17.2-0");
    let release = minimum.split('-').next().unwrap();
    let parts: Vec<u64> = release
        .split('.')
        .map(|part| part.parse().unwrap())
        .collect();
    assert!(
        parts.as_slice() >= [1, 17, 2].as_slice(),
        "constraint {constraint} admits Crossplane releases that reject meta.pkg.crossplane.io/v1"
    );
}

/// The Docker route must give the same runtime contract as the image that
/// `cargo xtask package` writes: binary path, non-root user and gRPC port.
#[test]
fn dockerfile_matches_xtask_image() {
    let dockerfile = std::fs::read_to_string(repository_file("Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();

    for expected in [
        r#"ENTRYPOINT ["/usr/local/bin/function-gitlab-runner-fleet"]"#,
        "USER 65532:65532",
        "EXPOSE 9443/tcp 8080/tcp",
    ] {
        assert!(
            lines.contains(&expected),
            "Dockerfile lacks the line {expected:?}"
        );
    }
    assert!(
        dockerfile.contains("-Ctarget-feature=+crt-static"),
        "the Dockerfile should link the C library statically"
    );
}
