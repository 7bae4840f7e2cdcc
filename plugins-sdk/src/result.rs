//! The result report an agent writes to `$RALPH_RESULT_FILE`, and the names around it.

use serde::{Deserialize, Serialize};

/// The environment variables the engine gives every agent process.
pub mod env {
    /// The run's id.
    pub const RUN_ID: &str = "RALPH_RUN_ID";
    /// The step being performed (state, DAG node or saga step name).
    pub const STEP: &str = "RALPH_STEP";
    /// The path of the rendered prompt stack (`AGENTS.md` + `PROMPT.md` + `PROMPT-<ROLE>.md`).
    pub const PROMPT_FILE: &str = "RALPH_PROMPT_FILE";
    /// The path of the step's steering packet, as JSON.
    pub const PACKET_FILE: &str = "RALPH_PACKET_FILE";
    /// The path where the agent writes its [`ResultReport`](crate::ResultReport) as JSON.
    pub const RESULT_FILE: &str = "RALPH_RESULT_FILE";

    /// All of them, in the order above.
    pub const ALL: &[&str] = &[RUN_ID, STEP, PROMPT_FILE, PACKET_FILE, RESULT_FILE];
}

/// The outcome names the stock prompts and workflows use as transition conditions.
pub mod outcome {
    /// Builder: the task is implemented and its checks pass.
    pub const BUILD_SUCCESS: &str = "build_success";
    /// Builder: the work could not be completed.
    pub const BUILD_FAILED: &str = "build_failed";
    /// Builder: stuck; the task needs the planner (after two failed approaches).
    pub const NEEDS_PLANNING: &str = "needs_planning";
    /// Verifier: every verification layer passed.
    pub const VERIFIED: &str = "verified";
    /// Verifier: problems the builder can fix.
    pub const NEEDS_FIXES: &str = "needs_fixes";
    /// Verifier: a problem that needs a person.
    pub const CRITICAL_ISSUE: &str = "critical_issue";
    /// Planner: the plan (TODO.md) is updated.
    pub const PLAN_COMPLETE: &str = "plan_complete";
    /// Security scanner: no blocking finding.
    pub const SECURITY_PASSED: &str = "security_passed";
    /// Security scanner: at least one blocking finding.
    pub const SECURITY_FAILED: &str = "security_failed";
}

/// The named result of a step, written by the agent as JSON to the file named by
/// `$RALPH_RESULT_FILE`:
///
/// ```
/// use ralph_plugin_sdk::ResultReport;
///
/// let report: ResultReport =
///     serde_json::from_str(r#"{"outcome": "verified", "summary": "all 42 tests pass"}"#).unwrap();
/// assert_eq!(report.outcome.as_deref(), Some("verified"));
/// ```
///
/// Every field is optional. The engine judges the step by the process's exit status and its
/// own checks as well; text in the agent's output is never taken as a completion signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResultReport {
    /// The named result, one of the packet's `instructions.outcomes` (e.g. `verified`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// One paragraph on what was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Whether the agent considers its work successful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Anything structured: tests run, files changed, findings, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// What the agent learnt that later tasks should know, one short sentence each (e.g.
    /// "the parser module needs utf8 normalization"). The engine keeps them per project and
    /// gives the relevant ones to later tasks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub learnings: Vec<String>,
    /// Tasks to add to the project's task file (e.g. what an `ideas` agent found to do). Each
    /// is checked as `ralph-loop task add` checks one: a duplicate id, an unknown dependency,
    /// a cycle or a task past the file's limit is refused, and the refusal is in the agent's
    /// next packet (`context.task_refusals`); the loop goes on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<NewTask>,
    /// `evaluator` tasks: the tasks this one depends on that need more work, each with the
    /// review that says why. They are reopened with the review in their next packet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub send_back: Vec<SendBack>,
}

/// A task an agent adds (its result file's `tasks`, or `ralph-loop task add`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewTask {
    /// Its id; when absent, the first free `<prefix>N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The prefix of a generated id (default `task-`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// What has to be done, in a line (or give `description`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// More about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The role that does it: `ideas`, `implementer`, `evaluator`, or a custom one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its priority: higher runs sooner (a number, or `low`, `medium`, `high`, `critical`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<serde_json::Value>,
    /// How hard it is, 1 (trivial) to 5 (hard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complexity: Option<u8>,
    /// Tasks that must be done first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// What must be true for it to count as done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acceptance_criteria: Vec<String>,
    /// Free-form labels (routing may match them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Its type, e.g. `code`, `planning`, `test` (routing matches it).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// On a kanban board: the milestone to list it under (default: the last one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
}

/// A task an evaluator sends back for more work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendBack {
    /// The task's id (one the evaluator task depends on).
    pub task: String,
    /// What is wrong and what to do, for the agent that takes it up again.
    #[serde(default)]
    pub review: String,
}

impl ResultReport {
    /// A report naming `outcome`.
    pub fn new(outcome: impl Into<String>) -> Self {
        Self { outcome: Some(outcome.into()), ..Self::default() }
    }

    /// The report with `summary` set.
    #[must_use]
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// The report with `details` set.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Whether the outcome is one of `allowed` (a report without outcome is always allowed).
    pub fn outcome_allowed<S: AsRef<str>>(&self, allowed: &[S]) -> bool {
        self.outcome.as_deref().is_none_or(|outcome| allowed.iter().any(|a| a.as_ref() == outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn brief_example_parses() {
        let report: ResultReport =
            serde_json::from_str(r#"{"outcome": "verified", "summary": "all 42 tests pass"}"#).unwrap();
        assert_eq!(report, ResultReport::new(outcome::VERIFIED).with_summary("all 42 tests pass"));
        assert_eq!(report.success, None);
    }

    #[test]
    fn details_and_unknown_fields() {
        let report: ResultReport = serde_json::from_value(json!({
            "outcome": "needs_fixes",
            "summary": "2 failures",
            "success": false,
            "details": {"failed_layers": ["functional"], "issues": 2},
            "confidence": 0.9
        }))
        .unwrap();
        assert_eq!(report.details.as_ref().unwrap()["issues"], 2);
        assert_eq!(report.success, Some(false));
        let written = serde_json::to_value(&report).unwrap();
        assert!(written.get("confidence").is_none());
        assert_eq!(serde_json::to_string(&ResultReport::default()).unwrap(), "{}");
    }

    #[test]
    fn outcome_allowed_checks_the_list() {
        let allowed = ["verified", "needs_fixes", "critical_issue"];
        assert!(ResultReport::new("verified").outcome_allowed(&allowed));
        assert!(!ResultReport::new("build_success").outcome_allowed(&allowed));
        assert!(ResultReport::default().outcome_allowed(&allowed));
        let from_packet: Vec<String> = vec!["plan_complete".into()];
        assert!(ResultReport::new("plan_complete").with_details(json!({})).outcome_allowed(&from_packet));
    }

    #[test]
    fn env_names() {
        assert_eq!(
            env::ALL,
            ["RALPH_RUN_ID", "RALPH_STEP", "RALPH_PROMPT_FILE", "RALPH_PACKET_FILE", "RALPH_RESULT_FILE"]
        );
    }
}
