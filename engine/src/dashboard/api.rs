//! The JSON API under `/api/`, behind the dashboard's views and for scripts: each answer has
//! the field names of the CLI's `--json` for the same thing (`status --json`, `runs --json`,
//! `logs --json`), because each is built by the same code. Reads go where the CLI's go — the
//! running loop over its control socket, else the store, opened for the one request and closed
//! (so a loop can start while the dashboard is open) — and signals travel the control channel
//! as `ralph-loop pause` does, journaled the same way. Every function here blocks: the server
//! calls them on the blocking pool.

use std::path::Path;

use serde_json::{Value, json};

use crate::control::{Reply, Request};
use crate::inspect::runs::newest;
use crate::inspect::source::Source;
use crate::run::core::signal::Signal;

/// The name a signal from the dashboard is recorded under, beside the OS user serving it.
pub const SENDER: &str = "web dashboard";

/// An answer: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer { status: 200, body }
    }

    /// An error answer: `{"error": message}`.
    pub fn error(status: u16, message: impl std::fmt::Display) -> Answer {
        Answer { status, body: json!({ "error": message.to_string() }) }
    }
}

/// `GET /api/status`: what `status --json` prints.
pub fn status(project_dir: &Path, state_dir: &Path) -> Answer {
    match crate::inspect::status::json(project_dir, state_dir) {
        Ok(value) => Answer::ok(value),
        Err(e) => Answer::error(500, e),
    }
}

/// `GET /api/status?format=text`: what `ralph-loop status` prints, for the page's "copy
/// status" (plain text to paste into a chat or an issue). `Err` is an error answer.
pub fn status_text(project_dir: &Path, state_dir: &Path) -> Result<String, Answer> {
    crate::inspect::status::text(project_dir, state_dir).map_err(|e| Answer::error(500, e))
}

/// `GET /api/tasks`: the project's task file as a board, each task with its history from the
/// journals (`inspect/tasks.rs`); 404 when the project has no task file.
pub fn tasks(project_dir: &Path, state_dir: &Path) -> Answer {
    match crate::inspect::tasks::board(project_dir, state_dir) {
        Ok(Some(board)) => Answer::ok(serde_json::to_value(board).unwrap_or_default()),
        Ok(None) => Answer::error(
            404,
            format!(
                "the project has no task file: no run used one, and there is no {} in `{}`",
                crate::task::DISCOVERY_ORDER.join(", "),
                project_dir.display()
            ),
        ),
        Err(e) => Answer::error(500, e),
    }
}

/// `GET /api/runs`: what `runs --json` prints (newest first).
pub fn runs(state_dir: &Path) -> Answer {
    let read = || newest(&mut Source::open(state_dir)?, None);
    read().map_or_else(|e| Answer::error(500, e), |summaries| Answer::ok(json!({ "runs": summaries })))
}

/// `GET /api/runs/{id}/events`: the run's journal, each event as `logs --json` prints it, with
/// its sequence number as `seq`.
pub fn events(state_dir: &Path, run: &str) -> Answer {
    let read = || -> Result<Vec<(u64, crate::run::core::event::Event)>, crate::inspect::InspectError> {
        Source::open(state_dir)?.journal(run)
    };
    match read() {
        Ok(events) if events.is_empty() => Answer::error(404, format!("no run `{run}`")),
        Ok(events) => {
            let events: Vec<Value> = events
                .iter()
                .map(|(seq, event)| {
                    let mut value = serde_json::to_value(event).unwrap_or_default();
                    if let Value::Object(map) = &mut value {
                        map.insert("seq".into(), json!(seq));
                    }
                    value
                })
                .collect();
            Answer::ok(json!({ "run_id": run, "events": events }))
        }
        Err(e) => Answer::error(500, e),
    }
}

/// `POST /api/control`: a [`Signal`] as the control socket's protocol writes it
/// (`{"signal": "pause"}`, `{"signal": "hint", "text": "…"}`, `{"signal": "approve",
/// "comment": "…", "with_changes": true}`), sent to the running loop. 200 with the loop's
/// message when it journaled it, 409 when it refused it, 503 when no loop runs.
pub fn control(state_dir: &Path, body: &[u8]) -> Answer {
    let signal: Signal = match serde_json::from_slice(body) {
        Ok(signal) => signal,
        Err(e) => {
            return Answer::error(
                400,
                format!(
                    "not a signal ({e}): send {{\"signal\": \"pause\"}}, or resume, interrupt, redirect (to), hint (text), add_iterations (n), approve (comment, with_changes), reject (comment)"
                ),
            );
        }
    };
    let request = Request::Signal { signal, display_name: Some(SENDER.to_owned()) };
    match crate::control::client::ask(state_dir, &request) {
        Ok(None) => Answer::error(503, "no loop is running: start one with `ralph-loop loop` (or `resume`)"),
        Ok(Some(Reply::Accepted { message })) => Answer::ok(json!({ "accepted": true, "message": message })),
        Ok(Some(Reply::Refused { message })) => {
            Answer { status: 409, body: json!({ "accepted": false, "message": message }) }
        }
        Ok(Some(other)) => Answer::error(
            502,
            format!("the loop answered `{}` to a signal", serde_json::to_string(&other).unwrap_or_default()),
        ),
        Err(e) => Answer::error(502, e),
    }
}
