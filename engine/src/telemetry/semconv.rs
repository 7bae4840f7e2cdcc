//! The names the OpenTelemetry semantic conventions give to agent and pipeline work (GenAI and
//! CI/CD), and ours where they have none. One place, so the live export, `ralph-loop traces`
//! and the dashboards cannot drift apart.

use crate::run::core::event::RunStatus;
use crate::workflow::model::{Agent, Backend, Document};

/// `gen_ai.operation.name`.
pub const OPERATION: &str = "gen_ai.operation.name";
/// `gen_ai.workflow.name`.
pub const WORKFLOW: &str = "gen_ai.workflow.name";
/// `gen_ai.agent.name`.
pub const AGENT: &str = "gen_ai.agent.name";
/// `gen_ai.provider.name`.
pub const PROVIDER: &str = "gen_ai.provider.name";
/// `gen_ai.request.model`.
pub const MODEL: &str = "gen_ai.request.model";
/// `gen_ai.usage.input_tokens`.
pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`.
pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.token.type` (`input` or `output`).
pub const TOKEN_TYPE: &str = "gen_ai.token.type";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// `cicd.pipeline.name`.
pub const PIPELINE: &str = "cicd.pipeline.name";
/// `cicd.pipeline.run.id`.
pub const PIPELINE_RUN_ID: &str = "cicd.pipeline.run.id";
/// `cicd.pipeline.result`.
pub const PIPELINE_RESULT: &str = "cicd.pipeline.result";
/// `cicd.pipeline.run.state`.
pub const PIPELINE_RUN_STATE: &str = "cicd.pipeline.run.state";

/// The operation of a workflow run.
pub const INVOKE_WORKFLOW: &str = "invoke_workflow";
/// The operation of an agent's step.
pub const INVOKE_AGENT: &str = "invoke_agent";
/// The operation of the planner's step.
pub const PLAN: &str = "plan";

/// The GenAI provider a backend talks to (`gen_ai.provider.name`); none for plain commands.
pub fn provider(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Claude => Some("anthropic"),
        Backend::Codex | Backend::Openai => Some("openai"),
        Backend::Gemini => Some("gcp.gemini"),
        Backend::Opencode => Some("opencode"),
        Backend::Command => None,
    }
}

/// The CI/CD result of a run (`cicd.pipeline.result`).
pub fn pipeline_result(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "success",
        RunStatus::Failed => "failure",
        RunStatus::Stopped => "cancellation",
        RunStatus::Running => "unset",
    }
}

/// What the definition says about an agent, as span and metric attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    /// `invoke_agent`, or `plan` for the planner.
    pub operation: &'static str,
    /// `gen_ai.provider.name`, when an AI backend performs it.
    pub provider: Option<&'static str>,
    /// `gen_ai.request.model`, when configured.
    pub model: Option<String>,
}

impl AgentInfo {
    /// The description of a step run by `agent` in an iteration whose `route` (its task's role,
    /// routing or escalation) chose that agent's backend and model: the route's win.
    pub fn routed(mut self, route: Option<&crate::run::core::event::Route>, agent: &str) -> AgentInfo {
        let Some(route) = route.filter(|r| r.agent == first_agent(agent)) else { return self };
        if let Some(model) = &route.model {
            self.model = Some(model.clone());
        }
        let backend = route.backend.as_deref().and_then(|b| serde_json::from_value(b.into()).ok());
        if let Some(backend) = backend {
            self.provider = provider(backend);
        }
        self
    }
}

/// The agent that describes a step whose agent is `agent` (one name, or several joined with
/// `, ` or ` → `): the first named.
pub fn first_agent(agent: &str) -> &str {
    agent.split([',', '→']).next().unwrap_or(agent).trim()
}

/// How `agent` (see [`first_agent`]) is described by `doc`.
pub fn agent_info(doc: Option<&Document>, agent: &str) -> AgentInfo {
    let first = first_agent(agent);
    let default_backend = doc.and_then(|d| d.loop_settings.as_ref()).and_then(|l| l.backend);
    describe(first, doc.and_then(|d| d.agents.get(first)), default_backend)
}

/// How the agent `name` is described by its `definition` (none: the definition names no such
/// agent), with `default_backend` the project's `loop.backend`.
pub fn describe(name: &str, definition: Option<&Agent>, default_backend: Option<Backend>) -> AgentInfo {
    let planner = name == "planner" || definition.is_some_and(|a| a.on_failure.is_some());
    let backend = definition.and_then(|a| a.backend).or(default_backend);
    AgentInfo {
        operation: if planner { PLAN } else { INVOKE_AGENT },
        provider: backend.and_then(provider),
        model: definition.and_then(|a| a.model.clone()),
    }
}
