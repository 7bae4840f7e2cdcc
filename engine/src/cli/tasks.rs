//! `ralph-loop tasks` (the scheduler's queue) and `ralph-loop task add|show|edit|block|unblock`
//! (one task of the project's task file, edited in place). The file is the one the board finds:
//! the latest run's, else the one `loop` would find.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::exit::Refusal;
use super::table::{Align, Table};
use super::{Env, Exit};
use crate::inspect::tasks as board;
use crate::task::{TaskError, TaskFile, TaskStatus};

/// Arguments of `tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `task` subcommands.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Add a task to the project's tasks.json.
    Add(AddArgs),
    /// Show one task.
    Show(ShowArgs),
    /// Change fields of one task.
    Edit(EditArgs),
    /// Set a task aside: `blocked`, never picked until unblocked.
    Block(BlockArgs),
    /// Make a blocked task `pending` again.
    Unblock(IdArg),
}

/// The fields a task is given or changed with.
#[derive(Debug, Args, Default)]
pub struct Fields {
    /// Its title.
    #[arg(long)]
    pub title: Option<String>,
    /// More about it.
    #[arg(long)]
    pub description: Option<String>,
    /// An integer; higher runs sooner.
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i64>,
    /// From 1 (trivial) to 5 (hard).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub complexity: Option<u8>,
    /// The ids it depends on, comma-separated.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub depends_on: Option<Vec<String>>,
    /// The agent role it is for (implementer, ideas, evaluator, …).
    #[arg(long)]
    pub role: Option<String>,
    /// A label; repeat for more.
    #[arg(long = "label")]
    pub labels: Vec<String>,
}

/// Arguments of `task add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Its id; when omitted, `<prefix>N` with the first N not taken.
    #[arg(long)]
    pub id: Option<String>,
    /// The prefix of a generated id.
    #[arg(long, default_value = "task-")]
    pub prefix: String,
    #[command(flatten)]
    pub fields: Fields,
    /// An acceptance criterion; repeat for more.
    #[arg(long = "criterion")]
    pub criteria: Vec<String>,
    /// Its type (`code`, `planning`, `test`, …), which `routing:` may match.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// On a kanban board: the milestone to list it under (default: the last one).
    #[arg(long)]
    pub milestone: Option<String>,
}

/// Arguments of `task show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task's id.
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `task edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The task's id.
    pub id: String,
    #[command(flatten)]
    pub fields: Fields,
    /// Its status: pending, in_progress, done, failed or blocked.
    #[arg(long)]
    pub status: Option<String>,
}

/// Arguments of `task block`.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// The task's id.
    pub id: String,
    /// Why, kept in the task (`blocked_reason`; in TODO.md, its marker).
    #[arg(long)]
    pub reason: Option<String>,
}

/// A task id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The task's id.
    pub id: String,
}

/// A refusal with exit status 1: the file is fine, the change is not made.
fn refused(message: impl std::fmt::Display) -> anyhow::Error {
    Refusal { exit: Exit::Failed, message: message.to_string() }.into()
}

/// The project's task file, opened.
fn open(env: &Env) -> anyhow::Result<TaskFile> {
    let Some(path) = board::task_file(&env.project_dir, &env.state_dir)? else {
        return Err(super::exit::usage(format!(
            "no task file in `{}`: `loop` looks for tasks.json, kanban.json, TODO.md",
            env.project_dir.display()
        )));
    };
    Ok(TaskFile::open(&path)?)
}

/// A change the file refuses (a duplicate id, a cycle, an unknown dependency, the cap) exits 1;
/// other errors keep their status.
fn change(result: Result<(), TaskError>) -> anyhow::Result<()> {
    match result {
        Err(
            e @ (TaskError::DuplicateId { .. }
            | TaskError::UnknownDependency { .. }
            | TaskError::Cycle { .. }
            | TaskError::Full { .. }),
        ) => Err(refused(format!("{e}; nothing was changed"))),
        other => Ok(other?),
    }
}

/// The task `id`, or a refusal with a did-you-mean.
fn known<'a>(file: &'a TaskFile, id: &str) -> anyhow::Result<&'a crate::task::Task> {
    file.task(id).ok_or_else(|| {
        let hint = crate::workflow::suggest::did_you_mean(id, file.tasks().iter().map(|t| t.id.as_str()))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        refused(format!("no task `{id}` in `{}`{hint}", file.path().display()))
    })
}

/// Shows the queue.
pub fn list(args: &TasksArgs, env: &Env) -> anyhow::Result<Exit> {
    let file = open(env)?;
    let queue = board::queue(&file, std::time::SystemTime::now());
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&queue)?));
        return Ok(Exit::Ok);
    }
    let mut table = Table::new(&[
        ("#", Align::Right),
        ("TASK", Align::Left),
        ("SCORE", Align::Right),
        ("PRIORITY", Align::Right),
        ("SIMPLE", Align::Right),
        ("UNBLOCKS", Align::Right),
        ("FAILED", Align::Right),
        ("IDLE", Align::Right),
        ("TITLE", Align::Left),
    ]);
    for t in &queue.ready {
        let s = &t.score;
        let resumed = if t.status == TaskStatus::InProgress { " (resumed first)" } else { "" };
        table.row(vec![
            t.rank.to_string(),
            t.id.clone(),
            s.total.to_string(),
            s.priority.points.to_string(),
            s.complexity.points.to_string(),
            s.fan_out.points.to_string(),
            s.failed_attempts.points.to_string(),
            s.idle.points.to_string(),
            format!("{}{resumed}", t.title),
        ]);
    }
    let mut out = format!("{} ({} ready)\n", queue.file.display(), queue.ready.len());
    if !queue.ready.is_empty() {
        out.push_str(&table.render());
    }
    for t in &queue.not_ready {
        out.push_str(&format!("not ready: {} ({}): {}\n", t.id, t.status, t.reason));
    }
    super::out(&out);
    Ok(Exit::Ok)
}

/// The members `fields` sets, in the order a new task lists them.
fn members(fields: &Fields) -> Vec<(String, Value)> {
    let mut members = Vec::new();
    let mut put = |key: &str, value: Value| members.push((key.to_owned(), value));
    if let Some(title) = &fields.title {
        put("title", title.as_str().into());
    }
    if let Some(description) = &fields.description {
        put("description", description.as_str().into());
    }
    if let Some(priority) = fields.priority {
        put("priority", priority.into());
    }
    if let Some(complexity) = fields.complexity {
        put("complexity", complexity.into());
    }
    if let Some(depends_on) = &fields.depends_on {
        put("depends_on", depends_on.iter().map(|d| Value::from(d.trim())).collect());
    }
    if let Some(role) = &fields.role {
        put("role", role.as_str().into());
    }
    if !fields.labels.is_empty() {
        put("labels", fields.labels.iter().map(|l| Value::from(l.as_str())).collect());
    }
    members
}

/// The task `task add` adds.
fn new_task(args: &AddArgs) -> ralph_plugin_sdk::NewTask {
    let f = &args.fields;
    ralph_plugin_sdk::NewTask {
        id: args.id.clone(),
        prefix: Some(args.prefix.clone()),
        title: f.title.clone(),
        description: f.description.clone(),
        role: f.role.clone(),
        priority: f.priority.map(Value::from),
        complexity: f.complexity,
        depends_on: f.depends_on.clone().unwrap_or_default(),
        labels: f.labels.clone(),
        acceptance_criteria: args.criteria.clone(),
        kind: args.kind.clone(),
        milestone: args.milestone.clone(),
    }
}

/// Runs a `task` subcommand.
pub fn run(command: &TaskCommand, env: &Env) -> anyhow::Result<Exit> {
    if let TaskCommand::Add(args) = command {
        if args.fields.title.is_none() && args.fields.description.is_none() {
            return Err(super::exit::usage("a task needs a `--title` (or a `--description`)"));
        }
        // A running loop is its task file's one writer: the task goes to it (from inside a
        // step, it is journaled with that step), and a refusal is said here and in the next
        // agent's packet.
        let task = new_task(args);
        match super::control::send(env, crate::control::Signal::AddTask { task: Box::new(task.clone()) })? {
            super::control::Sent::Accepted(message) => {
                super::out(&format!("{message}\n"));
                return Ok(Exit::Ok);
            }
            super::control::Sent::Refused(message) => return Err(refused(message)),
            super::control::Sent::NoLoop => {}
        }
        let mut file = open(env)?;
        let id = file.add(&task).map_err(|e| match e {
            TaskError::Read { .. } | TaskError::Write { .. } => anyhow::Error::new(e),
            refusal => refused(format!(
                "the task was not added to `{}`: {}; nothing was changed",
                file.path().display(),
                crate::task::add::reason(&refusal)
            )),
        })?;
        super::out(&format!("added task {id} to {}\n", file.path().display()));
        return Ok(Exit::Ok);
    }
    let mut file = open(env)?;
    match command {
        TaskCommand::Add(_) => unreachable!("taken above"),
        TaskCommand::Show(args) => {
            let task = known(&file, &args.id)?;
            let queue = board::queue(&file, std::time::SystemTime::now());
            let ranked = queue.ready.iter().find(|t| t.id == task.id);
            let waiting = queue.not_ready.iter().find(|t| t.id == task.id);
            if args.json {
                let value = serde_json::json!({
                    "task": task,
                    "rank": ranked.map(|r| r.rank),
                    "score": ranked.map(|r| r.score),
                    "not_ready": waiting.map(|w| &w.reason),
                });
                super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
            } else {
                let mut out = format!("{}: {}\nstatus: {}\n", task.id, task.title, task.status);
                if let Some(description) = task.description.as_deref().filter(|d| *d != task.title) {
                    out.push_str(&format!("description: {description}\n"));
                }
                if !task.depends_on.is_empty() {
                    out.push_str(&format!("depends on: {}\n", task.depends_on.join(", ")));
                }
                match (ranked, waiting) {
                    (Some(r), _) => {
                        out.push_str(&format!("queue: #{} with score {}\n", r.rank, r.score.total));
                    }
                    (None, Some(w)) => out.push_str(&format!("not ready: {}\n", w.reason)),
                    (None, None) => {}
                }
                super::out(&out);
            }
        }
        TaskCommand::Edit(args) => {
            known(&file, &args.id)?;
            let status = match args.status.as_deref() {
                None => None,
                Some(word) => Some(TaskStatus::parse(word).ok_or_else(|| {
                    super::exit::usage(format!(
                        "unknown status `{word}`; expected pending, in_progress, done, failed or blocked"
                    ))
                })?),
            };
            let members = members(&args.fields);
            if members.is_empty() && status.is_none() {
                return Err(super::exit::usage("nothing to change: give a field such as `--priority 3`"));
            }
            if let Some(status) = status {
                file.mark(&args.id, status, None)?;
            }
            change(file.set_members(&args.id, members))?;
            super::out(&format!("edited task {}\n", args.id));
        }
        TaskCommand::Block(args) => {
            known(&file, &args.id)?;
            file.mark(&args.id, TaskStatus::Blocked, args.reason.as_deref())?;
            if let (Some(reason), false) = (&args.reason, file.source() == crate::task::TaskSource::Todo) {
                file.set_members(&args.id, vec![("blocked_reason".to_owned(), reason.as_str().into())])?;
            }
            super::out(&format!("blocked task {}\n", args.id));
        }
        TaskCommand::Unblock(args) => {
            let task = known(&file, &args.id)?;
            if task.status != TaskStatus::Blocked {
                return Err(refused(format!("task `{}` is {}, not blocked", args.id, task.status)));
            }
            file.mark(&args.id, TaskStatus::Pending, None)?;
            super::out(&format!("unblocked task {}: pending\n", args.id));
        }
    }
    Ok(Exit::Ok)
}
