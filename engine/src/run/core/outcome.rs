//! What a step produced, and why a step failed.

use ralph_plugin_sdk::Evidence;
use serde::{Deserialize, Serialize};

/// Why a step failed. Retry policies (`retry_on`, `non_retryable`) name these, the breaker and
/// the runner decide by them, and the journal keeps them by their snake_case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The step ran past its time limit.
    Timeout,
    /// The agent could not reach its provider.
    ConnectionError,
    /// The agent's program could not be started.
    SpawnError,
    /// The agent exited unsuccessfully.
    NonzeroExit,
    /// The step's `check:` command failed.
    CheckFailed,
    /// The provider refused for too many requests; it passes in seconds.
    RateLimited,
    /// The provider's usage limit was reached: a wait until it resets, not a failure.
    UsageLimit,
    /// The prompt did not fit the model's context.
    ContextOverflow,
    /// A plugin vetoed the step before it ran.
    PluginVeto,
    /// The step was cancelled.
    Cancelled,
    /// The agent reported an error of its own.
    AgentError,
    /// The `fail` action.
    Action,
    /// A built-in action could not do its work.
    ActionError,
    /// The `stop` action, or a budget or the breaker stopped the step: the run ends.
    Stopped,
    /// The agent's own circuit breaker is open: the step was not run.
    CircuitOpen,
    /// A person interrupted the step: not a failure of the agent — the breaker does not count
    /// it and its retry policy does not run it again; it runs again, as the same attempt, when
    /// the loop is resumed.
    Interrupted,
    /// A state machine's step did not run because a person redirected the run first.
    Redirected,
    /// `replay --check`: the recording has no outcome for the step.
    NotRecorded,
    /// The agent cannot work at all here — not logged in, a rejected API key, an unknown model,
    /// its program missing, a full disk. Not the task's fault: the run stops at once, the task
    /// is left as it was, and nothing is retried.
    Environment,
}

impl FailureClass {
    /// Every class, in the order above.
    pub const ALL: [FailureClass; 19] = [
        FailureClass::Timeout,
        FailureClass::ConnectionError,
        FailureClass::SpawnError,
        FailureClass::NonzeroExit,
        FailureClass::CheckFailed,
        FailureClass::RateLimited,
        FailureClass::UsageLimit,
        FailureClass::ContextOverflow,
        FailureClass::PluginVeto,
        FailureClass::Cancelled,
        FailureClass::AgentError,
        FailureClass::Action,
        FailureClass::ActionError,
        FailureClass::Stopped,
        FailureClass::CircuitOpen,
        FailureClass::Interrupted,
        FailureClass::Redirected,
        FailureClass::NotRecorded,
        FailureClass::Environment,
    ];

    /// Its name, as journaled and as retry policies write it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Timeout => "timeout",
            FailureClass::ConnectionError => "connection_error",
            FailureClass::SpawnError => "spawn_error",
            FailureClass::NonzeroExit => "nonzero_exit",
            FailureClass::CheckFailed => "check_failed",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::UsageLimit => "usage_limit",
            FailureClass::ContextOverflow => "context_overflow",
            FailureClass::PluginVeto => "plugin_veto",
            FailureClass::Cancelled => "cancelled",
            FailureClass::AgentError => "agent_error",
            FailureClass::Action => "action",
            FailureClass::ActionError => "action_error",
            FailureClass::Stopped => "stopped",
            FailureClass::CircuitOpen => "circuit_open",
            FailureClass::Interrupted => "interrupted",
            FailureClass::Redirected => "redirected",
            FailureClass::NotRecorded => "not_recorded",
            FailureClass::Environment => "environment",
        }
    }

    /// The class of a name, if it is one.
    pub fn parse(name: &str) -> Option<FailureClass> {
        FailureClass::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the step's failure counts against it: a usage limit is a wait, an interrupt or a
    /// redirect a person's decision, an environment failure the machine's.
    pub fn is_the_steps_fault(self) -> bool {
        !matches!(
            self,
            FailureClass::UsageLimit
                | FailureClass::Interrupted
                | FailureClass::Redirected
                | FailureClass::Environment
        )
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one step: success or failure (from the exit status and the engine's own
/// checks), the named result the agent reported, and evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Whether the step succeeded.
    pub success: bool,
    /// The named result the agent reported through its result file (`verified`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The agent's one-paragraph summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The exit code of the agent process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// For failures: the failure class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClass>,
    /// For failures: what went wrong, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the step in milliseconds.
    pub duration_ms: u64,
    /// Human reviews: who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// Human reviews: the name the reviewer gave beside their OS user (`approve --as NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer_as: Option<String>,
    /// The state to move to regardless of transitions (an `on_timeout` that names a state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<String>,
    /// Usage limits: when the provider said the limit resets (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<u64>,
    /// Files changed, test counts, tokens and cost.
    #[serde(default)]
    pub evidence: Evidence,
    /// What the agent learnt, from its result file's `learnings` and the bullets it appended
    /// to `.ralph/learnings.md` (cleaned, at most `learnings::MAX_PER_STEP`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learnings: Vec<String>,
    /// Tasks its result file adds (`tasks`), as the agent wrote them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ralph_plugin_sdk::NewTask>,
    /// An evaluator's tasks sent back for more work (`send_back`), with their reviews.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send_back: Vec<ralph_plugin_sdk::SendBack>,
}

impl Outcome {
    /// A failure of the given class, with a message.
    pub fn failed(class: FailureClass, error: impl Into<String>) -> Self {
        Outcome { success: false, class: Some(class), error: Some(error.into()), ..Outcome::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::FailureClass;

    #[test]
    fn a_class_is_journaled_by_its_name_and_read_back() {
        for class in FailureClass::ALL {
            let json = serde_json::to_value(class).unwrap();
            assert_eq!(json, class.as_str());
            assert_eq!(serde_json::from_value::<FailureClass>(json).unwrap(), class);
            assert_eq!(FailureClass::parse(class.as_str()), Some(class));
        }
    }
}
