//! The state of a run, changed only by applying events.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::Serialize;

use super::event::{Event, RunStatus};
use super::outcome::{FailureClass, Outcome};

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Running now.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully.
    Failed,
    /// Will not run.
    Skipped,
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Where it stands.
    pub status: StepStatus,
    /// Attempts started (visits, for states).
    pub attempts: u32,
    /// The last outcome.
    pub outcome: Option<Outcome>,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// It failed and its retry policy will run it again.
    pub retrying: bool,
}

/// A run's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunState {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// How it stands.
    pub status: RunStatus,
    /// Why it ended.
    pub reason: Option<String>,
    /// What stopped it, when a failure class did (`environment`: exit status 4).
    pub end_class: Option<FailureClass>,
    /// Every step seen, in the order first seen.
    pub steps: IndexMap<String, StepRecord>,
    /// State machines: the current state.
    pub current: Option<String>,
    /// State machines: the last move was a transition into `current` (its step has not
    /// started yet).
    pub after_transition: bool,
    /// State machines: visits per state, in the current iteration.
    pub visits: HashMap<String, u32>,
    /// Failed visits per state, in the current iteration.
    pub failures: HashMap<String, u32>,
    /// The current iteration, from 1 (0 before the first).
    pub iteration: u32,
    /// The task of the current iteration.
    pub task: Option<super::event::TaskRef>,
    /// Ids of the tasks marked done in this run, in order.
    pub tasks_done: Vec<String>,
    /// Ids of the tasks marked failed in this run, in order.
    pub tasks_failed: Vec<String>,
    /// Iterations that ended, by how they ended.
    pub iterations_failed: u32,
    /// The step waiting for a person, if any.
    pub waiting_for_review: Option<String>,
    /// The circuit breaker's state, when it changed in this run.
    pub breaker: Option<String>,
    /// Why it opened.
    pub breaker_reason: Option<String>,
    /// Agent invocations so far.
    pub invocations: u64,
    /// Tokens the agents reported, in total.
    pub tokens: u64,
    /// What the agents reported spending, in US dollars.
    pub cost_usd: f64,
    /// Paused (or pausing after the current step), and by whom.
    pub paused: Option<String>,
    /// Hints journaled and not yet delivered into a prompt, oldest first.
    pub pending_hints: Vec<ralph_plugin_sdk::Hint>,
    /// State machines: the state a person redirected the run to, not taken yet.
    pub redirect: Option<String>,
    /// What `add-iterations` added to `max_iterations`.
    pub added_iterations: u64,
    /// The last signal, for people.
    pub last_signal: Option<String>,
    /// How many steps stand at each status, kept with every event so that progress displays
    /// need not count 10,000 steps per event.
    counts: [usize; 4],
}

impl RunState {
    /// A run that has not started.
    pub fn new() -> Self {
        RunState {
            run_id: String::new(),
            workflow: String::new(),
            status: RunStatus::Running,
            reason: None,
            end_class: None,
            steps: IndexMap::new(),
            current: None,
            after_transition: false,
            visits: HashMap::new(),
            failures: HashMap::new(),
            iteration: 0,
            task: None,
            tasks_done: Vec::new(),
            tasks_failed: Vec::new(),
            iterations_failed: 0,
            waiting_for_review: None,
            breaker: None,
            breaker_reason: None,
            invocations: 0,
            tokens: 0,
            cost_usd: 0.0,
            paused: None,
            pending_hints: Vec::new(),
            redirect: None,
            added_iterations: 0,
            last_signal: None,
            counts: [0; 4],
        }
    }

    fn set_status(counts: &mut [usize; 4], record: &mut StepRecord, status: StepStatus) {
        counts[record.status as usize] -= 1;
        counts[status as usize] += 1;
        record.status = status;
    }

    /// The one place a run's state changes.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run_id, workflow, .. } => {
                self.run_id.clone_from(run_id);
                self.workflow.clone_from(workflow);
                self.status = RunStatus::Running;
            }
            Event::StepStarted { step, attempt, .. } => {
                self.invocations += 1;
                // A retry is another attempt of the same visit.
                if *attempt <= 1 {
                    *self.visits.entry(step.clone()).or_default() += 1;
                }
                let counts = &mut self.counts;
                let record = self.steps.entry(step.clone()).or_insert_with(|| {
                    counts[StepStatus::Running as usize] += 1;
                    StepRecord {
                        status: StepStatus::Running,
                        attempts: 0,
                        outcome: None,
                        skip_reason: None,
                        retrying: false,
                    }
                });
                Self::set_status(counts, record, StepStatus::Running);
                record.attempts += 1;
                record.retrying = false;
                self.current = Some(step.clone());
                self.after_transition = false;
            }
            Event::IterationStarted { iteration, task, .. } => {
                // Steps, visits and failures are counted per iteration: each is a fresh pass.
                self.iteration = *iteration;
                self.task.clone_from(task);
                self.steps.clear();
                self.visits.clear();
                self.failures.clear();
                self.counts = [0; 4];
                self.current = None;
                self.after_transition = false;
            }
            Event::IterationFinished { status, .. } => {
                if *status != RunStatus::Succeeded {
                    self.iterations_failed += 1;
                }
            }
            Event::TaskMarked { task, status } => {
                if status == "done" {
                    self.tasks_done.push(task.id.clone());
                } else {
                    self.tasks_failed.push(task.id.clone());
                }
            }
            Event::ReviewRequested { step, .. } => self.waiting_for_review = Some(step.clone()),
            Event::ReviewDecided { .. } => self.waiting_for_review = None,
            Event::StepRetrying { step, .. } => {
                if let Some(record) = self.steps.get_mut(step) {
                    record.retrying = true;
                }
            }
            Event::Resumed { .. } | Event::Forked { .. } => self.status = RunStatus::Running,
            Event::StepInterrupted { step, attempt } => {
                // The step runs again as the same attempt (and visit), started anew.
                if *attempt <= 1 {
                    if let Some(visits) = self.visits.get_mut(step) {
                        *visits = visits.saturating_sub(1);
                    }
                }
                if let Some(record) = self.steps.get_mut(step) {
                    record.attempts = record.attempts.saturating_sub(1);
                }
            }
            Event::Control { signal, by, at } => {
                use super::signal::Signal;
                let by = by.clone().unwrap_or_else(|| "someone".into());
                self.last_signal = Some(format!("{} by {by} at {at}", signal.describe()));
                match signal {
                    Signal::Pause | Signal::Interrupt => self.paused = Some(by),
                    Signal::Resume => self.paused = None,
                    Signal::Redirect { to } => self.redirect = Some(to.clone()),
                    Signal::Hint { text } => self
                        .pending_hints
                        .push(ralph_plugin_sdk::Hint { text: text.clone(), at: Some(at.clone()) }),
                    Signal::AddIterations { n } => self.added_iterations += n,
                    // The decision itself is the `review_decided` that follows.
                    Signal::Approve { .. } | Signal::Reject { .. } => {}
                }
            }
            Event::HintsDelivered { count, .. } => {
                let count = (*count).min(self.pending_hints.len());
                self.pending_hints.drain(..count);
            }
            Event::Committed { .. }
            | Event::ActionFinished { .. }
            | Event::Signal { .. }
            | Event::Plugin { .. }
            | Event::Waiting { .. } => {}
            // An agent's breaker names its agent in the reason; the loop's is what `breaker` shows.
            Event::Breaker { reason: Some(reason), .. } if reason.starts_with("agent `") => {}
            Event::Breaker { state, reason } => {
                self.breaker = Some(state.clone());
                self.breaker_reason.clone_from(reason);
            }
            Event::StepFinished { step, outcome, .. } => {
                let metrics = &outcome.evidence.metrics;
                self.tokens += metrics.total_tokens().unwrap_or(0);
                self.cost_usd += metrics.cost_usd.unwrap_or(0.0);
                // An interrupted step did not fail: a person stopped it, and it runs again.
                if !outcome.success && outcome.class != Some(FailureClass::Interrupted) {
                    *self.failures.entry(step.clone()).or_default() += 1;
                }
                if let Some(record) = self.steps.get_mut(step) {
                    let status = if outcome.success { StepStatus::Succeeded } else { StepStatus::Failed };
                    Self::set_status(&mut self.counts, record, status);
                    record.outcome = Some((**outcome).clone());
                }
            }
            Event::StepSkipped { step, reason } => {
                let record = StepRecord {
                    status: StepStatus::Skipped,
                    attempts: 0,
                    outcome: None,
                    skip_reason: Some(reason.clone()),
                    retrying: false,
                };
                if let Some(old) = self.steps.insert(step.clone(), record) {
                    self.counts[old.status as usize] -= 1;
                }
                self.counts[StepStatus::Skipped as usize] += 1;
            }
            Event::Transition { to, .. } => {
                self.redirect = None;
                self.current = Some(to.clone());
                self.after_transition = true;
            }
            Event::RunFinished { status, reason, class, .. } => {
                self.status = *status;
                self.reason = Some(reason.clone());
                self.end_class = *class;
            }
        }
    }

    /// How many steps stand at `status`.
    pub fn count(&self, status: StepStatus) -> usize {
        self.counts[status as usize]
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}
