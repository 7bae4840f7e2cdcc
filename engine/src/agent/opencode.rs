//! The `opencode` backend: OpenCode (sst/opencode) in headless mode, `opencode run --format json`,
//! the prompt on stdin.
//!
//! `opencode run` reads all of stdin whenever it is not a terminal and appends it to the
//! positional message; with no message the piped text is the whole message, so the prompt needs
//! no argument.
//!
//! With `--format json` each line is one event, `{type, timestamp, sessionID, …}`, written as a
//! session part completes: `step_start`; `text` (a finished text part, in `part.text`);
//! `tool_use` (a tool call that completed or failed); `reasoning` (only with `--thinking`); and
//! `step_finish`, whose `part` has the model's finish `reason`, the step's `tokens`
//! `{input, output, reasoning, cache: {read, write}}` and its `cost` in dollars. Every step is one
//! model call, so tokens and cost are summed over steps; `input` excludes the cache, which is added
//! back so that input counts every prompt token, as for the other backends. A session error is
//! `error`, with `error.name` and `error.data.message` (an `APIError` also has
//! `data.statusCode`).
//!
//! Recent releases end with `done` when the session goes idle, listing the permissions they
//! auto-rejected (headless runs cannot ask; they reject what the configuration sets to `ask`).
//! Older releases just stop, so the end of the turn is also a last `step_finish` whose reason is
//! not `tool-calls`: the model stopped instead of waiting for tool results. Not every release
//! exits non-zero after an `error` event, so an `error` event fails the step whatever the exit
//! code, and a non-zero exit fails it whatever the events.
//!
//! Environment failures (OpenCode 1.18; `tests/fixtures/opencode/` is captured from it): a
//! provider without credentials is `ProviderAuthError` ("Anthropic API key is missing…"); a
//! rejected key is an `APIError` with `statusCode` 401 (or 403); a model the provider does not
//! know is an `APIError` with `statusCode` 404; `ProviderModelNotFoundError` and
//! `ModelNotFoundError` name a model OpenCode itself does not know. (OpenCode 1.18 reports a
//! model that is in neither its catalog nor its configuration as an `UnknownError` "Unexpected
//! server error" without the cause; that stays a task-level failure, as nothing says more.)

use serde_json::Value;

use super::cli::{StreamParser, last_stderr_line};
use super::process::ProcessOutput;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

/// A session error the stream reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpencodeError {
    /// The error's name: `APIError`, `ProviderAuthError`, `ContextOverflowError`, `UnknownError`, …
    pub name: String,
    /// Its message, or its name when it has none.
    pub message: String,
    /// The provider's HTTP status, for an `APIError`.
    pub status: Option<u64>,
    /// The provider, for a `ProviderAuthError`.
    pub provider: Option<String>,
}

/// What the stream said, gathered line by line as it arrives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpencodeStream {
    /// The session id every event carries.
    pub session_id: Option<String>,
    /// The text parts of the last step that had text.
    pub last_text: Option<String>,
    /// Whether no text has arrived since the last `step_start`.
    step_fresh: bool,
    /// How many `step_finish` events arrived.
    pub steps: usize,
    /// The finish reason of the last `step_finish`.
    pub last_reason: Option<String>,
    /// Prompt tokens over all steps, cache reads and writes included.
    pub input_tokens: u64,
    /// Output tokens over all steps, reasoning included.
    pub output_tokens: u64,
    /// Cost in dollars over all steps.
    pub cost_usd: f64,
    /// Whether a `done` event arrived.
    pub done: bool,
    /// The permissions the run auto-rejected, from `done`.
    pub rejected: Vec<String>,
    /// The session errors, in order.
    pub errors: Vec<OpencodeError>,
    /// The last line that was not JSON (a warning, or a crash before the stream began).
    pub stray: Option<String>,
}

/// A limit that lasts until the account's quota resets (a wait, not a failure).
fn is_usage_limit(error: &OpencodeError) -> bool {
    let lower = error.message.to_lowercase();
    ["usage limit", "quota", "resource_exhausted"].iter().any(|k| lower.contains(k))
}

/// Too many requests for now: it passes in seconds.
fn is_rate_limit(error: &OpencodeError) -> bool {
    let lower = error.message.to_lowercase();
    error.status == Some(429) || ["rate limit", "too many requests", "429"].iter().any(|k| lower.contains(k))
}

/// What to say when `error` means the agent cannot work here at all, if it does.
fn environment_failure(error: &OpencodeError) -> Option<String> {
    let message: String = error.message.chars().take(300).collect();
    let lower = message.to_lowercase();
    match (error.name.as_str(), error.status) {
        ("ProviderAuthError", _) => {
            let provider = error.provider.as_deref().map(|p| format!(" `{p}`")).unwrap_or_default();
            Some(format!(
                "opencode has no credentials for the provider{provider} ({message}): run `opencode auth login`, or set the provider's API key variable"
            ))
        }
        ("APIError", Some(status @ (401 | 403))) => Some(format!(
            "opencode: the provider rejected the credentials ({status}: {message}): run `opencode auth login` again, or fix the provider's API key variable"
        )),
        ("APIError", Some(404))
            if lower.contains("model") || lower.contains("not_found") || lower.contains("not found") =>
        {
            Some(format!(
                "opencode: the model is not known to the provider (404: {message}): set `model:` of the agent (`provider/model`) to one the provider serves"
            ))
        }
        ("ProviderModelNotFoundError" | "ModelNotFoundError", _) => Some(format!(
            "opencode does not know the model ({message}): set `model:` of the agent to a `provider/model` that `opencode models` lists"
        )),
        _ => None,
    }
}

impl OpencodeStream {
    /// Whether the stream shows the turn ended: `done`, or a last step the model stopped itself.
    pub fn finished(&self) -> bool {
        self.done || self.last_reason.as_deref().is_some_and(|r| r != "tool-calls")
    }

    fn step_finished(&mut self, part: &Value) {
        let tokens = part.get("tokens");
        let n = |path: &[&str]| {
            let value = tokens.and_then(|t| path.iter().try_fold(t, |v, k| v.get(k)));
            value.and_then(Value::as_u64).unwrap_or(0)
        };
        self.steps += 1;
        self.input_tokens += n(&["input"]) + n(&["cache", "read"]) + n(&["cache", "write"]);
        self.output_tokens += n(&["output"]) + n(&["reasoning"]);
        self.cost_usd += part.get("cost").and_then(Value::as_f64).unwrap_or(0.0);
        // Releases before `reason` existed count as a stop: there is nothing else to go by.
        self.last_reason = Some(part.get("reason").and_then(Value::as_str).unwrap_or("unknown").to_owned());
    }
}

impl StreamParser for OpencodeStream {
    const INSTALL: &'static str = "install OpenCode (`npm install -g opencode-ai`)";

    fn line(&mut self, line: &[u8]) {
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            let text = String::from_utf8_lossy(line);
            if !text.trim().is_empty() {
                self.stray = Some(text.trim().chars().take(300).collect());
            }
            return;
        };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        if self.session_id.is_none() {
            self.session_id = text(&event, "sessionID");
        }
        let part = event.get("part").cloned().unwrap_or_default();
        match event.get("type").and_then(Value::as_str) {
            Some("step_start") => self.step_fresh = true,
            Some("text") => {
                let Some(said) = text(&part, "text").filter(|t| !t.trim().is_empty()) else { return };
                self.last_text = match self.last_text.take() {
                    Some(before) if !self.step_fresh => Some(format!("{before}\n\n{said}")),
                    _ => Some(said),
                };
                self.step_fresh = false;
            }
            Some("step_finish") => self.step_finished(&part),
            Some("done") => {
                self.done = true;
                let rejected = event.get("rejected").and_then(Value::as_array).into_iter().flatten();
                self.rejected = rejected.filter_map(|p| p.as_str().map(str::to_owned)).collect();
            }
            Some("error") => {
                let error = event.get("error").cloned().unwrap_or_default();
                let data = error.get("data").cloned().unwrap_or_default();
                let name = text(&error, "name").unwrap_or_else(|| "UnknownError".into());
                self.errors.push(OpencodeError {
                    message: text(&data, "message").unwrap_or_else(|| name.clone()),
                    status: data.get("statusCode").and_then(Value::as_u64),
                    provider: text(&data, "providerID"),
                    name,
                });
            }
            _ => {}
        }
    }

    fn outcome(&self, process: &ProcessOutput) -> Outcome {
        let mut outcome = Outcome {
            exit_code: process.code,
            duration_ms: process.duration.as_millis() as u64,
            summary: self.last_text.as_ref().map(|m| m.chars().take(2000).collect()),
            ..Outcome::default()
        };
        if self.steps > 0 {
            let metrics = &mut outcome.evidence.metrics;
            metrics.input_tokens = Some(self.input_tokens);
            metrics.output_tokens = Some(self.output_tokens);
            metrics.tokens_used = Some(self.input_tokens + self.output_tokens);
            metrics.cost_usd = Some(self.cost_usd);
        }
        let reason = self.last_reason.as_deref().unwrap_or("");
        let (class, error) = if process.timed_out {
            (FailureClass::Timeout, "timed out; its process group was killed".to_owned())
        } else if let Some(message) = self.errors.iter().find_map(environment_failure) {
            (FailureClass::Environment, message)
        } else if let Some(first) = self.errors.first() {
            let class = if self.errors.iter().any(is_usage_limit) {
                FailureClass::UsageLimit
            } else if self.errors.iter().any(is_rate_limit) {
                FailureClass::RateLimited
            } else if self.errors.iter().any(|e| e.name == "ContextOverflowError") {
                FailureClass::ContextOverflow
            } else {
                FailureClass::AgentError
            };
            let more = match self.errors.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            let message: String = first.message.chars().take(300).collect();
            (class, format!("opencode: {}: {message}{more}", first.name))
        } else if !self.finished() {
            let said = last_stderr_line(process).or_else(|| self.stray.clone());
            let said = said.map(|l| format!(": {l}")).unwrap_or_default();
            (FailureClass::AgentError, format!("opencode ended before its turn did{said}"))
        } else if ["length", "content-filter", "error"].contains(&reason) {
            (FailureClass::AgentError, format!("opencode's last step ended with `{reason}`"))
        } else if !self.rejected.is_empty() {
            let rejected = self.rejected.join(", ");
            let hint = "allow them in opencode's `permission` configuration, or pass `--auto` in `args`";
            (FailureClass::AgentError, format!("opencode rejected permission requests ({rejected}); {hint}"))
        } else if process.code != Some(0) {
            (FailureClass::NonzeroExit, format!("opencode exited with status {:?}", process.code))
        } else {
            outcome.success = true;
            return outcome;
        };
        outcome.class = Some(class);
        outcome.error = Some(error);
        outcome
    }
}

/// The command line: `run` with JSON events; no message argument, so stdin is the whole prompt.
pub fn argv(program: &str, model: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut argv = super::cli::base_argv(program, &["run", "--format", "json"], model);
    argv.extend(extra.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::cli::testing::exit;
    use crate::agent::process::Captured;

    fn parse(fixture: &str) -> OpencodeStream {
        crate::agent::cli::testing::parse(fixture)
    }

    // Captured from OpenCode 1.18.33 (see tests/fixtures/capture/README.md).
    const SUCCESS: &str = include_str!("../../tests/fixtures/opencode/success.jsonl");
    const NOT_LOGGED_IN: &str = include_str!("../../tests/fixtures/opencode/not-logged-in.jsonl");
    const INVALID_KEY: &str = include_str!("../../tests/fixtures/opencode/invalid-api-key.jsonl");
    const UNKNOWN_MODEL: &str = include_str!("../../tests/fixtures/opencode/model-not-found.jsonl");
    const MODEL_UNKNOWN_TO_OPENCODE: &str = include_str!("../../tests/fixtures/opencode/model-unknown.jsonl");
    const RATE_LIMITED: &str = include_str!("../../tests/fixtures/opencode/rate-limited.jsonl");
    const SERVER_ERROR: &str = include_str!("../../tests/fixtures/opencode/server-error.jsonl");
    // Not capturable here (see reconstructed/).
    const QUOTA: &str = include_str!("../../tests/fixtures/opencode/reconstructed/quota-exceeded.jsonl");
    const REJECTED: &str =
        include_str!("../../tests/fixtures/opencode/reconstructed/permission-rejected.jsonl");

    #[test]
    fn a_stopped_last_step_is_a_success_with_tokens_and_cost_summed_over_steps() {
        let stream = parse(SUCCESS);
        assert_eq!(stream.session_id.as_deref(), Some("ses_dbd796900ffe0voUlaN3Y1kfFg"));
        assert_eq!(stream.steps, 2, "a step that wrote the file, a step that answered");
        let outcome = stream.outcome(&exit(0));
        assert!(outcome.success, "{outcome:?}");
        let metrics = &outcome.evidence.metrics;
        assert_eq!(metrics.input_tokens, Some(1830 + 1830));
        assert_eq!(metrics.output_tokens, Some(24 + 24));
        assert_eq!(metrics.tokens_used, Some(3708));
        assert!((metrics.cost_usd.unwrap() - 2.0 * 0.00585).abs() < 1e-9, "{metrics:?}");
        assert_eq!(outcome.summary.as_deref(), Some("Wrote hello.txt; the task is done."));
    }

    #[test]
    fn missing_or_rejected_credentials_and_an_unknown_model_are_environment_failures() {
        let outcome = parse(NOT_LOGGED_IN).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "opencode has no credentials for the provider `anthropic` (Anthropic API key is missing. Pass it using the 'apiKey' parameter or the ANTHROPIC_API_KEY environment variable.): run `opencode auth login`, or set the provider's API key variable"
            )
        );
        let outcome = parse(INVALID_KEY).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert!(
            outcome
                .error
                .unwrap()
                .starts_with("opencode: the provider rejected the credentials (401: invalid x-api-key)")
        );
        let outcome = parse(UNKNOWN_MODEL).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert!(outcome.error.unwrap().starts_with(
            "opencode: the model is not known to the provider (404: model: claude-no-such-model): set `model:`"
        ));
    }

    #[test]
    fn an_unknown_error_without_its_cause_stays_the_steps_failure() {
        // OpenCode 1.18 says nothing more for a model it does not know at all: no guessing.
        let outcome = parse(MODEL_UNKNOWN_TO_OPENCODE).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::AgentError), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some("opencode: UnknownError: Unexpected server error. Check server logs for details.")
        );
    }

    #[test]
    fn an_error_event_fails_even_with_exit_zero() {
        let outcome = parse(SERVER_ERROR).outcome(&exit(0));
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert_eq!(outcome.error.as_deref(), Some("opencode: APIError: Internal server error"));
    }

    #[test]
    fn a_429_is_a_rate_limit_and_an_exhausted_quota_a_usage_limit() {
        let outcome = parse(RATE_LIMITED).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::RateLimited), "{outcome:?}");
        assert!(outcome.error.unwrap().contains("would exceed the rate limit"));
        let outcome = parse(QUOTA).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit));
        assert!(outcome.error.unwrap().contains("exceeded your current quota"));
    }

    #[test]
    fn rejected_permissions_fail_the_step_and_say_which() {
        let stream = parse(REJECTED);
        assert!(stream.done);
        let outcome = stream.outcome(&exit(0));
        assert!(!outcome.success);
        assert!(outcome.error.unwrap().contains("external_directory"));
        assert_eq!(outcome.evidence.metrics.input_tokens, Some(5190 + 60 + 5220));
    }

    #[test]
    fn text_parts_of_one_step_are_joined() {
        let text = |t: &str| format!(r#"{{"type":"text","part":{{"type":"text","text":"{t}"}}}}"#);
        let fixture = [
            r#"{"type":"step_start","part":{"type":"step-start"}}"#.to_owned(),
            text("First."),
            text("Second."),
            r#"{"type":"step_finish","part":{"type":"step-finish","reason":"stop"}}"#.to_owned(),
        ];
        let outcome = parse(&fixture.join("\n")).outcome(&exit(0));
        assert_eq!(outcome.summary.as_deref(), Some("First.\n\nSecond."));
    }

    #[test]
    fn a_stream_that_stops_waiting_for_tool_results_is_a_failure_naming_stderr() {
        // The success fixture cut after its first step, which asked for tools.
        let cut: Vec<&str> = SUCCESS.lines().take(3).collect();
        let mut process = exit(0);
        process.stderr = Captured { head: b"Error: provider crashed\n".to_vec(), tail: vec![], total: 24 };
        let outcome = parse(&cut.join("\n")).outcome(&process);
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert!(outcome.error.unwrap().ends_with(": Error: provider crashed"));
        assert!(!parse("").outcome(&exit(0)).success, "an empty stream is not a success");
    }

    #[test]
    fn stray_lines_and_invalid_utf8_are_ignored() {
        let mut stream = OpencodeStream::default();
        stream.line(b"\xff\xfe not utf-8 \xc3\x28");
        for line in SUCCESS.lines() {
            stream.line(line.as_bytes());
            stream.line(b"some warning on stdout");
        }
        assert!(stream.outcome(&exit(0)).success);
        assert_eq!(stream.stray.as_deref(), Some("some warning on stdout"));
    }

    #[test]
    fn a_timeout_wins_and_a_nonzero_exit_fails_a_finished_stream() {
        let mut process = exit(0);
        process.timed_out = true;
        assert_eq!(parse(SUCCESS).outcome(&process).class, Some(FailureClass::Timeout));
        assert_eq!(parse(SUCCESS).outcome(&exit(1)).class, Some(FailureClass::NonzeroExit));
    }

    #[test]
    fn the_prompt_is_not_an_argument() {
        let argv = argv("opencode", Some("anthropic/claude-sonnet-4-5"), &["--auto".to_owned()]);
        assert_eq!(
            argv,
            ["opencode", "run", "--format", "json", "--model", "anthropic/claude-sonnet-4-5", "--auto"]
        );
    }
}
