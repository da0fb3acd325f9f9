//! `render`: runs the function in-process on the files `crossplane render`
//! reads and prints what `crossplane render` would print.
//!
//! Only pipeline steps that call this function run, because they run in this
//! process. A Composition with other functions needs `crossplane render`,
//! which runs each function in Docker.

pub mod composed;
pub mod composite;
pub mod execute;
pub mod inputs;
pub mod output;
pub mod pipeline;
pub mod requirements;
pub mod resources;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use crate::proto::v1::{RunFunctionRequest, RunFunctionResponse};
use crate::render::execute::{Inputs, StepResult, run_pipeline};

/// Arguments of `render`, in the order `crossplane render` takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// The composite resource (XR) or claim, as YAML.
    pub composite_resource: PathBuf,

    /// The Composition, as YAML.
    pub composition: Option<PathBuf>,

    /// The Function packages, as a YAML stream or a folder of files.
    pub functions: Option<PathBuf>,

    /// Observed composed resources, as a YAML stream or a folder of files.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub observed_resources: Option<PathBuf>,

    /// Resources that may satisfy the function's requirements, as a YAML
    /// stream or a folder of files.
    #[arg(long, short = 'e', alias = "extra-resources", value_name = "PATH")]
    pub required_resources: Option<PathBuf>,

    /// The function input, overriding the Composition's, as YAML.
    #[arg(long, value_name = "PATH")]
    pub function_input: Option<PathBuf>,

    /// Print the function's results after the resources.
    #[arg(long, short = 'r')]
    pub include_function_results: bool,
}

/// Renders the files of `args` with the function and prints the YAML
/// stream to stdout.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    run_with(args, &crate::function::run_function, &mut stdout)
}

/// Renders the files of `args` with `function` and writes the YAML stream
/// to `out`.
///
/// When a step returns a Fatal result, the results up to and including it
/// are written as `Result` documents, whether or not `-r` is set, and the
/// render fails: `crossplane render` also exits non-zero then.
pub fn run_with(
    args: &RenderArgs,
    function: &dyn Fn(&RunFunctionRequest) -> RunFunctionResponse,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let inputs = load(args)?;

    let documents = match render(&inputs, function, args.include_function_results) {
        Ok(documents) => documents,
        Err(error) => {
            if let Some(fatal) = error.downcast_ref::<FatalResult>() {
                write(out, &fatal.documents)?;
            }
            return Err(error.context("cannot render composite resource"));
        }
    };

    write(out, &documents)
}

/// A step returned a Fatal result, which stops the pipeline.
#[derive(Debug, thiserror::Error)]
#[error("pipeline step {step:?} returned a fatal result: {message}")]
pub struct FatalResult {
    /// The step that returned the result.
    pub step: String,
    /// The result's message.
    pub message: String,
    /// The `Result` documents of every result up to and including the Fatal
    /// one, to print so the user sees what led to it.
    pub documents: Vec<Value>,
}

/// Loads and checks every file of `args`.
pub fn load(args: &RenderArgs) -> anyhow::Result<Inputs> {
    let xr = inputs::read_object(&args.composite_resource)
        .context("cannot load the composite resource")?;

    let composition = args
        .composition
        .as_deref()
        .map(|path| inputs::read_object(path).and_then(|d| pipeline::load_composition(&d)))
        .transpose()
        .context("cannot load the Composition")?;

    let composite = composite::load_composite(
        &xr,
        composition.as_ref().map(|c| &c.spec.composite_type_ref),
    )?;
    if let Some(composition) = &composition {
        composite::check_composition_selector(&composite, composition)?;
    }

    let functions = args
        .functions
        .as_deref()
        .map(inputs::read_stream)
        .transpose()
        .context("cannot load the functions")?;

    let input = args
        .function_input
        .as_deref()
        .map(inputs::read_object)
        .transpose()
        .context("cannot load the function input")?
        .map(|document| document.value);

    let steps = pipeline::plan(composition.as_ref(), functions.as_deref(), input.as_ref())?;

    let observed = args
        .observed_resources
        .as_deref()
        .map(resources::load_observed)
        .transpose()
        .context("cannot load the observed resources")?
        .unwrap_or_default();

    let required = args
        .required_resources
        .as_deref()
        .map(resources::load_required)
        .transpose()
        .context("cannot load the required resources")?
        .unwrap_or_default();

    Ok(Inputs {
        composite,
        observed,
        required,
        steps,
    })
}

/// Runs the pipeline of `inputs` with `function` and returns the documents
/// to print: the composite resource, the composed resources sorted by name,
/// and, with `include_results`, a `Result` per Normal or Warning result.
///
/// A Fatal result returns a [`FatalResult`] error.
pub fn render(
    inputs: &Inputs,
    function: &dyn Fn(&RunFunctionRequest) -> RunFunctionResponse,
    include_results: bool,
) -> anyhow::Result<Vec<Value>> {
    let outcome = run_pipeline(inputs, function)?;

    if let Some(fatal) = outcome.fatal {
        let mut results = outcome.results;
        results.push(fatal.clone());
        let StepResult { step, result } = fatal;

        return Err(FatalResult {
            step,
            message: result.message,
            documents: output::result_documents(&results),
        }
        .into());
    }

    let mut documents = vec![output::composite_document(
        &inputs.composite,
        &outcome.desired,
        &outcome.conditions,
    )];
    documents.extend(output::composed_documents(
        &inputs.composite,
        &inputs.observed,
        &outcome.desired,
    )?);
    if include_results {
        documents.extend(output::result_documents(&outcome.results));
    }

    Ok(documents)
}

/// Writes documents to `out` as a YAML stream.
fn write(out: &mut dyn Write, documents: &[Value]) -> anyhow::Result<()> {
    let yaml = output::yaml_stream(documents)?;

    out.write_all(yaml.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the rendered output")
}
