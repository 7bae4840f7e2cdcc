//! The `workflow:` block: which kind of workflow, and its states, nodes or steps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DagNode, OneOrMany, SagaStep, StateDef, Transition};

/// The three kinds of workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowKind {
    /// States joined by transitions with conditions.
    StateMachine,
    /// Nodes joined by dependencies; independent nodes run in parallel.
    Dag,
    /// Steps in order, each with a compensation run in reverse order when a later step fails.
    Saga,
}

impl WorkflowKind {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowKind::StateMachine => "state_machine",
            WorkflowKind::Dag => "dag",
            WorkflowKind::Saga => "saga",
        }
    }
}

/// A workflow definition.
///
/// `type` may be left out: a workflow with `states` is a state machine, with `nodes` a DAG,
/// with `steps` a saga.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// `state_machine`, `dag` or `saga`; inferred from `states`, `nodes` or `steps` when absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<WorkflowKind>,
    /// A short name for the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the workflow does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// State machines: the state a run starts in. Defaults to the first listed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// State machines: the states that end a run. Defaults to the states with `type: terminal`
    /// and the last listed state when it has no outgoing transition.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub terminal: OneOrMany<String>,
    /// State machines: the states, as names or as objects with an `id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<StateDef>,
    /// State machines: the transitions between states, evaluated in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// DAGs: the nodes and their dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<DagNode>,
    /// Sagas: the steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<SagaStep>,
}

impl Workflow {
    /// The declared kind, or the one implied by which list is present.
    pub fn effective_kind(&self) -> WorkflowKind {
        self.kind.unwrap_or(if !self.nodes.is_empty() {
            WorkflowKind::Dag
        } else if !self.steps.is_empty() {
            WorkflowKind::Saga
        } else {
            WorkflowKind::StateMachine
        })
    }
}
