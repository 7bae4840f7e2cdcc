//! The `claude` backend: Claude Code in headless mode,
//! `claude -p --output-format stream-json --verbose`, the prompt on stdin (a large `-p` argument
//! stalls the CLI).
//!
//! The last event of the stream is `result`. Its `subtype: "success"` does not by itself mean
//! success: an API error or a denied tool still says `success`, with `is_error: true`,
//! `api_error_status`, or a non-empty `permission_denials`; all of them are checked. A
//! `rate_limit_event` whose status is not `allowed` marks a usage limit, with its reset time.
//!
//! When the API call itself fails, the CLI makes up an `assistant` message from model
//! `<synthetic>` that carries the failure's kind in a top-level `error` field, and the `result`
//! repeats its text. Kinds seen from Claude Code 2.1 (the fixtures in `tests/fixtures/claude/`
//! are captured from it): `authentication_failed` (not logged in — `system`/`init` says
//! `apiKeySource: "none"` and the text is "Not logged in · Please run /login" — or a rejected
//! key, "Invalid API key · Fix external API key"), `model_not_found` (404), `billing_error`
//! ("Credit balance is too low"), `rate_limit` (429, after the CLI's own retries) and
//! `server_error`. The first three are environment failures: the agent cannot work at all
//! until a person logs in, fixes the key or the model, or pays; the run stops and says which.

use serde_json::Value;

use super::cli::StreamParser;
use super::process::ProcessOutput;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

/// What the stream said, gathered line by line as it arrives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaudeStream {
    /// The session id from the `system`/`init` event.
    pub session_id: Option<String>,
    /// The model the CLI reported.
    pub model: Option<String>,
    /// The final `result` event, if one arrived.
    pub result: Option<Value>,
    /// A rate-limit event that was not `allowed`: (status, reset time as a Unix timestamp).
    pub rate_limited: Option<(String, Option<i64>)>,
    /// Where the CLI took its credentials from (`apiKeySource` of `system`/`init`): `none`,
    /// `ANTHROPIC_API_KEY`, …
    pub api_key_source: Option<String>,
    /// The last failed API call the CLI reported, as the `error` kind of its synthetic
    /// `assistant` message and that message's text.
    pub api_failure: Option<(String, String)>,
    /// Lines that were not JSON (the CLI sometimes prints warnings).
    pub stray_lines: usize,
}

impl ClaudeStream {
    /// The message of an environment failure, when the stream shows one: not logged in, a
    /// rejected key or login, an unknown model, an account that cannot pay.
    pub fn environment_failure(&self) -> Option<String> {
        let result_text = || {
            let result = self.result.as_ref()?;
            result.get("result").and_then(Value::as_str).map(str::to_owned)
        };
        let status = self.result.as_ref().and_then(|r| r.get("api_error_status")).and_then(Value::as_u64);
        let (kind, text) = match &self.api_failure {
            Some((kind, text)) => (kind.as_str(), text.clone()),
            // Releases that do not name the kind still give the status, or the words, of a
            // result that is an error.
            None => {
                let is_error = self.result.as_ref().and_then(|r| r.get("is_error")).and_then(Value::as_bool);
                if is_error != Some(true) {
                    return None;
                }
                let text = result_text()?;
                let kind = match status {
                    Some(401) => "authentication_failed",
                    Some(403) => "permission_error",
                    _ if text.contains("Not logged in") => "authentication_failed",
                    _ => return None,
                };
                (kind, text)
            }
        };
        let text = text.trim();
        match kind {
            "authentication_failed" if text.contains("Not logged in") => Some(
                "claude is not logged in: run `claude` once and `/login`, or set `ANTHROPIC_API_KEY`"
                    .to_owned(),
            ),
            // The key came from a variable (`ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`).
            "authentication_failed"
                if self.api_key_source.as_deref().is_some_and(|s| s.starts_with("ANTHROPIC_")) =>
            {
                let source = self.api_key_source.as_deref().unwrap_or_default();
                Some(format!(
                    "claude: the API key was rejected ({text}): set a valid key in `{source}`, or unset it and `/login` in `claude`"
                ))
            }
            "authentication_failed" => Some(format!(
                "claude: the login was rejected ({text}): run `claude` and `/login` again, or set `ANTHROPIC_API_KEY`"
            )),
            "permission_error" => Some(format!(
                "claude: the account may not use this ({text}): check the key's or the login's permissions"
            )),
            "model_not_found" => {
                let model = self.model.as_deref().map(|m| format!(" `{m}`")).unwrap_or_default();
                Some(format!(
                    "claude: the model{model} is not known to the provider ({text}): set `model:` of the agent to a model the account can use"
                ))
            }
            "billing_error" => Some(format!(
                "claude: the account cannot pay for requests ({text}): add credits or change its plan, then `ralph-loop resume`"
            )),
            _ => None,
        }
    }
}

impl StreamParser for ClaudeStream {
    const INSTALL: &'static str = "install Claude Code (`npm install -g @anthropic-ai/claude-code`)";

    /// Takes one line of the CLI's stdout.
    fn line(&mut self, line: &[u8]) {
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            if !line.iter().all(u8::is_ascii_whitespace) {
                self.stray_lines += 1;
            }
            return;
        };
        match event.get("type").and_then(Value::as_str) {
            Some("system") if event.get("subtype").and_then(Value::as_str) == Some("init") => {
                self.session_id = event.get("session_id").and_then(Value::as_str).map(str::to_owned);
                self.model = event.get("model").and_then(Value::as_str).map(str::to_owned);
                self.api_key_source = event.get("apiKeySource").and_then(Value::as_str).map(str::to_owned);
            }
            Some("assistant") => {
                if let Some(kind) = event.get("error").and_then(Value::as_str) {
                    let content = event.pointer("/message/content").and_then(Value::as_array);
                    let text = content
                        .into_iter()
                        .flatten()
                        .filter_map(|block| block.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.api_failure = Some((kind.to_owned(), text.chars().take(300).collect()));
                }
            }
            Some("rate_limit_event") => {
                let info = event.get("rate_limit_info").cloned().unwrap_or_default();
                let status = info.get("status").and_then(Value::as_str).unwrap_or("unknown");
                if status != "allowed" && status != "allowed_warning" {
                    self.rate_limited =
                        Some((status.to_owned(), info.get("resetsAt").and_then(Value::as_i64)));
                }
            }
            Some("result") => self.result = Some(event),
            _ => {}
        }
    }

    /// The step's outcome from the stream and the process's exit.
    fn outcome(&self, process: &ProcessOutput) -> Outcome {
        let mut outcome = Outcome {
            success: false,
            exit_code: process.code,
            duration_ms: process.duration.as_millis() as u64,
            ..Outcome::default()
        };
        if let Some(result) = &self.result {
            let usage = result.get("usage");
            let tokens = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
            let input = tokens("input_tokens").map(|n| {
                n + tokens("cache_creation_input_tokens").unwrap_or(0)
                    + tokens("cache_read_input_tokens").unwrap_or(0)
            });
            let output = tokens("output_tokens");
            outcome.evidence.metrics.input_tokens = input;
            outcome.evidence.metrics.output_tokens = output;
            outcome.evidence.metrics.tokens_used = match (input, output) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
            };
            outcome.evidence.metrics.cost_usd = result.get("total_cost_usd").and_then(Value::as_f64);
            outcome.summary =
                result.get("result").and_then(Value::as_str).map(|s| s.chars().take(2000).collect());
        }
        if process.timed_out {
            outcome.class = Some(FailureClass::Timeout);
            outcome.error = Some("timed out; its process group was killed".into());
            return outcome;
        }
        if let Some(message) = self.environment_failure() {
            outcome.class = Some(FailureClass::Environment);
            outcome.error = Some(message);
            return outcome;
        }
        if let Some((status, resets_at)) = &self.rate_limited {
            outcome.class = Some(FailureClass::UsageLimit);
            outcome.retry_at = resets_at.and_then(|t| u64::try_from(t).ok());
            outcome.error = Some(match resets_at {
                Some(at) => format!("usage limit reached ({status}); it resets at Unix time {at}"),
                None => format!("usage limit reached ({status})"),
            });
            return outcome;
        }
        let Some(result) = &self.result else {
            outcome.class = Some(if process.code == Some(0) {
                FailureClass::AgentError
            } else {
                FailureClass::NonzeroExit
            });
            let said = process.stderr.text().lines().rev().find(|l| !l.trim().is_empty()).map(str::to_owned);
            outcome.error = Some(match said {
                Some(line) => format!("claude ended without a result event: {line}"),
                None => "claude ended without a result event".into(),
            });
            return outcome;
        };
        let subtype = result.get("subtype").and_then(Value::as_str).unwrap_or("");
        let is_error = result.get("is_error").and_then(Value::as_bool).unwrap_or(false);
        let api_status = result.get("api_error_status").filter(|v| !v.is_null());
        let denials = result.get("permission_denials").and_then(Value::as_array).map_or(0, Vec::len);
        let problem = if let Some(status) = api_status {
            let limited = status.as_u64() == Some(429);
            Some((
                if limited { FailureClass::RateLimited } else { FailureClass::AgentError },
                format!("API error status {status}"),
            ))
        } else if is_error {
            let text = result.get("result").and_then(Value::as_str).unwrap_or("");
            let class = if text.contains("Prompt is too long") {
                FailureClass::ContextOverflow
            } else {
                FailureClass::AgentError
            };
            Some((
                class,
                format!(
                    "claude reported an error ({subtype}): {}",
                    text.chars().take(300).collect::<String>()
                ),
            ))
        } else if subtype != "success" {
            Some((FailureClass::AgentError, format!("claude ended with `{subtype}`")))
        } else if denials > 0 {
            Some((
                FailureClass::AgentError,
                format!("{denials} tool use(s) were denied; allow the tools the agent needs with `tools:`"),
            ))
        } else if process.code != Some(0) {
            Some((FailureClass::NonzeroExit, format!("claude exited with status {:?}", process.code)))
        } else {
            None
        };
        match problem {
            Some((class, error)) => {
                outcome.class = Some(class);
                outcome.error = Some(error);
            }
            None => outcome.success = true,
        }
        outcome
    }
}

/// The command line for an agent: the program and its headless-mode flags.
pub fn argv(program: &str, model: Option<&str>, tools: &[String], extra: &[String]) -> Vec<String> {
    let flags = ["-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"];
    let mut argv = super::cli::base_argv(program, &flags, model);
    if !tools.is_empty() {
        argv.extend(["--allowedTools".to_owned(), tools.join(",")]);
    }
    argv.extend(extra.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::cli::testing::exit;

    #[test]
    fn tools_are_allowed_tools_and_args_follow() {
        let line = argv("claude", Some("sonnet"), &["Read".into(), "Edit".into()], &["--verbose-x".into()]);
        let at = line.iter().position(|a| a == "--allowedTools").expect("--allowedTools");
        assert_eq!(line[at + 1], "Read,Edit");
        assert_eq!(line.last().map(String::as_str), Some("--verbose-x"));
        assert!(!argv("claude", None, &[], &[]).iter().any(|a| a == "--allowedTools"));
    }

    fn parse(fixture: &str) -> ClaudeStream {
        crate::agent::cli::testing::parse(fixture)
    }

    // Captured from Claude Code 2.1.332 (see tests/fixtures/capture/README.md).
    const SUCCESS: &str = include_str!("../../tests/fixtures/claude/success.jsonl");
    const DENIED: &str = include_str!("../../tests/fixtures/claude/permission-denied.jsonl");
    const NOT_LOGGED_IN: &str = include_str!("../../tests/fixtures/claude/not-logged-in.jsonl");
    const INVALID_KEY: &str = include_str!("../../tests/fixtures/claude/invalid-api-key.jsonl");
    const UNKNOWN_MODEL: &str = include_str!("../../tests/fixtures/claude/model-not-found.jsonl");
    const NO_CREDIT: &str = include_str!("../../tests/fixtures/claude/credit-balance-too-low.jsonl");
    const RATE_LIMITED: &str = include_str!("../../tests/fixtures/claude/rate-limited.jsonl");
    const SERVER_ERROR: &str = include_str!("../../tests/fixtures/claude/server-error.jsonl");
    // A subscription's limit: not capturable with an API key (see reconstructed/).
    const USAGE_LIMIT: &str = include_str!("../../tests/fixtures/claude/reconstructed/usage-limit.jsonl");

    #[test]
    fn a_clean_result_is_a_success_with_usage_and_cost() {
        let stream = parse(SUCCESS);
        assert_eq!(stream.session_id.as_deref(), Some("cfa15738-c594-4dfd-b796-65037902bb7f"));
        assert_eq!(stream.api_key_source.as_deref(), Some("ANTHROPIC_API_KEY"));
        let outcome = stream.outcome(&exit(0));
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.evidence.metrics.input_tokens, Some(3660));
        assert_eq!(outcome.evidence.metrics.output_tokens, Some(48));
        assert_eq!(outcome.evidence.metrics.cost_usd, Some(0.0156));
        assert_eq!(outcome.summary.as_deref(), Some("Wrote hello.txt; the task is done."));
    }

    #[test]
    fn success_with_denied_tools_is_not_success() {
        let outcome = parse(DENIED).outcome(&exit(0));
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert!(outcome.error.unwrap().contains("1 tool use(s) were denied"));
    }

    #[test]
    fn not_logged_in_is_an_environment_failure_with_the_login_hint_whatever_the_exit_status() {
        // 2.1.332 exits with 1; 2.1.197 exited with 0 for the same stream.
        for code in [1, 0] {
            let outcome = parse(NOT_LOGGED_IN).outcome(&exit(code));
            assert!(!outcome.success);
            assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
            assert_eq!(
                outcome.error.as_deref(),
                Some("claude is not logged in: run `claude` once and `/login`, or set `ANTHROPIC_API_KEY`")
            );
        }
    }

    #[test]
    fn a_rejected_key_an_unknown_model_and_no_credit_are_environment_failures() {
        let outcome = parse(INVALID_KEY).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "claude: the API key was rejected (Invalid API key · Fix external API key): set a valid key in `ANTHROPIC_API_KEY`, or unset it and `/login` in `claude`"
            )
        );
        let outcome = parse(UNKNOWN_MODEL).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with("claude: the model `claude-no-such-model` is not known to the provider ("),
            "{error}"
        );
        assert!(error.ends_with("set `model:` of the agent to a model the account can use"), "{error}");
        let outcome = parse(NO_CREDIT).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert!(outcome.error.unwrap().contains("(Credit balance is too low): add credits"));
    }

    #[test]
    fn an_api_error_behind_subtype_success_is_a_task_failure_not_the_environments() {
        let outcome = parse(SERVER_ERROR).outcome(&exit(1));
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert_eq!(outcome.error.as_deref(), Some("API error status 500"));
    }

    #[test]
    fn a_429_after_the_clis_retries_is_a_rate_limit() {
        let outcome = parse(RATE_LIMITED).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::RateLimited), "{outcome:?}");
    }

    #[test]
    fn a_rejected_rate_limit_is_a_usage_limit_with_its_reset_time() {
        let outcome = parse(USAGE_LIMIT).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit));
        assert!(outcome.error.unwrap().contains("1784283600"));
    }

    #[test]
    fn an_older_stream_without_the_error_kind_is_judged_by_its_status_and_words() {
        let init = r#"{"type":"system","subtype":"init","session_id":"s","model":"m","apiKeySource":"none"}"#;
        let result = |status: &str, text: &str| {
            format!(
                "{init}\n{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"api_error_status\":{status},\"result\":\"{text}\"}}"
            )
        };
        let outcome = parse(&result("null", "Not logged in · Please run /login")).outcome(&exit(0));
        assert_eq!(outcome.class, Some(FailureClass::Environment));
        let outcome = parse(&result("401", "OAuth token has expired")).outcome(&exit(1));
        assert_eq!(outcome.class, Some(FailureClass::Environment));
        assert!(
            outcome.error.unwrap().starts_with("claude: the login was rejected (OAuth token has expired)")
        );
        // A model that says "not logged in" in its answer is no environment failure.
        let said = format!(
            "{init}\n{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"The user is Not logged in yet.\"}}"
        );
        assert!(parse(&said).outcome(&exit(0)).success);
    }

    #[test]
    fn no_result_event_is_never_success_even_with_exit_zero() {
        let outcome = parse("{\"type\":\"system\",\"subtype\":\"init\"}\nnot json\n").outcome(&exit(0));
        assert!(!outcome.success);
    }
}
