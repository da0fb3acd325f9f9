//! The built binary's `render` subcommand on real files: stdout compared
//! with the golden files under `tests/golden/render`, and the exit code and
//! message of each failure.
//!
//! Run with `UPDATE_GOLDEN=1` to rewrite the golden files from the current
//! output, then review the diff before committing it.

mod render_support;

use std::path::Path;
use std::process::{Command, Output};

use render_support::assert_golden;

/// One golden case: the name of its golden file and the arguments after
/// `render`, relative to the crate root.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

/// Every golden case. Add a case here to cover another set of files.
const CASES: &[Case] = &[
    Case {
        name: "example-sandbox-fleet",
        args: &[
            "examples/xr.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--observed-resources",
            "examples/observed.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "example-first-reconcile",
        args: &[
            "examples/xr.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "example-node-pool-not-found",
        args: &[
            "examples/xr.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--observed-resources",
            "examples/observed.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "example-claim",
        args: &[
            "examples/claim.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--required-resources",
            "examples/required.yaml",
        ],
    },
    Case {
        name: "example-namespaced",
        args: &[
            "examples/namespaced/xr.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--observed-resources",
            "examples/namespaced/observed.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "registration-group",
        args: &[
            "examples/registration/xr-group.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--observed-resources",
            "examples/registration/observed.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "registration-group-first-reconcile",
        args: &[
            "examples/registration/xr-group.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "registration-project",
        args: &[
            "examples/registration/xr-project.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "registration-ci-variables",
        args: &[
            "examples/registration/xr-ci-variables.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "registration-dedicated",
        args: &[
            "examples/registration/xr-dedicated.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "registration-namespaced",
        args: &[
            "examples/registration/namespaced/xr.yaml",
            "examples/composition.yaml",
            "examples/functions.yaml",
            "--required-resources",
            "examples/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "xr-only",
        args: &["tests/fixtures/render/xr.yaml"],
    },
    Case {
        name: "xr-composition-all-flags",
        args: &[
            "tests/fixtures/render/xr.yaml",
            "tests/fixtures/render/composition.yaml",
            "tests/fixtures/render/functions.yaml",
            "--observed-resources",
            "tests/fixtures/render/observed.yaml",
            "--required-resources",
            "tests/fixtures/render/required.yaml",
            "--include-function-results",
        ],
    },
    Case {
        name: "xr-observed-folder",
        args: &[
            "tests/fixtures/render/xr.yaml",
            "tests/fixtures/render/composition.yaml",
            "-o",
            "tests/fixtures/render/observed",
            "--extra-resources",
            "tests/fixtures/render/required.yaml",
        ],
    },
    Case {
        name: "claim",
        args: &[
            "tests/fixtures/render/claim.yaml",
            "tests/fixtures/render/composition.yaml",
            "--function-input",
            "tests/fixtures/render/input.yaml",
        ],
    },
    Case {
        name: "two-steps",
        args: &[
            "tests/fixtures/render/xr.yaml",
            "tests/fixtures/render/composition-two-steps.yaml",
            "tests/fixtures/render/functions-renamed.yaml",
            "-e",
            "tests/fixtures/render/required.yaml",
            "-r",
        ],
    },
];

/// Runs `function-gitlab-runner-fleet render ARGS` from the crate root.
fn render(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_function-gitlab-runner-fleet"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .arg("render")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

#[test]
fn golden_outputs() {
    for case in CASES {
        let output = render(case.args);

        assert!(
            output.status.success(),
            "{}: render failed: {}",
            case.name,
            text(&output.stderr)
        );
        assert_golden(case.name, &text(&output.stdout));
    }
}

#[test]
fn output_identical_across_runs() {
    for case in CASES {
        let first = render(case.args).stdout;
        let second = render(case.args).stdout;

        assert!(first == second, "{}: two runs differ", case.name);
    }
}

#[test]
fn failures_exit_one_with_message() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "a missing XR file",
            &["tests/fixtures/render/missing.yaml"],
            "error: cannot load the composite resource: cannot read \
             tests/fixtures/render/missing.yaml: No such file or directory (os error 2)\n",
        ),
        (
            "a pipeline with another function",
            &[
                "tests/fixtures/render/xr.yaml",
                "tests/fixtures/render/composition-mixed.yaml",
                "tests/fixtures/render/functions.yaml",
            ],
            "error: pipeline step \"automatically-detect-ready\" calls function \
             \"function-auto-ready\": this render runs only function-gitlab-runner-fleet steps; \
             use crossplane render for pipelines with other functions\n",
        ),
        (
            "a Function file given as the Composition",
            &[
                "tests/fixtures/render/xr.yaml",
                "tests/fixtures/render/functions.yaml",
            ],
            "error: cannot load the Composition: tests/fixtures/render/functions.yaml: \
             contains 2 YAML documents, expected one object\n",
        ),
        (
            "a Composition given as the functions",
            &[
                "tests/fixtures/render/xr.yaml",
                "tests/fixtures/render/composition.yaml",
                "tests/fixtures/render/composition.yaml",
            ],
            "error: tests/fixtures/render/composition.yaml (document 1): expected a Function \
             (pkg.crossplane.io/v1), found Composition (apiextensions.crossplane.io/v1)\n",
        ),
        (
            "an object the Composition does not compose",
            &[
                "tests/fixtures/render/observed/release-amd64.yaml",
                "tests/fixtures/render/composition.yaml",
            ],
            "error: composition's compositeTypeRef.kind (XGitLabRunnerFleet) does not match XR's \
             kind (Release): give an XR of kind XGitLabRunnerFleet, or a namespaced claim of \
             apiVersion ci.platform.example.org/v1alpha1\n",
        ),
        (
            "observed resources without their composition resource name",
            &[
                "tests/fixtures/render/xr.yaml",
                "-o",
                "tests/fixtures/render/required.yaml",
            ],
            "error: cannot load the observed resources: tests/fixtures/render/required.yaml \
             (document 1): metadata.annotations[\"crossplane.io/composition-resource-name\"] is \
             missing: set it to the resource's name in the composition, such as \"release-amd64\"\n",
        ),
        (
            "a folder with no YAML files",
            &["tests/fixtures/render/xr.yaml", "-e", "tests/golden"],
            "error: cannot load the required resources: tests/golden: no YAML files (.yaml or \
             .yml) in this folder\n",
        ),
    ];

    for (reason, args, expected) in cases {
        let output = render(args);

        assert_eq!(output.status.code(), Some(1), "{reason}");
        assert_eq!(text(&output.stderr), *expected, "{reason}");
        assert_eq!(text(&output.stdout), "", "{reason}: nothing on stdout");
    }
}
