//! The runs in a store, each summed up: how it ended (or that it crashed), when it started,
//! how long it took, how many steps finished and failed.

use serde::Serialize;

use super::history::{ExecutionStatus, History};
use crate::store::RunRecord;

/// Where a run stands, as a person would put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A loop is running it now.
    Running,
    /// It ended successfully.
    Succeeded,
    /// It ended unsuccessfully.
    Failed,
    /// It was stopped (a signal, `stop`, a budget, the breaker, `max_iterations`).
    Stopped,
    /// Its record says it runs, but no loop does: the process died (`resume` continues it).
    Crashed,
}

impl Condition {
    /// A run record's status, knowing whether a loop is running that run. A reader that opened
    /// the store holds its lock, so for it no loop runs and a "running" record is a crashed run;
    /// a loop that serves its store names the one run it runs.
    pub fn of(record_status: &str, loop_running: bool) -> Condition {
        match record_status {
            "succeeded" => Condition::Succeeded,
            "failed" => Condition::Failed,
            "stopped" => Condition::Stopped,
            _ if loop_running => Condition::Running,
            _ => Condition::Crashed,
        }
    }

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Running => "running",
            Condition::Succeeded => "succeeded",
            Condition::Failed => "failed",
            Condition::Stopped => "stopped",
            Condition::Crashed => "crashed",
        }
    }
}

/// One run, summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Its id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow file.
    pub workflow_file: String,
    /// `state_machine`, `dag` or `saga`.
    pub kind: String,
    /// Where it stands.
    pub status: Condition,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// When it ended, or (crashed) when its journal last says anything.
    pub ended_at: Option<String>,
    /// From its start to `ended_at`, in milliseconds (journal times have whole seconds).
    pub duration_ms: Option<u64>,
    /// Iterations started.
    pub iterations: usize,
    /// Executions of steps that finished, failed ones included.
    pub steps_finished: usize,
    /// Executions of steps that failed.
    pub steps_failed: usize,
    /// Times it was resumed.
    pub resumed: u32,
    /// Why it ended.
    pub reason: Option<String>,
    /// The OpenTelemetry trace its spans were exported under (when the run exported any):
    /// the id to look up in Jaeger or Grafana.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// The newest `limit` runs of `source` (all with `None`), newest first, each summed up: what
/// `runs --json` and the dashboard's `/api/runs` list. Only those runs' journals are read.
///
/// # Errors
///
/// The store or the running loop cannot be read.
pub fn newest(
    source: &mut super::source::Source,
    limit: Option<usize>,
) -> Result<Vec<RunSummary>, super::InspectError> {
    let (records, live) = source.runs()?;
    let mut summaries = Vec::new();
    for record in records.iter().rev().take(limit.unwrap_or(usize::MAX)) {
        let history = History::from_events(&source.journal(&record.run_id)?);
        summaries.push(summarize(record, &history, live.as_deref() == Some(record.run_id.as_str())));
    }
    Ok(summaries)
}

/// Sums up a run from its record and its journal; `running` when a loop is running it now.
pub fn summarize(record: &RunRecord, history: &History, running: bool) -> RunSummary {
    let status = Condition::of(&record.status, running);
    let ended_at = history.last_at.clone();
    let finished = history.executions.iter().filter(|e| e.outcome.is_some());
    let failed = history.executions.iter().filter(|e| e.status == ExecutionStatus::Failed).count();
    let reason =
        match status {
            Condition::Crashed => Some(record.reason.clone().unwrap_or_else(|| {
                "the loop died while it ran; `ralph-loop resume` continues it".to_owned()
            })),
            _ => record.reason.clone(),
        };
    RunSummary {
        run_id: record.run_id.clone(),
        workflow: record.workflow.clone(),
        workflow_file: record.workflow_file.display().to_string(),
        kind: record.kind.clone(),
        status,
        started_at: record.started_at.clone(),
        duration_ms: ended_at.as_deref().and_then(|end| super::millis_between(&record.started_at, end)),
        ended_at,
        iterations: history.iterations.len(),
        steps_finished: finished.count(),
        steps_failed: failed,
        resumed: history.resumed,
        reason,
        trace_id: record.traceparent.as_deref().and_then(trace_id),
    }
}

/// The trace id of a W3C `traceparent` (`00-<trace>-<span>-<flags>`).
fn trace_id(traceparent: &str) -> Option<String> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_record_without_a_running_loop_is_a_crash() {
        assert_eq!(Condition::of("running", false), Condition::Crashed);
        assert_eq!(Condition::of("running", true), Condition::Running);
        assert_eq!(Condition::of("stopped", false), Condition::Stopped);
    }

    #[test]
    fn the_trace_id_is_the_traceparents_second_field() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(parent).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id("00-xyz-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id(""), None);
    }
}
