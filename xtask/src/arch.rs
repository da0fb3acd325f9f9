//! The CPU architectures the package is built for, and the name each tool
//! gives them.

use std::fmt;

/// A Linux CPU architecture of the package, named as OCI platforms, Go,
/// Kubernetes (`kubernetes.io/arch`) and Debian name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// Every architecture, in the order the image index lists them.
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// Returns the architecture this program runs on, if it is one of ours.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// Returns the name in OCI platforms, Kubernetes and Debian: `amd64`, `arm64`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Returns the Rust target triple of the static Linux binary.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Returns the GNU triplet, which prefixes the names of GCC and binutils.
    pub fn gnu_triplet(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-linux-gnu",
            Arch::Arm64 => "aarch64-linux-gnu",
        }
    }

    /// Returns the Debian package with the GCC that links for this
    /// architecture from another one.
    pub fn cross_gcc_package(self) -> &'static str {
        match self {
            Arch::Amd64 => "gcc-x86-64-linux-gnu",
            Arch::Arm64 => "gcc-aarch64-linux-gnu",
        }
    }

    /// Returns the Debian package with the static C library (`libc.a`) of
    /// this architecture for cross-linking.
    pub fn cross_libc_package(self) -> &'static str {
        match self {
            Arch::Amd64 => "libc6-dev-amd64-cross",
            Arch::Arm64 => "libc6-dev-arm64-cross",
        }
    }

    pub fn oci(self) -> oci_spec::image::Arch {
        match self {
            Arch::Amd64 => oci_spec::image::Arch::Amd64,
            Arch::Arm64 => oci_spec::image::Arch::ARM64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}
