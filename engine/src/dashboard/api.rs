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
use crate::inspect::InspectError;
use crate::inspect::files::RunFiles;
use crate::inspect::history::History;
use crate::inspect::iteration::Detail;
use crate::inspect::plan::{self, CurrentError};
use crate::inspect::runs::newest;
use crate::inspect::source::Source;
use crate::run::check::CheckError;
use crate::run::core::signal::Signal;
use crate::store::RunRecord;

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
    let read = || -> Result<Vec<(u64, crate::run::core::event::Event)>, InspectError> {
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

/// The run `asked` names (its id, or a prefix of only its id), or the answer that it is not
/// there: 404 `no run `x``, with the closest id when one is close.
fn find_run(source: &mut Source, asked: &str) -> Result<RunRecord, Answer> {
    match source.select_run(Some(asked)) {
        Ok(record) => Ok(record),
        Err(InspectError::UnknownRun { .. }) => {
            let ids: Vec<String> = source
                .runs()
                .map(|(runs, _)| runs)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.run_id)
                .collect();
            let mut message = format!("no run `{asked}`");
            if let Some(close) = crate::workflow::suggest::did_you_mean(asked, ids.iter().map(String::as_str))
            {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            Err(Answer::error(404, message))
        }
        Err(e @ InspectError::AmbiguousRun { .. }) => Err(Answer::error(400, e)),
        Err(e) => Err(Answer::error(500, e)),
    }
}

/// Opens the store for one request and finds the run in it.
fn open_run(state_dir: &Path, asked: &str) -> Result<(Source, RunRecord), Answer> {
    let mut source = Source::open(state_dir).map_err(|e| Answer::error(500, e))?;
    let record = find_run(&mut source, asked)?;
    Ok((source, record))
}

/// `GET /api/runs/{run}/plan`: the plan the run ran, compiled from the definition the store
/// kept for it: `run_id`, `workflow`, `file`, then `workflow visualize --format json`'s
/// `kind`, `initial`, `nodes`, `edges`.
pub fn run_plan(state_dir: &Path, run: &str) -> Answer {
    let answer = || -> Result<Answer, Answer> {
        let (mut source, record) = open_run(state_dir, run)?;
        let (doc, plan) = match plan::stored(&mut source, &record) {
            Ok(stored) => stored,
            Err(e @ InspectError::NoDefinition { .. }) => return Err(Answer::error(404, e)),
            Err(e) => return Err(Answer::error(500, e)),
        };
        let mut body = plan::view(&plan, &record.workflow, &record.workflow_file);
        body["run_id"] = json!(record.run_id);
        body["agents"] = plan::agents(&doc);
        Ok(Answer::ok(body))
    };
    answer().unwrap_or_else(|e| e)
}

/// `GET /api/plan`: the plan of the workflow `ralph-loop loop` would run (the one
/// `ralph.yaml` names), as `/api/runs/{run}/plan` gives a run's, without `run_id`. 404 when
/// the project names none, 422 with its `diagnostics` when it is invalid.
pub fn current_plan(project_dir: &Path) -> Answer {
    match plan::current(project_dir) {
        Ok(current) => {
            let file = current.file.strip_prefix(project_dir).unwrap_or(&current.file);
            Answer::ok(plan::view(&current.plan, &current.name, file))
        }
        Err(e @ (CurrentError::NoConfig { .. } | CurrentError::NoneNamed { .. })) => Answer::error(404, e),
        Err(CurrentError::Invalid { file, diagnostics }) => {
            let message = CurrentError::Invalid { file, diagnostics: diagnostics.clone() }.to_string();
            let diagnostics: Vec<Value> =
                diagnostics.iter().map(crate::diagnostic::Diagnostic::to_json).collect();
            Answer { status: 422, body: json!({ "error": message, "diagnostics": diagnostics }) }
        }
        Err(e) => Answer::error(500, e),
    }
}

/// `GET /api/runs/{run}/trace`: what `traces --json` prints: the run's span tree.
pub fn trace(state_dir: &Path, run: &str) -> Answer {
    let answer = || -> Result<Answer, Answer> {
        let (mut source, record) = open_run(state_dir, run)?;
        let tree = crate::inspect::trace::read(&mut source, &record).map_err(|e| Answer::error(500, e))?;
        Ok(Answer::ok(serde_json::to_value(tree).unwrap_or_default()))
    };
    answer().unwrap_or_else(|e| e)
}

/// `GET /api/runs/{run}/steps`: every execution of the run, in the order they began, each as
/// `inspect --phase X --json` gives its `executions`.
pub fn steps(state_dir: &Path, run: &str) -> Answer {
    let answer = || -> Result<Answer, Answer> {
        let (mut source, record) = open_run(state_dir, run)?;
        let history =
            History::from_events(&source.journal(&record.run_id).map_err(|e| Answer::error(500, e))?);
        let executions: Vec<_> = crate::inspect::phase::all(&record.run_id, &history).collect();
        Ok(Answer::ok(json!({ "run_id": record.run_id, "executions": executions })))
    };
    answer().unwrap_or_else(|e| e)
}

/// The most lines of a step's output one answer carries.
pub const MAX_LINES: usize = 5000;

/// The lines of a step's output an answer carries unless asked for others.
pub const DEFAULT_LINES: usize = 200;

/// Whether `step`, as it came in a URL, could name a file outside the run's directory: a step
/// id never holds a path separator, and is never `.` or `..`.
pub fn unsafe_step(step: &str) -> bool {
    step.is_empty()
        || step == "."
        || step.contains("..")
        || step.chars().any(|c| matches!(c, '/' | '\\' | '\0'))
}

/// A URL path segment percent-decoded; `None` when it does not decode to UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `GET /api/runs/{run}/steps/{invocation}/{step}`: that execution with its files, as `debug
/// --json` gives a step: the journal's account of it, the packet and completed packet (parsed),
/// and per agent its prompt (its first `lines` lines), result and output log (its last `lines`
/// lines), each with its path relative to the project and its size in bytes. A running step's
/// log grows: the page asks again for the live tail.
pub fn step_files(
    project_dir: &Path,
    state_dir: &Path,
    run: &str,
    invocation: &str,
    step: &str,
    lines: usize,
) -> Answer {
    if unsafe_step(step) {
        return Answer::error(400, format!("`{step}` is not a step id"));
    }
    let Ok(invocation) = invocation.parse::<u64>() else {
        return Answer::error(400, format!("`{invocation}` is not an invocation number"));
    };
    let answer = || -> Result<Answer, Answer> {
        let (mut source, record) = open_run(state_dir, run)?;
        let history =
            History::from_events(&source.journal(&record.run_id).map_err(|e| Answer::error(500, e))?);
        drop(source);
        let Some(execution) =
            history.executions.iter().find(|e| e.invocation == invocation && e.step == step)
        else {
            return Err(Answer::error(
                404,
                format!(
                    "run {} has no execution {invocation} of step `{step}` (see /api/runs/{}/steps)",
                    record.run_id, record.run_id
                ),
            ));
        };
        let run_dir = crate::run::runner::runs_dir(project_dir).join(&record.run_id);
        let lines = lines.min(MAX_LINES);
        let detail = Detail { prompt_lines: Some(lines.max(DEFAULT_LINES)), log_lines: Some(lines) };
        let mut report = crate::inspect::iteration::step(execution, &RunFiles::scan(&run_dir), detail);
        report.relative_to(project_dir);
        let mut body = serde_json::to_value(report).unwrap_or_default();
        body["run_id"] = json!(record.run_id);
        Ok(Answer::ok(body))
    };
    answer().unwrap_or_else(|e| e)
}

/// `GET /api/runs/{run}/replay-check`: what `replay --check <run> --json` prints: the run
/// re-decided by the definition it ran, invoking no agent.
pub fn replay_check(project_dir: &Path, state_dir: &Path, run: &str) -> Answer {
    // The run is looked up first, for the same 404 as every run's endpoint.
    if let Err(answer) = open_run(state_dir, run) {
        return answer;
    }
    match plan::check_stored(state_dir, project_dir, run) {
        Ok(Ok(report)) => Answer::ok(serde_json::to_value(report).unwrap_or_default()),
        Ok(Err(e @ CheckError::KindMismatch { .. })) => Answer::error(409, e),
        Ok(Err(e)) => Answer::error(500, e),
        Err(e @ InspectError::NoDefinition { .. }) => Answer::error(404, e),
        Err(e) => Answer::error(500, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_could_name_a_path_outside_the_run_is_refused() {
        for step in ["..", ".", "", "a/b", "a\\b", "x..y", "a\0"] {
            assert!(unsafe_step(step), "{step:?}");
        }
        for step in ["build", "verify-2", "build_docs", "Node.1"] {
            assert!(!unsafe_step(step), "{step:?}");
        }
        assert_eq!(decode_segment("%2e%2E%2fetc").as_deref(), Some("../etc"));
        assert_eq!(decode_segment("b%C3%BCild").as_deref(), Some("büild"));
        assert_eq!(decode_segment("build").as_deref(), Some("build"));
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%ff"), None, "not UTF-8");
        assert_eq!(decode_segment("%2"), None);
    }
}
