//! Who works on a task: roles, model routing and escalation (`ralph.yaml`).
//!
//! All three choose the agent that does a task's work — the **work agent**, the agent named by
//! `roles.implementer` (default `builder`): every step the workflow runs with the work agent runs,
//! for that task's iteration, with the agent its role names, on the model its routing names, or
//! on the escalation's model once the loop is stuck. Every other step is left as written.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Backend, EnvString};

/// The agent that does the work of tasks without a role (or with role `implementer`) when
/// `roles.implementer` names none.
pub const DEFAULT_WORK_AGENT: &str = "builder";

/// The role of a task without one.
pub const DEFAULT_ROLE: &str = "implementer";

/// The role whose tasks review the tasks they depend on and may send them back.
pub const EVALUATOR_ROLE: &str = "evaluator";

/// What a role maps to: an agent's name, `{agent: NAME}`, or `{workflow: FILE}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RoleTarget {
    /// The agent (under `agents:`) that does the work of tasks with this role.
    Agent(String),
    /// Written out.
    Spec(RoleSpec),
}

/// A role written out: an agent, or a workflow of its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The agent (under `agents:`) that does the work of tasks with this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A workflow file (relative to the project directory) that a task with this role runs
    /// instead of the loop's workflow: its iteration is one pass of that workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// `evaluator` role: how many times one task may be sent back for more work in a run
    /// (default 2); after that the review's verdict is final and the task stays done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_send_backs: Option<u32>,
}

impl RoleTarget {
    /// The agent the role names, if it names one.
    pub fn agent(&self) -> Option<&str> {
        match self {
            RoleTarget::Agent(name) => Some(name),
            RoleTarget::Spec(spec) => spec.agent.as_deref(),
        }
    }

    /// The workflow the role runs, if it names one.
    pub fn workflow(&self) -> Option<&str> {
        match self {
            RoleTarget::Agent(_) => None,
            RoleTarget::Spec(spec) => spec.workflow.as_deref(),
        }
    }

    /// How many times a task may be sent back, for an evaluator role.
    pub fn max_send_backs(&self) -> Option<u32> {
        match self {
            RoleTarget::Agent(_) => None,
            RoleTarget::Spec(spec) => spec.max_send_backs,
        }
    }
}

/// Where a routing entry sends a task's work: a model name (the work agent's backend kept), or
/// a backend and model, or another agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RouteTarget {
    /// The model, on the work agent's own backend.
    Model(String),
    /// Written out.
    Spec(ModelChoice),
}

impl RouteTarget {
    /// The choice written out.
    pub fn choice(&self) -> ModelChoice {
        match self {
            RouteTarget::Model(model) => ModelChoice { model: Some(model.clone()), ..ModelChoice::default() },
            RouteTarget::Spec(spec) => spec.clone(),
        }
    }
}

/// Which agent, backend and model do a task's work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    /// An agent under `agents:` that does the work instead of the work agent (`backend` and
    /// `model` then change that agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The backend; defaults to the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// The model passed to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `openai` backend: the server's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<EnvString>,
    /// `openai` backend: the environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
}

/// What the loop does when it is stuck: after `trigger_after` iterations in a row without
/// progress (an iteration whose task was not done), or for a task that has failed that many
/// attempts, the work agent is replaced by a stronger one — or a person is asked — until an
/// iteration succeeds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Iterations without progress before escalating.
    #[schemars(range(min = 1))]
    pub trigger_after: u32,
    /// An agent under `agents:` that does the work while escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The backend while escalated; defaults to the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// The model while escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `openai` backend: the server's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<EnvString>,
    /// `openai` backend: the environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Ask a person instead: the loop pauses before the next iteration, with the reason, and
    /// notifies `on_human_review_needed`; `ralph-loop resume` goes on (a `hint` can say how).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human: Option<bool>,
}

impl Escalation {
    /// The model choice while escalated.
    pub fn choice(&self) -> ModelChoice {
        ModelChoice {
            agent: self.agent.clone(),
            backend: self.backend,
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
        }
    }
}

/// Roles by name: `ideas`, `implementer`, `evaluator` or any custom name.
pub type Roles = IndexMap<String, RoleTarget>;

/// Routing by task type, label or role, in order: the first entry that matches a task wins.
pub type Routing = IndexMap<String, RouteTarget>;
