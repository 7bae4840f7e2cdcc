//! The root of a workflow file or of `ralph.yaml`: both parse into this one type.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Agent, Budget, CircuitBreaker, Compensation, Duration, Escalation, Logging, LoopSettings, Notifications,
    Observability, PluginsSection, Project, RetrySection, Roles, Routing, StateSettings, Workflow,
};

/// A ralph-loop file: a workflow definition, the project configuration (`ralph.yaml`), or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The version of the workflow language this file is written in. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// A short name for the workflow (shown by `ralph-loop workflow list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the workflow is for (shown by `ralph-loop workflow list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The project this configuration belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
    /// Settings of the loop itself: iterations, commits, the default backend.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_settings: Option<LoopSettings>,
    /// Timeouts per agent name, e.g. `builder: 7200s`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub timeouts: IndexMap<String, Duration>,
    /// Retry policies: one policy, or named policies such as `default`, `transient_errors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySection>,
    /// Where and how the engine logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// WebAssembly plugins called at lifecycle hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<PluginsSection>,
    /// The workflow: a state machine, a DAG or a saga.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Workflow>,
    /// The agents that perform steps, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub agents: IndexMap<String, Agent>,
    /// Agent chains: a chain runs as one step, agent after agent.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub chains: IndexMap<String, Vec<String>>,
    /// Named conditions, usable wherever a condition is expected.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub conditions: IndexMap<String, String>,
    /// What the loop may spend: tokens, dollars, calls per hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// The circuit breaker that stops a loop that keeps failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Actions run when a saga (or any run) fails, after the steps' own compensations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Compensation>,
    /// Traces, metrics, logs and dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<Observability>,
    /// Notification channels and which events go to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
    /// Persistence of runs: the store, snapshots and their retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateSettings>,
    /// Which agent does the work of a task, by the task's `role` (`ideas`, `implementer` — the
    /// default —, `evaluator`, or any name): `ideas: ideator` or `evaluator: {agent: reviewer}`.
    /// `implementer` names the work agent the others replace (default `builder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Roles>,
    /// The model that does a task's work, by the task's type, a label or its role, first match
    /// first: `planning: claude-sonnet-4-5` or `code: {backend: opencode, model: vllm/qwen3}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// A stronger agent or model (or a person) once the loop is stuck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

impl Document {
    /// The newest language version this build reads.
    pub const LATEST_VERSION: u32 = 1;
}
