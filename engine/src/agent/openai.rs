//! PLACEHOLDER until the openai branch lands.
use super::command::Invocation;
use crate::run::outcome::Outcome;

/// Default.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Config.
#[derive(Debug, Clone, Default)]
pub struct OpenAiConfig {
    /// x
    pub base_url: String,
    /// x
    pub model: String,
    /// x
    pub api_key: Option<String>,
    /// x
    pub system_prompt: Option<String>,
    /// x
    pub temperature: Option<f64>,
}

/// Run.
pub async fn run(_config: &OpenAiConfig, _check: Option<&str>, _inv: &Invocation) -> Outcome {
    Outcome::failed("agent_error", "not built")
}
