//! The `gemini` backend: Gemini CLI in headless mode,
//! `gemini --output-format stream-json --approval-mode yolo --skip-trust --prompt ""`, the prompt
//! on stdin.
//!
//! Why these flags:
//! - `--prompt` forces headless mode, and is appended to stdin: the CLI reads all of stdin when it
//!   is not a terminal and sends `stdin + "\n\n" + prompt`, so an empty `--prompt` leaves the
//!   stacked prompt as it is.
//! - `--approval-mode yolo`: a headless run cannot ask for approval, so in the default mode the CLI
//!   drops the shell, edit and write tools altogether (`auto_edit` still drops the shell). `--yolo`
//!   is the older spelling; giving both is an error.
//! - `--skip-trust`: since 0.41 a headless run in a folder missing from the user's trusted folders
//!   exits with status 55 before doing anything (earlier releases quietly fell back to the default
//!   approval mode). The workspace is the one the workflow chose to run the agent in.
//!
//! The stream is JSON lines: `init` (session id, model); `message` (the user's prompt echoed,
//! then the assistant's text in `delta: true` chunks); `tool_use` and `tool_result`; `error`, with
//! `severity` `warning` (a loop detected, a hook blocking) or `error` (the session-turn limit, an
//! invalid stream), which does not end the stream; and a last `result` with `status` `success` or
//! `error`, an `error` `{type, message}` for fatal errors (API errors, quota, turn limit,
//! cancellation), and `stats` `{total_tokens, input_tokens, output_tokens, cached, input,
//! duration_ms, tool_calls}` summed over models, where `input_tokens` counts cached tokens too and
//! `total_tokens` also counts thinking and tool-use tokens. The stream has no cost. Releases older
//! than the error `result` print a fatal error on stderr and exit without one.
//!
//! Environment failures (Gemini CLI 0.61; `tests/fixtures/gemini/` is captured from it): with no
//! way to log in configured the CLI prints "Please set an Auth method …" on stderr and exits
//! with 41, its code for authentication errors, before any event; a rejected key is a `result`
//! error whose message holds the API's error (Google answers a bad key with 400
//! `API_KEY_INVALID`, "API key not valid"; 401 `UNAUTHENTICATED` and 403 `PERMISSION_DENIED`
//! are the other refusals); an unknown model is "models/x is not found for API version v1beta"
//! (404).

use serde_json::Value;

use super::cli::{StreamParser, last_stderr_line};
use super::process::ProcessOutput;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

/// What the stream said, gathered line by line as it arrives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeminiStream {
    /// The session id from `init`.
    pub session_id: Option<String>,
    /// The model from `init`.
    pub model: Option<String>,
    /// The assistant's text since its last tool call.
    pub reply: Option<String>,
    /// Whether a tool call came after `reply`, so that new text starts a new reply.
    reply_closed: bool,
    /// The messages of `error` events with severity `error`.
    pub errors: Vec<String>,
    /// The final `result` event, if one arrived.
    pub result: Option<Value>,
    /// The last line that was not JSON (a warning, or a crash before the stream began).
    pub stray: Option<String>,
}

fn is_usage_limit(error_type: &str, message: &str) -> bool {
    let lower = message.to_lowercase();
    error_type.ends_with("QuotaError")
        || ["quota", "rate limit", "resource_exhausted", "resource exhausted", "exhausted your", "429"]
            .iter()
            .any(|k| lower.contains(k))
}

/// The API's own words inside the CLI's `[API Error: …]`: the `error.message` of a JSON error
/// body when there is one, else the text without the brackets.
fn api_words(message: &str) -> String {
    // The JSON inside holds brackets of its own: the text ends at the last one.
    let inner = message
        .trim()
        .strip_prefix("[API Error: ")
        .map_or(message, |m| m.rsplit_once(']').map_or(m, |(w, _)| w));
    let json = inner.find('{').zip(inner.rfind('}')).filter(|(a, b)| a < b).and_then(|(a, b)| {
        let value: Value = serde_json::from_str(&inner[a..=b]).ok()?;
        value.pointer("/error/message").and_then(Value::as_str).map(str::to_owned)
    });
    json.unwrap_or_else(|| inner.trim().to_owned()).chars().take(300).collect()
}

impl GeminiStream {
    /// The message of an environment failure, when the stream or the exit shows one: no way
    /// to log in, a rejected key, a refused project, an unknown model.
    pub fn environment_failure(&self, process: &ProcessOutput) -> Option<String> {
        let Some(result) = &self.result else {
            let stderr = process.stderr.text();
            let unauthenticated = process.code == Some(41)
                || [
                    "Please set an Auth method",
                    "must specify the GEMINI_API_KEY",
                    "Invalid auth method selected",
                ]
                .iter()
                .any(|k| stderr.contains(k));
            return unauthenticated.then(|| {
                "gemini is not logged in: run `gemini` once and choose how to log in, or set `GEMINI_API_KEY`"
                    .to_owned()
            });
        };
        let message = result.pointer("/error/message").and_then(Value::as_str)?;
        let words = api_words(message);
        let has = |k: &str| message.contains(k);
        if has("API_KEY_INVALID")
            || has("API key not valid")
            || has("API key expired")
            || has("UNAUTHENTICATED")
        {
            return Some(format!("gemini: the API key was rejected ({words}): set a valid `GEMINI_API_KEY`"));
        }
        if has("PERMISSION_DENIED") {
            return Some(format!(
                "gemini: the API refused access ({words}): check that the key's project may use the Gemini API"
            ));
        }
        if has("is not found for API version") || (has("NOT_FOUND") && has("models/")) {
            let named = message.split("models/").nth(1).and_then(|rest| rest.split_whitespace().next());
            let model = named.or(self.model.as_deref()).map(|m| format!(" `{m}`")).unwrap_or_default();
            return Some(format!(
                "gemini: the model{model} is not known to the API ({words}): set `model:` of the agent to one the API serves"
            ));
        }
        None
    }
}

impl StreamParser for GeminiStream {
    const INSTALL: &'static str = "install the Gemini CLI (`npm install -g @google/gemini-cli`)";

    fn line(&mut self, line: &[u8]) {
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            let text = String::from_utf8_lossy(line);
            if !text.trim().is_empty() {
                self.stray = Some(text.trim().chars().take(300).collect());
            }
            return;
        };
        let text = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_owned);
        match event.get("type").and_then(Value::as_str) {
            Some("init") => {
                self.session_id = text("session_id");
                self.model = text("model");
            }
            Some("message") if text("role").as_deref() == Some("assistant") => {
                let content = text("content").unwrap_or_default();
                let delta = event.get("delta").and_then(Value::as_bool) == Some(true);
                self.reply = match self.reply.take() {
                    Some(before) if delta && !self.reply_closed => Some(before + &content),
                    _ => Some(content),
                };
                self.reply_closed = false;
            }
            Some("tool_use") | Some("tool_result") => self.reply_closed = true,
            Some("error") if text("severity").as_deref() == Some("error") => {
                self.errors.push(text("message").unwrap_or_else(|| "gemini error".into()));
            }
            Some("result") => self.result = Some(event),
            _ => {}
        }
    }

    fn outcome(&self, process: &ProcessOutput) -> Outcome {
        let mut outcome = Outcome {
            exit_code: process.code,
            duration_ms: process.duration.as_millis() as u64,
            summary: self
                .reply
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| r.chars().take(2000).collect()),
            ..Outcome::default()
        };
        let result = self.result.as_ref();
        if let Some(stats) = result.and_then(|r| r.get("stats")) {
            let n = |k: &str| stats.get(k).and_then(Value::as_u64);
            let metrics = &mut outcome.evidence.metrics;
            metrics.input_tokens = n("input_tokens");
            metrics.output_tokens = n("output_tokens");
            metrics.tokens_used = n("total_tokens").or(match (n("input_tokens"), n("output_tokens")) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
            });
        }
        let status = result.and_then(|r| r.get("status")).and_then(Value::as_str);
        let (class, error) = if process.timed_out {
            (FailureClass::Timeout, "timed out; its process group was killed".to_owned())
        } else if let Some(message) = self.environment_failure(process) {
            (FailureClass::Environment, message)
        } else if let Some(result) = result.filter(|_| status != Some("success")) {
            let field = |k: &str| {
                result.get("error").and_then(|e| e.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty())
            };
            let kind = field("type");
            // An invalid stream ends with a bare error `result`; its message came as an `error` event.
            let message = field("message").or(self.errors.last().map(String::as_str)).unwrap_or("no message");
            let class = if is_usage_limit(kind.unwrap_or(""), message) {
                FailureClass::UsageLimit
            } else {
                FailureClass::AgentError
            };
            let kind = kind.map(|t| format!("{t}: ")).unwrap_or_default();
            (class, format!("gemini: {kind}{}", message.chars().take(300).collect::<String>()))
        } else if result.is_none() {
            let said = last_stderr_line(process).or_else(|| self.stray.clone());
            let class = if said.as_deref().is_some_and(|l| is_usage_limit("", l)) {
                FailureClass::UsageLimit
            } else {
                FailureClass::AgentError
            };
            let said = said.map(|l| format!(": {l}")).unwrap_or_default();
            (class, format!("gemini ended without a `result` event{said}"))
        } else if let Some(message) = self.errors.last() {
            // The turn limit is reported this way, and then the stream ends "successfully".
            (FailureClass::AgentError, format!("gemini: {message}"))
        } else if process.code != Some(0) {
            (FailureClass::NonzeroExit, format!("gemini exited with status {:?}", process.code))
        } else {
            outcome.success = true;
            return outcome;
        };
        outcome.class = Some(class);
        outcome.error = Some(error);
        outcome
    }
}

/// The command line: headless stream-json mode, tools approved, the workspace trusted; the
/// prompt comes from stdin, with an empty `--prompt` after it.
pub fn argv(program: &str, model: Option<&str>, extra: &[String]) -> Vec<String> {
    let flags = ["--output-format", "stream-json", "--approval-mode", "yolo", "--skip-trust"];
    let mut argv = super::cli::base_argv(program, &flags, model);
    argv.extend(extra.iter().cloned());
    argv.extend(["--prompt".to_owned(), String::new()]);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::cli::testing::{captured, exit};
    use crate::agent::process::Captured;

    fn parse(fixture: &str) -> GeminiStream {
        crate::agent::cli::testing::parse(fixture)
    }

    // Captured from Gemini CLI 0.61.0 (see tests/fixtures/capture/README.md).
    const SUCCESS: &str = include_str!("../../tests/fixtures/gemini/success.jsonl");
    const NOT_LOGGED_IN: &str = include_str!("../../tests/fixtures/gemini/not-logged-in.meta.json");
    const INVALID_KEY: &str = include_str!("../../tests/fixtures/gemini/invalid-api-key.jsonl");
    const UNKNOWN_MODEL: &str = include_str!("../../tests/fixtures/gemini/model-not-found.jsonl");
    const QUOTA: &str = include_str!("../../tests/fixtures/gemini/quota-exceeded.jsonl");
    const SERVER_ERROR: &str = include_str!("../../tests/fixtures/gemini/server-error.jsonl");
    // Not capturable here (see reconstructed/).
    const TERMINAL_QUOTA: &str =
        include_str!("../../tests/fixtures/gemini/reconstructed/terminal-quota.jsonl");
    const INVALID_STREAM: &str =
        include_str!("../../tests/fixtures/gemini/reconstructed/invalid-stream.jsonl");
    const TURN_LIMIT: &str = include_str!("../../tests/fixtures/gemini/reconstructed/turn-limit.jsonl");

    #[test]
    fn a_successful_result_is_a_success_with_tokens_and_the_last_reply() {
        let stream = parse(SUCCESS);
        assert_eq!(stream.session_id.as_deref(), Some("ce19bcb6-4933-494e-b1ec-f6b8ba3b60db"));
        assert_eq!(stream.model.as_deref(), Some("auto"));
        let outcome = stream.outcome(&exit(0));
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.evidence.metrics.input_tokens, Some(6930));
        assert_eq!(outcome.evidence.metrics.output_tokens, Some(54));
        assert_eq!(outcome.evidence.metrics.tokens_used, Some(6984));
        assert_eq!(outcome.evidence.metrics.cost_usd, None);
        assert_eq!(outcome.summary.as_deref(), Some("Wrote hello.txt; the task is done."));
    }

    #[test]
    fn no_way_to_log_in_is_an_environment_failure() {
        // Nothing on stdout: the CLI stops before its stream, with status 41 and a word on stderr.
        let process = captured(NOT_LOGGED_IN);
        assert_eq!(process.code, Some(41));
        let outcome = parse("").outcome(&process);
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "gemini is not logged in: run `gemini` once and choose how to log in, or set `GEMINI_API_KEY`"
            )
        );
    }

    #[test]
    fn a_rejected_key_and_an_unknown_model_are_environment_failures() {
        let outcome = parse(INVALID_KEY).outcome(&exit(144));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "gemini: the API key was rejected (API key not valid. Please pass a valid API key.): set a valid `GEMINI_API_KEY`"
            )
        );
        let outcome = parse(UNKNOWN_MODEL).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with("gemini: the model `gemini-no-such-model` is not known to the API (models/"),
            "{error}"
        );
    }

    #[test]
    fn an_error_result_fails_with_the_error_event_s_message() {
        let outcome = parse(INVALID_STREAM).outcome(&exit(0));
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert!(outcome.error.unwrap().contains("Invalid stream"));
        let outcome = parse(SERVER_ERROR).outcome(&exit(244));
        assert_eq!(outcome.class, Some(FailureClass::AgentError), "a 500 is the step's");
        assert!(outcome.error.unwrap().contains("An internal error has occurred"));
    }

    #[test]
    fn a_quota_error_is_a_usage_limit() {
        let outcome = parse(QUOTA).outcome(&exit(173));
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit), "{outcome:?}");
        assert!(outcome.error.unwrap().contains("You exceeded your current quota"));
        let outcome = parse(TERMINAL_QUOTA).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit));
        assert_eq!(
            outcome.error.as_deref(),
            Some("gemini: TerminalQuotaError: You have exhausted your daily quota on this model.")
        );
    }

    #[test]
    fn an_error_event_fails_a_stream_that_ends_with_success() {
        let outcome = parse(TURN_LIMIT).outcome(&exit(0));
        assert!(!outcome.success);
        assert_eq!(outcome.error.as_deref(), Some("gemini: Maximum session turns exceeded"));
        assert_eq!(outcome.evidence.metrics.tokens_used, Some(120544));
    }

    #[test]
    fn a_stream_without_its_result_is_a_failure_naming_stderr() {
        let cut: Vec<&str> = SUCCESS.lines().take(5).collect();
        let mut process = exit(0);
        let said = b"[API Error: exception TypeError: fetch failed]\n";
        process.stderr = Captured { head: said.to_vec(), tail: vec![], total: said.len() as u64 };
        let outcome = parse(&cut.join("\n")).outcome(&process);
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert!(outcome.error.unwrap().ends_with(": [API Error: exception TypeError: fetch failed]"));
        // Releases without the error `result` print a quota error on stderr only.
        let said = b"[API Error: Quota exceeded for quota metric 'Gemini 2.5 Pro Requests']\n";
        process.stderr = Captured { head: said.to_vec(), tail: vec![], total: said.len() as u64 };
        assert_eq!(parse("").outcome(&process).class, Some(FailureClass::UsageLimit));
    }

    #[test]
    fn stray_lines_and_invalid_utf8_are_ignored() {
        let mut stream = GeminiStream::default();
        stream.line(b"YOLO mode is enabled. All tool calls will be automatically approved.");
        for line in SUCCESS.lines() {
            stream.line(line.as_bytes());
            stream.line(b"\xff\xfe\x00 not utf-8");
        }
        assert!(stream.outcome(&exit(0)).success);
    }

    #[test]
    fn a_timeout_wins_and_a_nonzero_exit_fails_a_successful_stream() {
        let mut process = exit(0);
        process.timed_out = true;
        assert_eq!(parse(SUCCESS).outcome(&process).class, Some(FailureClass::Timeout));
        assert_eq!(parse(SUCCESS).outcome(&exit(1)).class, Some(FailureClass::NonzeroExit));
    }

    #[test]
    fn the_prompt_comes_from_stdin_after_an_empty_prompt_flag() {
        let argv = argv("gemini", Some("gemini-2.5-pro"), &["--debug".to_owned()]);
        assert!(argv.windows(2).any(|w| w == ["--approval-mode", "yolo"]));
        assert!(argv.windows(2).any(|w| w == ["--model", "gemini-2.5-pro"]));
        assert_eq!(&argv[argv.len() - 3..], ["--debug", "--prompt", ""]);
    }
}
