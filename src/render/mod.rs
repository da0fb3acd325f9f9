//! `render`: runs the function in-process on the files `crossplane render`
//! reads and prints what `crossplane render` would print.

use std::path::PathBuf;

/// Arguments of `render`, in the order `crossplane render` takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// The composite resource (XR) or claim, as YAML.
    pub composite_resource: PathBuf,

    /// The Composition, as YAML.
    pub composition: Option<PathBuf>,

    /// The Function packages, as a YAML stream.
    pub functions: Option<PathBuf>,

    /// Observed composed resources, as a YAML stream or a folder of files.
    #[arg(long, short = 'o')]
    pub observed_resources: Option<PathBuf>,

    /// Resources that answer the function's requirements, as a YAML stream
    /// or a folder of files.
    #[arg(long, short = 'e', alias = "extra-resources")]
    pub required_resources: Option<PathBuf>,

    /// The function input, overriding the Composition's, as YAML.
    #[arg(long)]
    pub function_input: Option<PathBuf>,

    /// Print the function's results after the resources.
    #[arg(long, short = 'r')]
    pub include_function_results: bool,
}

/// Renders and prints the desired state.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    // NOTE: placeholder until render lands.
    anyhow::bail!("render is not built yet: {args:?}")
}
