//! Adding a task: the one way tasks join a task file, whoever adds them — `ralph-loop task
//! add`, an agent's result file (`"tasks": [...]`), or `task add` run from inside a step, which
//! reaches the running loop over its control channel.
//!
//! An added task is checked before the file is written: it needs a title (or a description),
//! its id (given, or the first free `<prefix>N`) must be new, its dependencies must name
//! tasks of the file, it must not close a cycle, and the file may hold at most
//! [`MAX_TASKS`](super::MAX_TASKS). A refused task changes nothing; the error says why in
//! words an agent can act on.

use ralph_plugin_sdk::NewTask;
use serde_json::Value;

use super::{TaskError, TaskFile};

/// The prefix of a generated id.
pub const DEFAULT_PREFIX: &str = "task-";

/// The first `<prefix>N` (N from 1) that no task of `file` has.
pub fn generated_id(file: &TaskFile, prefix: &str) -> String {
    (1..).map(|n| format!("{prefix}{n}")).find(|id| file.task(id).is_none()).unwrap_or_default()
}

/// The members of a new task's JSON object, in the order a person would write them; `status`
/// is `pending` unless the caller sets another.
pub fn members(id: &str, task: &NewTask) -> Vec<(String, Value)> {
    let mut members = vec![("id".to_owned(), Value::from(id))];
    let mut put = |key: &str, value: Value| members.push((key.to_owned(), value));
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(Value::from);
    if let Some(title) = text(&task.title) {
        put("title", title);
    }
    if let Some(description) = text(&task.description) {
        put("description", description);
    }
    if let Some(kind) = text(&task.kind) {
        put("type", kind);
    }
    if let Some(priority) = &task.priority {
        put("priority", priority.clone());
    }
    if let Some(complexity) = task.complexity {
        put("complexity", complexity.into());
    }
    let list = |items: &[String]| -> Value {
        items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()).map(Value::from).collect()
    };
    if !task.depends_on.is_empty() {
        put("depends_on", list(&task.depends_on));
    }
    if let Some(role) = text(&task.role) {
        put("role", role);
    }
    if !task.labels.is_empty() {
        put("labels", list(&task.labels));
    }
    if !task.acceptance_criteria.is_empty() {
        put("acceptance_criteria", list(&task.acceptance_criteria));
    }
    put("status", "pending".into());
    members
}

/// Why a task cannot be added, before the file is looked at.
fn malformed(task: &NewTask) -> Option<String> {
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|t| t.trim().is_empty());
    if blank(&task.title) && blank(&task.description) {
        return Some("a task needs a `title` (or a `description`)".into());
    }
    if let Some(id) = &task.id {
        if id.trim().is_empty() || id.chars().any(char::is_control) {
            return Some(format!(
                "`{}` is not a task id: give a word such as `task-7`, or no id",
                id.escape_debug()
            ));
        }
    }
    if let Some(c) = task.complexity.filter(|c| !(1..=5).contains(c)) {
        return Some(format!("`complexity` is {c}; it goes from 1 (trivial) to 5 (hard)"));
    }
    None
}

/// Why an add was refused, as a sentence without the file's path (the caller names the file).
pub fn reason(error: &TaskError) -> String {
    match error {
        TaskError::DuplicateId { id, .. } => format!("a task `{id}` exists already"),
        TaskError::UnknownDependency { dependency, .. } => {
            format!("it depends on `{dependency}`, which is not a task of the file")
        }
        TaskError::Cycle { cycle, .. } => format!("it would close a dependency cycle: {}", cycle.join(" → ")),
        TaskError::Full { max, .. } => format!("the task file holds {max} tasks already, the most it may"),
        TaskError::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl TaskFile {
    /// Adds `task` to the file (read afresh) and returns its id. A refused task leaves the
    /// file as it was; [`reason`] words the error.
    pub fn add(&mut self, task: &NewTask) -> Result<String, TaskError> {
        self.reload()?;
        if let Some(message) = malformed(task) {
            return Err(TaskError::Invalid { path: self.path.clone(), line: 1, column: 1, message });
        }
        let id = match task.id.as_deref().map(str::trim) {
            Some(id) => id.to_owned(),
            None => {
                let prefix = task.prefix.as_deref().map(str::trim).filter(|p| !p.is_empty());
                generated_id(self, prefix.unwrap_or(DEFAULT_PREFIX))
            }
        };
        if let Some(existing) = self.task(&id) {
            return Err(TaskError::DuplicateId {
                path: self.path.clone(),
                what: "task",
                id,
                line: existing.line,
                first_line: existing.line,
            });
        }
        // Its own id counts as known: a task that depends on itself is a cycle, named so.
        let known: Vec<&str> =
            self.tasks().iter().map(|t| t.id.as_str()).chain(std::iter::once(id.as_str())).collect();
        if let Some(dependency) = task.depends_on.iter().map(|d| d.trim()).find(|d| !known.contains(d)) {
            let suggestion = crate::workflow::suggest::did_you_mean(dependency, known.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(TaskError::Invalid {
                path: self.path.clone(),
                line: 1,
                column: 1,
                message: format!("it depends on `{dependency}`, which is not a task of the file{suggestion}"),
            });
        }
        self.append(&members(&id, task), task.milestone.as_deref().map(str::trim).filter(|m| !m.is_empty()))?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::task::tests::tasks_json as file;

    fn new(title: &str) -> NewTask {
        NewTask { title: Some(title.into()), ..NewTask::default() }
    }

    #[test]
    fn ids_are_generated_unique_by_prefix_and_the_task_is_appended() {
        let (_dir, mut file) = file("{\"tasks\": [\n  {\"id\": \"idea-1\", \"title\": \"a\"}\n]}\n");
        let id = file.add(&NewTask { prefix: Some("idea-".into()), ..new("b") }).unwrap();
        assert_eq!(id, "idea-2");
        assert_eq!(file.add(&new("c")).unwrap(), "task-1");
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(text.contains("{\"id\": \"idea-2\", \"title\": \"b\", \"status\": \"pending\"}"), "{text}");
        assert_eq!(file.tasks().len(), 3);
    }

    #[test]
    fn duplicates_cycles_dangling_dependencies_and_blank_tasks_are_refused_with_the_file_unchanged() {
        let text = "{\"tasks\": [\n  {\"id\": \"a\", \"title\": \"a\", \"depends_on\": []}\n]}\n";
        let (_dir, mut file) = file(text);
        let refused = |file: &mut TaskFile, task: NewTask| reason(&file.add(&task).unwrap_err());
        assert_eq!(
            refused(&mut file, NewTask { id: Some("a".into()), ..new("again") }),
            "a task `a` exists already"
        );
        let dangling = refused(&mut file, NewTask { depends_on: vec!["b".into()], ..new("x") });
        assert!(dangling.contains("depends on `b`, which is not a task"), "{dangling}");
        assert_eq!(refused(&mut file, NewTask::default()), "a task needs a `title` (or a `description`)");
        let complexity = refused(&mut file, NewTask { complexity: Some(9), ..new("x") });
        assert!(complexity.contains("1 (trivial) to 5"), "{complexity}");
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), text);
    }

    #[test]
    fn a_task_that_closes_a_cycle_is_refused_naming_it() {
        // Tasks already in a file cannot depend on one not yet there (the file would not
        // load), so the cycle an append can close goes through the new task itself.
        let (_dir, mut file) = file("[{\"id\": \"a\", \"title\": \"a\"}]\n");
        let task = NewTask { id: Some("c".into()), depends_on: vec!["a".into(), "c".into()], ..new("c") };
        let cycle = reason(&file.add(&task).unwrap_err());
        assert_eq!(cycle, "it would close a dependency cycle: c → c");
    }

    #[test]
    fn the_file_s_limit_is_kept() {
        let tasks: Vec<String> =
            (0..super::super::MAX_TASKS).map(|i| format!("{{\"id\": \"t{i}\", \"title\": \"t\"}}")).collect();
        let (_dir, mut file) = file(&format!("[{}]\n", tasks.join(",\n")));
        let full = reason(&file.add(&new("one more")).unwrap_err());
        assert_eq!(full, "the task file holds 500 tasks already, the most it may");
    }

    fn board_and_list(name: &str, text: &str) -> (tempfile::TempDir, TaskFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let file = TaskFile::open(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn a_kanban_board_takes_the_task_in_the_last_milestone_or_the_one_named() {
        let board = "{\"milestones\": [\n  {\"id\": \"M1\", \"tasks\": [\n    {\"id\": \"M1.1\", \"title\": \"Set up\", \"status\": \"done\"}\n  ]},\n  {\"id\": \"M2\", \"blocked_by\": [\"M1\"]}\n]}\n";
        let (_dir, mut file) = board_and_list("kanban.json", board);
        let id = file.add(&NewTask { prefix: Some("M2.".into()), ..new("Schema") }).unwrap();
        assert_eq!(id, "M2.1");
        file.add(&NewTask { id: Some("M1.2".into()), milestone: Some("M1".into()), ..new("Lint") }).unwrap();
        assert_eq!(
            std::fs::read_to_string(file.path()).unwrap(),
            "{\"milestones\": [\n  {\"id\": \"M1\", \"tasks\": [\n    {\"id\": \"M1.1\", \"title\": \"Set up\", \"status\": \"done\"},\n    {\"id\": \"M1.2\", \"title\": \"Lint\", \"status\": \"todo\"}\n  ]},\n  {\"id\": \"M2\", \"blocked_by\": [\"M1\"], \"tasks\": [{\"id\": \"M2.1\", \"title\": \"Schema\", \"status\": \"todo\"}]}\n]}\n"
        );
        assert_eq!(file.task("M2.1").unwrap().milestone.as_deref(), Some("M2"));
        let wrong = reason(&file.add(&NewTask { milestone: Some("M3".into()), ..new("x") }).unwrap_err());
        assert!(wrong.starts_with("there is no milestone `M3` on the board"), "{wrong}");
    }

    #[test]
    fn a_todo_list_takes_an_item_after_its_last_task_and_refuses_what_it_cannot_hold() {
        let todo = "# Work\n\n- [x] T-1: First\n- [ ] T-2: Second\n  with a note\n\n## Notes\n\nnot tasks\n";
        let (_dir, mut file) = board_and_list("TODO.md", todo);
        let id = file.add(&NewTask { description: Some("More\nabout it".into()), ..new("Third") }).unwrap();
        assert_eq!(id, "task-1");
        assert_eq!(
            std::fs::read_to_string(file.path()).unwrap(),
            "# Work\n\n- [x] T-1: First\n- [ ] T-2: Second\n  with a note\n- [ ] task-1: Third\n  More about it\n\n## Notes\n\nnot tasks\n"
        );
        let refused = reason(
            &file
                .add(&NewTask { priority: Some(2.into()), labels: vec!["x".into()], ..new("y") })
                .unwrap_err(),
        );
        assert!(refused.starts_with("a TODO.md task has no place for `priority`, `labels`"), "{refused}");
        let bad_id = reason(&file.add(&NewTask { id: Some("not an id".into()), ..new("y") }).unwrap_err());
        assert!(bad_id.contains("cannot be a TODO.md id"), "{bad_id}");
    }
}
