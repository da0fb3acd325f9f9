//! Finds the compiler, linker and static C library that build the static
//! binary of one architecture, and checks each before a build starts. A
//! missing one is reported with the Debian package that provides it.
//!
//! The architecture of the machine builds with the Rust toolchain that runs
//! this program. Another architecture builds with Debian's `rustc-web` and its
//! standard library for that architecture (`libstd-rust-web-dev:<arch>`),
//! linked by the GNU cross toolchain (`gcc-<triplet>`), so no toolchain or
//! target is fetched from anywhere but Debian.

use std::cmp::Ordering;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::arch::Arch;

/// Where Debian's `rustc-web` package installs rustc.
pub const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// The tools that build the binary of one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    pub arch: Arch,
    /// The rustc that builds the binary; `None` keeps the one cargo picks.
    pub rustc: Option<PathBuf>,
    /// The GCC driver that links the binary and compiles the C code of
    /// dependencies (`ring`).
    pub linker: String,
    /// The archiver for the C code of dependencies.
    pub archiver: String,
    /// Whether the binary is for another architecture than the machine's.
    pub cross: bool,
}

/// One prerequisite that is not installed or not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The requirement, e.g. `rustc 1.88 or newer at /usr/bin/rustc`.
    pub requirement: String,
    /// The problem found, e.g. `not found on PATH`.
    pub problem: String,
    /// The Debian package that provides it, e.g. `libstd-rust-web-dev:arm64`.
    pub package: String,
    /// The foreign Debian architecture the package is from, which dpkg must
    /// know (`dpkg --add-architecture`).
    pub foreign_arch: Option<Arch>,
}

/// A Rust release version such as `1.88.0`; a pre-release suffix is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RustVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl RustVersion {
    /// Parses `1.88`, `1.88.0` or `1.96.0-nightly`.
    pub fn parse(text: &str) -> Option<RustVersion> {
        let release = text.trim().split(['-', '+']).next()?;
        let mut parts = release.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(part) => part.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(RustVersion {
            major,
            minor,
            patch,
        })
    }

    /// Reads the `release:` line of `rustc -vV`.
    pub fn from_verbose_version(output: &str) -> Option<RustVersion> {
        output
            .lines()
            .find_map(|line| line.strip_prefix("release:"))
            .and_then(RustVersion::parse)
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Finds the toolchain for `arch` on a machine of architecture `host`, or
/// lists every prerequisite that is missing.
///
/// `cross_rustc` is the rustc for other architectures than the host's, and
/// `minimum` the workspace's `rust-version`.
pub fn find(
    arch: Arch,
    host: Option<Arch>,
    cross_rustc: &Path,
    minimum: Option<RustVersion>,
) -> Result<Toolchain, Vec<Missing>> {
    let cross = host != Some(arch);
    let linker = format!("{}-gcc", arch.gnu_triplet());
    let archiver = format!("{}-ar", arch.gnu_triplet());
    let mut missing = Vec::new();

    if cross {
        check_cross_rustc(arch, cross_rustc, minimum, &mut missing);
    }
    check_linker(arch, cross, &linker, &mut missing);

    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(Toolchain {
        arch,
        rustc: cross.then(|| cross_rustc.to_path_buf()),
        linker,
        archiver,
        cross,
    })
}

/// Checks that `rustc` runs, is new enough, and has a standard library for
/// `arch` that it can load, which fails when the two come from different
/// versions.
fn check_cross_rustc(
    arch: Arch,
    rustc: &Path,
    minimum: Option<RustVersion>,
    missing: &mut Vec<Missing>,
) {
    let rustc_package = "rustc-web".to_owned();
    let requirement = match minimum {
        Some(minimum) => format!("rustc {minimum} or newer at {}", rustc.display()),
        None => format!("rustc at {}", rustc.display()),
    };

    let version = match run(Command::new(rustc).arg("-vV")) {
        Ok(output) => RustVersion::from_verbose_version(&output),
        Err(problem) => {
            missing.push(Missing {
                requirement,
                problem,
                package: rustc_package,
                foreign_arch: None,
            });
            return;
        }
    };
    let Some(version) = version else {
        missing.push(Missing {
            requirement,
            problem: "`rustc -vV` printed no release version".to_owned(),
            package: rustc_package,
            foreign_arch: None,
        });
        return;
    };
    if let Some(minimum) = minimum
        && version.cmp(&minimum) == Ordering::Less
    {
        missing.push(Missing {
            requirement,
            problem: format!(
                "found {version}; on Debian 12 a rustc-web new enough comes from bookworm-security"
            ),
            package: rustc_package,
            foreign_arch: None,
        });
        return;
    }

    if let Err(problem) = probe_standard_library(rustc, arch) {
        missing.push(Missing {
            requirement: format!(
                "the {arch} Rust standard library of {} (rustc {version})",
                rustc.display()
            ),
            problem,
            package: format!("libstd-rust-web-dev:{arch}"),
            foreign_arch: Some(arch),
        });
    }
}

/// Compiles a one-line library for `arch` that uses `std`, which fails when
/// the standard library is absent or was built by another rustc version.
fn probe_standard_library(rustc: &Path, arch: Arch) -> Result<(), String> {
    let out_dir = std::env::temp_dir().join(format!("xtask-std-probe-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir)
        .map_err(|error| format!("cannot create {}: {error}", out_dir.display()))?;

    let outcome = Command::new(rustc)
        .args(["--edition", "2021", "--crate-type", "lib", "--crate-name"])
        .arg("std_probe")
        .args(["--emit", "metadata", "--target", arch.rust_target()])
        .arg("--out-dir")
        .arg(&out_dir)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(
                    b"pub fn probe() -> std::string::String { std::string::String::new() }\n",
                )?;
            }
            child.wait_with_output()
        });
    let _ = std::fs::remove_dir_all(&out_dir);

    let output = outcome.map_err(|error| format!("cannot run {}: {error}", rustc.display()))?;
    if output.status.success() {
        return Ok(());
    }

    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("E0514") || stderr.contains("incompatible version of rustc") {
        Err("it was built by another rustc version: install the package of the same version as rustc-web".to_owned())
    } else if stderr.contains("E0463") || stderr.contains("can't find crate for `std`") {
        Err("not installed".to_owned())
    } else {
        let first_error = stderr
            .lines()
            .find(|line| line.starts_with("error"))
            .unwrap_or("no error message");
        Err(format!("a test build failed: {first_error}"))
    }
}

/// Checks that the GCC driver for `arch` exists and finds a static C library.
fn check_linker(arch: Arch, cross: bool, linker: &str, missing: &mut Vec<Missing>) {
    let (gcc_package, libc_package) = if cross {
        (arch.cross_gcc_package(), arch.cross_libc_package())
    } else {
        ("gcc", "libc6-dev")
    };

    if find_on_path(linker).is_none() {
        missing.push(Missing {
            requirement: format!("the {arch} linker {linker}"),
            problem: "not found on PATH".to_owned(),
            package: gcc_package.to_owned(),
            foreign_arch: None,
        });
        // Without the driver, the C library cannot be looked up.
        missing.push(Missing {
            requirement: format!("the static {arch} C library (libc.a)"),
            problem: format!("not checked, because {linker} is missing"),
            package: libc_package.to_owned(),
            foreign_arch: None,
        });
        return;
    }

    // GCC prints the bare name when it does not find the file.
    let found = run(Command::new(linker).arg("-print-file-name=libc.a"))
        .map(|path| Path::new(path.trim()).is_absolute())
        .unwrap_or(false);
    if !found {
        missing.push(Missing {
            requirement: format!("the static {arch} C library (libc.a)"),
            problem: format!("{linker} does not find it"),
            package: libc_package.to_owned(),
            foreign_arch: None,
        });
    }
}

/// Formats the report of what is missing and the commands that install it.
///
/// `known_foreign` lists the foreign architectures dpkg already has; `None`
/// when that is unknown, which prints the `dpkg --add-architecture` step.
pub fn report(missing: &[Missing], known_foreign: Option<&[String]>) -> String {
    let mut text = String::from("missing prerequisites for the static builds:\n");
    for item in missing {
        text.push_str(&format!(
            "  - {}: {} (Debian package {})\n",
            item.requirement, item.problem, item.package
        ));
    }

    let mut packages: Vec<&str> = Vec::new();
    for item in missing {
        if !packages.contains(&item.package.as_str()) {
            packages.push(&item.package);
        }
    }
    let mut foreign: Vec<Arch> = missing
        .iter()
        .filter_map(|item| item.foreign_arch)
        .collect();
    foreign.sort();
    foreign.dedup();
    foreign.retain(|arch| {
        known_foreign.is_none_or(|known| !known.iter().any(|name| name == arch.name()))
    });

    text.push_str("Install them as root with:\n");
    for arch in foreign {
        text.push_str(&format!("  dpkg --add-architecture {arch}\n"));
    }
    text.push_str("  apt-get update\n");
    text.push_str(&format!(
        "  apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    ));
    text
}

/// Returns the foreign architectures that dpkg has, or `None` without dpkg.
pub fn dpkg_foreign_architectures() -> Option<Vec<String>> {
    run(Command::new("dpkg").arg("--print-foreign-architectures"))
        .ok()
        .map(|output| output.split_whitespace().map(str::to_owned).collect())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Runs `command` and returns its standard output, or why it failed.
fn run(command: &mut Command) -> Result<String, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_version_parse() {
        let cases = [
            (
                "1.88",
                Some((1, 88, 0)),
                "rust-version without a patch number",
            ),
            ("1.96.0", Some((1, 96, 0)), "a release"),
            (
                "1.97.0-nightly",
                Some((1, 97, 0)),
                "a pre-release suffix is ignored",
            ),
            (
                " 1.85.1 ",
                Some((1, 85, 1)),
                "surrounding spaces are ignored",
            ),
            ("1", None, "no minor number"),
            ("1.x", None, "a minor number that is not a number"),
            ("1.2.3.4", None, "too many parts"),
        ];
        for (text, expected, reason) in cases {
            let parsed = RustVersion::parse(text).map(|v| (v.major, v.minor, v.patch));
            assert_eq!(parsed, expected, "{reason}: {text:?}");
        }
    }

    #[test]
    fn rust_version_from_rustc_output() {
        let output = "rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)\n\
                      binary: rustc\nrelease: 1.96.0\nLLVM version: 22.1.8\n";
        assert_eq!(
            RustVersion::from_verbose_version(output),
            RustVersion::parse("1.96.0")
        );
        assert!(RustVersion::parse("1.85.0") < RustVersion::parse("1.88"));
    }

    #[test]
    fn report_names_packages_and_commands() {
        let missing = vec![
            Missing {
                requirement: "rustc 1.88.0 or newer at /usr/bin/rustc".to_owned(),
                problem: "cannot run /usr/bin/rustc: No such file or directory (os error 2)"
                    .to_owned(),
                package: "rustc-web".to_owned(),
                foreign_arch: None,
            },
            Missing {
                requirement: "the arm64 linker aarch64-linux-gnu-gcc".to_owned(),
                problem: "not found on PATH".to_owned(),
                package: "gcc-aarch64-linux-gnu".to_owned(),
                foreign_arch: None,
            },
        ];
        let expected = "missing prerequisites for the static builds:\n  \
            - rustc 1.88.0 or newer at /usr/bin/rustc: cannot run /usr/bin/rustc: No such file or directory (os error 2) (Debian package rustc-web)\n  \
            - the arm64 linker aarch64-linux-gnu-gcc: not found on PATH (Debian package gcc-aarch64-linux-gnu)\n\
            Install them as root with:\n  \
            apt-get update\n  \
            apt-get install -y --no-install-recommends rustc-web gcc-aarch64-linux-gnu";
        assert_eq!(report(&missing, Some(&[])), expected);
    }

    #[test]
    fn report_adds_foreign_architecture_once() {
        let std_missing = Missing {
            requirement: "the arm64 Rust standard library".to_owned(),
            problem: "not installed".to_owned(),
            package: "libstd-rust-web-dev:arm64".to_owned(),
            foreign_arch: Some(Arch::Arm64),
        };
        let cases = [
            (None, true, "dpkg state unknown: print the step"),
            (Some(vec![]), true, "arm64 not added yet"),
            (Some(vec!["arm64".to_owned()]), false, "arm64 already added"),
        ];
        for (known, expect_step, reason) in cases {
            let text = report(
                &[std_missing.clone(), std_missing.clone()],
                known.as_deref(),
            );
            assert_eq!(
                text.matches("dpkg --add-architecture arm64\n").count(),
                usize::from(expect_step),
                "{reason}: {text}"
            );
            assert!(
                text.ends_with("--no-install-recommends libstd-rust-web-dev:arm64"),
                "{reason}: {text}"
            );
        }
    }

    #[test]
    fn missing_cross_rustc_is_reported() {
        let missing = find(
            Arch::Arm64,
            Some(Arch::Amd64),
            Path::new("/nonexistent/rustc"),
            RustVersion::parse("1.88"),
        )
        .expect_err("a rustc that does not exist cannot build");
        assert_eq!(missing[0].package, "rustc-web");
        assert_eq!(
            missing[0].requirement,
            "rustc 1.88.0 or newer at /nonexistent/rustc"
        );
    }
}
