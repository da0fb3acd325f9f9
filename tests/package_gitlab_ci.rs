//! Checks `.gitlab-ci.yml`: it parses, its jobs use known stages and needs,
//! and each build job runs on a runner of its architecture and keeps the
//! binary where `cargo xtask package --no-build` reads it.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Top-level keys of a GitLab CI file that are not jobs.
const GLOBAL_KEYWORDS: [&str; 6] = [
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
];

fn pipeline() -> BTreeMap<String, Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitlab-ci.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Returns the jobs, each merged over the hidden job it `extends`.
fn jobs(pipeline: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut jobs = BTreeMap::new();
    for (name, job) in pipeline {
        if name.starts_with('.') || GLOBAL_KEYWORDS.contains(&name.as_str()) {
            continue;
        }
        let mut merged = match job["extends"].as_str() {
            Some(parent) => pipeline
                .get(parent)
                .unwrap_or_else(|| panic!("job {name} extends unknown {parent}"))
                .clone(),
            None => Value::Object(Default::default()),
        };
        for (key, value) in job.as_object().unwrap() {
            merged[key] = value.clone();
        }
        jobs.insert(name.clone(), merged);
    }
    jobs
}

fn script(job: &Value) -> Vec<&str> {
    job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect()
}

#[test]
fn jobs_use_declared_stages_and_needs() {
    let pipeline = pipeline();
    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| stage.as_str().unwrap())
        .collect();
    let jobs = jobs(&pipeline);

    assert_eq!(
        jobs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["build-amd64", "build-arm64", "publish", "test"]
    );
    for (name, job) in &jobs {
        let stage = job["stage"].as_str().unwrap_or("test");
        assert!(stages.contains(&stage), "job {name}: unknown stage {stage}");
        assert!(!script(job).is_empty(), "job {name} has no script");

        for need in job["needs"].as_array().into_iter().flatten() {
            let needed = need["job"].as_str().or(need.as_str()).unwrap();
            assert!(
                jobs.contains_key(needed),
                "job {name} needs unknown job {needed}"
            );
        }
    }
}

#[test]
fn jobs_run_on_runners_of_their_architecture() {
    let jobs = jobs(&pipeline());
    let cases = [
        (
            "test",
            "$CICD_TAG_AMD64",
            "cross-builds arm64 and runs it under QEMU on amd64",
        ),
        ("build-amd64", "$CICD_TAG_AMD64", "builds amd64 natively"),
        ("build-arm64", "$CICD_TAG_ARM64", "builds arm64 natively"),
        (
            "publish",
            "$CICD_TAG_AMD64",
            "runs the packager, which needs no particular architecture",
        ),
    ];
    for (name, tag, reason) in cases {
        assert_eq!(
            jobs[name]["tags"],
            serde_json::json!([tag]),
            "{name} {reason}"
        );
    }
}

#[test]
fn build_jobs_keep_binaries_for_publish() {
    let jobs = jobs(&pipeline());
    let cases = [
        ("build-amd64", "amd64", "x86_64-unknown-linux-gnu"),
        ("build-arm64", "arm64", "aarch64-unknown-linux-gnu"),
    ];
    for (name, arch, target) in cases {
        let job = &jobs[name];
        assert_eq!(
            script(job),
            [format!("cargo xtask build --arch {arch}")],
            "{name}"
        );
        assert_eq!(
            job["artifacts"]["paths"],
            serde_json::json!([format!("target/{target}/dist/function-gitlab-runner-fleet")]),
            "{name} must keep the binary where `cargo xtask package --no-build` reads it"
        );
    }

    let publish = script(&jobs["publish"]);
    assert!(
        publish
            .iter()
            .any(|line| line.starts_with("cargo xtask package --no-build"))
    );
    assert!(
        publish
            .iter()
            .any(|line| line.starts_with("skopeo copy --all "))
    );
}
