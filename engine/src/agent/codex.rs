//! The `codex` backend: OpenAI Codex CLI in headless mode, `codex exec --json`, the prompt on
//! stdin (`-`).
//!
//! The stream is JSON lines: `thread.started`, `turn.started`, `item.*` events (the agent's
//! messages are `item.completed` with an `agent_message` item), and a turn ends with
//! `turn.completed` (with its token `usage`) or `turn.failed` (with an `error`); a top-level
//! `error` event reports a transport or usage failure. `error` events that start with
//! `Reconnecting...` are the CLI's own retries, not the turn's end: a turn that completes after
//! them succeeded.
//!
//! A failed request shows as codex words it (Codex CLI 0.171; `tests/fixtures/codex/` is
//! captured from it): `unexpected status 401 Unauthorized: <the provider's message>, url: …`
//! (no login: "You didn't provide an API key"; a bad key: "Incorrect API key provided"), the
//! provider's own message for an unknown model ("The model `x` does not exist or you do not
//! have access to it"; ChatGPT's backend says `404 Not Found: Model not found x`), "Quota
//! exceeded. Check your plan and billing details." for an API account without credit,
//! "exceeded retry limit, last status: 429 Too Many Requests" for a rate limit it could not
//! wait out, and "You've hit your usage limit" for a ChatGPT plan's. Logins, keys, models and
//! billing are environment failures: nothing the task does changes them.

use serde_json::Value;

use super::cli::{StreamParser, last_stderr_line};
use super::process::ProcessOutput;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

/// What the stream said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodexStream {
    /// The thread id from `thread.started`.
    pub thread_id: Option<String>,
    /// The last `agent_message` text.
    pub last_message: Option<String>,
    /// The usage of `turn.completed`.
    pub completed: Option<Value>,
    /// The error of `turn.failed` or of an `error` event.
    pub failed: Option<String>,
}

/// The class of a failed turn's message, and what to say about it.
fn classify(message: &str) -> (FailureClass, String) {
    let lower = message.to_lowercase();
    // The provider's words without codex's framing (`unexpected status …: `, `, url: …`).
    let said = {
        let start = message.find("unexpected status ").and_then(|at| {
            let rest = &message[at..];
            rest.find(": ").map(|colon| at + colon + 2)
        });
        let words = &message[start.unwrap_or(0)..];
        let words = words.split(", url: ").next().unwrap_or(words).trim();
        words.chars().take(300).collect::<String>()
    };
    let environment = |text: String| (FailureClass::Environment, text);
    if lower.contains("you didn't provide an api key") || lower.contains("not logged in") {
        return environment(
            "codex is not logged in: run `codex login`, or pipe an API key to `codex login --with-api-key`"
                .into(),
        );
    }
    if lower.contains("401 unauthorized")
        || lower.contains("incorrect api key")
        || lower.contains("invalid_api_key")
    {
        return environment(format!(
            "codex: the API key was rejected (401: {said}): run `codex login` again with a valid key"
        ));
    }
    if lower.contains("sign in again") || lower.contains("log in again") || lower.contains("refresh token") {
        return environment(format!("codex: its login has expired ({said}): run `codex login` again"));
    }
    if lower.contains("403 forbidden") {
        return environment(format!(
            "codex: the provider refused access (403: {said}): check the account's access"
        ));
    }
    let model_unknown = lower.contains("does not exist or you do not have access to it")
        || lower.contains("model_not_found")
        || lower.contains("model not found")
        || (lower.contains("404 not found") && lower.contains("model"))
        || (lower.contains("model is not supported"));
    if model_unknown {
        let model = model_name(message).map(|m| format!(" `{m}`")).unwrap_or_default();
        return environment(format!(
            "codex: the model{model} is not known to the provider ({said}): set `model:` of the agent to one the account can use"
        ));
    }
    if lower.contains("quota exceeded") || lower.contains("insufficient_quota") {
        return environment(format!(
            "codex: the account has no quota left ({said}): check its plan and billing, then `ralph-loop resume`"
        ));
    }
    let class = if lower.contains("usage limit") {
        FailureClass::UsageLimit
    } else if lower.contains("429") || lower.contains("rate limit") || lower.contains("too many requests") {
        FailureClass::RateLimited
    } else {
        FailureClass::AgentError
    };
    (class, format!("codex: {message}"))
}

/// The model a "not found" message names: the first name in backticks or quotes, or the word
/// after "Model not found".
fn model_name(message: &str) -> Option<&str> {
    for quote in ['`', '\'', '"'] {
        if let Some((_, rest)) = message.split_once(quote) {
            if let Some((name, _)) = rest.split_once(quote) {
                if !name.is_empty() && !name.contains(char::is_whitespace) {
                    return Some(name);
                }
            }
        }
    }
    let at = message.to_lowercase().find("model not found ")?;
    let rest = &message[at + "model not found ".len()..];
    rest.split(|c: char| c == ',' || c.is_whitespace()).next().filter(|n| !n.is_empty())
}

impl StreamParser for CodexStream {
    const INSTALL: &'static str = "install the Codex CLI (`npm install -g @openai/codex`)";

    fn line(&mut self, line: &[u8]) {
        let Ok(event) = serde_json::from_slice::<Value>(line) else { return };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match event.get("type").and_then(Value::as_str) {
            Some("thread.started") => self.thread_id = text(&event, "thread_id"),
            Some("item.completed") => {
                let item = event.get("item").cloned().unwrap_or_default();
                if item.get("type").and_then(Value::as_str) == Some("agent_message") {
                    self.last_message = text(&item, "text");
                }
            }
            Some("turn.completed") => {
                self.completed = Some(event.get("usage").cloned().unwrap_or_default());
                // Whatever went wrong before, the turn got through it.
                self.failed = None;
            }
            Some("turn.failed") => {
                let error = event.get("error").cloned().unwrap_or_default();
                self.failed = Some(text(&error, "message").unwrap_or_else(|| "the turn failed".into()));
            }
            Some("error") => {
                let message = text(&event, "message").unwrap_or_else(|| "codex error".into());
                if !message.starts_with("Reconnecting...") {
                    self.failed = Some(message);
                }
            }
            _ => {}
        }
    }

    fn outcome(&self, process: &ProcessOutput) -> Outcome {
        let mut outcome = Outcome {
            exit_code: process.code,
            duration_ms: process.duration.as_millis() as u64,
            summary: self.last_message.as_ref().map(|m| m.chars().take(2000).collect()),
            ..Outcome::default()
        };
        if let Some(usage) = &self.completed {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64);
            outcome.evidence.metrics.input_tokens = n("input_tokens");
            outcome.evidence.metrics.output_tokens = n("output_tokens");
            outcome.evidence.metrics.tokens_used = match (n("input_tokens"), n("output_tokens")) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
            };
        }
        let (class, error) = if process.timed_out {
            (FailureClass::Timeout, "timed out; its process group was killed".to_owned())
        } else if let Some(message) = &self.failed {
            classify(message)
        } else if self.completed.is_none() {
            let said = last_stderr_line(process).map(|l| format!(": {l}")).unwrap_or_default();
            (FailureClass::AgentError, format!("codex ended without `turn.completed`{said}"))
        } else if process.code != Some(0) {
            (FailureClass::NonzeroExit, format!("codex exited with status {:?}", process.code))
        } else {
            outcome.success = true;
            return outcome;
        };
        outcome.class = Some(class);
        outcome.error = Some(error);
        outcome
    }
}

/// The command line: headless JSON mode, writes confined to the workspace, prompt from stdin.
pub fn argv(program: &str, model: Option<&str>, extra: &[String]) -> Vec<String> {
    let flags = ["exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write"];
    let mut argv = super::cli::base_argv(program, &flags, model);
    argv.extend(extra.iter().cloned());
    argv.push("-".to_owned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::cli::testing::exit;

    fn parse(fixture: &str) -> CodexStream {
        crate::agent::cli::testing::parse(fixture)
    }

    // Captured from Codex CLI 0.171.0 (see tests/fixtures/capture/README.md).
    const SUCCESS: &str = include_str!("../../tests/fixtures/codex/success.jsonl");
    const NOT_LOGGED_IN: &str = include_str!("../../tests/fixtures/codex/not-logged-in.jsonl");
    const INVALID_KEY: &str = include_str!("../../tests/fixtures/codex/invalid-api-key.jsonl");
    const UNKNOWN_MODEL: &str = include_str!("../../tests/fixtures/codex/model-not-found.jsonl");
    const NO_QUOTA: &str = include_str!("../../tests/fixtures/codex/quota-exceeded.jsonl");
    const RATE_LIMITED: &str = include_str!("../../tests/fixtures/codex/rate-limited.jsonl");
    const SERVER_ERROR: &str = include_str!("../../tests/fixtures/codex/server-error.jsonl");
    // A ChatGPT plan's limit: not capturable with an API key (see reconstructed/).
    const USAGE_LIMIT: &str = include_str!("../../tests/fixtures/codex/reconstructed/usage-limit.jsonl");

    #[test]
    fn a_completed_turn_is_a_success_with_usage() {
        let stream = parse(SUCCESS);
        let outcome = stream.outcome(&exit(0));
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.evidence.metrics.input_tokens, Some(2310));
        assert_eq!(outcome.evidence.metrics.output_tokens, Some(18));
        assert_eq!(outcome.summary.as_deref(), Some("Wrote hello.txt; the task is done."));
        assert_eq!(stream.thread_id.as_deref(), Some("01a24285-4a55-7231-892a-b579214e4107"));
    }

    #[test]
    fn not_logged_in_and_a_rejected_key_are_environment_failures() {
        let outcome = parse(NOT_LOGGED_IN).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "codex is not logged in: run `codex login`, or pipe an API key to `codex login --with-api-key`"
            )
        );
        let outcome = parse(INVALID_KEY).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with(
                "codex: the API key was rejected (401: Incorrect API key provided: sk-************6789."
            ),
            "{error}"
        );
        assert!(error.ends_with("): run `codex login` again with a valid key"), "{error}");
        assert!(!error.contains("url:"), "codex's framing is cut: {error}");
    }

    #[test]
    fn an_unknown_model_and_an_account_without_quota_are_environment_failures() {
        let outcome = parse(UNKNOWN_MODEL).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "codex: the model `gpt-no-such-model` is not known to the provider (The model `gpt-no-such-model` does not exist or you do not have access to it.): set `model:` of the agent to one the account can use"
            )
        );
        let outcome = parse(NO_QUOTA).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert!(outcome.error.unwrap().contains("check its plan and billing"));
        // ChatGPT's backend words it differently.
        let chatgpt = r#"{"type":"turn.failed","error":{"message":"unexpected status 404 Not Found: Model not found gpt-5.5, url: https://chatgpt.com/backend-api/codex/responses"}}"#;
        let error = parse(chatgpt).outcome(&exit(1)).error.unwrap();
        assert!(
            error.starts_with(
                "codex: the model `gpt-5.5` is not known to the provider (Model not found gpt-5.5)"
            ),
            "{error}"
        );
    }

    #[test]
    fn limits_and_server_errors_are_not_environment_failures() {
        let outcome = parse(RATE_LIMITED).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::RateLimited), "{outcome:?}");
        let outcome = parse(USAGE_LIMIT).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit), "{outcome:?}");
        let outcome = parse(SERVER_ERROR).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::AgentError), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some("codex: We’re currently experiencing high demand, which may cause temporary errors.")
        );
    }

    #[test]
    fn reconnecting_notes_before_a_completed_turn_do_not_fail_it() {
        // The not-logged-in stream's retries, then a turn that got through.
        let retries: Vec<&str> = NOT_LOGGED_IN
            .lines()
            .filter(|l| l.contains("Reconnecting...") || l.contains("Falling back"))
            .collect();
        assert!(retries.len() >= 5);
        let recovered = format!("{}\n{}", retries.join("\n"), SUCCESS);
        assert!(parse(&recovered).outcome(&exit(0)).success);
        // A stream that stops after them is not a success either.
        let outcome = parse(&retries.join("\n")).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert!(outcome.error.unwrap().starts_with("codex ended without `turn.completed`"));
    }

    #[test]
    fn the_prompt_comes_from_stdin() {
        assert_eq!(argv("codex", Some("gpt-5"), &[]).last().map(String::as_str), Some("-"));
    }
}
