//! The Ralph loop: iterations over the project's tasks.
//!
//! **An iteration** is one pass of the workflow for one task: the state machine from its
//! initial state to a terminal state (or `stop`), the DAG until every node has ended, the saga
//! to its end or its compensation. Before it, the task file is read again (agents may have
//! edited it) and the first task of the scheduler's queue (`task::schedule`) is marked
//! `in_progress`; after it, the task is marked `done` when the pass succeeded and `failed` (with
//! the reason) when it did not, with `last_attempt_at` and `failed_attempts` in JSON files, and with
//! `--commit` the work is committed as `{task_id}: {task_title}`.
//!
//! The loop is driven by the state: each turn does what the latest pass still needs — run (the
//! rest of) it, mark its task, commit its work — or begins the next iteration. A resumed run
//! takes up exactly where its journal ends, with no path of its own.
//!
//! The loop ends when no task is ready, when `max_iterations` agent invocations have been
//! made in total (the task stays `in_progress` and is taken up first next time), on SIGINT or
//! SIGTERM (likewise), or when an agent cannot work here (the task is put back as it was).
//! With no task file the workflow runs once, as one iteration.

use std::path::PathBuf;

use super::commit::{self, TaskWork};
use super::core::event::{Event, Mark, RunStatus, TaskRef};
use super::core::outcome::FailureClass;
use super::core::projection::{CommitState, RunState};
use super::runner::Runner;
use crate::git::Snapshot;
use crate::task::{TaskFile, TaskStatus};
use crate::workflow::model::WorkflowKind;

/// Where tasks come from and what to do with finished ones.
#[derive(Debug)]
pub struct TaskLoop {
    /// The task file.
    pub file: TaskFile,
    /// Commit each finished task with this message template (`--commit`).
    pub commit: Option<String>,
}

/// How the run ends: its status, why, and the failure class that stopped it.
type End = (RunStatus, String, Option<FailureClass>);

impl Runner {
    /// The signal that stops the run, once the CLI has seen one.
    fn cancelled(&self) -> Option<String> {
        self.options.cancel.as_ref().and_then(|c| c.borrow().clone())
    }

    /// Waits for the CLI to see SIGINT or SIGTERM (forever when nobody watches).
    async fn until_cancelled(cancel: Option<super::runner::Cancel>) -> String {
        let Some(mut cancel) = cancel else { return std::future::pending().await };
        let seen = cancel.wait_for(Option::is_some).await.map(|signal| signal.clone().unwrap_or_default());
        match seen {
            Ok(signal) => signal,
            // Nobody will send one any more.
            Err(_) => std::future::pending().await,
        }
    }

    /// Journals the start of iteration `iteration`, whose work tree looked like `start` when
    /// it began (kept in the run's directory too, for a resumed run); a plugin's veto ends it
    /// at once.
    pub(super) fn begin_iteration(
        &mut self,
        iteration: u32,
        task: Option<(TaskRef, ralph_plugin_sdk::Task)>,
        completed: Vec<String>,
        start: Option<Snapshot>,
    ) {
        let (task, detail) = match task {
            Some((task, detail)) => (Some(task), Some(Box::new(detail))),
            None => (None, None),
        };
        if let Some(start) = &start {
            let kept = serde_json::to_vec(start).map_err(std::io::Error::other).and_then(|bytes| {
                crate::atomic_file::write(
                    &self.run_dir.join(format!("iteration-{iteration}.start.json")),
                    bytes,
                )
            });
            if let Err(e) = kept {
                self.notice(format!(
                    "the work tree at the start of iteration {iteration} could not be kept: {e}"
                ));
            }
        }
        self.iteration_start = start;
        let at = self.now();
        self.emit(&Event::IterationStarted { iteration, task, detail, completed, at });
        if let Some(reason) = self.plugins_on_iteration() {
            let at = self.now();
            self.emit(&Event::IterationFinished {
                iteration,
                status: RunStatus::Stopped,
                reason,
                files: Vec::new(),
                at,
            });
        }
    }

    /// Whether the files an iteration changed are looked at when it ends: for `--commit`, and
    /// for the breaker's count of iterations that changed nothing.
    fn wants_iteration_files(&self) -> bool {
        self.commits() || self.breaker.as_ref().is_some_and(|b| b.no_progress_iterations.is_some())
    }

    /// Runs (the rest of) the latest pass and journals how it ended; SIGINT or SIGTERM cuts it
    /// short (the running agents are killed with their process groups: dropping a step kills
    /// its group) and the pass ends `stopped`.
    pub(super) async fn run_pass(&mut self) -> End {
        let iteration = self.state.iteration;
        let cancel = self.options.cancel.clone();
        // A role with a workflow of its own runs this pass in it.
        let role = self.enter_role_workflow();
        let ended = {
            let pass = async {
                match self.plan.kind {
                    WorkflowKind::Dag => self.run_dag().await,
                    WorkflowKind::StateMachine => self.run_state_machine().await,
                    WorkflowKind::Saga => self.run_saga().await,
                }
            };
            tokio::select! {
                ended = pass => Ok(ended),
                signal = Self::until_cancelled(cancel) => Err(signal),
            }
        };
        self.drain_signals();
        self.leave_role_workflow(role);
        let (status, reason) = match ended {
            Ok(ended) => ended,
            Err(signal) => (RunStatus::Stopped, format!("interrupted by {signal}")),
        };
        let files = self.iteration_files().await;
        let at = self.now();
        self.emit(&Event::IterationFinished { iteration, status, reason: reason.clone(), files, at });
        self.notify_iteration(iteration, status, &reason);
        (status, reason, self.halt_class())
    }

    /// The work tree when the latest iteration began: kept in memory, else in the run's
    /// directory (a resumed run), else the run's start.
    fn iteration_start(&mut self) -> Option<Snapshot> {
        if self.iteration_start.is_none() {
            let path = self.run_dir.join(format!("iteration-{}.start.json", self.state.iteration));
            self.iteration_start = std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        }
        self.iteration_start.clone().or_else(|| self.run_start.clone())
    }

    /// A look at the work tree now, for an iteration's files and its commit (never an earlier
    /// look: the engine itself wrote the task file since).
    async fn look_now(&mut self) -> Option<Snapshot> {
        self.last_look = None;
        self.look().await
    }

    /// The files the latest pass changed, when the run looks (see `wants_iteration_files`).
    async fn iteration_files(&mut self) -> Vec<String> {
        if !self.wants_iteration_files() {
            return Vec::new();
        }
        let (Some(tree), Some(start)) = (self.tree.clone(), self.iteration_start()) else {
            return Vec::new();
        };
        let Some(now) = self.look_now().await else { return Vec::new() };
        tree.changed(&start, &now).await.unwrap_or_default()
    }

    /// Runs the workflow once (no task file), stopping cleanly on a signal.
    pub async fn run_once(mut self) -> RunState {
        if let Err(e) = self.begin().await {
            return self.refused(&e);
        }
        let (status, reason, class) = loop {
            match self.state.pass().map(|p| p.ended().cloned()) {
                None => {
                    if let Some(halt) = self.halted() {
                        break (halt.0, halt.1, self.halt_class());
                    }
                    if let Some(signal) = self.cancelled() {
                        break (RunStatus::Stopped, format!("interrupted by {signal}"), None);
                    }
                    let start = if self.wants_iteration_files() { self.look_now().await } else { None };
                    self.begin_iteration(1, None, Vec::new(), start);
                    self.settle().await;
                }
                Some(None) => {
                    let end = self.run_pass().await;
                    if end.0 == RunStatus::Stopped {
                        break end;
                    }
                }
                Some(Some((status, reason))) => break (status, reason, None),
            }
        };
        self.end(status, reason, class).await;
        self.into_state()
    }

    /// Runs the Ralph loop over a task file.
    pub async fn run_tasks(mut self, mut tasks: TaskLoop) -> RunState {
        if let Err(e) = self.begin().await {
            return self.refused(&e);
        }
        // What a killed loop may have left half-written next to the task file goes.
        crate::atomic_file::remove_stale_temps(tasks.file.path());
        let (status, reason, class) = loop {
            // Between iterations: signals are taken, and a paused loop waits.
            self.checkpoint(None).await;
            if self.state.escalation.is_some() {
                self.escalate().await;
            }
            if let Some(signal) = self.cancelled() {
                let task = self.state.task().map(|t| format!(" in task {}", t.id)).unwrap_or_default();
                break (RunStatus::Stopped, format!("interrupted by {signal}{task}"), None);
            }
            match self.next_for_latest_pass(&mut tasks).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(end) => break end,
            }
            // The latest pass is closed: the next iteration, if there is one.
            if let Some(halt) = self.halted() {
                break (halt.0, halt.1, self.halt_class());
            }
            if let Err(reason) = self.repair_task_file(&mut tasks) {
                break (RunStatus::Failed, reason, None);
            }
            if self.budget_spent() {
                break (
                    RunStatus::Stopped,
                    format!("max_iterations ({}) reached", self.max_invocations()),
                    None,
                );
            }
            // A task is tried once per run: if an agent reopened it, the next run takes it up.
            let tried = self.state.tried.iter().cloned().collect();
            // The scheduler's queue at the run's clock (see `task::schedule`).
            let Some(task) = tasks.file.next_ready_at(&tried, self.clock.now()).cloned() else {
                let (status, reason) = self.no_task_ready(&tasks.file);
                break (status, reason, None);
            };
            self.picked_from = Some(task.status);
            // The work tree is looked at before the task file says `in_progress`: the task's
            // own marks are part of its work, committed with it.
            let start = if self.wants_iteration_files() { self.look_now().await } else { None };
            let task_ref = TaskRef { id: task.id.clone(), title: task.title.clone() };
            let detail = tasks.file.packet_task(&task);
            let completed = tasks.file.completed_ids();
            let iteration = self.state.iteration + 1;
            self.begin_iteration(iteration, Some((task_ref, detail)), completed, start);
            // The iteration is durable before the task file or the work tree changes: a loop
            // killed from here on is resumed in this iteration, with the look at its start —
            // never taken up again as a new one that finds its own work already there.
            self.settle().await;
            if self.state.pass().is_some_and(|p| p.ended().is_none()) {
                // Boxed: the pause it may take is a large future, and this loop's is kept small.
                Box::pin(self.route_iteration(&task)).await;
                if let Err(e) = tasks.file.mark(&task.id, TaskStatus::InProgress, None) {
                    break (
                        RunStatus::Failed,
                        format!("cannot mark task {} in progress: {e}", task.id),
                        None,
                    );
                }
            }
        };
        self.end(status, reason, class).await;
        self.into_state()
    }

    /// Does what the latest pass still needs: run it, mark its task, commit its work. `Ok(true)`
    /// when it did something (the loop looks again), `Ok(false)` when the pass is closed (or
    /// there is none), `Err` when the run ends.
    async fn next_for_latest_pass(&mut self, tasks: &mut TaskLoop) -> Result<bool, End> {
        let Some(pass) = self.state.pass() else { return Ok(false) };
        let Some(task) = pass.task.clone() else { return Ok(false) };
        let (ended, marked, commit) = (pass.ended().cloned(), pass.marked, pass.commit.clone());
        let Some((status, reason)) = ended else {
            // A halted run still ends its pass (its executor stops at once): the pass's end is
            // journaled before the run's.
            let (status, reason, class) = self.run_pass().await;
            if class == Some(FailureClass::Environment) {
                // Not the task's fault: it is put back as it was, and nothing is retried.
                self.reopen(tasks, &task);
                return Err((status, reason, class));
            }
            if status == RunStatus::Stopped {
                // `stop`, max_iterations, a budget, the breaker, a signal: the task was neither
                // done nor failed.
                return Err((status, format!("task {}: {reason}", task.id), class));
            }
            return Ok(true);
        };
        if status == RunStatus::Stopped {
            // The run ends with its stopped pass (a crash came between the two).
            return Err((status, format!("task {}: {reason}", task.id), self.halt_class()));
        }
        let mark = if status == RunStatus::Succeeded { Mark::Done } else { Mark::Failed };
        if marked.is_none() {
            // The iteration's end is durable before the task file says so.
            self.settle().await;
            // What the agent wrote into the task file must load before its task is marked in it.
            if let Err(reason) = self.repair_task_file(tasks) {
                return Err((RunStatus::Failed, reason, None));
            }
            // An evaluator that sent work back is reopened with it, not marked done.
            if status == RunStatus::Succeeded && self.send_back(tasks, &task) {
                return Ok(true);
            }
            let (file_status, note) = match mark {
                Mark::Done => (TaskStatus::Done, None),
                _ => (TaskStatus::Failed, Some(reason.as_str())),
            };
            // The attempt is recorded with the mark (`last_attempt_at`, `failed_attempts`): the
            // scheduler backs a failing task off by them once a person reopens it.
            let at = self.now();
            if let Err(e) = tasks.file.mark_attempt(&task.id, file_status, note, &at) {
                let reason = format!("cannot mark task {} {}: {e}", task.id, mark.as_str());
                return Err((RunStatus::Failed, reason, None));
            }
            let iteration = self.state.iteration;
            self.emit(&Event::TaskMarked { task, status: mark, iteration });
            return Ok(true);
        }
        if mark == Mark::Done && self.commits() && !matches!(commit, CommitState::Made(_)) {
            let template = tasks.commit.clone().unwrap_or_else(|| commit::DEFAULT_MESSAGE.into());
            return match self.commit_pass(&task, &template).await {
                Ok(made) => Ok(made),
                Err((reason, class)) => Err((RunStatus::Stopped, reason, class)),
            };
        }
        Ok(false)
    }

    /// Commits the latest pass's work, exactly once: the intent is durable before the commit is
    /// made and the commit is durable before anything else happens, so a run killed in between
    /// finds out whether it was made instead of making it twice. `Ok(true)` when it journaled
    /// something.
    async fn commit_pass(
        &mut self,
        task: &TaskRef,
        template: &str,
    ) -> Result<bool, (String, Option<FailureClass>)> {
        let Some(tree) = self.tree.clone() else { return Ok(false) };
        let iteration = self.state.iteration;
        let failed = |what: String| {
            (
                format!(
                    "task {} is done but {what}; `ralph-loop resume` commits it once that is fixed",
                    task.id
                ),
                Some(FailureClass::Environment),
            )
        };
        let intended = match self.state.pass().map(|p| p.commit.clone()) {
            Some(CommitState::Intended { parent, message, paths }) => Some((parent, message, paths)),
            _ => None,
        };
        let (work, message) = match intended {
            Some((parent, message, paths)) => {
                // The run was killed after it meant to commit: the commit may be made already.
                match tree.find_made(parent.as_deref(), &message).await {
                    Ok(Some(commit)) => {
                        if let Some(warning) =
                            tree.index_follows(&commit, paths.iter().map(String::as_str)).await
                        {
                            self.warn(warning);
                        }
                        self.emit(&Event::Committed { task: Some(task.clone()), commit, message, iteration });
                        self.settle().await;
                        return Ok(true);
                    }
                    Ok(None) => (TaskWork { paths, left_out: Vec::new(), parent }, message),
                    Err(e) => return Err(failed(format!("git cannot tell whether it was committed: {e}"))),
                }
            }
            None => {
                let message =
                    commit::message(template, &task.id, &task.title, iteration, &self.options.workflow);
                let Some(start) = self.iteration_start() else { return Ok(false) };
                let Some(now) = self.look_now().await else {
                    return Err(failed("git cannot tell what it changed".into()));
                };
                let work = commit::task_work(&tree, &start, &now).await.map_err(|e| failed(e.to_string()))?;
                if let Some(warning) = work.warning() {
                    self.warn(warning);
                }
                if work.paths.is_empty() {
                    return Ok(false);
                }
                // Durable before the commit is made: a kill in between finds out, not commits twice.
                self.emit(&Event::CommitIntended {
                    iteration,
                    task: Some(task.clone()),
                    parent: work.parent.clone(),
                    message: message.clone(),
                    paths: work.paths.clone(),
                });
                self.settle().await;
                (work, message)
            }
        };
        match commit::commit_task(&tree, &self.run_dir, &work, &message).await {
            Ok(made) => {
                // Nothing to commit after all (the paths went back as they were) closes it too.
                let (commit, warning) = made.map(|m| (m.commit, m.index_warning)).unwrap_or_default();
                self.emit(&Event::Committed { task: Some(task.clone()), commit, message, iteration });
                if let Some(warning) = warning {
                    self.warn(warning);
                }
                // The commit is durable before anything else happens.
                self.settle().await;
                Ok(true)
            }
            Err(e) => {
                let class = e.is_environment().then_some(FailureClass::Environment);
                Err((
                    format!(
                        "task {} is done but its commit failed: {e}; `ralph-loop resume` commits it once that is fixed",
                        task.id
                    ),
                    class,
                ))
            }
        }
    }

    /// An agent could not work here: the task goes back to the status it had before the
    /// iteration took it.
    fn reopen(&mut self, tasks: &mut TaskLoop, task: &TaskRef) {
        let before = self.picked_from.take().unwrap_or(TaskStatus::Pending);
        let before = if before == TaskStatus::InProgress { TaskStatus::Pending } else { before };
        if tasks.file.mark(&task.id, before, None).is_ok() {
            let iteration = self.state.iteration;
            self.emit(&Event::TaskMarked { task: task.clone(), status: Mark::Reopened, iteration });
        }
    }

    /// A run that could not be recorded: it did not start.
    pub(super) fn refused(mut self, e: &super::runner::RunError) -> RunState {
        self.state.status = RunStatus::Failed;
        self.state.reason = Some(format!("the run could not be recorded: {e}"));
        if e.is_environment() {
            self.state.end_class = Some(FailureClass::Environment);
        }
        self.into_state()
    }

    /// How the loop ends when no task is ready: succeeded if none failed in this run.
    fn no_task_ready(&self, file: &TaskFile) -> (RunStatus, String) {
        let state = self.state();
        let open = file.tasks().iter().filter(|t| t.status.is_open()).count();
        let waiting = if open > 0 { format!("; {open} open task(s) wait on others") } else { String::new() };
        if !state.tasks_failed.is_empty() {
            (
                RunStatus::Failed,
                format!(
                    "no task is ready: {} done, {} failed ({}){waiting}",
                    state.tasks_done.len(),
                    state.tasks_failed.len(),
                    state.tasks_failed.join(", ")
                ),
            )
        } else if state.iteration == 0 {
            // A list of plain bullets reads as a to-do list to a person: say why none is a task.
            let unboxed = match file.unboxed() {
                [] => String::new(),
                [(line, text), rest @ ..] => format!(
                    "; {} list item(s) have no checkbox and are not tasks (line {line}: `{text}`{}): write each as `- [ ] …`",
                    rest.len() + 1,
                    if rest.is_empty() { String::new() } else { ", …".to_owned() }
                ),
            };
            (
                RunStatus::Succeeded,
                format!("no task is ready in `{}`{waiting}{unboxed}", file.path().display()),
            )
        } else {
            (RunStatus::Succeeded, format!("no task is ready: {} done{waiting}", state.tasks_done.len()))
        }
    }
}

/// The task file of a run: `--tasks`, else `loop.tasks`, else the first of `tasks.json`,
/// `kanban.json`, `TODO.md` in the project directory; none is fine (the workflow runs once).
pub fn find(
    explicit: Option<PathBuf>,
    configured: Option<PathBuf>,
    project_dir: &std::path::Path,
) -> Result<Option<TaskFile>, crate::task::TaskError> {
    match explicit.or(configured) {
        Some(path) => TaskFile::open(&path).map(Some),
        None => TaskFile::discover(project_dir),
    }
}
