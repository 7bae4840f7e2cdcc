//! `replay --check`: a recorded run's outcomes re-decided by a (changed) workflow, without
//! invoking any agent — a way to test a workflow edit without spending tokens.
//!
//! The real runner does the deciding, with an [`Oracle`] in place of the agents: the k-th time
//! the new workflow runs step `s` in iteration `i`, the step's outcome is the one the recording
//! has for the k-th run of `s` in `i` (hooks, the planner and escalations likewise). Nothing
//! leaves the check: no agent, action, hook, git command or task-file write runs, the ledger is
//! a blank one, and the run is journaled to a throw-away store. Waits (retry delays, rate
//! limits, usage limits) are not waited.
//!
//! Then the decisions — which steps start and with which attempt, which are skipped, each
//! transition, how each iteration ends — are compared with the recording's, iteration by
//! iteration: in order for state machines and sagas, as sets for a DAG (whose order depends on
//! timing). The first difference is the divergence. When the new workflow runs a step the
//! recording has no outcome for, the check stops there; the decisions differ at that point
//! anyway.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::core::event::{Event, RunStatus};
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::core::projection::RunState;
use super::performer::{Perform, Performer, Script};
use super::runner::{EventSink, LogChoice, RunError, RunOptions, Runner};
use crate::plan::Plan;
use crate::store::RunRecord;
use crate::workflow::model::{Document, WorkflowKind};

/// What a check found: what `replay --check --json` prints and `GET
/// /api/runs/{run}/replay-check` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The run checked.
    pub run: String,
    /// The workflow file it was checked against (the one it ran, for its stored definition).
    pub workflow: PathBuf,
    /// `stored`: the definition the run ran, as the store keeps it; `file`: the workflow file
    /// as it is now.
    pub definition: &'static str,
    /// Whether the workflow makes the same decisions as the run did.
    pub same: bool,
    /// How many step outcomes the run recorded.
    pub outcomes: usize,
    /// Where the decisions first differ.
    pub divergence: Option<Divergence>,
    /// Why the check stopped early: the workflow ran a step the recording has no outcome for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Why a check cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The run and the workflow are of different kinds.
    #[error(
        "run {run} ran a {run_kind} workflow and `{}` is a {kind}: their decisions cannot be compared",
        workflow.display()
    )]
    KindMismatch {
        /// The run.
        run: String,
        /// Its kind.
        run_kind: String,
        /// The workflow file.
        workflow: PathBuf,
        /// Its kind.
        kind: &'static str,
    },
    /// The workflow cannot be run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The scratch directory or the runtime cannot be made.
    #[error("cannot set up the check: {0}")]
    Io(#[from] std::io::Error),
}

/// Keeps the check run's events.
struct Collect(Arc<Mutex<Vec<Event>>>);

impl EventSink for Collect {
    fn event(&mut self, event: &Event, _: &RunState) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
    }
}

/// Re-decides the run recorded as `record` (its journal's events: `recorded`) with the
/// workflow `doc`/`plan` read from `workflow` (`definition`: `stored` or `file`), invoking no
/// agent. Blocks: it runs the runner on a runtime of its own.
pub fn check(
    project_dir: &Path,
    record: &RunRecord,
    recorded: &[Event],
    (doc, plan, workflow): (&Document, Plan, &Path),
    definition: &'static str,
) -> Result<Report, CheckError> {
    let kind = plan.kind;
    if kind.as_str() != record.kind {
        return Err(CheckError::KindMismatch {
            run: record.run_id.clone(),
            run_kind: record.kind.clone(),
            workflow: workflow.to_owned(),
            kind: kind.as_str(),
        });
    }
    let scratch = tempfile::tempdir()?;
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut options =
        RunOptions::new(project_dir.to_owned(), scratch.path().join("state"), record.workflow.clone());
    options.jobs = record.jobs.max(1);
    options.runs_dir = scratch.path().join("runs");
    // The recording bounds the check, not a budget.
    options.max_invocations = u64::MAX;
    options.prompt_dirs = crate::prompt::search_dirs(Some(workflow), project_dir);
    options.performer = Performer::Script(Box::new(Oracle::from_events(recorded)));
    // The check's journal is thrown away: it lives in memory, and nobody can signal it.
    options.log = LogChoice::Memory(Default::default());
    options.control = false;
    let runner = super::agents::without_programs(|| {
        Runner::new(doc, plan, options, Box::new(Collect(Arc::clone(&events))))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(runner.run_recorded(iterations(recorded)));
    let new_events = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
    let divergence = compare(kind, &decisions(recorded), &decisions(&new_events));
    let stopped = match new_events.last() {
        Some(Event::RunFinished { reason, .. })
            if divergence.is_some() && reason.contains("the recording has no outcome") =>
        {
            Some(reason.clone())
        }
        _ => None,
    };
    Ok(Report {
        run: record.run_id.clone(),
        workflow: workflow.to_owned(),
        definition,
        same: divergence.is_none(),
        outcomes: recorded.iter().filter(|e| matches!(e, Event::StepFinished { .. })).count(),
        divergence,
        stopped,
    })
}

/// Recorded outcomes, handed out in order.
#[derive(Debug, Clone, Default)]
pub struct Oracle {
    steps: HashMap<(u32, String), VecDeque<Outcome>>,
    actions: HashMap<(u32, String, String), VecDeque<Outcome>>,
}

impl Oracle {
    /// The outcomes of a recorded run's journal.
    pub fn from_events(events: &[Event]) -> Oracle {
        let mut oracle = Oracle::default();
        let mut iteration = 0;
        for event in events {
            match event {
                Event::IterationStarted { iteration: i, .. } => iteration = *i,
                Event::StepFinished { step, outcome, .. } => {
                    oracle.steps.entry((iteration, step.clone())).or_default().push_back((**outcome).clone());
                }
                Event::ActionFinished { step, hook, outcome, .. } => {
                    let key = (iteration, step.clone(), hook.clone());
                    oracle.actions.entry(key).or_default().push_back((**outcome).clone());
                }
                _ => {}
            }
        }
        oracle
    }

    /// The next recorded outcome of `step` in `iteration`.
    pub fn step(&mut self, iteration: u32, step: &str) -> Option<Outcome> {
        self.steps.get_mut(&(iteration, step.to_owned()))?.pop_front()
    }

    /// The next recorded outcome of `step`'s `hook` (`on_enter`, `on_failure`, …) in `iteration`.
    pub fn action(&mut self, iteration: u32, step: &str, hook: &str) -> Option<Outcome> {
        self.actions.get_mut(&(iteration, step.to_owned(), hook.to_owned()))?.pop_front()
    }
}

impl Script for Oracle {
    fn outcome(&mut self, what: &Perform<'_>) -> Option<Outcome> {
        match what.hook {
            None => self.step(what.iteration, what.step),
            Some(hook) => self.action(what.iteration, what.step, hook),
        }
    }
}

/// The iterations of a recorded run: their numbers and tasks.
pub fn iterations(events: &[Event]) -> Vec<(u32, Option<ralph_plugin_sdk::Task>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IterationStarted { iteration, task, .. } => Some((
                *iteration,
                task.as_ref().map(|t| ralph_plugin_sdk::Task::new(t.id.clone(), t.title.clone())),
            )),
            _ => None,
        })
        .collect()
}

impl Runner {
    /// Runs the recorded run's iterations, with their tasks, deciding with the oracle's
    /// outcomes; stops at the first step the recording has no outcome for.
    pub async fn run_recorded(mut self, iterations: Vec<(u32, Option<ralph_plugin_sdk::Task>)>) -> RunState {
        if let Err(e) = self.begin().await {
            return self.refused(&e);
        }
        let mut end = (RunStatus::Succeeded, "no iteration was recorded".to_owned());
        for (iteration, task) in iterations {
            let task = task
                .map(|t| (super::core::event::TaskRef { id: t.id.clone(), title: t.description.clone() }, t));
            self.begin_iteration(iteration, task, Vec::new(), None);
            if self.state.pass().is_some_and(|p| p.ended().is_none()) {
                let (status, reason, _) = self.run_pass().await;
                end = (status, reason);
            }
            if let Some(halt) = self.halted() {
                end = halt;
                break;
            }
        }
        self.end(end.0, end.1, None).await;
        self.into_state()
    }
}

/// One decision a run made, for comparing runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Decision {
    /// The iteration.
    pub iteration: u32,
    /// What was decided, for people: `start verify (attempt 2)`, `verify → build`, …
    pub what: String,
}

/// The decisions in a run's events, in order.
pub fn decisions(events: &[Event]) -> Vec<Decision> {
    let mut out = Vec::new();
    let mut iteration = 0;
    for event in events {
        let what = match event {
            Event::IterationStarted { iteration: i, task, .. } => {
                iteration = *i;
                match task {
                    Some(task) => format!("iteration for task {}", task.id),
                    None => continue,
                }
            }
            Event::StepStarted { step, attempt, .. } => format!("start `{step}` (attempt {attempt})"),
            Event::StepSkipped { step, .. } => format!("skip `{step}`"),
            // Not a decision, but what the next one is made on: the same in both runs while
            // they agree (the oracle hands out the recorded outcomes), and the context a
            // divergence is shown with.
            Event::StepFinished { outcome, .. } if outcome.class == Some(FailureClass::NotRecorded) => {
                continue;
            }
            Event::StepFinished { step, outcome, .. } => {
                let how = if outcome.success { "succeeded" } else { "failed" };
                let result = outcome.result.as_deref().map(|r| format!(", result `{r}`")).unwrap_or_default();
                let error = outcome.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                format!("`{step}` {how}{result}{error}")
            }
            Event::Transition { from, to, .. } => format!("`{from}` → `{to}`"),
            Event::IterationFinished { status, .. } => format!("iteration {}", status.as_str()),
            _ => continue,
        };
        out.push(Decision { iteration, what });
    }
    out
}

/// Where two runs' decisions first differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The iteration.
    pub iteration: u32,
    /// What the recorded run decided there (`None`: nothing more).
    pub recorded: Option<String>,
    /// What the new workflow decides there (`None`: nothing more).
    pub new: Option<String>,
    /// The last decision both made, for context.
    pub after: Option<String>,
}

/// The first difference between the recorded decisions and the new ones.
pub fn compare(kind: WorkflowKind, recorded: &[Decision], new: &[Decision]) -> Option<Divergence> {
    if kind == WorkflowKind::Dag {
        return compare_sets(recorded, new);
    }
    let mut after = None;
    for i in 0..recorded.len().max(new.len()) {
        let (r, n) = (recorded.get(i), new.get(i));
        if r.map(|d| (d.iteration, &d.what)) != n.map(|d| (d.iteration, &d.what)) {
            return Some(Divergence {
                iteration: r.or(n).map_or(0, |d| d.iteration),
                recorded: r.map(|d| d.what.clone()),
                new: n.map(|d| d.what.clone()),
                after,
            });
        }
        after = r.map(|d| d.what.clone());
    }
    None
}

/// A DAG's nodes start in an order that depends on timing: each iteration's decisions are
/// compared as sets, the first missing or extra one (in name order) reported.
fn compare_sets(recorded: &[Decision], new: &[Decision]) -> Option<Divergence> {
    let iterations: BTreeSet<u32> = recorded.iter().chain(new).map(|d| d.iteration).collect();
    for iteration in iterations {
        let of = |all: &[Decision]| -> BTreeSet<String> {
            all.iter().filter(|d| d.iteration == iteration).map(|d| d.what.clone()).collect()
        };
        let (r, n) = (of(recorded), of(new));
        if r != n {
            // What ran or was skipped explains the rest (outcomes, how the iteration ended).
            let first = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
                a.difference(b).min_by_key(|what| (rank(what), (*what).clone())).cloned()
            };
            return Some(Divergence { iteration, recorded: first(&r, &n), new: first(&n, &r), after: None });
        }
    }
    None
}

/// The order a DAG's differences are reported in: starts and skips, outcomes, iteration ends.
fn rank(what: &str) -> u8 {
    if what.starts_with("start ") || what.starts_with("skip ") {
        0
    } else if what.starts_with("iteration ") {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(iteration: u32, what: &str) -> Decision {
        Decision { iteration, what: what.into() }
    }

    #[test]
    fn sequences_diverge_at_the_first_difference_and_sets_ignore_order() {
        let recorded = [d(1, "start `a` (attempt 1)"), d(1, "`a` → `b`"), d(1, "iteration succeeded")];
        let new = [d(1, "start `a` (attempt 1)"), d(1, "`a` → `c`")];
        let at = compare(WorkflowKind::StateMachine, &recorded, &new).unwrap();
        assert_eq!(at.recorded.as_deref(), Some("`a` → `b`"));
        assert_eq!(at.new.as_deref(), Some("`a` → `c`"));
        assert_eq!(at.after.as_deref(), Some("start `a` (attempt 1)"));
        assert_eq!(compare(WorkflowKind::StateMachine, &recorded, &recorded), None);
        let shorter = compare(WorkflowKind::StateMachine, &recorded, &recorded[..2]).unwrap();
        assert_eq!((shorter.recorded.as_deref(), shorter.new), (Some("iteration succeeded"), None));
        let swapped = [recorded[1].clone(), recorded[0].clone(), recorded[2].clone()];
        assert_eq!(compare(WorkflowKind::Dag, &recorded, &swapped), None);
        let at = compare(WorkflowKind::Dag, &recorded, &new).unwrap();
        assert_eq!((at.recorded.as_deref(), at.new.as_deref()), (Some("`a` → `b`"), Some("`a` → `c`")));
    }

    #[test]
    fn the_oracle_hands_out_each_steps_outcomes_in_order_per_iteration() {
        let finished = |step: &str, success: bool| Event::StepFinished {
            step: step.into(),
            outcome: Box::new(Outcome { success, ..Outcome::default() }),
            at: String::new(),
            iteration: 1,
        };
        let started = |i: u32| Event::IterationStarted {
            iteration: i,
            task: None,
            at: String::new(),
            detail: None,
            completed: Vec::new(),
        };
        let mut oracle = Oracle::from_events(&[
            started(1),
            finished("a", false),
            finished("a", true),
            started(2),
            finished("a", false),
        ]);
        assert_eq!(oracle.step(1, "a").map(|o| o.success), Some(false));
        assert_eq!(oracle.step(2, "a").map(|o| o.success), Some(false));
        assert_eq!(oracle.step(1, "a").map(|o| o.success), Some(true));
        assert_eq!(oracle.step(1, "a"), None);
        assert_eq!(oracle.step(1, "b"), None);
    }
}
