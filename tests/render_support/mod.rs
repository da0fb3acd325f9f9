//! Helpers the `render` tests share: fixture paths and golden files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Returns the folder of the `render` test inputs.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render")
}

/// Returns the path of one `render` test input.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Compares `actual` with the golden file `tests/golden/render/<name>.yaml`,
/// or, when the environment sets `UPDATE_GOLDEN=1`, rewrites the file with
/// `actual` instead.
pub fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/render")
        .join(format!("{name}.yaml"));

    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }

    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read golden file {}: {error}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from {}; run with UPDATE_GOLDEN=1 to accept it\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
