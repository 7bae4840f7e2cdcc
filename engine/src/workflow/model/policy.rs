//! Failure policies: retries, the circuit breaker, compensation and the actions they run.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, OneOrMany};

/// The `retry:` section: a single policy (it becomes the `default` policy) or named policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RetrySection {
    /// One policy, used by every step that names none.
    Single(RetryPolicy),
    /// Named policies; `default` is used by steps that name none.
    Named(IndexMap<String, RetryPolicy>),
}

impl RetrySection {
    /// The policies by name; a single policy is called `default`.
    pub fn policies(&self) -> Vec<(&str, &RetryPolicy)> {
        match self {
            RetrySection::Single(policy) => vec![("default", policy)],
            RetrySection::Named(map) => map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        }
    }
}

/// How a step's retries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Delays grow by `backoff_coefficient` (default 2) from `base_delay` up to `max_delay`.
    ExponentialBackoff,
    /// Delays grow by `delay` each attempt.
    Linear,
    /// The same `delay` every time.
    Fixed,
}

/// A retry policy. `max_attempts` counts the first attempt: `max_attempts: 1` means no retry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// `exponential_backoff` (default), `linear` or `fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Attempts in total, the first one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_attempts: Option<u32>,
    /// The first delay of an exponential backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_delay: Option<Duration>,
    /// The longest delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<Duration>,
    /// The delay of `fixed`, and the increment of `linear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Random spread of each delay, as a fraction (0.1 = ±10%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub jitter: Option<f64>,
    /// Retry only these failure classes (e.g. `timeout`, `rate_limited`, `TimeoutError`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_on: Vec<String>,
    /// Never retry these failure classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable: Vec<String>,
    /// Temporal's name for `base_delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_interval: Option<Duration>,
    /// The growth factor of an exponential backoff (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0))]
    pub backoff_coefficient: Option<f64>,
    /// Temporal's name for `max_delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<Duration>,
}

/// A policy given by name (`retry: transient_errors`) or written inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PolicyRef {
    /// The name of a policy under `retry:`.
    Named(String),
    /// A policy written in place.
    Inline(RetryPolicy),
}

/// The circuit breaker: CLOSED, then OPEN after too many failures, HALF_OPEN after `timeout`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Whether the breaker is on (default true when the section is present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Consecutive failures that open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<u32>,
    /// Alternatively, a failure rate (0 to 1) over the last `window` calls that opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub failure_rate: Option<f64>,
    /// The number of calls the failure rate is computed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub window: Option<u32>,
    /// How long the breaker stays open before a probe is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Probe calls allowed while half-open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub half_open_max_calls: Option<u32>,
    /// How long a half-open probe may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_timeout: Option<Duration>,
    /// Iterations without a file or task change that open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub no_progress_iterations: Option<u32>,
    /// Output shrinking sharply opens the breaker: an AI step whose output tokens fall below
    /// this fraction of the average of the earlier ones (at least 3), e.g. `0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub output_shrink: Option<f64>,
    /// The same error this many times in a row opens the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub same_error_threshold: Option<u32>,
    /// Actions when the breaker opens, e.g. `notify_team`, `pause_loop`.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub on_open: OneOrMany<Action>,
    /// Actions when it closes again, e.g. `resume_loop`.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub on_close: OneOrMany<Action>,
}

/// Compensation: what runs when a run fails.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compensation {
    /// Actions run, in order, after the failed saga's own compensations.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub on_failure: OneOrMany<Action>,
}

/// An action: a built-in (`git_reset`, `notify`, `pause_loop`, …) or an agent, by name or with
/// arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Action {
    /// Just the action's name.
    Name(String),
    /// The action with its arguments.
    Spec(ActionSpec),
}

impl Action {
    /// The action's name.
    pub fn name(&self) -> &str {
        match self {
            Action::Name(name) => name,
            Action::Spec(spec) => &spec.action,
        }
    }
}

/// An action with arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// The action's name.
    pub action: String,
    /// Its arguments, e.g. `hard: false` for `git_reset`, `message: …` for `notify`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, serde_json::Value>,
    /// Also send a notification when the action runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
}
