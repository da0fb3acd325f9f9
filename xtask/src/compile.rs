//! Builds the function's static release binary for one architecture.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::toolchain::Toolchain;
use crate::workspace::{FUNCTION_PACKAGE, Workspace, cargo};

/// The Cargo profile of the shipped binaries, defined in the workspace's
/// `Cargo.toml`: the release profile without symbol tables.
pub const PROFILE: &str = "dist";

/// A binary that `build` produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    pub elapsed: Duration,
}

/// Runs `cargo build` for the toolchain's architecture and returns the
/// binary's path.
///
/// The binary links the C library statically (`+crt-static`), so the image
/// needs no libc. Build paths are remapped so that the binary does not depend
/// on where the workspace and the cargo home are.
pub fn build(workspace: &Workspace, toolchain: &Toolchain) -> anyhow::Result<Built> {
    let target = toolchain.arch.rust_target();
    let target_env = target.replace('-', "_");
    let mut command = Command::new(cargo());
    command
        .current_dir(&workspace.root)
        .args([
            "build",
            "--locked",
            "--profile",
            PROFILE,
            "--target",
            target,
        ])
        .args(["--package", FUNCTION_PACKAGE, "--bin", FUNCTION_PACKAGE])
        // Wins over RUSTFLAGS and every rustflags setting, so the build does
        // not depend on the caller's environment. With --target it reaches
        // only the binary's crates, not build scripts or proc macros.
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags(workspace).join("\x1f"))
        .env(
            format!("CARGO_TARGET_{}_LINKER", target_env.to_uppercase()),
            &toolchain.linker,
        );

    if let Some(rustc) = &toolchain.rustc {
        command.env("RUSTC", rustc);
    }
    if toolchain.cross {
        // For the C code of dependencies, built by the `cc` crate.
        command
            .env(format!("CC_{target_env}"), &toolchain.linker)
            .env(format!("AR_{target_env}"), &toolchain.archiver);
    }

    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("cannot run cargo build for {target}"))?;
    if !status.success() {
        bail!("cargo build for {target} failed with {status}");
    }

    let path = workspace.binary_path(target, PROFILE);
    if !path.is_file() {
        bail!(
            "cargo build for {target} succeeded, but {} is missing",
            path.display()
        );
    }
    Ok(Built {
        path,
        elapsed: started.elapsed(),
    })
}

/// Returns the flags for the binary's crates: static C library, and build
/// paths replaced by fixed ones.
///
/// Paths that remain in the binary are those of panic locations: sources of
/// dependencies in the cargo home, and code generated into the target folder
/// (the gRPC stubs). When several prefixes match a path, rustc applies the
/// last one, so the more specific folders come later.
fn rustflags(workspace: &Workspace) -> Vec<String> {
    let mut flags = vec!["-Ctarget-feature=+crt-static".to_owned()];
    flags.push(remap(&workspace.root, "/build"));
    flags.push(remap(&workspace.target_dir, "/build/target"));
    if let Some(cargo_home) = cargo_home() {
        flags.push(remap(&cargo_home, "/cargo"));
    }
    flags
}

fn remap(from: &Path, to: &str) -> String {
    format!("--remap-path-prefix={}={to}", from.display())
}

/// Returns the cargo home (`CARGO_HOME`, else `~/.cargo`), which contains
/// the sources of dependencies.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}
