//! Budgets: what a loop may spend, and how fast.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// The `budget:` section. Spend is counted across runs (it is kept in `.ralph/ledger.json`), so a
/// restarted loop keeps counting; `daily_cost_usd` counts the current UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The most tokens the agents may use, over all runs of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u64>,
    /// The most US dollars the agents may spend, over all runs of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_cost_usd: Option<f64>,
    /// The most US dollars per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub daily_cost_usd: Option<f64>,
    /// The most agent invocations in any hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub calls_per_hour: Option<u32>,
    /// The least time between two agent invocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    /// How long to wait after a provider's usage limit when it does not say when it resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit_wait: Option<Duration>,
    /// Prices per model name (as the backend reports it, or as configured), in US dollars per
    /// million tokens, for backends that report tokens but no cost.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub prices: IndexMap<String, Price>,
}

/// A model's price, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million input tokens.
    #[schemars(range(min = 0.0))]
    pub input: f64,
    /// Per million output tokens.
    #[schemars(range(min = 0.0))]
    pub output: f64,
}
