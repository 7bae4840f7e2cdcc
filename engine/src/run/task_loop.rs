//! The Ralph loop: iterations over the project's tasks.
//!
//! **An iteration** is one pass of the workflow for one task: the state machine from its
//! initial state to a terminal state (or `stop`), the DAG until every node has ended, the saga
//! to its end or its compensation. Before it, the task file is read again (agents may have
//! edited it) and the next ready task is marked `in_progress`; after it, the task is marked
//! `done` when the pass succeeded and `failed` (with the reason) when it did not, and with
//! `--commit` the work is committed as `{task_id}: {task_title}`.
//!
//! The loop ends when no task is ready, when `max_iterations` agent invocations have been
//! made in total (the task stays `in_progress` and is taken up first next time), or on
//! SIGINT/SIGTERM (likewise). With no task file the workflow runs once, as one iteration.

use std::collections::HashSet;
use std::path::PathBuf;

use super::commit;
use super::core::event::{Event, RunStatus, TaskRef};
use super::core::projection::RunState;
use super::runner::Runner;
use crate::task::{TaskFile, TaskStatus};

/// Where tasks come from and what to do with finished ones.
#[derive(Debug)]
pub struct TaskLoop {
    /// The task file.
    pub file: TaskFile,
    /// Commit each finished task with this message template (`--commit`).
    pub commit: Option<String>,
}

/// Waits for SIGINT or SIGTERM and names it.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

impl Runner {
    /// One iteration that a signal can cut short: the running agents are killed with their
    /// process groups (dropping a step kills its group), and the pass ends `stopped`.
    async fn iteration_or_signal(
        &mut self,
        iteration: u32,
        task: Option<ralph_plugin_sdk::Task>,
        resumed: bool,
    ) -> Result<(RunStatus, String), &'static str> {
        let signal = {
            let pass = self.run_iteration(iteration, task, resumed);
            tokio::select! {
                ended = pass => return Ok(ended),
                signal = interrupted() => signal,
            }
        };
        let reason = format!("interrupted by {signal}");
        self.emit(&Event::IterationFinished {
            iteration,
            status: RunStatus::Stopped,
            reason,
            at: super::core::event::now(),
        });
        Err(signal)
    }

    /// Runs the workflow once (no task file), stopping cleanly on a signal.
    pub async fn run_once(mut self) -> RunState {
        if let Err(e) = self.begin() {
            return self.refused(&e);
        }
        let resumed = self.resumed.take().filter(|p| p.iteration > 0);
        let ended = resumed.as_ref().and_then(|p| p.iteration_end.clone());
        let (status, reason) = match ended {
            // Only the run's end is missing from the journal.
            Some(end) => end,
            // A plugin vetoed the run at its start.
            None if self.halt.is_some() => self.halt.clone().unwrap_or((RunStatus::Stopped, String::new())),
            None => match self.iteration_or_signal(1, None, resumed.is_some()).await {
                Ok(ended) => ended,
                Err(signal) => (RunStatus::Stopped, format!("interrupted by {signal}")),
            },
        };
        let changed = self.iteration_changed_files;
        self.iteration_ended(status == RunStatus::Succeeded, changed);
        self.end(status, reason).await;
        self.into_state()
    }

    /// Runs the Ralph loop over a task file.
    pub async fn run_tasks(mut self, mut tasks: TaskLoop) -> RunState {
        if let Err(e) = self.begin() {
            return self.refused(&e);
        }
        for id in tasks.file.completed_ids() {
            self.task_done(&id);
        }
        // A resumed run goes on with the iteration its journal ends in.
        let resumed = self.resumed.take();
        let mut tried: HashSet<String> =
            resumed.as_ref().map(|p| p.tried.iter().cloned().collect()).unwrap_or_default();
        let mut iteration = resumed.as_ref().map_or(0, |p| p.iteration);
        let mut carried = resumed.filter(|p| p.task.is_some());
        let (status, reason) = loop {
            // Between iterations: signals are taken, and a paused loop waits.
            self.checkpoint().await;
            if self.escalation.is_some() {
                self.escalate().await;
            }
            if let Some(halt) = self.halt.clone() {
                break halt;
            }
            if let Err(e) = tasks.file.reload() {
                break (RunStatus::Failed, format!("the task file cannot be read: {e}"));
            }
            let (task, ended, marked, committed) = match carried.take() {
                Some(point) => {
                    let Some(task_ref) = point.task else { continue };
                    let Some(task) = tasks.file.tasks().iter().find(|t| t.id == task_ref.id).cloned() else {
                        break (
                            RunStatus::Failed,
                            format!(
                                "task {} of the resumed iteration is no longer in the task file",
                                task_ref.id
                            ),
                        );
                    };
                    (task, point.iteration_end, point.marked, point.committed)
                }
                None => {
                    if self.state().invocations >= self.max_invocations() {
                        break (
                            RunStatus::Stopped,
                            format!("max_iterations ({}) reached", self.max_invocations()),
                        );
                    }
                    // A task is tried once per run: if an agent reopened it, the next run takes it up.
                    let Some(task) = tasks.file.next_ready(&tried).cloned() else {
                        break self.no_task_ready(&tasks.file);
                    };
                    tried.insert(task.id.clone());
                    iteration += 1;
                    if let Err(e) = tasks.file.mark(&task.id, TaskStatus::InProgress, None) {
                        break (RunStatus::Failed, format!("cannot mark task {} in progress: {e}", task.id));
                    }
                    (task, None, false, false)
                }
            };
            let task_ref = TaskRef { id: task.id.clone(), title: task.title.clone() };
            let (status, reason) = match ended {
                Some(ended) => ended,
                None => {
                    let packet_task = tasks.file.packet_task(&task);
                    // The journal has started this iteration: a resumed run goes on with it.
                    let resumed = self.state().iteration == iteration;
                    match self.iteration_or_signal(iteration, Some(packet_task), resumed).await {
                        Ok(ended) => ended,
                        Err(signal) => {
                            break (
                                RunStatus::Stopped,
                                format!("interrupted by {signal} in task {}", task.id),
                            );
                        }
                    }
                }
            };
            if status == RunStatus::Stopped {
                // `stop`, max_iterations, a budget or the breaker: the task was neither done nor
                // failed.
                break (status, format!("task {}: {reason}", task.id));
            }
            // The iteration's outcome is durable before the task file says so.
            self.settle().await;
            let (mark, word) = if status == RunStatus::Succeeded {
                (TaskStatus::Done, "done")
            } else {
                (TaskStatus::Failed, "failed")
            };
            if !marked {
                let changed = self.iteration_changed_files;
                let note = (mark == TaskStatus::Failed).then_some(reason.as_str());
                if let Err(e) = tasks.file.mark(&task.id, mark, note) {
                    break (RunStatus::Failed, format!("cannot mark task {} {word}: {e}", task.id));
                }
                self.emit(&Event::TaskMarked { task: task_ref.clone(), status: word.into() });
                self.iteration_ended(mark == TaskStatus::Done, changed);
                if mark == TaskStatus::Done {
                    self.task_done(&task.id);
                }
            }
            if mark == TaskStatus::Done && !committed {
                if let Some(template) = &tasks.commit {
                    self.settle().await;
                    let message =
                        commit::message(template, &task.id, &task.title, iteration, &self.options.workflow);
                    match commit::commit(&self.options.project_dir, &message) {
                        Ok(Some(commit)) => {
                            self.emit(&Event::Committed { task: Some(task_ref), commit, message });
                        }
                        Ok(None) => {}
                        Err(e) => break (RunStatus::Failed, format!("task {} is done but {e}", task.id)),
                    }
                }
            }
        };
        self.end(status, reason).await;
        self.into_state()
    }

    /// A run that could not be recorded: it did not start.
    pub(super) fn refused(mut self, e: &super::runner::RunError) -> RunState {
        self.state.status = RunStatus::Failed;
        self.state.reason = Some(format!("the run could not be recorded: {e}"));
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
            (RunStatus::Succeeded, format!("no task is ready in `{}`{waiting}", file.path().display()))
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
