//! The v1beta1 protocol file must be the v1 file under another package:
//! the two differ only in the header comment, the `package` line and the
//! `go_package` option. The server relies on this when it serves v1beta1
//! with the v1 types.

use std::path::Path;

const V1: &str = "proto/apiextensions/fn/proto/v1/run_function.proto";
const V1BETA1: &str = "proto/apiextensions/fn/proto/v1beta1/run_function.proto";

/// A protocol file split into the lines allowed to differ between versions
/// and the rest.
#[derive(Debug)]
struct ProtoFile {
    package: String,
    go_package: String,
    /// Every line after the header comment except the `package` and
    /// `go_package` lines, with its 1-based line number.
    body: Vec<(usize, String)>,
}

fn read_proto(relative_path: &str) -> ProtoFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative_path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));

    let mut package = None;
    let mut go_package = None;
    let mut body = Vec::new();

    let lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .skip_while(|(_, line)| line.starts_with("//"));

    for (number, line) in lines {
        if line.starts_with("package ") {
            assert!(
                package.is_none(),
                "{relative_path}:{number}: second package line"
            );
            package = Some(line.to_string());
        } else if line.starts_with("option go_package ") {
            assert!(
                go_package.is_none(),
                "{relative_path}:{number}: second go_package line"
            );
            go_package = Some(line.to_string());
        } else {
            body.push((number, line.to_string()));
        }
    }

    ProtoFile {
        package: package.unwrap_or_else(|| panic!("{relative_path}: no package line")),
        go_package: go_package.unwrap_or_else(|| panic!("{relative_path}: no go_package line")),
        body,
    }
}

#[test]
fn v1_declares_its_package() {
    let v1 = read_proto(V1);

    assert_eq!(v1.package, "package apiextensions.fn.proto.v1;");
    assert_eq!(
        v1.go_package,
        r#"option go_package = "github.com/crossplane/crossplane/v2/proto/fn/v1";"#
    );
}

#[test]
fn v1beta1_declares_its_package() {
    let v1beta1 = read_proto(V1BETA1);

    assert_eq!(v1beta1.package, "package apiextensions.fn.proto.v1beta1;");
    assert_eq!(
        v1beta1.go_package,
        r#"option go_package = "github.com/crossplane/crossplane/v2/proto/fn/v1beta1";"#
    );
}

#[test]
fn v1beta1_equals_v1_below_header() {
    let v1 = read_proto(V1);
    let v1beta1 = read_proto(V1BETA1);

    for (left, right) in v1.body.iter().zip(&v1beta1.body) {
        assert_eq!(
            left.1, right.1,
            "{V1}:{} and {V1BETA1}:{} differ",
            left.0, right.0
        );
    }
    assert_eq!(
        v1.body.len(),
        v1beta1.body.len(),
        "{V1} and {V1BETA1} differ in length below the header"
    );
}
