//! What a step produced.

use ralph_plugin_sdk::Evidence;
use serde::{Deserialize, Serialize};

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
    /// For failures: the failure class (`timeout`, `nonzero_exit`, `spawn_error`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// For failures: what went wrong, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the step in milliseconds.
    pub duration_ms: u64,
    /// Human reviews: who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// The state to move to regardless of transitions (an `on_timeout` that names a state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<String>,
    /// Usage limits: when the provider said the limit resets (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<u64>,
    /// Files changed, test counts, tokens and cost.
    #[serde(default)]
    pub evidence: Evidence,
}

impl Outcome {
    /// A failure of the given class, with a message.
    pub fn failed(class: &str, error: impl Into<String>) -> Self {
        Outcome {
            success: false,
            class: Some(class.to_owned()),
            error: Some(error.into()),
            ..Outcome::default()
        }
    }
}
