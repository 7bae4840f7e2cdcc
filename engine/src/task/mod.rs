//! Task files: the list of work a Ralph loop takes its next task from, and marks it in.
//!
//! This module knows nothing about workflows, runs or agents. It reads a task file, says which
//! task is ready next, and rewrites one task's status in place, leaving every other byte alone.
//!
//! # Which file
//!
//! [`TaskFile::open`] takes an explicit path (`--tasks <path>`, or `tasks:` in `ralph.yaml`):
//! a name ending in `.md` or `.markdown` is a TODO list; a name ending in `.json` is a kanban
//! board if the name contains `kanban` (in any case) or its top-level object has a `milestones`
//! key, and a task list otherwise. Any other name is an error.
//!
//! [`TaskFile::discover`] looks in the project directory for, in this order, `tasks.json`,
//! `kanban.json`, `TODO.md` and `todo.md`, and opens the first that exists. The JSON files come
//! first because they are a deliberate choice, while many repositories keep a `TODO.md` for
//! other purposes.
//!
//! # Statuses
//!
//! A task is `pending`, `in_progress`, `done`, `failed` or `blocked` ([`TaskStatus`]). In JSON
//! files these spellings are also accepted, in any case and with `-` or spaces for `_`: `todo`
//! and `open` (pending); `doing`, `started` and `active` (in progress); `completed`,
//! `complete` and `finished` (done); `failure` and `error` (failed). When the engine writes a
//! status it reuses the spelling the file already uses for that status (the first task that
//! has it), else the canonical word, which is `todo` for a pending task of a kanban board.
//!
//! # Readiness and order
//!
//! A task is **ready** when
//! - its status is `pending` or `in_progress` (an `in_progress` task is one whose iteration was
//!   interrupted, so it is taken up again), and
//! - every task in its `depends_on` is `done`, and
//! - on a kanban board, every milestone that its milestone is `blocked_by` is finished: all of
//!   that milestone's tasks are `done` (a milestone without tasks is finished).
//!
//! `failed` and `blocked` tasks are never ready, so a failed task is not picked again until a
//! person resets it; a task that depends on one waits. [`TaskFile::next_ready`] returns, among
//! the ready tasks not in its `skip` set, the first of the scheduler's queue
//! ([`schedule`]): `in_progress` before `pending`, then the highest score — priority ×10,
//! inverted complexity ×2, fan-out ×5, failed attempts ×−3, up to 60 points of idle time —
//! then file order.
//!
//! **Priority** is an integer, and a higher number runs sooner (as the scheduler of the
//! agent-swarm seed scores it). Names are accepted too, in any case, as integers around the
//! default of 0: `low` = -1, `medium` and `normal` = 0, `high` = 1, `critical` and `urgent` = 2.
//! A task without a priority counts as 0. So a list that uses only numbers, or only names,
//! orders as it reads, and unprioritised tasks sit with `medium` ones.
//!
//! A file is checked as a whole when it is read: task ids are unique, every `depends_on` and
//! `blocked_by` names a known task or milestone, and there is no cycle among dependencies,
//! milestones and their tasks (the error names the cycle, e.g. `a → b → a`).
//!
//! # `TODO.md`
//!
//! A task is a GitHub task-list item: a bullet (`-`, `*`, `+`) or a number (`1.`, `1)`), a
//! space, a box `[ ]`, `[x]` or `[X]`, a space, and some text. Other lines are not tasks, nor
//! are items inside fenced code blocks (```` ``` ````, `~~~`) or multi-line HTML comments.
//!
//! - **Status:** `[x]` and `[X]` are `done`. `[ ]` is `pending`, unless the line ends with a
//!   marker comment `<!-- ralph: failed -->`, `<!-- ralph: in_progress -->` or
//!   `<!-- ralph: blocked -->`, optionally with a note: `<!-- ralph: failed: 2 tests fail -->`.
//!   The comment keeps the line a valid checkbox that GitHub renders unchecked, and is invisible
//!   there. A checked box is `done` whatever marker follows it. Any other `ralph:` marker is an
//!   error. To retry a failed task, delete its marker.
//! - **Id:** the title may start with an explicit id: `T-12: title`, `[T-12] title` or
//!   `#12 title` (a colon may follow `[T-12]` and `#12`). An id token is letters, an optional
//!   `-` or `_`, digits, and optional `.digits` parts (`T-12`, `task-5`, `M1.1`, `PROJ_7`); the
//!   bracketed form also takes plain digits, and `#12` keeps its `#`. Otherwise the id is
//!   `todo-N` for the N-th task item of the file (1-based, counting every item, with or without
//!   an explicit id). Such a positional id moves when items are inserted above it, so marking a
//!   task by a positional id checks that the title still matches, and follows the title if it
//!   does not (see [`TaskFile::mark`]).
//! - **Title and description:** the title is the item's text without the id and the marker.
//!   Indented lines under an item that are not task items (plain text, plain bullets) form its
//!   description, one trimmed line each.
//! - **Nesting:** an item's parent is the nearest item above it, in the same list, that is
//!   indented less (a tab counts as 4 columns). A parent depends on its children: its
//!   `depends_on` lists them, so it is not ready until all of them are `done` (children first).
//!   A checked parent stays `done` even with unchecked children, which are still ready.
//! - **Section:** the text of the nearest heading (`#` to `######`) above an item is its
//!   `milestone`. Sections do not block each other.
//! - **Marking** changes one line only: the character in the box (`x` for done, a space for
//!   anything else, an existing `X` is kept) and the marker comment, which is added before the
//!   line ending with one space, replaced, or removed with the one space before it. Notes are
//!   written on one line, with `--` shortened so the comment cannot end early. Line endings
//!   (`\n` or `\r\n`) and every other byte stay as they were.
//!
//! # `tasks.json`
//!
//! Either `{"tasks": [...]}` (other top-level keys are kept) or a top-level array of tasks:
//!
//! ```json
//! {"tasks": [
//!   {"id": "1", "title": "Add login", "description": "…", "status": "pending",
//!    "priority": 2, "depends_on": ["0"], "role": "implementer",
//!    "acceptance_criteria": ["tests pass"], "milestone": "M1"}
//! ]}
//! ```
//!
//! `id` is required (a string or a number). `title` or `description` is required: without a
//! `title`, the first line of the description is the title. `status` defaults to `pending`;
//! `depends_on` (or `dependencies`), `acceptance_criteria` and `labels` default to empty. The
//! scheduler reads `complexity` (an integer from 1, trivial, to 5, hard; absent is 3),
//! `failed_attempts` (absent is 0) and `last_attempt_at` (RFC 3339; absent is never). Unknown fields
//! are allowed and kept. `milestone` is informational here: there are no milestones to block.
//!
//! # `kanban.json`
//!
//! The board of the PyWiggum seed: milestones in order, each `blocked_by` other milestones,
//! each with tasks:
//!
//! ```json
//! {"milestones": [
//!   {"id": "M1", "name": "Project Setup", "blocked_by": [], "tasks": [
//!     {"id": "M1.1", "title": "Initialize the project", "description": "…",
//!      "acceptance_criteria": ["package.json exists"], "status": "todo"}
//!   ]},
//!   {"id": "M2", "name": "Core", "blocked_by": ["M1"], "tasks": []}
//! ]}
//! ```
//!
//! Milestone `id` is required, `name`, `blocked_by` and `tasks` are optional. Tasks take the same
//! fields as in `tasks.json`; their `milestone` is the one they are listed under. Task ids are
//! unique across the board.
//!
//! # JSON marking
//!
//! Marking replaces the text of the task's `status` value and nothing else: key order,
//! indentation, number formatting, unknown fields and the final newline stay as they were. A
//! task without a `status` gets one, after its last member, on a line of its own indented like
//! that member (or inline, for a one-line object). JSON files have no place for a note; the run's
//! journal keeps it. When the loop marks the end of an attempt ([`TaskFile::mark_attempt`]) it
//! sets `last_attempt_at` and, on a failure, `failed_attempts` the same way: each value replaced
//! where it is, or the member added after the last one. An old file without these fields is
//! rewritten byte for byte but for them.
//!
//! # Writing
//!
//! [`TaskFile::mark`] first re-reads the file, because the agent may have changed it during the
//! iteration (checked its own box, added tasks), and marks the task by id in that fresh text.
//! It writes a temporary file in the same directory, syncs it, and renames it over the original
//! (following a symbolic link to its target, and keeping the file's permissions), so a crash
//! leaves either the old file or the new one.

pub mod add;
mod graph;
mod json;
mod kanban;
pub mod learnings;
pub mod repair;
pub mod schedule;
mod spans;
mod todo;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One task of a task file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id: explicit in the file, or derived from its position (`TODO.md` only).
    pub id: String,
    /// What has to be done, in a line.
    pub title: String,
    /// More about it, when the file says more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the task stands.
    pub status: TaskStatus,
    /// The priority rank: higher runs sooner; names are mapped to numbers (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Tasks that must be `done` before this one is ready (in `TODO.md`: its nested items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The agent role the task is for (e.g. `implementer`), when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What must be true for the task to count as done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance_criteria: Vec<String>,
    /// The milestone the task belongs to (in `TODO.md`: the heading it is under).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
    /// How hard it is, from 1 (trivial) to 5 (hard); the scheduler prefers simpler tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<u8>,
    /// How many times a loop tried it and failed (the loop counts them in the JSON kinds).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
    /// When a loop last finished an attempt at it, RFC 3339 (the loop writes it in the JSON kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    /// Free-form labels, e.g. `backend`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Its type (`code`, `planning`, `test`, …; `type` in the JSON kinds), which `routing:`
    /// may match.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The 1-based line where the task starts in its file.
    pub line: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference.
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started.
    Pending,
    /// Being worked on (or interrupted while being worked on).
    InProgress,
    /// Finished.
    Done,
    /// Tried and failed; not picked again until reset.
    Failed,
    /// Set aside by a person; not picked.
    Blocked,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Pending,
        TaskStatus::InProgress,
        TaskStatus::Done,
        TaskStatus::Failed,
        TaskStatus::Blocked,
    ];

    /// The canonical word: `pending`, `in_progress`, `done`, `failed` or `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
            TaskStatus::Failed => "failed",
            TaskStatus::Blocked => "blocked",
        }
    }

    /// Reads a status word, accepting the aliases listed in the module docs.
    pub fn parse(word: &str) -> Option<TaskStatus> {
        let word = word.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Some(match word.as_str() {
            "pending" | "todo" | "open" => TaskStatus::Pending,
            "in_progress" | "doing" | "started" | "active" => TaskStatus::InProgress,
            "done" | "completed" | "complete" | "finished" => TaskStatus::Done,
            "failed" | "failure" | "error" => TaskStatus::Failed,
            "blocked" => TaskStatus::Blocked,
            _ => return None,
        })
    }

    /// Whether a task with this status may be picked (if its dependencies are done).
    pub fn is_open(self) -> bool {
        matches!(self, TaskStatus::Pending | TaskStatus::InProgress)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A milestone of a kanban board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// The milestone's id, e.g. `M1`.
    pub id: String,
    /// Its name, e.g. `Project Setup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Milestones that must be finished before its tasks are ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
    /// The 1-based line where the milestone starts.
    pub line: u32,
}

/// The kind of a task file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSource {
    /// A Markdown task list, `TODO.md`.
    Todo,
    /// A JSON task list, `tasks.json`.
    Json,
    /// A JSON kanban board with milestones, `kanban.json`.
    Kanban,
}

impl TaskSource {
    /// The conventional file name of this kind.
    pub fn file_name(self) -> &'static str {
        match self {
            TaskSource::Todo => "TODO.md",
            TaskSource::Json => "tasks.json",
            TaskSource::Kanban => "kanban.json",
        }
    }
}

impl fmt::Display for TaskSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// What can go wrong reading or marking a task file.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The path names no known kind of task file.
    #[error(
        "`{}` is not a task file: expected a Markdown task list (`.md`) or a JSON task list or \
         kanban board (`.json`)",
        path.display()
    )]
    UnknownKind {
        /// The file.
        path: PathBuf,
    },
    /// A JSON file is not valid JSON.
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        column: u32,
        /// What the parser says.
        message: String,
    },
    /// The file is well-formed but something in it is not what a task file holds.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        column: u32,
        /// What is wrong.
        message: String,
    },
    /// Two tasks (or two milestones) have the same id.
    #[error("{}:{line}: duplicate {what} id `{id}` (first used on line {first_line})", path.display())]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// `task` or `milestone`.
        what: &'static str,
        /// The id.
        id: String,
        /// The line of the second use.
        line: u32,
        /// The line of the first use.
        first_line: u32,
    },
    /// A task depends on a task that does not exist.
    #[error("{}:{line}: task `{task}` depends on unknown task `{dependency}`", path.display())]
    UnknownDependency {
        /// The file.
        path: PathBuf,
        /// The task's line.
        line: u32,
        /// The task.
        task: String,
        /// The id it names.
        dependency: String,
    },
    /// A milestone is blocked by a milestone that does not exist.
    #[error("{}:{line}: milestone `{milestone}` is blocked by unknown milestone `{blocker}`", path.display())]
    UnknownMilestone {
        /// The file.
        path: PathBuf,
        /// The milestone's line.
        line: u32,
        /// The milestone.
        milestone: String,
        /// The id it names.
        blocker: String,
    },
    /// Dependencies go round in a circle, so none of them can ever be ready.
    #[error("{}: dependency cycle: {}", path.display(), cycle.join(" → "))]
    Cycle {
        /// The file.
        path: PathBuf,
        /// The ids around the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A task would be added past [`MAX_TASKS`].
    #[error("{}: the file holds {max} tasks already, the most it may", path.display())]
    Full {
        /// The file.
        path: PathBuf,
        /// The cap.
        max: usize,
    },
    /// No task has this id.
    #[error("{}: no task `{id}`", path.display())]
    NoSuchTask {
        /// The file.
        path: PathBuf,
        /// The id asked for.
        id: String,
    },
    /// A task with a positional id was moved or renamed so that it cannot be found with certainty.
    #[error(
        "{}: task `{id}` (\"{title}\") is no longer where it was, and its title does not name one task; \
         give it an explicit id such as `T-1: {title}`",
        path.display()
    )]
    Moved {
        /// The file.
        path: PathBuf,
        /// The positional id.
        id: String,
        /// The title it had.
        title: String,
    },
}

/// A task file with its tasks, read and checked.
#[derive(Debug, Clone)]
pub struct TaskFile {
    path: PathBuf,
    source: TaskSource,
    doc: Doc,
}

/// The parsed content of one task file, by kind.
#[derive(Debug, Clone)]
enum Doc {
    Todo(todo::TodoDoc),
    Json(json::JsonDoc),
    Kanban(kanban::KanbanDoc),
}

/// The most tasks a file may hold when tasks are added to it (the agent-swarm seed's cap on
/// runaway generation).
pub const MAX_TASKS: usize = 500;

/// The file names [`TaskFile::discover`] looks for, in order.
pub const DISCOVERY_ORDER: [&str; 4] = ["tasks.json", "kanban.json", "TODO.md", "todo.md"];

impl TaskFile {
    /// The task file of the project in `project_dir`: the first of [`DISCOVERY_ORDER`] that is
    /// a file, opened; `None` if there is none.
    pub fn discover(project_dir: &Path) -> Result<Option<TaskFile>, TaskError> {
        match Self::discover_path(project_dir) {
            Some(path) => Self::open(&path).map(Some),
            None => Ok(None),
        }
    }

    /// The path [`TaskFile::discover`] would open, without reading it.
    pub fn discover_path(project_dir: &Path) -> Option<PathBuf> {
        DISCOVERY_ORDER.iter().map(|name| project_dir.join(name)).find(|path| path.is_file())
    }

    /// Reads and checks the task file at `path`; its kind comes from its name (and, for
    /// `.json`, whether it is a kanban board; see the module docs).
    pub fn open(path: &Path) -> Result<TaskFile, TaskError> {
        let text = read(path)?;
        let source = Self::kind_of(path, &text)?;
        Self::parse(path, source, &text)
    }

    /// Checks `text` as the content of a task file of kind `source` at `path`. Nothing is
    /// read; [`TaskFile::mark`] and [`TaskFile::reload`] will read and write `path`.
    pub fn parse(path: impl Into<PathBuf>, source: TaskSource, text: &str) -> Result<TaskFile, TaskError> {
        let path = path.into();
        let doc = match source {
            TaskSource::Todo => Doc::Todo(todo::TodoDoc::parse(&path, text)?),
            TaskSource::Json => Doc::Json(json::JsonDoc::parse(&path, text)?),
            TaskSource::Kanban => Doc::Kanban(kanban::KanbanDoc::parse(&path, text)?),
        };
        let file = TaskFile { path, source, doc };
        graph::check(&file.path, file.tasks(), file.milestones())?;
        Ok(file)
    }

    /// The kind of the file at `path` with content `text`.
    fn kind_of(path: &Path, text: &str) -> Result<TaskSource, TaskError> {
        let lowercase =
            |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
        let name = lowercase(path.file_name());
        match lowercase(path.extension()).as_str() {
            "md" | "markdown" => Ok(TaskSource::Todo),
            "json" if name.contains("kanban") || json::has_top_level_key(text, "milestones") => {
                Ok(TaskSource::Kanban)
            }
            "json" => Ok(TaskSource::Json),
            _ => Err(TaskError::UnknownKind { path: path.to_path_buf() }),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's kind.
    pub fn source(&self) -> TaskSource {
        self.source
    }

    /// `TODO.md`'s list items that are not tasks for want of a checkbox, with their lines.
    pub fn unboxed(&self) -> &[(u32, String)] {
        match &self.doc {
            Doc::Todo(doc) => &doc.unboxed,
            Doc::Json(_) | Doc::Kanban(_) => &[],
        }
    }

    /// Every task, in file order.
    pub fn tasks(&self) -> &[Task] {
        match &self.doc {
            Doc::Todo(doc) => &doc.tasks,
            Doc::Json(doc) => &doc.tasks,
            Doc::Kanban(doc) => &doc.tasks,
        }
    }

    /// The milestones of a kanban board, in file order; empty for other kinds.
    pub fn milestones(&self) -> &[Milestone] {
        match &self.doc {
            Doc::Kanban(doc) => &doc.milestones,
            Doc::Todo(_) | Doc::Json(_) => &[],
        }
    }

    /// The task with this id.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks().iter().find(|task| task.id == id)
    }

    /// Whether `task` is ready (see the module docs).
    pub fn is_ready(&self, task: &Task) -> bool {
        task.status.is_open() && graph::Waits::new(self.tasks(), self.milestones()).is_clear(task)
    }

    /// What `task` waits for: the ids of its dependencies that are not `done`, then those of the
    /// milestones blocking its milestone that are not finished. Empty when nothing blocks it.
    pub fn waiting_on(&self, task: &Task) -> Vec<String> {
        graph::Waits::new(self.tasks(), self.milestones()).of(task)
    }

    /// The next task to work on now: see [`TaskFile::next_ready_at`].
    pub fn next_ready(&self, skip: &HashSet<String>) -> Option<&Task> {
        self.next_ready_at(skip, std::time::SystemTime::now())
    }

    /// The next task to work on at time `now`: the first ready task not in `skip` in the
    /// scheduler's queue ([`schedule::queue`]: `in_progress` first, then the highest score,
    /// then file order). `None` when no task is ready.
    pub fn next_ready_at(&self, skip: &HashSet<String>, now: std::time::SystemTime) -> Option<&Task> {
        self.queue(now).into_iter().find(|ranked| !skip.contains(&ranked.task.id)).map(|ranked| ranked.task)
    }

    /// The ready tasks in the order they run at time `now`, each with its score.
    pub fn queue(&self, now: std::time::SystemTime) -> Vec<schedule::Ranked<'_>> {
        schedule::queue(self.tasks(), self.milestones(), now)
    }

    /// Whether every task is `done` (true for a file without tasks).
    pub fn is_finished(&self) -> bool {
        self.tasks().iter().all(|task| task.status == TaskStatus::Done)
    }

    /// The ids of the `done` tasks, in file order.
    pub fn completed_ids(&self) -> Vec<String> {
        self.tasks()
            .iter()
            .filter(|task| task.status == TaskStatus::Done)
            .map(|task| task.id.clone())
            .collect()
    }

    /// `task` as the steering packet's `context.current_task`. The description is the title,
    /// then a blank line and the description when there is one; `from_todo` is `line N` for
    /// `TODO.md` and `<file name>:N` for the JSON kinds.
    pub fn packet_task(&self, task: &Task) -> ralph_plugin_sdk::Task {
        let mut packet = ralph_plugin_sdk::Task::new(task.id.clone(), task.title.clone());
        if let Some(description) = task.description.as_deref().filter(|d| *d != task.title) {
            packet.description = format!("{}\n\n{description}", task.title);
        }
        packet.from_todo = Some(match self.source {
            TaskSource::Todo => format!("line {}", task.line),
            TaskSource::Json | TaskSource::Kanban => {
                let name = self.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                format!("{name}:{}", task.line)
            }
        });
        packet.acceptance_criteria.clone_from(&task.acceptance_criteria);
        packet.role.clone_from(&task.role);
        packet.kind.clone_from(&task.kind);
        packet.labels.clone_from(&task.labels);
        packet.depends_on.clone_from(&task.depends_on);
        packet
    }

    /// Reads the file again, replacing what this value holds.
    pub fn reload(&mut self) -> Result<(), TaskError> {
        let text = read(&self.path)?;
        *self = Self::parse(self.path.clone(), self.source, &text)?;
        Ok(())
    }

    /// Sets the status of task `id` in the file, in place, and reloads.
    ///
    /// The file is read afresh and the task found by id in that text. A positional `todo-N` id
    /// is trusted only if the task there still has the title it had when this value was read;
    /// otherwise the task is followed by its title if exactly one task has it, and the result is
    /// [`TaskError::Moved`] if none or several do. `note` is written in the `TODO.md` marker of
    /// a `failed`, `in_progress` or `blocked` task and ignored by the JSON kinds. Nothing is
    /// written when the status is already the one asked for (and, in `TODO.md`, the note too).
    pub fn mark(&mut self, id: &str, status: TaskStatus, note: Option<&str>) -> Result<(), TaskError> {
        self.rewrite(id, Some((status, note)), |_| Vec::new())
    }

    /// Marks the end of an attempt at task `id` at time `at` (RFC 3339), as [`TaskFile::mark`]
    /// does, and in the JSON kinds records it in the same write: `last_attempt_at` becomes `at`
    /// and, when `status` is `failed`, `failed_attempts` grows by one. `TODO.md` has no place for
    /// them: its tasks score as never attempted.
    pub fn mark_attempt(
        &mut self,
        id: &str,
        status: TaskStatus,
        note: Option<&str>,
        at: &str,
    ) -> Result<(), TaskError> {
        self.rewrite(id, Some((status, note)), |task| {
            let mut members = vec![("last_attempt_at".to_owned(), serde_json::Value::from(at))];
            if status == TaskStatus::Failed {
                members
                    .push(("failed_attempts".to_owned(), serde_json::Value::from(task.failed_attempts + 1)));
            }
            members
        })
    }

    /// Sets members of task `id`'s object in a JSON kind, in place (replacing each value, or
    /// adding the member after the last one), and reloads. The result must still be a valid task
    /// file, or nothing is written. `TODO.md` has no members: only `status` can be set there,
    /// through [`TaskFile::mark`].
    pub fn set_members(
        &mut self,
        id: &str,
        members: Vec<(String, serde_json::Value)>,
    ) -> Result<(), TaskError> {
        if let Doc::Todo(_) = self.doc {
            if let Some((key, _)) = members.first() {
                return Err(TaskError::Invalid {
                    path: self.path.clone(),
                    line: self.task(id).map_or(1, |t| t.line),
                    column: 1,
                    message: format!("a TODO.md task has no `{key}` to set; use a tasks.json for it"),
                });
            }
        }
        self.rewrite(id, None, move |_| members)
    }

    /// Re-reads the file, finds task `id` in it, sets its status (with `note`) and then the
    /// members `members` gives for the fresh task, writes the file if that changed it, and
    /// reloads.
    fn rewrite(
        &mut self,
        id: &str,
        status: Option<(TaskStatus, Option<&str>)>,
        members: impl FnOnce(&Task) -> Vec<(String, serde_json::Value)>,
    ) -> Result<(), TaskError> {
        let text = read(&self.path)?;
        let fresh = Self::parse(self.path.clone(), self.source, &text)?;
        let index = fresh.locate(id, self.task(id), self.is_positional(id))?;
        let mut new_text = match (&fresh.doc, status) {
            (_, None) => text.clone(),
            (Doc::Todo(doc), Some((status, note))) => doc.set_status(&text, index, status, note),
            (Doc::Json(doc), Some((status, _))) => doc.set_status(&text, index, status),
            (Doc::Kanban(doc), Some((status, _))) => doc.set_status(&text, index, status),
        };
        let mut marked = if new_text == text {
            fresh.clone()
        } else {
            Self::parse(self.path.clone(), self.source, &new_text)?
        };
        // Each member is set in the text as it is after the one before (the tasks do not move).
        for (key, value) in members(&fresh.tasks()[index]) {
            let changed = match &marked.doc {
                Doc::Todo(_) => continue,
                Doc::Json(doc) => doc.set_member(&new_text, index, &key, &value),
                Doc::Kanban(doc) => doc.set_member(&new_text, index, &key, &value),
            };
            marked = Self::parse(self.path.clone(), self.source, &changed)?;
            new_text = changed;
        }
        if new_text != text {
            crate::atomic_file::write(&self.path, &new_text)
                .map_err(|source| TaskError::Write { path: self.path.clone(), source })?;
        }
        *self = marked;
        Ok(())
    }

    /// Appends a task, as one line with these members in this order, and the rest of the file
    /// kept byte for byte: to a `tasks.json` after its last task and laid out like it; to a
    /// kanban board in milestone `milestone` (default: the last one), its status `todo`; to a
    /// `TODO.md` as `- [ ] <id>: <title>` after the last task item (only `id` and `title` have a
    /// place there). The file is read afresh; the result must be a valid task file (a duplicate
    /// id, an unknown dependency or a cycle is refused as [`TaskFile::open`] refuses it), and
    /// hold at most [`MAX_TASKS`] tasks.
    pub fn append(
        &mut self,
        members: &[(String, serde_json::Value)],
        milestone: Option<&str>,
    ) -> Result<(), TaskError> {
        let text = read(&self.path)?;
        let fresh = Self::parse(self.path.clone(), self.source, &text)?;
        if fresh.tasks().len() >= MAX_TASKS {
            return Err(TaskError::Full { path: self.path.clone(), max: MAX_TASKS });
        }
        let refused =
            |message: String| TaskError::Invalid { path: self.path.clone(), line: 1, column: 1, message };
        let object = |members: &[(String, serde_json::Value)]| {
            let inner = members
                .iter()
                .map(|(key, value)| {
                    format!("{}: {}", serde_json::Value::from(key.as_str()), json::inline(value))
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("{{{inner}}}")
        };
        let new_text = match &fresh.doc {
            Doc::Json(_) => json::append_task(&self.path, &text, &object(members))?,
            Doc::Kanban(doc) => {
                let target = match milestone {
                    Some(id) => {
                        doc.milestones.iter().find(|m| m.id == id).map(|m| m.id.clone()).ok_or_else(|| {
                            let known = doc.milestones.iter().map(|m| m.id.as_str());
                            let hint = crate::workflow::suggest::did_you_mean(id, known)
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default();
                            refused(format!("there is no milestone `{id}` on the board{hint}"))
                        })?
                    }
                    None => doc
                        .milestones
                        .last()
                        .map(|m| m.id.clone())
                        .ok_or_else(|| refused("the board has no milestone to add the task to".into()))?,
                };
                // A board's pending word is `todo`; the milestone is where the task is listed.
                let members: Vec<(String, serde_json::Value)> = members
                    .iter()
                    .filter(|(k, _)| k != "milestone")
                    .map(|(k, v)| match k.as_str() {
                        "status" => (k.clone(), "todo".into()),
                        _ => (k.clone(), v.clone()),
                    })
                    .collect();
                kanban::KanbanDoc::append_task(&self.path, &text, &target, &object(&members))?
            }
            Doc::Todo(doc) => {
                let no_place: Vec<&str> = members
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .filter(|k| !matches!(*k, "id" | "title" | "description" | "status"))
                    .collect();
                if !no_place.is_empty() || milestone.is_some() {
                    let mut fields: Vec<String> = no_place.iter().map(|k| format!("`{k}`")).collect();
                    if milestone.is_some() {
                        fields.push("`milestone`".into());
                    }
                    return Err(refused(format!(
                        "a TODO.md task has no place for {} (only an id and a title); nest it under the task it belongs to by hand, or use a tasks.json",
                        fields.join(", ")
                    )));
                }
                let text_of =
                    |key: &str| members.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_str());
                let title = text_of("title").or_else(|| text_of("description")).unwrap_or_default();
                let id = text_of("id").unwrap_or_default();
                if !todo::is_id_token(id) {
                    return Err(refused(format!(
                        "`{id}` cannot be a TODO.md id (letters, an optional `-` or `_`, then digits, e.g. `task-7`)"
                    )));
                }
                let one_line = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
                let mut item = format!("- [ ] {id}: {}", one_line(title));
                // A description is the indented text under the item.
                if let Some(description) = text_of("description").filter(|d| Some(*d) != text_of("title")) {
                    item.push_str(if text.contains("\r\n") { "\r\n  " } else { "\n  " });
                    item.push_str(&one_line(description));
                }
                let after = doc.tasks.last().map(|t| t.line);
                todo::append_item(&text, after, &item)
            }
        };
        let added = Self::parse(self.path.clone(), self.source, &new_text)?;
        crate::atomic_file::write(&self.path, &new_text)
            .map_err(|source| TaskError::Write { path: self.path.clone(), source })?;
        *self = added;
        Ok(())
    }

    /// Whether `id` is a positional id in this file.
    fn is_positional(&self, id: &str) -> bool {
        match &self.doc {
            Doc::Todo(doc) => doc.is_positional(id),
            Doc::Json(_) | Doc::Kanban(_) => false,
        }
    }

    /// The index of the task to mark for `id` in this (fresh) file; `known` is the task as it was
    /// read before, if it was.
    fn locate(&self, id: &str, known: Option<&Task>, positional: bool) -> Result<usize, TaskError> {
        let tasks = self.tasks();
        let at_id = tasks.iter().position(|task| task.id == id);
        let Some(known) = known.filter(|_| positional) else {
            return at_id.ok_or_else(|| TaskError::NoSuchTask { path: self.path.clone(), id: id.to_owned() });
        };
        if let Some(index) = at_id.filter(|&index| tasks[index].title == known.title) {
            return Ok(index);
        }
        let mut same_title = tasks.iter().enumerate().filter(|(_, task)| task.title == known.title);
        match (same_title.next(), same_title.next()) {
            (Some((index, _)), None) => Ok(index),
            _ => Err(TaskError::Moved {
                path: self.path.clone(),
                id: id.to_owned(),
                title: known.title.clone(),
            }),
        }
    }
}

/// Reads a task file as text.
fn read(path: &Path) -> Result<String, TaskError> {
    std::fs::read_to_string(path).map_err(|source| TaskError::Read { path: path.to_path_buf(), source })
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

/// The starts of the lines of a text, to find the line of many offsets quickly.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> u32 {
        let line = self.starts.partition_point(|&start| start <= offset);
        u32::try_from(line).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
pub(crate) mod tests;
