//! Saga steps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, PolicyRef};

/// A step of a saga: an action and the compensation that undoes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SagaStep {
    /// The step's name.
    pub name: String,
    /// What the step does: an agent, a chain, or a built-in action such as `git_reset`.
    pub action: String,
    /// What undoes it when a later step fails: an agent, a chain or a built-in action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<String>,
    /// What the step does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How long the step may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// The step's retry policy: a policy name or an inline policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<PolicyRef>,
}
