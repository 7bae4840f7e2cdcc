//! State-machine states and transitions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Action, Duration, Notification, OneOrMany, PolicyRef};

/// A state, written as a plain name (`- planning`) or as an object with an `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StateDef {
    /// Just the state's id; its agent is found by name.
    Name(String),
    /// A state with settings.
    Full(Box<State>),
}

impl StateDef {
    /// The state's id.
    pub fn id(&self) -> &str {
        match self {
            StateDef::Name(id) => id,
            StateDef::Full(state) => &state.id,
        }
    }

    /// The settings, if the state was written as an object.
    pub fn state(&self) -> Option<&State> {
        match self {
            StateDef::Name(_) => None,
            StateDef::Full(state) => Some(state),
        }
    }
}

/// What happens in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// An agent (or a chain) performs the state's step. The default.
    Agent,
    /// The run waits for a person to approve or reject.
    HumanInTheLoop,
    /// The same as `human_in_the_loop`.
    Human,
    /// Several agents run at once (see `agents` and `require_all`).
    Parallel,
    /// The run ends here.
    Terminal,
}

/// A state with settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The state's id, used by transitions.
    pub id: String,
    /// `agent` (default), `human_in_the_loop` (or `human`), `parallel` or `terminal`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<StateKind>,
    /// What the state does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The agent or chain that performs this state. Defaults to the agent named like the state,
    /// then to the role of a well-known phase (`planning` → `planner`, `building` → `builder`,
    /// `verifying` → `verifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Several agents for this state; they run in parallel when `parallel: true`.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub agents: OneOrMany<String>,
    /// With several agents: whether all must succeed (`true`, the default) or any one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_all: Option<bool>,
    /// Run this state's agents at the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<bool>,
    /// How long the state may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// What to do when `timeout` passes: `escalate_to_human`, `fail`, `auto_approve`, … or a
    /// state id to move to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<OneOrMany<Action>>,
    /// Actions run on entering the state.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub on_enter: OneOrMany<Action>,
    /// Actions run on leaving the state.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub on_exit: OneOrMany<Action>,
    /// Human states: how often to remind the reviewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_interval: Option<Duration>,
    /// Human states: whom to notify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
    /// Human states: the review interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiSpec>,
    /// The retry policy of this state's step: a policy name or an inline policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<PolicyRef>,
}

/// The review interface of a human state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiSpec {
    /// `cli` (the default: `ralph-loop approve` / `reject`) or `web` (also a form at the web
    /// dashboard's `/review`).
    #[serde(default, rename = "type")]
    pub kind: UiKind,
    /// With `type: web`: the review form's minijinja template (HTML), relative to the workflow
    /// file's directory, else the project's; without it, the built-in form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// How a person reviews.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UiKind {
    /// `ralph-loop approve` / `reject` (and the dashboard's buttons).
    #[default]
    Cli,
    /// A form in the web dashboard (`GET /review`), rendered from `template`.
    Web,
}

/// A transition between two states.
///
/// Transitions from a state are tried in file order after its step ends; the first whose
/// `condition` holds is taken. If none holds, the state's `else` target is taken. A transition
/// without `condition` holds when the step succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// The state the transition leaves.
    pub from: String,
    /// The state it enters.
    pub to: String,
    /// When it is taken: a named condition, an outcome name such as `verified`, or an expression
    /// such as `failure and retries < 3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The state to enter when no transition from `from` holds.
    #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
    pub else_to: Option<String>,
    /// What the transition means, for people and diagrams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
