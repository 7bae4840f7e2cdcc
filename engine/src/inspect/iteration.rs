//! One iteration in full, for `debug --iteration N`: its task, and for each execution of a
//! step its steering packet, the prompt its agents got, their output and result, its outcome,
//! and what the runner decided after it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::InspectError;
use super::files::{Excerpt, RunFiles, head, tail};
use super::history::{Execution, History, Iteration, Skip};
use crate::store::RunRecord;

/// How much of each file to read: `None` reads all of it.
#[derive(Debug, Clone, Copy)]
pub struct Detail {
    /// The first lines of each prompt.
    pub prompt_lines: Option<usize>,
    /// The last lines of each agent's output.
    pub log_lines: Option<usize>,
}

/// One iteration of a run.
#[derive(Debug, Clone, Serialize)]
pub struct IterationReport {
    /// The run.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// `state_machine`, `dag` or `saga`.
    pub kind: String,
    /// The run's directory.
    pub run_dir: PathBuf,
    /// Every iteration the run has.
    pub iterations: Vec<u32>,
    /// This iteration.
    pub iteration: Iteration,
    /// Its executions of steps, in the order they began.
    pub steps: Vec<StepReport>,
    /// Its steps that did not run.
    pub skipped: Vec<Skip>,
}

/// One execution with its files.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// What the journal says.
    #[serde(flatten)]
    pub execution: Execution,
    /// The packet file.
    pub packet_file: Option<PathBuf>,
    /// The packet the step was given.
    pub packet: Option<serde_json::Value>,
    /// The packet file's size in bytes.
    pub packet_bytes: Option<u64>,
    /// The completed packet file.
    pub completed_packet_file: Option<PathBuf>,
    /// The packet completed with the outcome.
    pub completed_packet: Option<serde_json::Value>,
    /// The completed packet file's size in bytes.
    pub completed_packet_bytes: Option<u64>,
    /// Each agent's files.
    pub units: Vec<UnitReport>,
}

/// One agent's files, read.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    /// The agent (or hook) when the step had several; none for its only agent.
    pub name: Option<String>,
    /// The prompt file.
    pub prompt_file: Option<PathBuf>,
    /// The prompt (its first lines unless asked for all).
    pub prompt: Option<Excerpt>,
    /// The result file.
    pub result_file: Option<PathBuf>,
    /// What the agent wrote to it.
    pub result: Option<serde_json::Value>,
    /// The result file's size in bytes.
    pub result_bytes: Option<u64>,
    /// The output log.
    pub log_file: Option<PathBuf>,
    /// Its last lines (all of it when asked).
    pub log: Option<Excerpt>,
}

fn json(path: Option<&PathBuf>) -> Option<serde_json::Value> {
    // An unreadable or half-written file is shown as missing rather than failing the report:
    // a crash may leave one behind, and the rest of the iteration still tells what happened.
    // Read as the loop reads it: never blocking on a FIFO, never more than the cap.
    use crate::agent::result_file::{MAX_RESULT_BYTES, read_sync};
    serde_json::from_slice(&read_sync(path?, MAX_RESULT_BYTES).ok()??).ok()
}

/// One execution with its files, read as `detail` says (`debug --json`'s steps, `GET
/// /api/runs/{run}/steps/{invocation}/{step}`).
pub fn step(execution: &Execution, files: &RunFiles, detail: Detail) -> StepReport {
    let found = files.of(execution.invocation, &execution.step);
    let units = found
        .units
        .into_iter()
        .map(|u| UnitReport {
            prompt: u.prompt.as_deref().and_then(|p| head(p, detail.prompt_lines).ok()),
            result: json(u.result.as_ref()),
            result_bytes: size(u.result.as_ref()),
            log: u.log.as_deref().and_then(|p| tail(p, detail.log_lines).ok()),
            name: u.name,
            prompt_file: u.prompt,
            result_file: u.result,
            log_file: u.log,
        })
        .collect();
    StepReport {
        execution: execution.clone(),
        packet: json(found.packet.as_ref()),
        packet_bytes: size(found.packet.as_ref()),
        completed_packet: json(found.completed_packet.as_ref()),
        completed_packet_bytes: size(found.completed_packet.as_ref()),
        packet_file: found.packet,
        completed_packet_file: found.completed_packet,
        units,
    }
}

fn size(path: Option<&PathBuf>) -> Option<u64> {
    std::fs::metadata(path?).ok().map(|m| m.len())
}

impl StepReport {
    /// Its files' paths relative to `base` (the project), as a person would type them.
    pub fn relative_to(&mut self, base: &Path) {
        let strip = |path: &mut Option<PathBuf>| {
            if let Some(relative) = path.as_deref().and_then(|p| p.strip_prefix(base).ok()) {
                *path = Some(relative.to_owned());
            }
        };
        strip(&mut self.packet_file);
        strip(&mut self.completed_packet_file);
        for unit in &mut self.units {
            strip(&mut unit.prompt_file);
            strip(&mut unit.result_file);
            strip(&mut unit.log_file);
        }
    }
}

/// The report of iteration `n` of a run.
pub fn report(
    record: &RunRecord,
    history: &History,
    run_dir: &Path,
    n: u32,
    detail: Detail,
) -> Result<IterationReport, InspectError> {
    let iterations = history.iteration_numbers();
    let Some(iteration) = history.iterations.iter().rev().find(|i| i.iteration == n).cloned() else {
        return Err(InspectError::UnknownIteration {
            run: record.run_id.clone(),
            asked: n,
            known: iterations,
        });
    };
    let files = RunFiles::scan(run_dir);
    let steps = history.iteration(n).map(|e| step(e, &files, detail)).collect();
    Ok(IterationReport {
        run_id: record.run_id.clone(),
        workflow: record.workflow.clone(),
        kind: record.kind.clone(),
        run_dir: run_dir.to_owned(),
        iterations,
        iteration,
        steps,
        skipped: history.skips.iter().filter(|s| s.iteration == n).cloned().collect(),
    })
}
