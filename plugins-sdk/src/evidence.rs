//! The `evidence` section of a steering packet: what the last steps produced, as observed.

use serde::{Deserialize, Serialize};

/// Counts from a test run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResults {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were skipped, when the runner reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
}

impl TestResults {
    /// All tests counted, skipped ones included.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped.unwrap_or(0)
    }

    /// Whether at least one test ran and none failed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

/// Measurements of a step or a run. Every field is optional: report what you know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metrics {
    /// Wall-clock duration in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Tokens used in total (input plus output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_used: Option<u64>,
    /// Input (prompt) tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output (completion) tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Cost in US dollars. Also read from `cost`, the name the spec's phase context uses.
    #[serde(skip_serializing_if = "Option::is_none", alias = "cost")]
    pub cost_usd: Option<f64>,
}

impl Metrics {
    /// Whether no measurement is present.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `tokens_used`, or the sum of input and output tokens when only those are known.
    pub fn total_tokens(&self) -> Option<u64> {
        self.tokens_used.or(match (self.input_tokens, self.output_tokens) {
            (None, None) => None,
            (input, output) => Some(input.unwrap_or(0) + output.unwrap_or(0)),
        })
    }
}

/// The `evidence` section of a steering packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// Paths changed by the work so far, relative to the repository root.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files_changed: Vec<String>,
    /// The latest test run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_results: Option<TestResults>,
    /// Relevant log lines or excerpts, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// Measurements of the last step.
    #[serde(skip_serializing_if = "Metrics::is_empty")]
    pub metrics: Metrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_results_helpers() {
        let results = TestResults { passed: 8, failed: 2, skipped: Some(1) };
        assert_eq!(results.total(), 11);
        assert!(!results.all_passed());
        assert!(TestResults { passed: 3, failed: 0, skipped: None }.all_passed());
        assert!(!TestResults::default().all_passed());
    }

    #[test]
    fn metrics_accept_cost_alias_and_write_cost_usd() {
        let metrics: Metrics = serde_json::from_str(r#"{"tokens_used": 15000, "cost": 0.45}"#).unwrap();
        assert_eq!(metrics.cost_usd, Some(0.45));
        assert_eq!(
            serde_json::to_value(metrics).unwrap(),
            serde_json::json!({"tokens_used": 15000, "cost_usd": 0.45})
        );
    }

    #[test]
    fn total_tokens_falls_back_to_input_plus_output() {
        let metrics = Metrics { input_tokens: Some(100), output_tokens: Some(20), ..Metrics::default() };
        assert_eq!(metrics.total_tokens(), Some(120));
        assert_eq!(Metrics::default().total_tokens(), None);
        let explicit = Metrics { tokens_used: Some(7), input_tokens: Some(100), ..Metrics::default() };
        assert_eq!(explicit.total_tokens(), Some(7));
    }

    #[test]
    fn empty_evidence_is_an_empty_object() {
        assert!(Metrics::default().is_empty());
        assert_eq!(serde_json::to_string(&Evidence::default()).unwrap(), "{}");
    }
}
