//! Facts about the Cargo workspace that the packager needs: where it lives,
//! where builds go, and the function package's own metadata.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The package whose binary the images run.
pub const FUNCTION_PACKAGE: &str = "function-gitlab-runner-fleet";

/// The workspace, as `cargo metadata` reports it.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub function: FunctionPackage,
}

/// The metadata of the function's Cargo package that goes into the images.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FunctionPackage {
    pub name: String,
    pub version: String,
    /// Minimum supported Rust version, e.g. `1.88`.
    pub rust_version: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<FunctionPackage>,
}

impl Workspace {
    /// Loads the workspace from `cargo metadata`, run with the same cargo
    /// that runs this program.
    pub fn load() -> anyhow::Result<Workspace> {
        let output = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .context("cannot run `cargo metadata`")?;
        if !output.status.success() {
            bail!(
                "`cargo metadata` failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }

        let metadata: Metadata = serde_json::from_slice(&output.stdout)
            .context("cannot parse the output of `cargo metadata`")?;
        let function = metadata
            .packages
            .into_iter()
            .find(|package| package.name == FUNCTION_PACKAGE)
            .with_context(|| format!("package {FUNCTION_PACKAGE} is not in the workspace"))?;

        Ok(Workspace {
            root: metadata.workspace_root,
            target_dir: metadata.target_directory,
            function,
        })
    }

    /// Returns the folder with `crossplane.yaml` and `input/`.
    pub fn package_dir(&self) -> PathBuf {
        self.root.join("package")
    }

    /// Returns the folder the packager writes to.
    pub fn output_dir(&self) -> PathBuf {
        self.target_dir.join("xpkg")
    }

    /// The image tag: the package version with a `v` in front, as Crossplane
    /// package tags are semantic versions.
    pub fn default_tag(&self) -> String {
        format!("v{}", self.function.version)
    }

    /// Returns the path where `cargo build --profile <profile> --target
    /// <target>` writes the binary.
    pub fn binary_path(&self, rust_target: &str, profile: &str) -> PathBuf {
        self.target_dir
            .join(rust_target)
            .join(profile)
            .join(FUNCTION_PACKAGE)
    }

    /// Returns `path` relative to the workspace root when it lies inside it,
    /// for shorter messages.
    pub fn display<'a>(&self, path: &'a Path) -> std::path::Display<'a> {
        path.strip_prefix(&self.root).unwrap_or(path).display()
    }
}

/// Returns the cargo that runs this program (`CARGO`, set by `cargo run`),
/// else the one on `PATH`.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}
