//! `tasks.json`: a JSON list of tasks, and the JSON machinery `kanban.json` shares — reading a
//! task object, and rewriting only the text of its `status`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::spans::{self, Kind, Member, Node};
use super::{LineIndex, Task, TaskError, TaskStatus, line_col};

/// A parsed `tasks.json`.
#[derive(Debug, Clone)]
pub(super) struct JsonDoc {
    pub tasks: Vec<Task>,
    statuses: Statuses,
}

impl JsonDoc {
    pub fn parse(path: &Path, text: &str) -> Result<JsonDoc, TaskError> {
        let root = scan(path, text)?;
        let list = match &root.kind {
            Kind::Array(_) => &root,
            Kind::Object(members) => {
                no_duplicate_keys(members).map_err(|bad| bad.at(path, text))?;
                &root.get("tasks").ok_or_else(|| Bad::new(root.start, TASKS_SHAPE).at(path, text))?.value
            }
            _ => return Err(Bad::new(root.start, TASKS_SHAPE).at(path, text)),
        };
        let Kind::Array(elements) = &list.kind else {
            return Err(Bad::new(list.start, "`tasks` must be an array of tasks").at(path, text));
        };
        let mut tasks = Vec::with_capacity(elements.len());
        let mut statuses = Statuses::default();
        let lines = LineIndex::new(text);
        for element in elements {
            let (task, slot) = read_task(text, &lines, element, None).map_err(|bad| bad.at(path, text))?;
            statuses.push(&task, slot, element, text);
            tasks.push(task);
        }
        Ok(JsonDoc { tasks, statuses })
    }

    /// `text` with the status of task `index` set to `status`.
    pub fn set_status(&self, text: &str, index: usize, status: TaskStatus) -> String {
        self.statuses.set(text, index, status, status.as_str())
    }

    /// `text` with member `key` of task `index` set to `value`.
    pub fn set_member(&self, text: &str, index: usize, key: &str, value: &Value) -> String {
        self.statuses.set_member(text, index, key, value)
    }
}

/// `text` with the task object `object` (one line, already JSON) appended to its list of tasks,
/// after the last one and separated from it the way the last two are (or the list's first task
/// from its bracket); nothing else changes.
pub(super) fn append_task(path: &Path, text: &str, object: &str) -> Result<String, TaskError> {
    let root = scan(path, text)?;
    let list = match &root.kind {
        Kind::Array(_) => &root,
        _ => &root.get("tasks").ok_or_else(|| Bad::new(root.start, TASKS_SHAPE).at(path, text))?.value,
    };
    let Kind::Array(_) = &list.kind else {
        return Err(Bad::new(list.start, "`tasks` must be an array of tasks").at(path, text));
    };
    Ok(append_element(text, list, object))
}

/// `text` with `object` appended to the array `list`, after its last element and separated from
/// it the way the last two are (or the first from its bracket).
pub(super) fn append_element(text: &str, list: &Node, object: &str) -> String {
    let Kind::Array(elements) = &list.kind else { return text.to_owned() };
    let (at, separator) = match elements.as_slice() {
        [] => (list.start + 1, String::new()),
        [.., before, last] => (last.end, text[before.end..last.start].to_owned()),
        [only] => {
            let lead = &text[list.start + 1..only.start];
            (only.end, if lead.contains('\n') { format!(",{lead}") } else { ", ".to_owned() })
        }
    };
    [&text[..at], &separator, object, &text[at..]].concat()
}

/// `text` with member `key` of the object `node` set to `value` (already JSON): replaced where
/// it is, or added after the last member the way the object writes its members.
pub(super) fn put_member(text: &str, node: &Node, key: &str, value: &str) -> String {
    let Some(members) = node.members().filter(|m| !m.is_empty()) else {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        return [&text[..node.start + 1], &quoted, ": ", value, &text[node.start + 1..]].concat();
    };
    match member_slot(text, node, members, key) {
        Slot::Replace { start, end } => [&text[..start], value, &text[end..]].concat(),
        Slot::Insert { at, prefix } => [&text[..at], &prefix, value, &text[at..]].concat(),
    }
}

/// `value` as JSON on one line, with a space after each comma and colon, as people write it.
pub(super) fn inline(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Object(members) => format!(
            "{{{}}}",
            members
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => scalar.to_string(),
    }
}

const TASKS_SHAPE: &str = "expected an array of tasks, or an object with a `tasks` array";

/// A problem at a byte offset, before it is given its file and line.
#[derive(Debug)]
pub(super) struct Bad {
    offset: usize,
    message: String,
}

impl Bad {
    pub fn new(offset: usize, message: impl Into<String>) -> Bad {
        Bad { offset, message: message.into() }
    }

    /// The error, located in `text` of `path`.
    pub fn at(self, path: &Path, text: &str) -> TaskError {
        let (line, column) = line_col(text, self.offset);
        TaskError::Invalid { path: path.to_path_buf(), line, column, message: self.message }
    }
}

/// Checks that `text` is JSON (reporting syntax errors where they are), and scans it.
pub(super) fn scan(path: &Path, text: &str) -> Result<Node, TaskError> {
    let bom = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    if let Err(error) = serde_json::from_str::<Value>(&text[bom..]) {
        // serde_json counts columns in bytes; turn its position into an offset, and that into a
        // line and a column in characters like every other position here.
        let line_start: usize =
            text[bom..].split_inclusive('\n').take(error.line().saturating_sub(1)).map(str::len).sum();
        let offset = bom + line_start + error.column().saturating_sub(1);
        let (line, column) = line_col(text, offset);
        let message = error.to_string();
        let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m).to_owned();
        return Err(TaskError::Syntax { path: path.to_path_buf(), line, column, message });
    }
    spans::scan(text).ok_or_else(|| Bad::new(0, "cannot locate the values of this JSON").at(path, text))
}

/// Whether `text` is a JSON object with a member `key`.
pub(super) fn has_top_level_key(text: &str, key: &str) -> bool {
    spans::scan(text).is_some_and(|root| root.get(key).is_some())
}

/// Refuses an object in which a key repeats: which of the two a reader takes differs.
pub(super) fn no_duplicate_keys(members: &[Member]) -> Result<(), Bad> {
    for (i, member) in members.iter().enumerate() {
        if members[..i].iter().any(|m| m.key == member.key) {
            return Err(Bad::new(member.key_start, format!("duplicate key `{}`", member.key)));
        }
    }
    Ok(())
}

/// The value of `node` (a slice of valid JSON).
fn value(text: &str, node: &Node) -> Value {
    serde_json::from_str(&text[node.start..node.end]).unwrap_or(Value::Null)
}

/// An id: a string, or a number as written.
pub(super) fn read_id(text: &str, node: &Node, what: &str) -> Result<String, Bad> {
    let id = match value(text, node) {
        Value::String(id) => id,
        Value::Number(_) => text[node.start..node.end].to_owned(),
        _ => return Err(Bad::new(node.start, format!("{what} must be a string or a number"))),
    };
    if id.trim().is_empty() {
        return Err(Bad::new(node.start, format!("{what} is empty")));
    }
    Ok(id)
}

/// An optional string; `null` counts as absent.
pub(super) fn read_string(text: &str, member: Option<&Member>) -> Result<Option<String>, Bad> {
    let Some(member) = member else { return Ok(None) };
    match value(text, &member.value) {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(Bad::new(member.value.start, format!("`{}` must be a string", member.key))),
    }
}

/// A list of ids (strings or numbers); absent or `null` is empty.
pub(super) fn read_ids(text: &str, member: Option<&Member>) -> Result<Vec<String>, Bad> {
    let Some(member) = member else { return Ok(Vec::new()) };
    match &member.value.kind {
        Kind::Array(elements) => {
            elements.iter().map(|e| read_id(text, e, &format!("an id in `{}`", member.key))).collect()
        }
        Kind::Scalar if text[member.value.start..member.value.end] == *"null" => Ok(Vec::new()),
        _ => Err(Bad::new(member.value.start, format!("`{}` must be an array of ids", member.key))),
    }
}

/// A list of strings; absent or `null` is empty.
fn read_strings(text: &str, member: Option<&Member>) -> Result<Vec<String>, Bad> {
    let Some(member) = member else { return Ok(Vec::new()) };
    let wrong = || Bad::new(member.value.start, format!("`{}` must be an array of strings", member.key));
    match value(text, &member.value) {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| if let Value::String(s) = item { Ok(s) } else { Err(wrong()) })
            .collect(),
        _ => Err(wrong()),
    }
}

/// A priority: an integer, or a name (see the module docs).
fn read_priority(text: &str, member: Option<&Member>) -> Result<Option<i64>, Bad> {
    let Some(member) = member else { return Ok(None) };
    let wrong = || {
        Bad::new(
            member.value.start,
            "`priority` must be an integer (higher runs sooner) or one of low, medium, normal, high, \
             critical, urgent",
        )
    };
    match value(text, &member.value) {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or_else(wrong),
        Value::String(name) => match name.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Some(-1)),
            "medium" | "normal" => Ok(Some(0)),
            "high" => Ok(Some(1)),
            "critical" | "urgent" => Ok(Some(2)),
            other => other.parse::<i64>().map(Some).map_err(|_| wrong()),
        },
        _ => Err(wrong()),
    }
}

/// A complexity: an integer from 1 (trivial) to 5 (hard); `null` counts as absent.
fn read_complexity(text: &str, member: Option<&Member>) -> Result<Option<u8>, Bad> {
    let Some(member) = member else { return Ok(None) };
    match value(text, &member.value) {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64().and_then(|n| u8::try_from(n).ok()) {
            Some(n @ COMPLEXITY_MIN..=COMPLEXITY_MAX) => Ok(Some(n)),
            _ => Err(Bad::new(member.value.start, COMPLEXITY_RANGE)),
        },
        _ => Err(Bad::new(member.value.start, COMPLEXITY_RANGE)),
    }
}

use super::schedule::{COMPLEXITY_MAX, COMPLEXITY_MIN};

const COMPLEXITY_RANGE: &str = "`complexity` must be an integer from 1 (trivial) to 5 (hard)";

/// A count such as `failed_attempts`: a non-negative integer; absent or `null` is 0.
fn read_count(text: &str, member: Option<&Member>) -> Result<u32, Bad> {
    let Some(member) = member else { return Ok(0) };
    match value(text, &member.value) {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
            Bad::new(member.value.start, format!("`{}` must be a non-negative integer", member.key))
        }),
        _ => Err(Bad::new(member.value.start, format!("`{}` must be a non-negative integer", member.key))),
    }
}

/// A time such as `last_attempt_at`: an RFC 3339 string; absent or `null` is none.
fn read_time(text: &str, member: Option<&Member>) -> Result<Option<String>, Bad> {
    let time = read_string(text, member)?;
    if let (Some(time), Some(member)) = (&time, member) {
        if humantime::parse_rfc3339_weak(time).is_err() {
            return Err(Bad::new(
                member.value.start,
                format!("`{}` must be an RFC 3339 time such as `2026-01-31T12:00:00Z`", member.key),
            ));
        }
    }
    Ok(time)
}

/// Where a task's status is written: over its `status` value, or, when it has none, inserted
/// after its last member with this text before the value.
#[derive(Debug, Clone)]
pub(super) enum Slot {
    Replace { start: usize, end: usize },
    Insert { at: usize, prefix: String },
}

/// Reads one task object. `milestone` is the milestone it is listed under on a kanban board.
pub(super) fn read_task(
    text: &str,
    lines: &LineIndex,
    node: &Node,
    milestone: Option<&str>,
) -> Result<(Task, Slot), Bad> {
    let Some(members) = node.members() else {
        return Err(Bad::new(node.start, "expected a task object"));
    };
    no_duplicate_keys(members)?;
    let get = |key: &str| node.get(key);
    let id = match get("id") {
        Some(member) => read_id(text, &member.value, "a task `id`")?,
        None => return Err(Bad::new(node.start, "this task has no `id`")),
    };
    let title = read_string(text, get("title"))?;
    let description = read_string(text, get("description"))?;
    let title = match (title, description.as_deref()) {
        (Some(title), _) => title,
        (None, Some(description)) => description.lines().next().unwrap_or_default().trim().to_owned(),
        (None, None) => {
            return Err(Bad::new(
                node.start,
                format!("task `{id}` has neither a `title` nor a `description`"),
            ));
        }
    };
    let status = match get("status") {
        None => TaskStatus::Pending,
        Some(member) => match value(text, &member.value) {
            Value::String(word) => TaskStatus::parse(&word).ok_or_else(|| {
                Bad::new(
                    member.value.start,
                    format!(
                        "unknown status `{word}`; expected pending, in_progress, done, failed or blocked \
                         (or todo, doing, completed)"
                    ),
                )
            })?,
            _ => return Err(Bad::new(member.value.start, "`status` must be a string")),
        },
    };
    let depends_on = match (get("depends_on"), get("dependencies")) {
        (Some(_), Some(second)) => {
            return Err(Bad::new(second.key_start, "use `depends_on` or `dependencies`, not both"));
        }
        (first, second) => read_ids(text, first.or(second))?,
    };
    let milestone = match milestone {
        Some(milestone) => Some(milestone.to_owned()),
        None => read_string(text, get("milestone"))?,
    };
    let task = Task {
        id,
        title,
        description,
        status,
        priority: read_priority(text, get("priority"))?,
        depends_on,
        role: read_string(text, get("role"))?,
        acceptance_criteria: read_strings(text, get("acceptance_criteria"))?,
        milestone,
        complexity: read_complexity(text, get("complexity"))?,
        failed_attempts: read_count(text, get("failed_attempts"))?,
        last_attempt_at: read_time(text, get("last_attempt_at"))?,
        labels: read_strings(text, get("labels"))?,
        kind: read_string(text, get("type"))?,
        line: lines.line(node.start),
    };
    Ok((task, slot(text, node, members)))
}

/// Where the status of the task object `node` goes.
fn slot(text: &str, node: &Node, members: &[Member]) -> Slot {
    member_slot(text, node, members, "status")
}

/// Where the value of member `key` of the object `node` goes: over its value, or after the last
/// member, written the way the object writes its members.
fn member_slot(text: &str, node: &Node, members: &[Member], key: &str) -> Slot {
    if let Some(member) = node.get(key) {
        return Slot::Replace { start: member.value.start, end: member.value.end };
    }
    // `read_task` found an `id`, so there is a last member.
    let last = &members[members.len() - 1];
    // Write `"key": ` the way this object writes its last member's key and colon.
    let colon = &text[last.key_end..last.value.start];
    let line_start = text[..last.key_start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..last.key_start];
    let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
    let prefix = if text[node.start..last.key_start].contains('\n') && indent.trim().is_empty() {
        let newline = if text[..line_start].ends_with("\r\n") { "\r\n" } else { "\n" };
        format!(",{newline}{indent}{quoted}{colon}")
    } else {
        let comma = match members {
            [first, second, ..] => &text[first.value.end..second.key_start],
            _ => ", ",
        };
        format!("{comma}{quoted}{colon}")
    };
    Slot::Insert { at: last.value.end, prefix }
}

/// The status slots of a file's tasks, and the words the file already uses for each status.
#[derive(Debug, Clone, Default)]
pub(super) struct Statuses {
    slots: Vec<Slot>,
    /// Each task's object, to set its other members.
    objects: Vec<Node>,
    spellings: HashMap<TaskStatus, String>,
}

impl Statuses {
    /// Records the slot and the object of the next task.
    pub fn push(&mut self, task: &Task, slot: Slot, object: &Node, text: &str) {
        self.objects.push(object.clone());
        if let Slot::Replace { start, end } = &slot {
            if let Ok(word) = serde_json::from_str::<String>(&text[*start..*end]) {
                self.spellings.entry(task.status).or_insert(word);
            }
        }
        self.slots.push(slot);
    }

    /// `text` with task `index`'s status set to `status`, spelled as the file spells it, else as
    /// `default`.
    pub fn set(&self, text: &str, index: usize, status: TaskStatus, default: &str) -> String {
        let word = self.spellings.get(&status).map_or(default, String::as_str);
        let quoted = serde_json::to_string(word).unwrap_or_else(|_| format!("\"{}\"", status.as_str()));
        fill(text, &self.slots[index], &quoted)
    }

    /// `text` with member `key` of task `index` set to the JSON `value`, replaced in place or
    /// added after its last member.
    pub fn set_member(&self, text: &str, index: usize, key: &str, value: &Value) -> String {
        let object = &self.objects[index];
        let members = object.members().unwrap_or_default();
        let slot = member_slot(text, object, members, key);
        fill(text, &slot, &inline(value))
    }
}

/// `text` with `value` written in `slot`.
fn fill(text: &str, slot: &Slot, value: &str) -> String {
    match slot {
        Slot::Replace { start, end } => [&text[..*start], value, &text[*end..]].concat(),
        Slot::Insert { at, prefix } => [&text[..*at], prefix, value, &text[*at..]].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{TaskFile, TaskSource};

    fn parse(text: &str) -> Result<TaskFile, TaskError> {
        TaskFile::parse("tasks.json", TaskSource::Json, text)
    }

    fn set(text: &str, id: &str, status: TaskStatus) -> String {
        let file = parse(text).unwrap();
        let Doc::Json(doc) = &file.doc else { unreachable!() };
        let index = file.tasks().iter().position(|t| t.id == id).unwrap();
        doc.set_status(text, index, status)
    }

    use crate::task::Doc;

    #[test]
    fn reads_the_agent_swarm_seed_list() {
        let text = r#"[
{
"id": "1",
"description": "Add user authentication",
"status": "pending"
},
{
"id": "2",
"description": "Add tests for authentication",
"status": "pending"
}
]"#;
        let file = parse(text).unwrap();
        let tasks = file.tasks();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].id, "1");
        assert_eq!(tasks[0].title, "Add user authentication");
        assert_eq!(tasks[0].description.as_deref(), Some("Add user authentication"));
        assert_eq!(tasks[1].line, 7);
        assert_eq!(file.next_ready(&Default::default()).unwrap().id, "1");
    }

    #[test]
    fn reads_every_field() {
        let text = r#"{"version": 3, "tasks": [
  {"id": 7, "title": "Login", "description": "Form and session", "status": "In-Progress",
   "priority": "high", "dependencies": [6], "role": "implementer",
   "acceptance_criteria": ["form renders", "session cookie set"], "milestone": "M1", "x": {"y": 1}},
  {"id": 6, "title": "Schema", "status": "completed", "priority": null}
]}"#;
        let file = parse(text).unwrap();
        let login = &file.tasks()[0];
        assert_eq!(login.id, "7");
        assert_eq!(login.title, "Login");
        assert_eq!(login.description.as_deref(), Some("Form and session"));
        assert_eq!(login.status, TaskStatus::InProgress);
        assert_eq!(login.priority, Some(1));
        assert_eq!(login.depends_on, ["6"]);
        assert_eq!(login.role.as_deref(), Some("implementer"));
        assert_eq!(login.acceptance_criteria, ["form renders", "session cookie set"]);
        assert_eq!(login.milestone.as_deref(), Some("M1"));
        assert_eq!(file.tasks()[1].status, TaskStatus::Done);
        assert_eq!(file.tasks()[1].priority, None);
    }

    #[test]
    fn shape_errors_point_at_the_value() {
        let cases = [
            ("{\"todo\": []}", 1, 1, TASKS_SHAPE.to_owned()),
            ("{\"tasks\": {}}", 1, 11, "`tasks` must be an array of tasks".to_owned()),
            ("[\n  {\"title\": \"x\"}]", 2, 3, "this task has no `id`".to_owned()),
            ("[{\"id\": \"a\"}]", 1, 2, "task `a` has neither a `title` nor a `description`".to_owned()),
            ("[\n{\"id\": \"a\", \"title\": \"é\", \"status\": \"later\"}]", 2, 37, "unknown status `later`; expected pending, in_progress, done, failed or blocked (or todo, doing, completed)".to_owned()),
            ("[{\"id\": \"a\", \"title\": \"t\", \"priority\": 1.5}]", 1, 40, "`priority` must be an integer (higher runs sooner) or one of low, medium, normal, high, critical, urgent".to_owned()),
            ("[{\"id\": \"a\", \"title\": \"t\", \"depends_on\": \"b\"}]", 1, 42, "`depends_on` must be an array of ids".to_owned()),
            ("[{\"id\": \"a\", \"title\": \"t\", \"id\": \"b\"}]", 1, 28, "duplicate key `id`".to_owned()),
            ("[{\"id\": true, \"title\": \"t\"}]", 1, 9, "a task `id` must be a string or a number".to_owned()),
            ("[3]", 1, 2, "expected a task object".to_owned()),
        ];
        for (text, line, column, message) in cases {
            match parse(text) {
                Err(TaskError::Invalid { line: l, column: c, message: m, .. }) => {
                    assert_eq!((l, c, m.as_str()), (line, column, message.as_str()), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn syntax_errors_have_line_and_character_column() {
        let text = "{\"tasks\": [\n  {\"id\": \"é\", \"title\": \"x\",}\n]}";
        let error = parse(text).unwrap_err();
        let TaskError::Syntax { line, column, message, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*line, *column), (2, 28), "{message}");
        assert_eq!(message, "trailing comma");
        assert_eq!(error.to_string(), "tasks.json:2:28: invalid JSON: trailing comma");
    }

    #[test]
    fn marking_replaces_only_the_status_text() {
        let text = "{\n\t\"tasks\": [\n\t\t{\"id\": \"a\", \"title\": \"A\", \"status\": \"pending\", \"cost\": 1.50},\n\t\t{\"id\": \"b\", \"title\": \"B\", \"status\": \"pending\"}\n\t]\n}\n";
        assert_eq!(
            set(text, "b", TaskStatus::Done),
            "{\n\t\"tasks\": [\n\t\t{\"id\": \"a\", \"title\": \"A\", \"status\": \"pending\", \"cost\": 1.50},\n\t\t{\"id\": \"b\", \"title\": \"B\", \"status\": \"done\"}\n\t]\n}\n"
        );
    }

    #[test]
    fn marking_reuses_the_files_spelling() {
        let text = r#"[{"id": "a", "title": "A", "status": "Completed"}, {"id": "b", "title": "B", "status": "todo"}]"#;
        assert_eq!(
            set(text, "b", TaskStatus::Done),
            r#"[{"id": "a", "title": "A", "status": "Completed"}, {"id": "b", "title": "B", "status": "Completed"}]"#
        );
        assert_eq!(
            set(text, "a", TaskStatus::Failed),
            r#"[{"id": "a", "title": "A", "status": "failed"}, {"id": "b", "title": "B", "status": "todo"}]"#
        );
    }

    #[test]
    fn a_missing_status_is_inserted_like_its_neighbours() {
        let multi = "[\n    {\n        \"id\": \"a\",\n        \"title\": \"A\"\n    }\n]\n";
        assert_eq!(
            set(multi, "a", TaskStatus::InProgress),
            "[\n    {\n        \"id\": \"a\",\n        \"title\": \"A\",\n        \"status\": \"in_progress\"\n    }\n]\n"
        );
        let crlf = multi.replace('\n', "\r\n");
        assert_eq!(
            set(&crlf, "a", TaskStatus::Done),
            "[\r\n    {\r\n        \"id\": \"a\",\r\n        \"title\": \"A\",\r\n        \"status\": \"done\"\r\n    }\r\n]\r\n"
        );
        let inline = r#"[{"id":"a","title":"A"}]"#;
        assert_eq!(set(inline, "a", TaskStatus::Done), r#"[{"id":"a","title":"A","status":"done"}]"#);
        let spaced = r#"[{ "id" : 1, "description" : "d" }]"#;
        assert_eq!(
            set(spaced, "1", TaskStatus::Done),
            r#"[{ "id" : 1, "description" : "d", "status" : "done" }]"#
        );
    }
}
