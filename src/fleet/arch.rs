//! The CPU architectures a fleet can serve.

use std::fmt;
use std::str::FromStr;

/// A CPU architecture, as the `kubernetes.io/arch` node label spells it.
///
/// The derived order (amd64 before arm64) is the order in which the function
/// emits per-architecture resources and lists, whatever order the user wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64.
    Amd64,
    /// 64-bit ARM.
    Arm64,
}

impl Arch {
    /// Every supported architecture, in emission order.
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// Returns the value of the `kubernetes.io/arch` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned for a name that is not a supported architecture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported architecture {0:?}: use \"amd64\" or \"arm64\"")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Arch::ALL
            .into_iter()
            .find(|arch| arch.as_str() == s)
            .ok_or_else(|| UnknownArch(s.to_string()))
    }
}
