//! The project's task file as a board, for the dashboard's Tasks view (`GET /api/tasks`) and a
//! `tasks --json` to come: each task as the file says it (status, priority, dependencies, what
//! it waits for) with its history from the journals — the iterations that worked on it, in
//! every run that went through this file, with how each ended, the mark and the commit.
//!
//! The file is the one the latest run used (its record names it), else the one `loop` would
//! find in the project (`tasks.json`, `kanban.json`, `TODO.md`): a workflow's `loop.tasks` or a
//! `--tasks` is known here through the runs that used it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::InspectError;
use super::source::Source;
use crate::run::core::event::Event;
use crate::run::core::pace::TaskCounts;
use crate::task::schedule::Score;
use crate::task::{TaskError, TaskFile, TaskStatus};

/// Why the board cannot be told.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The runs cannot be read.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The task file cannot be read or understood.
    #[error(transparent)]
    Task(#[from] TaskError),
}

/// The task file as a board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    /// The file.
    pub file: PathBuf,
    /// Its kind: `TODO.md`, `tasks.json` or `kanban.json`.
    pub source: String,
    /// Tasks by status: `pending`, `in_progress`, `done`, `failed`, `blocked` (every one, 0 too).
    pub counts: BTreeMap<String, usize>,
    /// Every task, in file order.
    pub tasks: Vec<BoardTask>,
}

/// One task on the board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardTask {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// More about it.
    pub description: Option<String>,
    /// `pending`, `in_progress`, `done`, `failed` or `blocked`, as the file says.
    pub status: TaskStatus,
    /// Higher runs sooner.
    pub priority: Option<i64>,
    /// The tasks it depends on.
    pub depends_on: Vec<String>,
    /// Its milestone (a kanban board's, or a `TODO.md` heading).
    pub milestone: Option<String>,
    /// What it waits for: dependencies not done, milestones not finished.
    pub waiting_on: Vec<String>,
    /// The iterations that worked on it, oldest first.
    pub history: Vec<Attempt>,
}

/// One iteration that worked on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The run.
    pub run_id: String,
    /// The iteration.
    pub iteration: u32,
    /// When it began.
    pub started_at: String,
    /// When it ended, if it did.
    pub finished_at: Option<String>,
    /// How it ended (`succeeded`, `failed`, `stopped`), if it did.
    pub status: Option<String>,
    /// Why, for people.
    pub reason: Option<String>,
    /// How the task was marked after it: `done`, `failed`, `reopened`.
    pub mark: Option<String>,
    /// The commit of its work (`--commit`).
    pub commit: Option<String>,
}

/// What the task file says: tasks done, and tasks still to do (`pending` or `in_progress`).
pub fn counts(file: &TaskFile) -> TaskCounts {
    let count = |f: fn(TaskStatus) -> bool| {
        u32::try_from(file.tasks().iter().filter(|t| f(t.status)).count()).unwrap_or(u32::MAX)
    };
    TaskCounts { done: count(|s| s == TaskStatus::Done), remaining: count(TaskStatus::is_open) }
}

/// The task file's counts, if it can be read (the pace goes without them if not).
pub fn counts_at(path: &Path) -> Option<TaskCounts> {
    TaskFile::open(path).ok().map(|file| counts(&file))
}

/// The project's board; `None` when the project has no task file.
///
/// # Errors
///
/// The runs or the task file cannot be read.
pub fn board(project_dir: &Path, state_dir: &Path) -> Result<Option<Board>, BoardError> {
    let mut source = Source::open(state_dir)?;
    let (runs, _) = source.runs()?;
    let Some(path) = used_or_found(project_dir, &runs) else {
        return Ok(None);
    };
    let file = TaskFile::open(&path)?;
    let mut history: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
    for run in
        runs.iter().filter(|r| r.tasks.as_deref().is_some_and(|t| same_file(&resolve(project_dir, t), &path)))
    {
        for (task, attempt) in attempts(&run.run_id, &source.journal(&run.run_id)?) {
            history.entry(task).or_default().push(attempt);
        }
    }
    let mut counts: BTreeMap<String, usize> =
        TaskStatus::ALL.iter().map(|s| (s.as_str().to_owned(), 0)).collect();
    let tasks = file
        .tasks()
        .iter()
        .map(|task| {
            *counts.entry(task.status.as_str().to_owned()).or_default() += 1;
            BoardTask {
                id: task.id.clone(),
                title: task.title.clone(),
                description: task.description.clone(),
                status: task.status,
                priority: task.priority,
                depends_on: task.depends_on.clone(),
                milestone: task.milestone.clone(),
                waiting_on: file.waiting_on(task),
                history: history.remove(&task.id).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Some(Board { file: path, source: file.source().to_string(), counts, tasks }))
}

/// The task file the latest of `runs` used (a run's record names it as `loop` was given it:
/// relative to the project), else the one `loop` would find in the project.
fn used_or_found(project_dir: &Path, runs: &[crate::store::RunRecord]) -> Option<PathBuf> {
    let used = runs
        .iter()
        .rev()
        .find_map(|r| r.tasks.as_deref().map(|t| resolve(project_dir, t)))
        .filter(|p| p.is_file());
    used.or_else(|| TaskFile::discover_path(project_dir))
}

/// The project's task file, as the board finds it: the one the latest run used, else the one
/// `loop` would find (`tasks.json`, `kanban.json`, `TODO.md`); `None` when there is none.
///
/// # Errors
///
/// The runs cannot be read.
pub fn task_file(project_dir: &Path, state_dir: &Path) -> Result<Option<PathBuf>, InspectError> {
    let (runs, _) = Source::open(state_dir)?.runs()?;
    Ok(used_or_found(project_dir, &runs))
}

/// The scheduler's view of a task file: the ready tasks in the order `loop` takes them, each
/// with its score's parts, and every other open task with why it is not ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queue {
    /// The file.
    pub file: PathBuf,
    /// Its kind: `TODO.md`, `tasks.json` or `kanban.json`.
    pub source: String,
    /// When the idle time was measured (RFC 3339).
    pub at: String,
    /// The ready tasks, first to run first.
    pub ready: Vec<QueuedTask>,
    /// The tasks that are not `done` and not ready, in file order, with why.
    pub not_ready: Vec<WaitingTask>,
}

/// A ready task with its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedTask {
    /// 1 for the task `loop` takes next.
    pub rank: usize,
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `pending`, or `in_progress` (an interrupted task, taken up before any score).
    pub status: TaskStatus,
    /// Its score and each part's input and points.
    pub score: Score,
}

/// A task that is neither `done` nor ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingTask {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: TaskStatus,
    /// Why it is not ready, for people.
    pub reason: String,
    /// The dependencies not done and the blocking milestones not finished.
    pub waiting_on: Vec<String>,
}

/// The scheduler's queue of `file` at time `now`.
pub fn queue(file: &TaskFile, now: std::time::SystemTime) -> Queue {
    let ready: Vec<QueuedTask> = file
        .queue(now)
        .iter()
        .enumerate()
        .map(|(i, r)| QueuedTask {
            rank: i + 1,
            id: r.task.id.clone(),
            title: r.task.title.clone(),
            status: r.task.status,
            score: r.score,
        })
        .collect();
    let not_ready = file
        .tasks()
        .iter()
        .filter(|t| t.status != TaskStatus::Done && !ready.iter().any(|r| r.id == t.id))
        .map(|t| {
            let waiting_on = file.waiting_on(t);
            let reason = match t.status {
                TaskStatus::Failed => "failed: it is not picked again until its status is reset".to_owned(),
                TaskStatus::Blocked => "blocked: `ralph-loop task unblock` makes it pending".to_owned(),
                _ => format!(
                    "waits on {}",
                    waiting_on.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            WaitingTask { id: t.id.clone(), title: t.title.clone(), status: t.status, reason, waiting_on }
        })
        .collect();
    Queue {
        file: file.path().to_path_buf(),
        source: file.source().to_string(),
        at: crate::clock::rfc3339(now),
        ready,
        not_ready,
    }
}

/// A task file as a run's record names it (relative to the project, as `loop` was given it),
/// without its `./`s.
pub fn resolve(project_dir: &Path, file: &Path) -> PathBuf {
    project_dir.join(file).components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// The iterations of one run's journal that worked on a task, with the task's id.
pub fn attempts(run_id: &str, events: &[(u64, Event)]) -> Vec<(String, Attempt)> {
    let mut found: Vec<(String, Attempt)> = Vec::new();
    // Where each iteration's attempt is in `found`; events of older journals name iteration 0.
    let mut at: BTreeMap<u32, usize> = BTreeMap::new();
    let mut latest = 0;
    for (_, event) in events {
        let which = |n: u32| if n == 0 { latest } else { n };
        match event {
            Event::IterationStarted { iteration, task: Some(task), at: started, .. } => {
                latest = *iteration;
                // A resumed run starts no new iteration for the one it takes up again.
                if at.contains_key(iteration) {
                    continue;
                }
                at.insert(*iteration, found.len());
                found.push((
                    task.id.clone(),
                    Attempt {
                        run_id: run_id.to_owned(),
                        iteration: *iteration,
                        started_at: started.clone(),
                        finished_at: None,
                        status: None,
                        reason: None,
                        mark: None,
                        commit: None,
                    },
                ));
            }
            Event::IterationStarted { iteration, .. } => latest = *iteration,
            Event::IterationFinished { iteration, status, reason, at: finished, .. } => {
                if let Some(&i) = at.get(&which(*iteration)) {
                    let attempt = &mut found[i].1;
                    attempt.finished_at = Some(finished.clone());
                    attempt.status = Some(status.as_str().to_owned());
                    attempt.reason = Some(reason.clone());
                }
            }
            Event::TaskMarked { status, iteration, .. } => {
                if let Some(&i) = at.get(&which(*iteration)) {
                    found[i].1.mark = Some(status.as_str().to_owned());
                }
            }
            Event::Committed { commit, iteration, .. } => {
                if let Some(&i) = at.get(&which(*iteration)) {
                    found[i].1.commit = Some(commit.clone());
                }
            }
            _ => {}
        }
    }
    found
}
