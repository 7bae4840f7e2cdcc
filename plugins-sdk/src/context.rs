//! The context objects a plugin receives at a hook.

use serde::{Deserialize, Serialize};

use crate::error::named_enum;
use crate::evidence::Metrics;

/// The context of `workflow.*` hooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowContext {
    /// The workflow's name.
    pub workflow_name: String,
    /// The run's iteration, counting from 1.
    pub iteration: u64,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The full `ralph.yaml`, as JSON.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub config: serde_json::Value,
    /// For `workflow.on_failure`: why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run's id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// For `workflow.on_complete` and `workflow.on_failure`: how the run ended (`completed`,
    /// `failed`, `stopped`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What the run has spent so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
}

/// The context of `phase.*` and `agent.on_invoke` hooks.
///
/// Before a step runs only the first four fields are set (with the step, its attempt and the
/// spend so far); after it, the results too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseContext {
    /// The phase (e.g. `build`).
    pub phase: String,
    /// The agent performing the step (e.g. `builder`).
    pub agent: String,
    /// The run's iteration.
    pub iteration: u64,
    /// When the step started (RFC 3339).
    pub started_at: String,
    /// How long the step took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Whether the step succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// The step's output (the agent's final message, or a command's output), possibly truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Token usage and cost of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// The step (its id in the workflow); the phase is the step or its role (`build`, `verify`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step: String,
    /// The attempt, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// After a step: the files it changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_changed: Vec<String>,
    /// After a step: its changes as a unified diff (new files in full), possibly truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// What the run has spent so far (for budget decisions before an invocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
    /// Before a step: its steering packet, which a `modify` patches and an `annotate` adds to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<Box<crate::packet::SteeringPacket>>,
}

/// What a run has spent so far, and its limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// Dollars spent by the workflow's AI agents (the project's ledger, across runs).
    pub cost_usd: f64,
    /// Tokens used.
    pub tokens: u64,
    /// The AI invocations that spend was made over (an average invocation costs
    /// `cost_usd / invocations`).
    pub invocations: u64,
    /// The workflow's dollar budget, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// The workflow's token budget, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

/// The context of the `state.on_change` hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateContext {
    /// The state the run leaves.
    pub from_state: String,
    /// The state the run enters.
    pub to_state: String,
    /// The condition or signal that caused the transition (e.g. `plan_complete`).
    pub trigger: String,
    /// When the transition happened (RFC 3339).
    pub timestamp: String,
}

/// Which context a hook carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextKind {
    /// A [`WorkflowContext`].
    Workflow,
    /// A [`PhaseContext`].
    Phase,
    /// A [`StateContext`].
    State,
}

named_enum!(ContextKind, "context kind", [
    Workflow => "workflow",
    Phase => "phase",
    State => "state",
]);

/// One of the three contexts, tagged by `kind`: `{"kind": "phase", "phase": "build", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HookContext {
    /// The context of `workflow.*` hooks.
    Workflow(WorkflowContext),
    /// The context of `phase.*` and `agent.on_invoke` hooks.
    Phase(PhaseContext),
    /// The context of `state.on_change`.
    State(StateContext),
}

impl HookContext {
    /// Which context this is.
    pub fn kind(&self) -> ContextKind {
        match self {
            HookContext::Workflow(_) => ContextKind::Workflow,
            HookContext::Phase(_) => ContextKind::Phase,
            HookContext::State(_) => ContextKind::State,
        }
    }
}

impl From<WorkflowContext> for HookContext {
    fn from(context: WorkflowContext) -> Self {
        HookContext::Workflow(context)
    }
}

impl From<PhaseContext> for HookContext {
    fn from(context: PhaseContext) -> Self {
        HookContext::Phase(context)
    }
}

impl From<StateContext> for HookContext {
    fn from(context: StateContext) -> Self {
        HookContext::State(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The spec's "Available Context Objects", made valid JSON.
    #[test]
    fn spec_context_objects_parse() {
        let workflow: WorkflowContext = serde_json::from_value(json!({
            "workflow_name": "default",
            "iteration": 5,
            "started_at": "2024-03-08T10:30:15Z",
            "config": {"loop": {"max_iterations": 100}}
        }))
        .unwrap();
        assert_eq!(workflow.config["loop"]["max_iterations"], 100);

        let phase: PhaseContext = serde_json::from_value(json!({
            "phase": "build",
            "agent": "builder",
            "iteration": 5,
            "started_at": "2024-03-08T10:30:15Z",
            "duration_ms": 45000,
            "success": true,
            "output": "...",
            "metrics": {"tokens_used": 15000, "cost": 0.45}
        }))
        .unwrap();
        let metrics = phase.metrics.unwrap();
        assert_eq!(metrics.tokens_used, Some(15000));
        assert_eq!(metrics.cost_usd, Some(0.45));
        assert_eq!(phase.success, Some(true));

        let state: StateContext = serde_json::from_value(json!({
            "from_state": "planning",
            "to_state": "building",
            "trigger": "plan_complete",
            "timestamp": "2024-03-08T10:30:15Z"
        }))
        .unwrap();
        assert_eq!(state.trigger, "plan_complete");
    }

    #[test]
    fn hook_context_is_tagged_by_kind() {
        let context = HookContext::from(StateContext {
            from_state: "building".into(),
            to_state: "verifying".into(),
            trigger: "build_success".into(),
            timestamp: "2024-03-08T10:30:15Z".into(),
        });
        let value = serde_json::to_value(&context).unwrap();
        assert_eq!(value["kind"], "state");
        assert_eq!(value["to_state"], "verifying");
        assert_eq!(serde_json::from_value::<HookContext>(value).unwrap(), context);
        assert_eq!(context.kind(), ContextKind::State);
    }

    #[test]
    fn phase_context_before_a_step_is_small() {
        let context = HookContext::from(PhaseContext {
            phase: "verify".into(),
            agent: "verifier".into(),
            iteration: 2,
            started_at: "2024-03-08T10:30:15Z".into(),
            duration_ms: None,
            ..PhaseContext::default()
        });
        assert_eq!(
            serde_json::to_value(&context).unwrap(),
            json!({"kind": "phase", "phase": "verify", "agent": "verifier", "iteration": 2,
                   "started_at": "2024-03-08T10:30:15Z"})
        );
    }

    #[test]
    fn workflow_context_without_config_and_with_error() {
        let context: HookContext = serde_json::from_value(json!({
            "kind": "workflow", "workflow_name": "w", "iteration": 3,
            "started_at": "2024-03-08T10:30:15Z", "error": "budget exhausted"
        }))
        .unwrap();
        let HookContext::Workflow(workflow) = &context else { panic!("wrong kind: {context:?}") };
        assert!(workflow.config.is_null());
        assert_eq!(workflow.error.as_deref(), Some("budget exhausted"));
        assert!(!serde_json::to_string(&context).unwrap().contains("config"));
        assert!(serde_json::from_value::<HookContext>(json!({"kind": "saga"})).is_err());
    }
}
