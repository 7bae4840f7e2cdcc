//! Agents: who performs a step.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, EnvString, OneOrMany, PolicyRef};

/// What kind of agent this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// An AI coding agent driven by a prompt (the default).
    Ai,
    /// A plain shell command.
    Command,
    /// A person, reached through `notification`.
    Human,
}

/// The program or service that runs an AI agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Claude Code (`claude -p --output-format stream-json`).
    #[serde(alias = "claude_code")]
    Claude,
    /// OpenAI Codex CLI (`codex exec --json`).
    Codex,
    /// OpenCode (`opencode run --format json`).
    Opencode,
    /// Gemini CLI (`gemini -p -o stream-json`).
    Gemini,
    /// Any OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp, …).
    #[serde(alias = "api")]
    Openai,
    /// A shell command (`command:`).
    Command,
}

/// A peer's name for one of our backends, accepted with a note: `(peer, ours)`.
pub fn backend_alias(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "claude_code" => Some(("PyWiggum", "claude")),
        "api" => Some(("PyWiggum", "openai")),
        _ => None,
    }
}

/// When the planner (or another agent) is called on failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Called on any step failure, with the failure history in its packet.
    Always,
    /// Called only when a transition leads to it.
    Never,
}

/// An agent definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// `ai` (default), `command` or `human`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AgentKind>,
    /// What the agent is for, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The role prompt stacked after `AGENTS.md` and `PROMPT.md`, e.g. `PROMPT-BUILDER.md`.
    /// Defaults to `PROMPT-<NAME>.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The agent's identity; never changed during a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The backend; defaults to `loop.backend`, then to the installed agent program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// The command to run, for `backend: command`. Runs in the project directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The model name passed to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// How long one invocation may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How long the agent may produce no output before it counts as hung and is killed (with
    /// its process group), like at its `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout: Option<Duration>,
    /// Retries after the first attempt (`max_retries: 3` allows 4 attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The retry policy: a name under `retry:` or an inline policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<PolicyRef>,
    /// Whether the agent may run in parallel with others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<bool>,
    /// `always`: the agent is called on any failure (the planner's role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Invoke the agent only when this holds, e.g. `file_changed: '*.py'`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Tools the agent may use (passed to the backend as allowed tools).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Lifecycle hooks at which this agent is invoked, e.g. `phase.before_build`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<String>,
    /// Human agents: whom to notify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
    /// A command the engine runs after the agent to check its work (e.g. the tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Command agents: write the step's steering packet and give its path in
    /// `RALPH_PACKET_FILE`, for a script that reads it (a command that names the variable gets
    /// it without this). AI agents always get their packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_packet: Option<bool>,
    /// The agent may send the running loop control signals (`ralph-loop approve`, `reject`,
    /// `pause`, …) from inside its step, for automated review. Without it, a signal from an
    /// agent's processes is refused and journaled as refused: an agent cannot approve its own
    /// work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<bool>,
    /// Extra command-line arguments for the backend program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment for the agent process; values may use `${VAR}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, EnvString>,
    /// `openai` backend: the server's base URL, e.g. `http://127.0.0.1:11434/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<EnvString>,
    /// `openai` backend: the name of the environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
}

/// Whom to notify for a human step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// A Slack channel, e.g. `#code-reviews`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<String>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub email: OneOrMany<String>,
    /// Who to mention, e.g. `@here`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
    /// A webhook URL; may use `${VAR}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<EnvString>,
}
