//! Build tooling of function-gitlab-runner-fleet, run as `cargo xtask`.
//!
//! `cargo xtask package` builds the multi-platform Crossplane package with
//! nothing but the Rust toolchain and Debian's cross-building packages: no
//! Docker daemon, no buildx, no Crossplane CLI. It also writes the
//! Configuration packages of `catalog/`. `cargo xtask build` builds only the
//! static binaries, for CI jobs that build each architecture on its own
//! machine and package them in a later job. `cargo xtask configuration`
//! writes only the Configuration packages, which need no toolchain.

mod arch;
mod compile;
mod configuration;
mod docker_archive;
mod image;
mod json;
mod layer;
mod oci_layout;
mod package_yaml;
mod timestamp;
mod toolchain;
mod workspace;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::arch::Arch;
use crate::configuration::{CATALOG, CatalogPackage, ConfigurationImage, ConfigurationInput};
use crate::image::{Image, ImageInput};
use crate::package_yaml::ConfigurationYaml;
use crate::timestamp::Timestamp;
use crate::toolchain::{DEBIAN_RUSTC, RustVersion};
use crate::workspace::Workspace;

/// Build tooling of function-gitlab-runner-fleet.
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the static release binaries, one per architecture.
    Build(BuildArgs),

    /// Build the binaries and write the Crossplane package: an OCI image
    /// layout with the multi-platform index in target/xpkg/oci, and one
    /// `crossplane xpkg push`-able file per architecture, target/xpkg/<arch>.xpkg.
    /// Also write the Configuration packages, as `configuration` does.
    Package(PackageArgs),

    /// Write only the Configuration packages of catalog/ and
    /// catalog/namespaced/ to target/xpkg/configuration.xpkg and
    /// target/xpkg/configuration-namespaced.xpkg. It builds no binary and
    /// needs no cross toolchain.
    Configuration,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// Architecture to build for; repeat for several. Default: amd64 and arm64.
    #[arg(long = "arch", value_enum)]
    arches: Vec<Arch>,

    /// The rustc that builds for architectures other than this machine's:
    /// Debian's rustc-web, with libstd-rust-web-dev:<arch> of the same version.
    #[arg(long, env = "XTASK_CROSS_RUSTC", default_value = DEBIAN_RUSTC)]
    cross_rustc: PathBuf,
}

#[derive(Debug, Args)]
struct PackageArgs {
    #[command(flatten)]
    build: BuildArgs,

    /// Package the binaries that `cargo xtask build` left in target/ instead
    /// of building them.
    #[arg(long)]
    no_build: bool,

    /// The tag that names the image index in the OCI layout. Default: v<the
    /// function's Cargo package version>.
    #[arg(long)]
    tag: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = Workspace::load().and_then(|workspace| match cli.command {
        Command::Build(args) => build(&workspace, &args).map(|_| ()),
        Command::Package(args) => package(&workspace, &args),
        Command::Configuration => write_configurations(
            &workspace,
            &assemble_configurations(&workspace)?,
            Timestamp::from_env()?,
        ),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the selected architectures, sorted and without duplicates.
fn selected(args: &BuildArgs) -> Vec<Arch> {
    let mut arches = if args.arches.is_empty() {
        Arch::ALL.to_vec()
    } else {
        args.arches.clone()
    };
    arches.sort();
    arches.dedup();
    arches
}

/// Checks every prerequisite first, then builds each architecture's binary.
fn build(workspace: &Workspace, args: &BuildArgs) -> anyhow::Result<Vec<(Arch, PathBuf)>> {
    let host = Arch::host();
    let minimum = workspace
        .function
        .rust_version
        .as_deref()
        .and_then(RustVersion::parse);

    let mut toolchains = Vec::new();
    let mut missing = Vec::new();
    for arch in selected(args) {
        match toolchain::find(arch, host, &args.cross_rustc, minimum) {
            Ok(found) => toolchains.push(found),
            Err(items) => missing.extend(items),
        }
    }
    if !missing.is_empty() {
        let known = toolchain::dpkg_foreign_architectures();
        bail!("{}", toolchain::report(&missing, known.as_deref()));
    }

    let mut binaries = Vec::new();
    for found in toolchains {
        let rustc = match &found.rustc {
            Some(path) => path.display().to_string(),
            None => "the default rustc".to_owned(),
        };
        eprintln!(
            "Building the {} binary ({}) with {rustc}, linked by {}",
            found.arch,
            found.arch.rust_target(),
            found.linker
        );
        let built = compile::build(workspace, &found)?;
        eprintln!(
            "Built {} in {:.0} s",
            workspace.display(&built.path),
            built.elapsed.as_secs_f64()
        );
        binaries.push((found.arch, built.path));
    }
    Ok(binaries)
}

/// Builds (unless `--no-build`) and writes the function's package and the
/// Configuration packages. Every package.yaml is checked before the build.
fn package(workspace: &Workspace, args: &PackageArgs) -> anyhow::Result<()> {
    let package_yaml = package_yaml::assemble_function(&workspace.package_dir())?;
    let configurations = assemble_configurations(workspace)?;
    let created = Timestamp::from_env()?;

    let binaries = if args.no_build {
        prebuilt_binaries(workspace, &selected(&args.build))?
    } else {
        build(workspace, &args.build)?
    };

    let mut labels = image_labels(workspace, &workspace.function.name);
    if let Some(description) = &workspace.function.description {
        labels.insert(
            "org.opencontainers.image.description".to_owned(),
            description.clone(),
        );
    }

    let mut images = Vec::new();
    let mut binary_sizes = Vec::new();
    for (arch, path) in &binaries {
        let binary =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        images.push(Image::build(&ImageInput {
            arch: *arch,
            binary: &binary,
            package_yaml: &package_yaml,
            created,
            labels: &labels,
        })?);
        binary_sizes.push(binary.len() as u64);
    }
    let index = image::index(&images)?;
    let tag = args.tag.clone().unwrap_or_else(|| workspace.default_tag());

    let output_dir = workspace.output_dir();
    std::fs::create_dir_all(&output_dir)
        .with_context(|| format!("cannot create {}", output_dir.display()))?;
    let layout_dir = output_dir.join("oci");
    oci_layout::write(&layout_dir, &images, &index, &tag)?;
    for arch in Arch::ALL {
        // A file left from an earlier run with other architectures would
        // be pushed by mistake.
        let stale = output_dir.join(format!("{arch}.xpkg"));
        if stale.exists() && !images.iter().any(|image| image.arch == arch) {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }

    println!(
        "image index  {}  {} (tag {tag})",
        index.digest_ref(),
        workspace.display(&layout_dir)
    );
    for (image, binary_size) in images.iter().zip(binary_sizes) {
        let xpkg = output_dir.join(format!("{}.xpkg", image.arch));
        docker_archive::write(&xpkg, &image.config, &image.layers, created.0)?;
        println!(
            "linux/{:<6} {}  {} compressed, binary {}  {}",
            image.arch.name(),
            image.manifest.digest_ref(),
            mebibytes(image.compressed_size()),
            mebibytes(binary_size),
            workspace.display(&xpkg)
        );
    }
    write_configurations(workspace, &configurations, created)
}

/// Reads and checks the package.yaml of every Configuration package.
fn assemble_configurations(
    workspace: &Workspace,
) -> anyhow::Result<Vec<(CatalogPackage, ConfigurationYaml)>> {
    CATALOG
        .iter()
        .map(|package| {
            let assembled =
                package_yaml::assemble_configuration(&workspace.root.join(package.dir))?;
            Ok((*package, assembled))
        })
        .collect()
}

/// Writes each Configuration package to target/xpkg/<file name>.
fn write_configurations(
    workspace: &Workspace,
    configurations: &[(CatalogPackage, ConfigurationYaml)],
    created: Timestamp,
) -> anyhow::Result<()> {
    let output_dir = workspace.output_dir();
    std::fs::create_dir_all(&output_dir)
        .with_context(|| format!("cannot create {}", output_dir.display()))?;

    for (package, assembled) in configurations {
        let labels = image_labels(workspace, &assembled.name);
        let image = ConfigurationImage::build(&ConfigurationInput {
            package_yaml: &assembled.stream,
            created,
            labels: &labels,
        })?;
        let xpkg = output_dir.join(package.file_name);
        image.write(&xpkg, created.0)?;
        println!(
            "Configuration {}  config {}  {:.1} KiB compressed  {}",
            assembled.name,
            image.config.digest_ref(),
            image.compressed_size() as f64 / 1024.0,
            workspace.display(&xpkg)
        );
    }
    Ok(())
}

/// Finds the binaries of an earlier `cargo xtask build`.
fn prebuilt_binaries(
    workspace: &Workspace,
    arches: &[Arch],
) -> anyhow::Result<Vec<(Arch, PathBuf)>> {
    arches
        .iter()
        .map(|&arch| {
            let path = workspace.binary_path(arch.rust_target(), compile::PROFILE);
            if path.is_file() {
                Ok((arch, path))
            } else {
                bail!(
                    "{} is missing: run `cargo xtask build --arch {arch}` first, or package without --no-build",
                    path.display()
                )
            }
        })
        .collect()
}

/// Returns the standard OCI labels of an image titled `title`: the version,
/// license and source repository of the function's Cargo package, which the
/// Configuration packages share.
fn image_labels(workspace: &Workspace, title: &str) -> BTreeMap<String, String> {
    let package = &workspace.function;
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.title".to_owned(),
        title.to_owned(),
    );
    labels.insert(
        "org.opencontainers.image.version".to_owned(),
        package.version.clone(),
    );
    let optional = [
        ("org.opencontainers.image.licenses", &package.license),
        ("org.opencontainers.image.source", &package.repository),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            labels.insert(key.to_owned(), value.clone());
        }
    }
    labels
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
