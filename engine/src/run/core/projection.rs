//! A run's state: the projection of its journal. Everything the run decides from — the packet
//! context, node results, pending signals and hints, files changed, the halt and escalation,
//! completed tasks, spend and breakers — is here, and changes only by [`RunState::apply`].
//! The live run applies each event as it journals it; a resumed run applies its journal to a
//! fresh state and goes on. There is no other interpreter of events.
//!
//! The state of each iteration in flight is a [`Pass`]; today's loop runs one at a time, but
//! step events name their iteration, so several can be carried at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;
use ralph_plugin_sdk::{Failure, Hint, SignalRecord, Task, TestResults};
use serde::Serialize;

use super::event::{Event, Mark, RunStatus, TaskRef};
use super::ledger::{Ledger, LedgerRules, Moved};
use super::outcome::{FailureClass, Outcome};
use super::pace::PaceLog;
use super::signal::Signal;

/// How many failures a packet's `failure_history` carries: the most recent ones. A loop left
/// alone for hours can fail thousands of times; every packet (and prompt) carrying all of them
/// would grow without bound, and the planner needs the recent ones.
pub const FAILURE_HISTORY: usize = 50;

/// How the reason of the halt the circuit breaker's opening causes begins: an escalation that
/// succeeds lifts that halt, and no other.
pub const BREAKER_HALT: &str = "the circuit breaker opened";

/// How many ended iterations the state keeps beside the latest (their steps are history; the
/// journal has them).
const KEPT_PASSES: usize = 1;

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

/// One step's record in its pass (a state revisited keeps its latest visit's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Where it stands.
    pub status: StepStatus,
    /// Attempts started (of the current visit, for states).
    pub attempts: u32,
    /// The last outcome.
    pub outcome: Option<Outcome>,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// It failed and its retry policy will run it again.
    pub retrying: bool,
    /// The delay before that retry, in milliseconds.
    pub retry_delay_ms: u64,
    /// A person performs it (a human review), not an agent.
    pub human: bool,
}

impl StepRecord {
    fn new(status: StepStatus) -> StepRecord {
        StepRecord {
            status,
            attempts: 0,
            outcome: None,
            skip_reason: None,
            retrying: false,
            retry_delay_ms: 0,
            human: false,
        }
    }

    /// It ended for good: it will not run again in its visit.
    pub fn is_final(&self) -> bool {
        match self.status {
            StepStatus::Running => false,
            StepStatus::Skipped => !self.skip_reason.as_deref().is_some_and(|r| r.starts_with("cancelled")),
            StepStatus::Succeeded => true,
            StepStatus::Failed => {
                !self.retrying
                    && self.outcome.as_ref().and_then(|o| o.class) != Some(FailureClass::Interrupted)
            }
        }
    }
}

/// The commit of an iteration's work (`--commit`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum CommitState {
    /// Not asked for yet.
    None,
    /// Journaled as intended: it may or may not have been made.
    Intended {
        /// The commit `HEAD` was at.
        parent: Option<String>,
        /// Its message.
        message: String,
        /// The paths it commits.
        paths: Vec<String>,
    },
    /// Made.
    Made(String),
}

/// One iteration: one pass of the workflow, for one task when there is a task file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pass {
    /// The iteration, from 1.
    pub iteration: u32,
    /// The task it works on.
    pub task: Option<TaskRef>,
    /// The task as packets show it.
    pub detail: Option<Task>,
    /// Every step seen, in the order first seen.
    pub steps: IndexMap<String, StepRecord>,
    /// State machines: visits per state.
    pub visits: HashMap<String, u32>,
    /// Failed visits per state.
    pub failures: HashMap<String, u32>,
    /// State machines: the current state.
    pub current: Option<String>,
    /// State machines: the last move was a transition into `current`, whose visit has not
    /// begun (its `on_enter` is still to run).
    pub after_transition: bool,
    /// The hook actions that ran, with their outcomes — (step, hook, action, outcome) — for a
    /// state machine in the current visit: a resumed run does not run them again.
    pub hooks: Vec<(String, String, String, Outcome)>,
    /// The hints and signals each running step's packet carried: a step cut short (a crash, an
    /// interrupt) gives them back, so the attempt that runs again gets them.
    pub delivered: BTreeMap<String, (Vec<Hint>, Vec<SignalRecord>)>,
    /// The files its steps changed (as far as the run looked).
    pub files: BTreeSet<String>,
    /// How it ended; `stopped` is taken up again.
    pub end: Option<(RunStatus, String)>,
    /// How its task was marked.
    pub marked: Option<Mark>,
    /// Its commit.
    pub commit: CommitState,
    /// Agent process groups started and not known to have ended, with their steps.
    pub agents: BTreeMap<i32, String>,
    /// Who does its task's work, when its role, routing or an escalation chose (`task_routed`).
    pub route: Option<super::event::Route>,
    /// How many steps stand at each status, kept with every event so that progress displays
    /// need not count 10,000 steps per event.
    counts: [usize; 4],
}

impl Pass {
    fn new(iteration: u32) -> Pass {
        Pass {
            iteration,
            task: None,
            detail: None,
            steps: IndexMap::new(),
            visits: HashMap::new(),
            failures: HashMap::new(),
            current: None,
            after_transition: false,
            hooks: Vec::new(),
            delivered: BTreeMap::new(),
            files: BTreeSet::new(),
            end: None,
            marked: None,
            commit: CommitState::None,
            agents: BTreeMap::new(),
            route: None,
            counts: [0; 4],
        }
    }

    /// How many steps stand at `status`.
    pub fn count(&self, status: StepStatus) -> usize {
        self.counts[status as usize]
    }

    /// A step's record.
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.get(id)
    }

    /// The outcomes of `hook`'s actions that ran in the current visit, in order: a hook runs
    /// its actions in order up to the first that fails, so these are its first ones.
    pub fn hook_outcomes<'a>(
        &'a self,
        step: &'a str,
        hook: &'a str,
    ) -> impl Iterator<Item = &'a Outcome> + 'a {
        self.hooks.iter().filter(move |(s, h, _, _)| s == step && h == hook).map(|(_, _, _, o)| o)
    }

    /// How the pass ended, if it did. (A stopped pass of a run that is resumed after it ended
    /// is taken up again: its end is dropped then.)
    pub fn ended(&self) -> Option<&(RunStatus, String)> {
        self.end.as_ref()
    }

    /// A step's record, made with `status` (and counted) when it is new.
    fn record(&mut self, step: &str, status: StepStatus) -> &mut StepRecord {
        let counts = &mut self.counts;
        self.steps.entry(step.to_owned()).or_insert_with(|| {
            counts[status as usize] += 1;
            StepRecord::new(status)
        })
    }

    /// Moves a step to `status`, keeping the counts.
    fn set(&mut self, step: &str, status: StepStatus) {
        if let Some(record) = self.steps.get_mut(step) {
            self.counts[record.status as usize] -= 1;
            self.counts[status as usize] += 1;
            record.status = status;
        }
    }
}

/// The packet context that outlives iterations: what packets carry besides the step.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Context {
    /// Ids of the tasks done so far: the task file's at the iteration's start, and those the
    /// run marked done since, each once.
    pub completed_tasks: Vec<String>,
    /// The most recent failed attempts (at most [`FAILURE_HISTORY`]; the journal keeps all).
    pub failure_history: Vec<Failure>,
    /// Failed attempts so far per task id (the `attempt` of the next failure), counted here
    /// because the history above is cut.
    pub failures_per_task: HashMap<String, u32>,
    /// The last test counts a step reported.
    pub test_results: Option<TestResults>,
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
    /// When the run (or its latest resumption) began: `max_runtime` counts from here.
    pub started_at: String,
    /// The latest iteration started, from 1 (0 before the first).
    pub iteration: u32,
    /// The iterations in flight, and the latest ended ones.
    pub passes: BTreeMap<u32, Pass>,
    /// Every task an iteration was started for, in order.
    pub tried: Vec<String>,
    /// Ids of the tasks marked done in this run, in order.
    pub tasks_done: Vec<String>,
    /// Ids of the tasks marked failed in this run, in order.
    pub tasks_failed: Vec<String>,
    /// Iterations that ended unsuccessfully.
    pub iterations_failed: u32,
    /// The packet context.
    pub context: Context,
    /// The step waiting for a person, if any.
    pub waiting_for_review: Option<String>,
    /// The loop's circuit breaker's last announced state, for people.
    pub breaker: Option<String>,
    /// Why it opened.
    pub breaker_reason: Option<String>,
    /// Agent invocations so far.
    pub invocations: u64,
    /// Tokens the agents reported in this run.
    pub tokens: u64,
    /// What the agents reported spending in this run, in US dollars.
    pub cost_usd: f64,
    /// The project's spend and breakers: the ledger the run started from, with its events.
    pub ledger: Ledger,
    /// What the run's pace (velocity, ETA, drift, stalls) is computed from.
    pub pace: PaceLog,
    /// Paused (or pausing after the current step), and by whom.
    pub paused: Option<String>,
    /// Hints journaled and not yet delivered into a prompt, oldest first.
    pub pending_hints: Vec<Hint>,
    /// Control signals not yet listed in a packet, oldest first.
    pub since_packet: Vec<SignalRecord>,
    /// State machines: the state a person redirected the run to, not taken yet.
    pub redirect: Option<String>,
    /// What `add-iterations` added to `max_iterations`.
    pub added_iterations: u64,
    /// The last signal, for people.
    pub last_signal: Option<String>,
    /// The last control request refused because of who sent it (an agent), for people.
    pub last_refused: Option<String>,
    /// The run ends after the steps in flight: how, why, and the class that stopped it.
    pub halt: Option<(RunStatus, String, Option<FailureClass>)>,
    /// The breaker opened and an escalation is due, for this reason.
    pub escalation: Option<String>,
    /// The escalation ran since the breaker last closed (it runs once per opening).
    pub escalated: bool,
    /// The step that finished last: what an escalation is about.
    pub last_step: Option<String>,
    /// Task additions refused and not yet reported in a packet, oldest first.
    pub task_refusals: Vec<ralph_plugin_sdk::TaskRefusal>,
    /// Ids of the tasks added during this run, in order.
    pub tasks_added: Vec<String>,
    /// Iterations in a row whose task was not done (failed): what `escalation.trigger_after`
    /// counts. A done task sets it back to 0; a stopped iteration leaves it.
    pub no_progress: u32,
    /// Reviews that sent tasks back, by task id, oldest first.
    pub reviews: BTreeMap<String, Vec<ralph_plugin_sdk::Review>>,
    /// The work of each task an iteration of this run took (its files, commit, summary), for
    /// the packets of the evaluator tasks that review it.
    pub task_work: BTreeMap<String, ralph_plugin_sdk::ReviewedTask>,
    /// How the ledger is folded, and what the last event moved.
    #[serde(skip)]
    fold: Fold,
}

/// How a state's ledger is folded (the breaker's settings, steps' agents — the run's settings,
/// not its state) and the breakers the last applied event moved (for the runner to announce
/// and act on, then taken). Neither is part of what two states are compared by.
#[derive(Debug, Clone, Default)]
struct Fold {
    rules: std::sync::Arc<LedgerRules>,
    moved: Vec<Moved>,
}

impl PartialEq for Fold {
    fn eq(&self, _: &Fold) -> bool {
        true
    }
}

impl RunState {
    /// A run that has not started, whose ledger is folded without a breaker.
    pub fn new() -> Self {
        Self::with_rules(std::sync::Arc::new(LedgerRules::default()))
    }

    /// A run that has not started, folding its ledger with `rules`.
    pub fn with_rules(rules: std::sync::Arc<LedgerRules>) -> Self {
        RunState {
            run_id: String::new(),
            workflow: String::new(),
            status: RunStatus::Running,
            reason: None,
            end_class: None,
            started_at: String::new(),
            iteration: 0,
            passes: BTreeMap::new(),
            tried: Vec::new(),
            tasks_done: Vec::new(),
            tasks_failed: Vec::new(),
            iterations_failed: 0,
            context: Context::default(),
            waiting_for_review: None,
            breaker: None,
            breaker_reason: None,
            invocations: 0,
            pace: PaceLog::default(),
            tokens: 0,
            cost_usd: 0.0,
            ledger: Ledger::default(),
            paused: None,
            pending_hints: Vec::new(),
            since_packet: Vec::new(),
            redirect: None,
            added_iterations: 0,
            last_signal: None,
            last_refused: None,
            halt: None,
            escalation: None,
            escalated: false,
            last_step: None,
            task_refusals: Vec::new(),
            tasks_added: Vec::new(),
            no_progress: 0,
            reviews: BTreeMap::new(),
            task_work: BTreeMap::new(),
            fold: Fold { rules, moved: Vec::new() },
        }
    }

    /// The latest iteration's pass, if one began.
    pub fn pass(&self) -> Option<&Pass> {
        self.passes.get(&self.iteration)
    }

    /// How many steps of the latest pass stand at `status`.
    pub fn count(&self, status: StepStatus) -> usize {
        self.pass().map_or(0, |p| p.count(status))
    }

    /// The latest pass's current state (state machines).
    pub fn current(&self) -> Option<&str> {
        self.pass().and_then(|p| p.current.as_deref())
    }

    /// The task of the latest iteration.
    pub fn task(&self) -> Option<&TaskRef> {
        self.pass().and_then(|p| p.task.as_ref())
    }

    /// How its ledger is folded.
    pub fn rules(&self) -> std::sync::Arc<LedgerRules> {
        std::sync::Arc::clone(&self.fold.rules)
    }

    /// Whether `event` ends an iteration that changed something (a file, as far as the run
    /// looked): what the breaker's idle-iteration count is fed.
    pub fn changed_by(&self, event: &Event) -> bool {
        match event {
            Event::IterationFinished { iteration, files, .. } => {
                !files.is_empty() || self.passes.get(iteration).is_some_and(|p| !p.files.is_empty())
            }
            _ => false,
        }
    }

    /// The breakers the last applied event moved (taken: each is acted on once).
    pub fn take_moved(&mut self) -> Vec<Moved> {
        std::mem::take(&mut self.fold.moved)
    }

    fn pass_mut(&mut self, iteration: u32) -> &mut Pass {
        let iteration = if iteration == 0 { self.iteration } else { iteration };
        self.passes.entry(iteration).or_insert_with(|| Pass::new(iteration))
    }

    /// Hints and signals a step's packet carried go back, first, to the pending ones: the step
    /// was cut short, and the attempt that runs again gets them.
    fn give_back(&mut self, given: Option<(Vec<Hint>, Vec<SignalRecord>)>) {
        let Some((hints, signals)) = given else { return };
        self.pending_hints.splice(0..0, hints);
        self.since_packet.splice(0..0, signals);
    }

    /// The failure a finished step adds to the packets' history.
    fn remember_failure(&mut self, iteration: u32, step: &str, outcome: &Outcome) {
        if let Some(results) = &outcome.evidence.test_results {
            self.context.test_results = Some(*results);
        }
        if outcome.success || !outcome.class.is_none_or(FailureClass::is_the_steps_fault) {
            return;
        }
        let task = self.passes.get(&iteration).and_then(|p| p.task.as_ref()).map(|t| t.id.clone());
        let task = task.unwrap_or_default();
        let attempt = {
            let count = self.context.failures_per_task.entry(task.clone()).or_default();
            *count += 1;
            *count
        };
        let history = &mut self.context.failure_history;
        if history.len() >= FAILURE_HISTORY {
            history.drain(..=history.len() - FAILURE_HISTORY);
        }
        history.push(Failure {
            task,
            attempt,
            error: outcome.error.clone().unwrap_or_else(|| "failed".into()),
            step: Some(step.to_owned()),
            class: outcome.class.map(|c| c.as_str().to_owned()),
        });
    }

    /// The one place a run's state changes.
    pub fn apply(&mut self, event: &Event) {
        // The ledger folds first: an iteration's end is judged by what the pass changed.
        let changed = self.changed_by(event);
        self.fold.moved = self.ledger.apply(event, &self.fold.rules, changed);
        self.pace.apply(event);
        match event {
            Event::RunStarted { run_id, workflow, ledger, at, .. } => {
                self.run_id.clone_from(run_id);
                self.workflow.clone_from(workflow);
                self.status = RunStatus::Running;
                self.started_at.clone_from(at);
                if let Some(ledger) = ledger {
                    self.ledger = (**ledger).clone();
                }
            }
            Event::Resumed { ledger, at, .. } => {
                // A run that ended (stopped by a budget, the breaker, an agent that could not
                // work) and is resumed decides again: the budget may have been raised, the agent
                // logged in. A run that crashed goes on as it would have: its halt stands.
                if self.status != RunStatus::Running {
                    self.halt = None;
                    // Its stopped pass is taken up again (`stop`, a budget, a signal, the
                    // breaker: the task was neither done nor failed).
                    let latest = self.iteration;
                    if let Some(pass) = self.passes.get_mut(&latest) {
                        if pass.end.as_ref().is_some_and(|(status, _)| *status == RunStatus::Stopped) {
                            pass.end = None;
                        }
                    }
                }
                self.status = RunStatus::Running;
                self.reason = None;
                self.end_class = None;
                self.started_at.clone_from(at);
                if let Some(ledger) = ledger {
                    self.ledger = (**ledger).clone();
                }
            }
            Event::Forked { .. } => {
                self.status = RunStatus::Running;
                self.halt = None;
            }
            Event::IterationStarted { iteration, task, detail, completed, .. } => {
                self.iteration = *iteration;
                let mut pass = Pass::new(*iteration);
                pass.task.clone_from(task);
                pass.detail = detail.as_deref().cloned();
                self.passes.insert(*iteration, pass);
                if let Some(task) = task {
                    if !self.tried.contains(&task.id) {
                        self.tried.push(task.id.clone());
                    }
                }
                // The task file is the truth about what is done when an iteration begins
                // (an agent may have reopened a task); the run's own marks follow.
                if !completed.is_empty() {
                    self.context.completed_tasks.clone_from(completed);
                }
                // Ended passes are history: keep the latest few, never one in flight.
                while self.passes.len() > KEPT_PASSES + 1 {
                    let Some(oldest) = self
                        .passes
                        .iter()
                        .find(|(_, p)| p.ended().is_some() && p.marked.is_some())
                        .map(|(i, _)| *i)
                    else {
                        break;
                    };
                    if oldest == *iteration {
                        break;
                    }
                    self.passes.remove(&oldest);
                }
            }
            Event::IterationFinished { iteration, status, reason, files, .. } => {
                if *status != RunStatus::Succeeded && *status != RunStatus::Stopped {
                    self.iterations_failed += 1;
                }
                match status {
                    RunStatus::Succeeded => self.no_progress = 0,
                    RunStatus::Failed => self.no_progress += 1,
                    RunStatus::Running | RunStatus::Stopped => {}
                }
                let pass = self.pass_mut(*iteration);
                pass.end = Some((*status, reason.clone()));
                pass.files.extend(files.iter().cloned());
                if let Some(task) = pass.task.clone() {
                    let summary = pass
                        .steps
                        .values()
                        .rev()
                        .filter_map(|s| s.outcome.as_ref())
                        .find(|o| o.success && o.summary.is_some())
                        .and_then(|o| o.summary.clone());
                    let files: Vec<String> = pass.files.iter().cloned().collect();
                    let work = self.task_work.entry(task.id.clone()).or_default();
                    work.id = task.id;
                    work.title = task.title;
                    work.status = status.as_str().to_owned();
                    work.files = files;
                    work.summary = summary;
                    work.commit = None;
                }
            }
            Event::TaskMarked { task, status, iteration } => {
                match status {
                    Mark::Done => {
                        self.tasks_done.push(task.id.clone());
                        if !self.context.completed_tasks.contains(&task.id) {
                            self.context.completed_tasks.push(task.id.clone());
                        }
                    }
                    Mark::Failed => self.tasks_failed.push(task.id.clone()),
                    Mark::Reopened => {}
                }
                if let Some(work) = self.task_work.get_mut(&task.id) {
                    work.status = match status {
                        Mark::Done => "done",
                        Mark::Failed => "failed",
                        Mark::Reopened => "pending",
                    }
                    .to_owned();
                }
                self.pass_mut(*iteration).marked = Some(*status);
            }
            Event::CommitIntended { iteration, parent, message, paths, .. } => {
                self.pass_mut(*iteration).commit = CommitState::Intended {
                    parent: parent.clone(),
                    message: message.clone(),
                    paths: paths.clone(),
                };
            }
            Event::Committed { commit, iteration, task, .. } => {
                self.pass_mut(*iteration).commit = CommitState::Made(commit.clone());
                if let Some(work) = task.as_ref().and_then(|t| self.task_work.get_mut(&t.id)) {
                    work.commit = Some(commit.clone()).filter(|c| !c.is_empty());
                }
            }
            Event::StepStarted { step, attempt, iteration, human, .. } => {
                // `max_iterations` counts agent invocations: a person's review is none.
                if !human {
                    self.invocations += 1;
                }
                let pass = self.pass_mut(*iteration);
                // A retry is another attempt of the same visit.
                if *attempt <= 1 {
                    *pass.visits.entry(step.clone()).or_default() += 1;
                }
                let record = pass.record(step, StepStatus::Running);
                record.attempts = (*attempt).max(1);
                record.human = *human;
                record.retrying = false;
                record.skip_reason = None;
                record.outcome = None;
                pass.set(step, StepStatus::Running);
                pass.current = Some(step.clone());
                pass.after_transition = false;
            }
            Event::AgentStarted { step, pgid, iteration } => {
                self.pass_mut(*iteration).agents.insert(*pgid, step.clone());
            }
            Event::StepInterrupted { step, attempt, iteration } => {
                // The step runs again as the same attempt (and visit), started anew: the cut-short
                // invocation does not count against `max_iterations` either.
                let pass = self.pass_mut(*iteration);
                let human = pass.steps.get(step).is_some_and(|r| r.human);
                if !human {
                    self.invocations = self.invocations.saturating_sub(1);
                }
                let pass = self.pass_mut(*iteration);
                if *attempt <= 1 {
                    if let Some(visits) = pass.visits.get_mut(step) {
                        *visits = visits.saturating_sub(1);
                    }
                }
                pass.agents.retain(|_, s| s != step);
                let given = pass.delivered.remove(step);
                self.give_back(given);
            }
            Event::StepFinished { step, outcome, iteration, .. } => {
                let metrics = &outcome.evidence.metrics;
                self.tokens += metrics.total_tokens().unwrap_or(0);
                self.cost_usd += metrics.cost_usd.unwrap_or(0.0);
                let iteration = if *iteration == 0 { self.iteration } else { *iteration };
                self.remember_failure(iteration, step, outcome);
                self.last_step = Some(step.clone());
                // A review ends with its step, whoever (or whatever) decided it.
                if self.waiting_for_review.as_deref() == Some(step.as_str()) {
                    self.waiting_for_review = None;
                }
                let pass = self.pass_mut(iteration);
                // An interrupted step did not fail: a person stopped it, and it runs again.
                if !outcome.success && outcome.class != Some(FailureClass::Interrupted) {
                    *pass.failures.entry(step.clone()).or_default() += 1;
                }
                pass.files.extend(outcome.evidence.files_changed.iter().cloned());
                pass.agents.retain(|_, s| s != step);
                let given = pass.delivered.remove(step);
                let status = if outcome.success { StepStatus::Succeeded } else { StepStatus::Failed };
                pass.record(step, status).outcome = Some((**outcome).clone());
                pass.set(step, status);
                // A person stopped it: what its packet carried goes to the attempt that runs again.
                if outcome.class == Some(FailureClass::Interrupted) {
                    self.give_back(given);
                }
            }
            Event::StepRetrying { step, iteration, delay_ms, .. } => {
                if let Some(record) = self.pass_mut(*iteration).steps.get_mut(step) {
                    record.retrying = true;
                    record.retry_delay_ms = *delay_ms;
                }
            }
            Event::StepSkipped { step, reason, iteration } => {
                let pass = self.pass_mut(*iteration);
                let mut record =
                    StepRecord { skip_reason: Some(reason.clone()), ..StepRecord::new(StepStatus::Skipped) };
                // A retry the budget held back, cancelled when the pass stopped, is still that
                // retry: a resumed run starts it as the attempt it was, not as a first one.
                if let Some(old) =
                    pass.steps.get(step).filter(|old| old.retrying && reason.starts_with("cancelled"))
                {
                    record.attempts = old.attempts;
                    record.retrying = true;
                    record.retry_delay_ms = old.retry_delay_ms;
                    record.outcome.clone_from(&old.outcome);
                }
                if let Some(old) = pass.steps.insert(step.clone(), record) {
                    pass.counts[old.status as usize] -= 1;
                }
                pass.counts[StepStatus::Skipped as usize] += 1;
            }
            Event::ActionFinished { step, hook, action, outcome, iteration, .. } => {
                let pass = self.pass_mut(*iteration);
                pass.files.extend(outcome.evidence.files_changed.iter().cloned());
                pass.hooks.push((step.clone(), hook.clone(), action.clone(), (**outcome).clone()));
            }
            Event::Transition { to, iteration, .. } => {
                self.redirect = None;
                let pass = self.pass_mut(*iteration);
                pass.current = Some(to.clone());
                pass.after_transition = true;
                pass.hooks.clear();
            }
            Event::ReviewRequested { step, .. } => self.waiting_for_review = Some(step.clone()),
            Event::ReviewDecided { .. } => self.waiting_for_review = None,
            Event::ControlRefused { signal, by, pid, from_step, at, .. } => {
                let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                let step = from_step.as_ref().map(|s| format!(", an agent of `{s}`")).unwrap_or_default();
                self.last_refused = Some(format!("{} from {by}{pid}{step} at {at}", signal.describe()));
            }
            Event::Control { signal, by, display_name, at } => {
                let who = super::signal::sender(by.as_deref(), display_name.as_deref());
                self.last_signal = Some(format!("{} by {who} at {at}", signal.describe()));
                self.since_packet.push(signal.record(by.as_ref().map(|_| who.as_str()), at));
                match signal {
                    Signal::Pause | Signal::Interrupt => self.paused = Some(who),
                    Signal::Resume => self.paused = None,
                    Signal::Redirect { to } => self.redirect = Some(to.clone()),
                    Signal::Hint { text } => {
                        self.pending_hints.push(Hint { text: text.clone(), at: Some(at.clone()) });
                    }
                    Signal::AddIterations { n } => self.added_iterations += n,
                    // The decision itself is the `review_decided` that follows; an added task is
                    // `task_added` (never journaled as a signal).
                    Signal::Approve { .. } | Signal::Reject { .. } | Signal::AddTask { .. } => {}
                }
            }
            Event::HintsDelivered { step, count, signals, refusals } => {
                let refusals = (*refusals).min(self.task_refusals.len());
                self.task_refusals.drain(..refusals);
                let count = (*count).min(self.pending_hints.len());
                let hints: Vec<Hint> = self.pending_hints.drain(..count).collect();
                let signals = (*signals).min(self.since_packet.len());
                let signals: Vec<SignalRecord> = self.since_packet.drain(..signals).collect();
                let iteration = self.iteration;
                self.pass_mut(iteration).delivered.insert(step.clone(), (hints, signals));
            }
            Event::Breaker { state, reason, agent: None, .. } => {
                // An agent's breaker names its agent in the reason in older journals.
                if !reason.as_deref().is_some_and(|r| r.starts_with("agent `")) {
                    self.breaker = Some(state.clone());
                    self.breaker_reason.clone_from(reason);
                    if state == "closed" {
                        self.escalated = false;
                    }
                }
            }
            Event::Breaker { .. } => {}
            Event::Halt { status, reason, class } => {
                // The first halt stands: later ones come from the steps still finishing.
                if self.halt.is_none() {
                    self.halt = Some((*status, reason.clone(), *class));
                }
            }
            Event::Escalating { reason } => self.escalation = Some(reason.clone()),
            Event::Escalated { succeeded, .. } => {
                self.escalation = None;
                self.escalated = true;
                // The breaker's halt is lifted: the next step is the probe. Any other halt stands.
                if *succeeded && self.halt.as_ref().is_some_and(|h| h.1.starts_with(BREAKER_HALT)) {
                    self.halt = None;
                }
            }
            Event::RunFinished { status, reason, class, .. } => {
                self.status = *status;
                self.reason = Some(reason.clone());
                self.end_class = *class;
            }
            Event::Signal { .. }
            | Event::Plugin { .. }
            | Event::PluginCalled { .. }
            | Event::Waiting { .. }
            | Event::Warning { .. }
            | Event::Notification { .. }
            // What was learnt is the project's (`.ralph/learnings.json`), not the run's state.
            | Event::LearningReported { .. } => {}
            Event::TaskAdded { task, .. } => self.tasks_added.push(task.id.clone()),
            Event::TaskRefused { task, reason, step, .. } => {
                self.task_refusals.push(ralph_plugin_sdk::TaskRefusal {
                    task: task.clone(),
                    reason: reason.clone(),
                    step: step.clone(),
                });
            }
            Event::TaskRouted(route) => self.pass_mut(route.iteration).route = Some((**route).clone()),
            Event::TaskSentBack { task, by, review, .. } => {
                self.reviews
                    .entry(task.id.clone())
                    .or_default()
                    .push(ralph_plugin_sdk::Review { by: by.clone(), text: review.clone() });
                // Both are tried again in this run: the task with the review, then the
                // evaluator on the new work.
                self.tried.retain(|t| t != &task.id && t != by);
                self.tasks_done.retain(|t| t != &task.id);
                self.context.completed_tasks.retain(|t| t != &task.id);
            }
        }
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}
