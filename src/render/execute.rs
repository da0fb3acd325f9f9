//! Running the planned steps in order, as Crossplane runs a function
//! pipeline. Each step receives the observed state, and the desired state
//! and context the step before it returned. The conditions and results of
//! every step are collected, and a Fatal result stops the pipeline.

use std::collections::BTreeMap;

use anyhow::Context;
use prost_types::Struct;
use serde_json::Value;

use crate::proto::v1::{
    Capability, Condition, RequestMeta, Resource, Result as FunctionResult, RunFunctionRequest,
    RunFunctionResponse, Severity, State,
};
use crate::protocol::structs::json_to_struct;
use crate::render::pipeline::Step;
use crate::render::requirements::{call_until_stable, resolve};

/// The capabilities Crossplane 2.x advertises to every function. A
/// function that reads `meta.capabilities` receives the same as in a cluster.
/// Crossplane adds `CAPABILITY_CREDENTIALS` only when it passes
/// credentials, and this render passes none.
pub const CAPABILITIES: [Capability; 4] = [
    Capability::Capabilities,
    Capability::RequiredResources,
    Capability::Conditions,
    Capability::RequiredSchemas,
];

/// Everything a render reads, loaded and checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// The observed composite resource.
    pub composite: Value,
    /// Observed composed resources, keyed by their name in the composition.
    pub observed: BTreeMap<String, Value>,
    /// Objects that may satisfy the function's requirements.
    pub required: Vec<Value>,
    /// The steps to run, in order.
    pub steps: Vec<Step>,
}

/// A result and the step that returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The name of the pipeline step.
    pub step: String,
    /// The result as the function returned it.
    pub result: FunctionResult,
}

/// The outcome of a pipeline run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The desired state the last step returned.
    pub desired: State,
    /// The conditions of every step, in the order they were returned.
    pub conditions: Vec<Condition>,
    /// The Normal and Warning results of every step, in order.
    pub results: Vec<StepResult>,
    /// The first Fatal result, which stopped the pipeline.
    pub fatal: Option<StepResult>,
}

/// Runs every step of `inputs` with `function`, stopping at the first
/// Fatal result.
pub fn run_pipeline(
    inputs: &Inputs,
    function: &dyn Fn(&RunFunctionRequest) -> RunFunctionResponse,
) -> anyhow::Result<Outcome> {
    let observed = observed_state(inputs)?;
    let mut outcome = Outcome::default();

    // The pipeline starts with no desired state and an empty context.
    let mut desired = State::default();
    let mut context = Some(Struct::default());

    for step in &inputs.steps {
        let request = request_for(step, &observed, &desired, context.clone(), &inputs.required)?;
        let response = call_until_stable(&step.name, function, request, &inputs.required)?;

        collect(&mut outcome, step, &response);
        if outcome.fatal.is_some() {
            return Ok(outcome);
        }

        desired = response.desired.unwrap_or_default();
        context = response.context;
    }

    outcome.desired = desired;
    Ok(outcome)
}

/// Builds the first request of a step.
fn request_for(
    step: &Step,
    observed: &State,
    desired: &State,
    context: Option<Struct>,
    required: &[Value],
) -> anyhow::Result<RunFunctionRequest> {
    let input = step
        .input
        .as_ref()
        .map(json_to_struct)
        .transpose()
        .with_context(|| format!("pipeline step {:?}: invalid input", step.name))?;
    let required_resources = resolve(&step.bootstrap, required).into_iter().collect();

    Ok(RunFunctionRequest {
        meta: Some(RequestMeta {
            // Crossplane tags a request with a hash of its content; any
            // stable string serves the same purpose here.
            tag: format!("render/{}", step.name),
            capabilities: CAPABILITIES.iter().map(|c| *c as i32).collect(),
        }),
        observed: Some(observed.clone()),
        desired: Some(desired.clone()),
        input,
        context,
        required_resources,
        ..Default::default()
    })
}

/// Builds the observed state every step receives.
fn observed_state(inputs: &Inputs) -> anyhow::Result<State> {
    let composite =
        json_to_struct(&inputs.composite).context("the composite resource must be an object")?;

    let mut resources = std::collections::BTreeMap::new();
    for (name, object) in &inputs.observed {
        let body = json_to_struct(object)
            .with_context(|| format!("observed resource {name:?} must be an object"))?;
        resources.insert(
            name.clone(),
            Resource {
                resource: Some(body),
                ..Default::default()
            },
        );
    }

    Ok(State {
        composite: Some(Resource {
            resource: Some(composite),
            ..Default::default()
        }),
        resources,
    })
}

/// Adds a step's conditions and results to the outcome, and records its
/// first Fatal result.
fn collect(outcome: &mut Outcome, step: &Step, response: &RunFunctionResponse) {
    outcome
        .conditions
        .extend(response.conditions.iter().cloned());

    for result in &response.results {
        let step_result = StepResult {
            step: step.name.clone(),
            result: result.clone(),
        };

        if result.severity == Severity::Fatal as i32 {
            outcome.fatal.get_or_insert(step_result);
        } else {
            outcome.results.push(step_result);
        }
    }
}
