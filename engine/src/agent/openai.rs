//! The `openai` backend: one request to an OpenAI-compatible chat-completions server — OpenAI
//! itself, or a local model behind Ollama (`http://127.0.0.1:11434/v1`), vLLM or llama.cpp.
//!
//! **The request.** `POST {base_url}/chat/completions` with the model, an optional system
//! message and the step's prompt as the user message, `"stream": true` and
//! `"stream_options": {"include_usage": true}`, and `Authorization: Bearer <key>` when a key is
//! set. There are no tools: the model answers in text, and the engine's `check:` command judges
//! the work, as for every backend.
//!
//! **The answer** is read as it arrives. A streaming server answers with Server-Sent Events:
//! `data: {chunk}` lines, events separated by a blank line, `data: [DONE]` at the end. Each
//! chunk carries `choices[0].delta.content` (appended to the reply and to the step's log as it
//! arrives), at last a `finish_reason`, and `usage` (`prompt_tokens`, `completion_tokens`,
//! `total_tokens`), which most servers send in a final chunk whose `choices` is empty. The
//! decoder ([`SseDecoder`]) works on bytes, so network chunks may split lines, events, `\r\n`
//! pairs and UTF-8 characters anywhere. A server that ignores `stream` and answers with
//! `Content-Type: application/json` is read as one ordinary chat completion.
//!
//! **Failures.** HTTP 401 and 403 (a rejected key) and 404 (a model the server does not serve,
//! or a `base_url` without the API) are `environment`: the agent cannot work until its
//! configuration changes, so the run stops and says what to set; 429 is `usage_limit` (with the
//! `Retry-After` header in the message when there is one); other 4xx and 5xx are `agent_error`;
//! a server that cannot be reached is `spawn_error` naming the base URL; a full disk while the
//! reply is logged is `environment`.
//! The step's timeout bounds the whole request, body included (`timeout`). A stream that ends
//! before `[DONE]` or a `finish_reason`, an error event inside the stream, or a reply cut at
//! the token limit (`finish_reason: length`) are `agent_error`.
//!
//! **The named result** flows through the one structured channel, the result file: a model
//! cannot write files here, so when it ends its reply with a status block — a fenced JSON
//! block, or a line that is a JSON object, with an `outcome` field, e.g.
//! `{"outcome": "verified", "summary": "…"}` — the last such block is written to the result file
//! before [`finish`] reads it (a result file already there wins). The whole reply goes to the
//! log; only its first [`SUMMARY_CHARS`] characters become the summary, and only its last
//! [`TAIL_BYTES`] are kept in memory to look for the status block.
//!
//! A client is built per step: steps take seconds to minutes, so building one costs nothing
//! that matters, and no pooled connection outlives the runtime it was opened on.

use crate::error_text::chain;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use ralph_plugin_sdk::ResultReport;
use serde_json::{Map, Value, json};

use super::command::{Invocation, finish};
use super::process::MAX_LINE;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

/// OpenAI's own API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// How many characters of the reply become the step's summary.
pub const SUMMARY_CHARS: usize = 2000;
/// How much of the end of the reply is kept in memory to find the status block.
pub const TAIL_BYTES: usize = 64 * 1024;
/// The most of an error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The largest non-streamed completion read.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// How to reach the server and what to ask it for.
#[derive(Clone, PartialEq)]
pub struct OpenAiConfig {
    /// The API's base URL, up to and including the version: `https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` (Ollama), `http://localhost:8000/v1` (vLLM).
    pub base_url: String,
    /// The model, e.g. `gpt-4.1` or `qwen2.5-coder:7b`.
    pub model: String,
    /// The API key itself (the caller reads it from the variable the agent names); local
    /// servers usually need none.
    pub api_key: Option<String>,
    /// A system message sent before the prompt.
    pub system_prompt: Option<String>,
    /// The sampling temperature; the server's default when unset.
    pub temperature: Option<f64>,
    /// The most tokens the reply may have (`max_tokens`); the server's default when unset.
    pub max_tokens: Option<u64>,
    /// Extra request headers (e.g. `OpenAI-Organization`, or a gateway's own).
    pub headers: Vec<(String, String)>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: String::new(),
            api_key: None,
            system_prompt: None,
            temperature: None,
            max_tokens: None,
            headers: Vec::new(),
        }
    }
}

/// Shows everything but the key.
impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("system_prompt", &self.system_prompt)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("headers", &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .finish()
    }
}

impl OpenAiConfig {
    /// OpenAI's API with `model`.
    pub fn new(model: impl Into<String>) -> Self {
        OpenAiConfig { model: model.into(), ..OpenAiConfig::default() }
    }

    /// `{base_url}/chat/completions`.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    /// The request's JSON body for `prompt`.
    pub fn request_body(&self, prompt: &str) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &self.system_prompt {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": prompt}));
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(temperature) = self.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = self.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        body
    }
}

/// Runs one step: the request, the streamed reply, the status block, then [`finish`].
pub async fn run(config: &OpenAiConfig, check: Option<&str>, inv: &Invocation) -> Outcome {
    let vars = match inv.prepare(true).await {
        Ok(vars) => vars,
        Err(e) => return super::environment::step_files_failure(&e),
    };
    let started = Instant::now();
    let (_, _, result_file, log) = inv.files();
    let mut reply = Reply::new(log, inv.log_limit);
    let prompt = inv.prompt.as_deref().unwrap_or_default();
    let exchange = exchange(config, prompt, &mut reply, inv.idle_timeout);
    let ended = match inv.timeout {
        Some(limit) => tokio::time::timeout(limit, exchange).await.unwrap_or_else(|_| {
            Err(Failure::new(
                FailureClass::Timeout,
                format!("timed out after {limit:?}; the request was dropped"),
            ))
        }),
        None => exchange.await,
    };
    let mut outcome = reply.judge(ended);
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    if let (Some(class), Some(error)) = (&outcome.class, &outcome.error) {
        let note = format!("\n[openai backend: {class}] {error}\n");
        let _ = reply.log(note.as_bytes()).await;
    }
    // The log holds back an unfinished line (a secret may straddle two pieces) and a tokio
    // file's last write may still be in flight: a write that fails here fails the step as one
    // during the reply would.
    if let Err(e) = reply.log.finish().await.map_err(io_error) {
        if outcome.success {
            let failure = reply.log_failure(&e);
            outcome = reply.judge(Err(failure));
            outcome.duration_ms = started.elapsed().as_millis() as u64;
        }
    }
    if outcome.success && !result_file.exists() {
        if let Some(block) = status_block(&reply.tail) {
            let text = serde_json::to_vec_pretty(&block).unwrap_or_default();
            if let Err(e) = std::fs::write(&result_file, text) {
                let failed = if super::environment::is_disk_full(&e) {
                    super::environment::disk_full("the result file", &result_file, &e)
                } else {
                    Outcome::failed(
                        FailureClass::SpawnError,
                        format!("cannot write the result file `{}`: {e}", result_file.display()),
                    )
                };
                outcome = Outcome { success: false, class: failed.class, error: failed.error, ..outcome };
            }
        }
    }
    finish(outcome, inv, check, vars).await
}

/// Why an exchange failed: a failure class and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    class: FailureClass,
    message: String,
}

impl Failure {
    fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Failure { class, message: message.into() }
    }
}

/// The I/O error a log write failed with (a disk that is full, say).
fn io_error(error: super::process::ProcessError) -> std::io::Error {
    match error {
        super::process::ProcessError::Log { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}

/// What the server has said so far. It lives outside the request's future, so a timeout that
/// drops the request keeps the partial reply.
struct Reply {
    log_path: PathBuf,
    /// The step's transcript, masked as a command's is.
    log: super::step_log::StepLog,
    /// The first [`SUMMARY_CHARS`] characters.
    head: String,
    head_chars: usize,
    /// The last [`TAIL_BYTES`] or so.
    tail: String,
    finish_reason: Option<String>,
    usage: Option<Value>,
    done: bool,
}

impl Reply {
    fn new(log_path: PathBuf, limit: super::step_log::LogLimit) -> Self {
        Reply {
            log: super::step_log::StepLog::new(Some(&log_path), limit),
            log_path,
            head: String::new(),
            head_chars: 0,
            tail: String::new(),
            finish_reason: None,
            usage: None,
            done: false,
        }
    }

    /// Appends to the step's log, which is created when the first byte arrives.
    async fn log(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.log.write(super::step_log::Stream::Out, bytes).await.map_err(io_error)
    }

    /// The failure of a step whose log cannot be written.
    fn log_failure(&self, e: &std::io::Error) -> Failure {
        if super::environment::is_disk_full(e) {
            let full = super::environment::disk_full("the step's log", &self.log_path, e);
            Failure::new(FailureClass::Environment, full.error.unwrap_or_default())
        } else {
            Failure::new(
                FailureClass::SpawnError,
                format!("cannot write the log `{}`: {e}", self.log_path.display()),
            )
        }
    }

    /// Takes a piece of the reply's text.
    async fn text(&mut self, text: &str) -> Result<(), Failure> {
        if text.is_empty() {
            return Ok(());
        }
        self.log(text.as_bytes()).await.map_err(|e| self.log_failure(&e))?;
        for c in text.chars().take(SUMMARY_CHARS.saturating_sub(self.head_chars)) {
            self.head.push(c);
            self.head_chars += 1;
        }
        self.tail.push_str(text);
        if self.tail.len() > 2 * TAIL_BYTES {
            let cut = self.tail.ceil_char_boundary(self.tail.len() - TAIL_BYTES);
            self.tail.drain(..cut);
        }
        Ok(())
    }

    /// Takes one chat-completion chunk (or a whole non-streamed completion, whose `message`
    /// stands where a chunk has its `delta`).
    async fn chunk(&mut self, chunk: &Value) -> Result<(), Failure> {
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error_text(error).unwrap_or_else(|| error.to_string());
            let class = if is_rate_limit(&message) || error.get("code") == Some(&json!(429)) {
                FailureClass::UsageLimit
            } else {
                FailureClass::AgentError
            };
            return Err(Failure::new(class, format!("the server reported an error: {message}")));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else { return Ok(()) };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        let message = choice.get("delta").or_else(|| choice.get("message"));
        if let Some(content) = message.and_then(|m| m.get("content")).and_then(Value::as_str) {
            self.text(content).await?;
        }
        Ok(())
    }

    /// The outcome of the exchange (before the result file and the check).
    fn judge(&self, ended: Result<(), Failure>) -> Outcome {
        let summary = self.head.trim();
        let mut outcome =
            Outcome { summary: (!summary.is_empty()).then(|| summary.to_owned()), ..Outcome::default() };
        if let Some(usage) = &self.usage {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64);
            let metrics = &mut outcome.evidence.metrics;
            metrics.input_tokens = n("prompt_tokens");
            metrics.output_tokens = n("completion_tokens");
            metrics.tokens_used = n("total_tokens").or(match (metrics.input_tokens, metrics.output_tokens) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
            });
        }
        let failure = match ended {
            Err(failure) => failure,
            Ok(()) => match self.finish_reason.as_deref() {
                None if !self.done => Failure::new(
                    FailureClass::AgentError,
                    "the stream ended before `data: [DONE]` or a finish_reason; the reply may be cut",
                ),
                Some("length") => Failure::new(
                    FailureClass::AgentError,
                    "the reply was cut off at the token limit (finish_reason `length`)",
                ),
                Some("content_filter") => Failure::new(
                    FailureClass::AgentError,
                    "the server's content filter stopped the reply (finish_reason `content_filter`)",
                ),
                _ => {
                    outcome.success = true;
                    return outcome;
                }
            },
        };
        outcome.class = Some(failure.class);
        outcome.error = Some(failure.message);
        outcome
    }
}

/// The request and its answer, into `reply`.
async fn exchange(
    config: &OpenAiConfig,
    prompt: &str,
    reply: &mut Reply,
    idle: Option<std::time::Duration>,
) -> Result<(), Failure> {
    crate::tls::ensure_provider();
    let client = reqwest::Client::builder().build().map_err(|e| {
        Failure::new(FailureClass::SpawnError, format!("cannot set up the HTTP client: {}", chain(&e)))
    })?;
    let mut request = client.post(config.endpoint()).json(&config.request_body(prompt));
    if let Some(key) = &config.api_key {
        request = request.bearer_auth(key);
    }
    for (name, value) in &config.headers {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(|e| {
        if e.is_connect() {
            Failure::new(
                FailureClass::SpawnError,
                format!("cannot connect to {} ({}): is the server running?", config.base_url, root_cause(&e)),
            )
        } else if e.is_builder() {
            Failure::new(FailureClass::SpawnError, format!("cannot build the request: {}", chain(&e)))
        } else {
            Failure::new(
                FailureClass::AgentError,
                format!("the request to {} failed: {}", config.endpoint(), chain(&e)),
            )
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = header(&response, "retry-after");
        let body = read_bounded(&mut response, MAX_ERROR_BODY).await.unwrap_or_default();
        return Err(http_failure(status.as_u16(), retry_after.as_deref(), &body, config));
    }
    let broken = |e: reqwest::Error| {
        Failure::new(FailureClass::AgentError, format!("the answer broke off: {}", chain(&e)))
    };
    let content_type = header(&response, "content-type").unwrap_or_default().to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let body = read_bounded(&mut response, MAX_JSON_BODY).await.map_err(broken)?;
        if body.len() >= MAX_JSON_BODY {
            return Err(Failure::new(FailureClass::AgentError, "the completion is larger than 16 MiB"));
        }
        let completion: Value = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(FailureClass::AgentError, format!("the completion is not valid JSON: {e}"))
        })?;
        reply.chunk(&completion).await?;
        reply.done = true;
        return Ok(());
    }
    let mut decoder = SseDecoder::default();
    loop {
        // `heartbeat_timeout`: a stream that goes silent that long is hung.
        let next = match idle {
            Some(limit) => tokio::time::timeout(limit, response.chunk()).await.map_err(|_| {
                Failure::new(
                    FailureClass::Timeout,
                    format!("hung: no output for {limit:?} (heartbeat_timeout); the request was dropped"),
                )
            })?,
            None => response.chunk().await,
        };
        let Some(bytes) = next.map_err(broken)? else { break };
        for event in decoder.push(&bytes) {
            if sse_event(reply, &event).await? {
                return Ok(());
            }
        }
    }
    for event in decoder.finish() {
        if sse_event(reply, &event).await? {
            break;
        }
    }
    Ok(())
}

/// Takes one event of the stream; true at `[DONE]`. Data that is not JSON (keep-alives, a
/// proxy's noise) is skipped.
async fn sse_event(reply: &mut Reply, event: &SseEvent) -> Result<bool, Failure> {
    let data = event.data.trim();
    if data == "[DONE]" {
        reply.done = true;
        return Ok(true);
    }
    if let Ok(chunk) = serde_json::from_str::<Value>(data) {
        reply.chunk(&chunk).await?;
    }
    Ok(false)
}

/// A response header as text.
fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Up to `limit` bytes of the body.
async fn read_bounded(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(bytes) = response.chunk().await? {
        body.extend_from_slice(&bytes[..bytes.len().min(limit - body.len())]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

/// The innermost cause of an error (e.g. `Connection refused (os error 111)`).
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn is_rate_limit(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("rate limit") || lower.contains("rate_limit") || lower.contains("quota")
}

/// The message of an error object: OpenAI's `{"message": …}`, or a plain string (Ollama).
fn error_text(error: &Value) -> Option<String> {
    match error {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// What the server said in an error body: `error.message` (OpenAI), `error` (Ollama),
/// `message` (vLLM), `detail` (FastAPI servers), else the start of the text.
fn error_message(body: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let said = value
            .get("error")
            .and_then(error_text)
            .or_else(|| value.get("message").and_then(Value::as_str).map(str::to_owned))
            .or_else(|| value.get("detail").map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned)));
        if said.is_some() {
            return said;
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(300).collect())
}

/// The failure for an HTTP error status of a request made with `config`.
fn http_failure(status: u16, retry_after: Option<&str>, body: &[u8], config: &OpenAiConfig) -> Failure {
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
    let mut message = format!("HTTP {status}");
    if let Some(reason) = reason {
        message = format!("{message} {reason}");
    }
    if let Some(said) = error_message(body) {
        message = format!("{message}: {said}");
    }
    match status {
        429 => {
            if let Some(after) = retry_after {
                message = format!("{message} (Retry-After: {after})");
            }
            Failure::new(FailureClass::UsageLimit, message)
        }
        401 | 403 => Failure::new(
            FailureClass::Environment,
            format!(
                "the server at {} rejected the API key ({message}): set a valid key in the variable the agent's `api_key_env` names (`OPENAI_API_KEY` when it names none)",
                config.base_url
            ),
        ),
        // A 404 for a chat completion is the model (the usual case, and the servers say so)
        // or an endpoint that is not there: both are the agent's configuration.
        404 if message.to_lowercase().contains("model") => Failure::new(
            FailureClass::Environment,
            format!(
                "the model `{}` is not known to the server at {} ({message}): set `model:` of the agent to one the server serves",
                config.model, config.base_url
            ),
        ),
        404 => Failure::new(
            FailureClass::Environment,
            format!(
                "the server has no `{}` ({message}): check `base_url` of the agent (it ends with the API's version, e.g. `/v1`)",
                config.endpoint()
            ),
        ),
        _ => Failure::new(FailureClass::AgentError, message),
    }
}

/// The status block at the end of a reply: the last fenced block, or line, that is a JSON
/// object with an `outcome` the result file accepts.
pub fn status_block(reply: &str) -> Option<Map<String, Value>> {
    let parse = |text: &str| -> Option<Map<String, Value>> {
        let text = text.trim();
        if !(text.starts_with('{') && text.ends_with('}')) {
            return None;
        }
        let value: Value = serde_json::from_str(text).ok()?;
        let report: ResultReport = serde_json::from_value(value.clone()).ok()?;
        report.outcome.as_ref()?;
        match value {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    let mut found: Option<(usize, Map<String, Value>)> = None;
    let mut keep = |end: usize, block: Map<String, Value>| {
        if found.as_ref().is_none_or(|(at, _)| end >= *at) {
            found = Some((end, block));
        }
    };
    // Between any two consecutive fences: a block tagged `json`, untagged, or on one line
    // (whether the tail starts inside a block does not matter).
    let fences: Vec<usize> = reply.match_indices("```").map(|(i, _)| i).collect();
    for pair in fences.windows(2) {
        let inside = &reply[pair[0] + 3..pair[1]];
        let inside = inside.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if let Some(block) = parse(inside) {
            keep(pair[1], block);
        }
    }
    let mut at = 0;
    for line in reply.split_inclusive('\n') {
        at += line.len();
        if let Some(block) = parse(line) {
            keep(at, block);
        }
    }
    found.map(|(_, block)| block)
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when there was one.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Decodes a byte stream of Server-Sent Events, however it is split into chunks.
///
/// Lines end with `\n`, `\r\n` or `\r`; a blank line ends an event; `:` starts a comment;
/// `data:` lines accumulate (one space after the colon is dropped); `id:` and `retry:` are
/// ignored. Lines, and the data of one event, longer than [`MAX_LINE`] are cut there.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// Takes the next bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    self.end_line(&mut events);
                }
                _ if self.line.len() < MAX_LINE => self.line.push(byte),
                _ => {}
            }
        }
        events
    }

    /// The end of the stream: a last event not followed by a blank line still counts.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events);
        }
        self.end_line(&mut events);
        events
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data {
                events.push(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
            }
            self.event = None;
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                if self.data.len() + value.len() <= MAX_LINE {
                    self.data.push_str(value);
                }
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use super::*;

    /// What the test server answers.
    enum Answer {
        /// `200 text/event-stream`, chunked, these pieces one write each, a little apart.
        Sse(Vec<Vec<u8>>),
        /// A status, extra headers and a JSON body.
        Json(u16, Vec<(&'static str, &'static str)>, Value),
        /// Nothing, ever.
        Hang,
        /// The SSE head and one piece, then silence.
        GoSilent(Vec<u8>),
    }

    /// What the test server received.
    #[derive(Debug)]
    struct Received {
        request_line: String,
        headers: Vec<(String, String)>,
        body: Value,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    /// A one-request HTTP/1.1 server on 127.0.0.1; returns its base URL.
    async fn serve(answer: Answer) -> (String, JoinHandle<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let received = read_request(&mut socket).await;
            respond(&mut socket, answer).await;
            received
        });
        (format!("http://{addr}/v1"), handle)
    }

    async fn read_request(socket: &mut TcpStream) -> Received {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before the end of the request head");
            bytes.extend_from_slice(&buf[..n]);
            if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("the request has a Content-Length");
        while bytes.len() < head_end + length {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before the end of the body");
            bytes.extend_from_slice(&buf[..n]);
        }
        let body = serde_json::from_slice(&bytes[head_end..head_end + length]).unwrap();
        Received { request_line, headers, body }
    }

    async fn respond(socket: &mut TcpStream, answer: Answer) {
        match answer {
            Answer::Sse(pieces) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                            Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n";
                socket.write_all(head.as_bytes()).await.unwrap();
                for piece in pieces {
                    let frame = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
                    socket.write_all(&frame).await.unwrap();
                    socket.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                socket.write_all(b"0\r\n\r\n").await.unwrap();
            }
            Answer::Json(status, headers, body) => {
                let body = body.to_string();
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                socket.write_all(format!("{head}\r\n{body}").as_bytes()).await.unwrap();
            }
            Answer::Hang => std::future::pending::<()>().await,
            Answer::GoSilent(piece) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                socket.write_all(head.as_bytes()).await.unwrap();
                let frame = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
                socket.write_all(&frame).await.unwrap();
                socket.flush().await.unwrap();
                std::future::pending::<()>().await;
            }
        }
        let _ = socket.shutdown().await;
    }

    /// An SSE stream of these chunks, then `[DONE]` when `done`.
    fn sse_text(chunks: &[Value], done: bool) -> String {
        let mut text = String::from(": keep-alive\r\n\r\n");
        for chunk in chunks {
            text.push_str(&format!("data: {chunk}\r\n\r\n"));
        }
        if done {
            text.push_str("data: [DONE]\r\n\r\n");
        }
        text
    }

    /// `text` cut into pieces of irregular sizes that split lines, `\r\n` pairs and multi-byte
    /// characters.
    fn pieces(text: &str) -> Vec<Vec<u8>> {
        let sizes = [7, 1, 13, 2, 29, 5, 3, 41];
        let bytes = text.as_bytes();
        let (mut pieces, mut at, mut i) = (Vec::new(), 0, 0);
        while at < bytes.len() {
            let end = (at + sizes[i % sizes.len()]).min(bytes.len());
            pieces.push(bytes[at..end].to_vec());
            at = end;
            i += 1;
        }
        pieces
    }

    fn sse_pieces(chunks: &[Value]) -> Vec<Vec<u8>> {
        pieces(&sse_text(chunks, true))
    }

    fn delta(content: &str) -> Value {
        json!({"id": "c1", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    }

    fn stop() -> Value {
        json!({"id": "c1", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]})
    }

    fn usage(prompt: u64, completion: u64) -> Value {
        json!({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
    }

    fn invocation(dir: &tempfile::TempDir, timeout: Duration) -> Invocation {
        Invocation {
            run_id: "run-1".into(),
            step: "build".into(),
            workdir: dir.path().to_owned(),
            steps_dir: dir.path().to_owned(),
            stale_result: true,
            file_stem: "build".into(),
            packet_path: None,
            signals: None,
            packet: None,
            prompt: Some("Implement the parser.".into()),
            timeout: Some(timeout),
            idle_timeout: None,
            env: Vec::new(),
            log_limit: Default::default(),
            spawned: None,
        }
    }

    fn config(base_url: &str) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.to_owned(),
            model: "qwen2.5-coder:7b".into(),
            api_key: Some("sk-test".into()),
            system_prompt: Some("You are a careful engineer.".into()),
            ..OpenAiConfig::default()
        }
    }

    #[tokio::test]
    async fn a_streamed_reply_is_logged_summarised_and_counted() {
        let chunks = [delta("Hello"), delta(", wörld"), delta("! ✓ done."), stop(), usage(12, 5)];
        let (base, server) = serve(Answer::Sse(sse_pieces(&chunks))).await;
        let dir = tempfile::tempdir().unwrap();
        let inv = invocation(&dir, Duration::from_secs(10));
        let mut config = config(&base);
        config.temperature = Some(0.2);
        config.headers = vec![("X-Gateway".into(), "ralph".into())];
        let outcome = run(&config, None, &inv).await;
        let received = server.await.unwrap();

        assert_eq!(received.request_line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(received.header("authorization"), Some("Bearer sk-test"));
        assert_eq!(received.header("x-gateway"), Some("ralph"));
        assert!(received.header("content-type").unwrap().starts_with("application/json"));
        assert_eq!(
            received.body,
            json!({
                "model": "qwen2.5-coder:7b",
                "messages": [
                    {"role": "system", "content": "You are a careful engineer."},
                    {"role": "user", "content": "Implement the parser."},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.2,
            })
        );
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.summary.as_deref(), Some("Hello, wörld! ✓ done."));
        assert_eq!(outcome.result, None);
        let metrics = outcome.evidence.metrics;
        assert_eq!(
            (metrics.input_tokens, metrics.output_tokens, metrics.tokens_used),
            (Some(12), Some(5), Some(17))
        );
        let log = std::fs::read_to_string(inv.files().3).unwrap();
        assert_eq!(log, "Hello, wörld! ✓ done.");
    }

    #[tokio::test]
    async fn a_final_status_block_becomes_the_result() {
        let text = "I checked every layer.\n\n```json\n{\"outcome\": \"verified\", \"summary\": \"all 42 tests pass\"}\n```\n";
        let chunks = [delta(&text[..30]), delta(&text[30..]), stop(), usage(100, 40)];
        let (base, _server) = serve(Answer::Sse(sse_pieces(&chunks))).await;
        let dir = tempfile::tempdir().unwrap();
        let inv = invocation(&dir, Duration::from_secs(10));
        let outcome = run(&config(&base), Some("true"), &inv).await;
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.result.as_deref(), Some("verified"));
        assert_eq!(outcome.summary.as_deref(), Some("all 42 tests pass"));
        let written: Value = serde_json::from_slice(&std::fs::read(inv.files().2).unwrap()).unwrap();
        assert_eq!(written, json!({"outcome": "verified", "summary": "all 42 tests pass"}));
    }

    #[tokio::test]
    async fn a_failing_check_still_fails_the_step() {
        let chunks = [delta("Done."), stop()];
        let (base, _server) = serve(Answer::Sse(sse_pieces(&chunks))).await;
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), Some("exit 3"), &invocation(&dir, Duration::from_secs(10))).await;
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::CheckFailed));
    }

    #[tokio::test]
    async fn too_many_requests_is_a_usage_limit() {
        let body = json!({"error": {"message": "Rate limit reached for requests", "type": "requests",
            "code": "rate_limit_exceeded"}});
        let (base, _server) = serve(Answer::Json(429, vec![("Retry-After", "20")], body)).await;
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
        assert!(!outcome.success);
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit));
        let error = outcome.error.unwrap();
        assert!(error.contains("Rate limit reached for requests"), "{error}");
        assert!(error.contains("Retry-After: 20"), "{error}");
    }

    #[tokio::test]
    async fn a_rejected_key_is_an_environment_failure_that_says_which_variable_to_set() {
        let body = json!({"error": {"message": "Incorrect API key provided: sk-test.", "type":
            "invalid_request_error", "code": "invalid_api_key"}});
        for status in [401, 403] {
            let (base, _server) = serve(Answer::Json(status, vec![], body.clone())).await;
            let dir = tempfile::tempdir().unwrap();
            let inv = invocation(&dir, Duration::from_secs(10));
            let outcome = run(&config(&base), None, &inv).await;
            assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
            let error = outcome.error.unwrap();
            assert!(
                error.starts_with(&format!("the server at {base} rejected the API key (HTTP {status}")),
                "{error}"
            );
            assert!(
                error.contains("Incorrect API key provided") && error.contains("`api_key_env`"),
                "{error}"
            );
            let log = std::fs::read_to_string(inv.files().3).unwrap();
            assert!(log.contains("Incorrect API key provided"), "{log}");
        }
    }

    #[tokio::test]
    async fn an_unknown_model_is_an_environment_failure_naming_the_model() {
        // OpenAI's words, then Ollama's.
        for body in [
            json!({"error": {"message": "The model `qwen2.5-coder:7b` does not exist or you do not have access to it.",
                "type": "invalid_request_error", "param": null, "code": "model_not_found"}}),
            json!({"error": "model 'qwen2.5-coder:7b' not found, try pulling it first"}),
        ] {
            let (base, received) = serve(Answer::Json(404, vec![], body)).await;
            let dir = tempfile::tempdir().unwrap();
            let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
            assert_eq!(received.await.unwrap().body["model"], "qwen2.5-coder:7b");
            assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
            let error = outcome.error.unwrap();
            assert!(
                error.starts_with("the model `qwen2.5-coder:7b` is not known to the server at"),
                "{error}"
            );
            assert!(error.ends_with("set `model:` of the agent to one the server serves"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_base_url_without_the_api_is_an_environment_failure() {
        let (base, _server) = serve(Answer::Json(404, vec![], json!({"detail": "Not Found"}))).await;
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(error.contains("/chat/completions") && error.contains("check `base_url`"), "{error}");
    }

    #[tokio::test]
    async fn a_full_disk_while_the_reply_is_logged_is_an_environment_failure() {
        let chunks = [delta("Hello"), delta(" there"), stop()];
        let (base, _server) = serve(Answer::Sse(sse_pieces(&chunks))).await;
        let dir = tempfile::tempdir().unwrap();
        let inv = invocation(&dir, Duration::from_secs(10));
        // The log is a file on a full disk: `/dev/full` fails every write with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", inv.files().3).unwrap();
        let outcome = run(&config(&base), None, &inv).await;
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(error.starts_with("the disk is full: cannot write the step's log"), "{error}");
        assert!(error.ends_with("free space, then `ralph-loop resume`"), "{error}");
    }

    #[tokio::test]
    async fn a_server_error_is_an_agent_error() {
        let (base, _server) = serve(Answer::Json(503, vec![], json!({"error": "model is loading"}))).await;
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
        assert_eq!(outcome.class, Some(FailureClass::AgentError));
        assert!(outcome.error.unwrap().contains("HTTP 503 Service Unavailable: model is loading"));
    }

    #[tokio::test]
    async fn a_non_streaming_server_is_read_as_one_completion() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "llama3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "All done.\n{\"outcome\": \"build_success\"}"},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}
        });
        let (base, server) = serve(Answer::Json(200, vec![], body)).await;
        let dir = tempfile::tempdir().unwrap();
        let inv = invocation(&dir, Duration::from_secs(10));
        let mut config = config(&format!("{base}/"));
        config.api_key = None;
        config.system_prompt = None;
        let outcome = run(&config, None, &inv).await;
        let received = server.await.unwrap();
        assert_eq!(received.header("authorization"), None);
        assert_eq!(received.body["messages"], json!([{"role": "user", "content": "Implement the parser."}]));
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.result.as_deref(), Some("build_success"));
        assert_eq!(outcome.evidence.metrics.tokens_used, Some(39));
        assert!(outcome.summary.unwrap().starts_with("All done."));
    }

    #[tokio::test]
    async fn a_stream_cut_before_its_end_is_an_agent_error() {
        let (base, _server) = serve(Answer::Sse(pieces(&sse_text(&[delta("Half a thou")], false)))).await;
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
        assert_eq!(outcome.class, Some(FailureClass::AgentError), "{outcome:?}");
        assert_eq!(outcome.summary.as_deref(), Some("Half a thou"));
    }

    #[tokio::test]
    async fn an_error_event_in_the_stream_fails_the_step() {
        let error = json!({"error": {"message": "Rate limit exceeded: free-models-per-min", "code": 429}});
        let (base, _server) = serve(Answer::Sse(sse_pieces(&[delta("Hi"), error]))).await;
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
        assert_eq!(outcome.class, Some(FailureClass::UsageLimit), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_server_that_is_not_running_is_a_spawn_error_naming_it() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}/v1");
        let dir = tempfile::tempdir().unwrap();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_secs(10))).await;
        assert_eq!(outcome.class, Some(FailureClass::SpawnError), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(error.contains(&base) && error.contains("is the server running?"), "{error}");
    }

    #[tokio::test]
    async fn a_server_that_hangs_times_out() {
        let (base, _server) = serve(Answer::Hang).await;
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let outcome = run(&config(&base), None, &invocation(&dir, Duration::from_millis(300))).await;
        assert_eq!(outcome.class, Some(FailureClass::Timeout), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(outcome.duration_ms >= 300);
    }

    #[tokio::test]
    async fn a_stream_that_goes_silent_past_the_heartbeat_timeout_is_hung() {
        let first =
            format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"content": "Thinking"}}]}));
        let (base, _server) = serve(Answer::GoSilent(first.into_bytes())).await;
        let dir = tempfile::tempdir().unwrap();
        let mut inv = invocation(&dir, Duration::from_secs(30));
        inv.idle_timeout = Some(Duration::from_millis(300));
        let started = Instant::now();
        let outcome = run(&config(&base), None, &inv).await;
        assert_eq!(outcome.class, Some(FailureClass::Timeout), "{outcome:?}");
        assert!(outcome.error.as_deref().unwrap().starts_with("hung: no output for 300ms"), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(outcome.summary.as_deref(), Some("Thinking"), "what came before is kept");
    }

    #[test]
    fn http_errors_are_classified_with_the_servers_words() {
        let config = config("http://127.0.0.1:11434/v1");
        let f = http_failure(404, None, br#"{"error":"model 'qwen3' not found"}"#, &config);
        assert_eq!(f.class, FailureClass::Environment);
        assert!(f.message.contains("(HTTP 404 Not Found: model 'qwen3' not found)"), "{}", f.message);
        let f =
            http_failure(400, None, br#"{"object":"error","message":"max_tokens is too large"}"#, &config);
        assert_eq!(f.class, FailureClass::AgentError, "a bad request is the step's");
        assert!(f.message.ends_with("max_tokens is too large"));
        let f = http_failure(403, None, b"<html>\n  Forbidden by proxy\n</html>", &config);
        assert_eq!(f.class, FailureClass::Environment);
        assert!(f.message.contains("<html>"));
        assert_eq!(http_failure(429, None, b"", &config).class, FailureClass::UsageLimit);
        let f = http_failure(502, None, b"", &config);
        assert_eq!((f.class, f.message.as_str()), (FailureClass::AgentError, "HTTP 502 Bad Gateway"));
        assert_eq!(http_failure(500, None, b"{}", &config).class, FailureClass::AgentError);
    }

    #[test]
    fn the_status_block_is_the_last_one_with_an_outcome() {
        let reply = "First I thought:\n```json\n{\"outcome\": \"needs_fixes\"}\n```\nbut then\n\
                     ```json\n{\"outcome\": \"verified\", \"details\": {\"tests\": 3}}\n```\n";
        let block = status_block(reply).unwrap();
        assert_eq!(Value::Object(block), json!({"outcome": "verified", "details": {"tests": 3}}));
        // On one line, inline fences, a bare last line.
        let inline = "Done. ```json {\"outcome\":\"verified\",\"summary\":\"ok\"} ```";
        assert_eq!(status_block(inline).unwrap()["summary"], "ok");
        let bare = "```rust\nfn main() {}\n```\nAll good.\n{\"outcome\": \"build_success\"}\n";
        assert_eq!(status_block(bare).unwrap()["outcome"], "build_success");
        // No outcome, a wrong type, or no JSON: nothing.
        assert_eq!(status_block("```json\n{\"summary\": \"x\"}\n```"), None);
        assert_eq!(status_block("{\"outcome\": 3}"), None);
        assert_eq!(status_block("no block here"), None);
    }

    #[test]
    fn the_decoder_handles_line_endings_comments_and_multi_line_data() {
        let mut decoder = SseDecoder::default();
        let stream = b": hello\r\n\r\nevent: message\rdata: a\r\ndata:b\n\ndata: [DONE]\n";
        let mut events = decoder.push(stream);
        events.extend(decoder.finish());
        assert_eq!(
            events,
            vec![
                SseEvent { event: Some("message".into()), data: "a\nb".into() },
                SseEvent { event: None, data: "[DONE]".into() },
            ]
        );
    }

    #[test]
    fn the_key_is_not_shown() {
        let shown = format!("{:?}", config("http://x/v1"));
        assert!(!shown.contains("sk-test") && shown.contains("<redacted>"), "{shown}");
    }

    /// Events as a server could write them, and the events they are.
    fn sse_stream() -> impl Strategy<Value = (Vec<u8>, Vec<SseEvent>)> {
        let event =
            (proptest::option::of("[a-z]{1,8}"), prop::collection::vec("[^\r\n]{0,12}", 1..4), any::<bool>());
        (prop::collection::vec(event, 0..8), prop::sample::select(vec!["\n", "\r\n", "\r"])).prop_map(
            |(events, eol)| {
                let mut bytes = String::new();
                let mut expected = Vec::new();
                for (name, lines, comment) in events {
                    if comment {
                        bytes.push_str(&format!(": ping{eol}"));
                    }
                    if let Some(name) = &name {
                        bytes.push_str(&format!("event: {name}{eol}"));
                    }
                    for line in &lines {
                        bytes.push_str(&format!("data: {line}{eol}"));
                    }
                    bytes.push_str(eol);
                    expected.push(SseEvent { event: name, data: lines.join("\n") });
                }
                (bytes.into_bytes(), expected)
            },
        )
    }

    proptest! {
        #[test]
        fn the_decoder_does_not_care_how_the_stream_is_split(
            (bytes, expected) in sse_stream(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut decoder = SseDecoder::default();
            let mut events = Vec::new();
            for pair in cuts.windows(2) {
                events.extend(decoder.push(&bytes[pair[0]..pair[1]]));
            }
            events.extend(decoder.finish());
            prop_assert_eq!(events, expected);
        }
    }
}
