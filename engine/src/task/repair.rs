//! A `tasks.json` an agent edited by hand during its iteration, adding tasks the file cannot
//! hold: a duplicate id, a dependency on no task, a cycle, or more than [`MAX_TASKS`] tasks.
//!
//! Such a file no longer loads, and a loop that stopped there would lose the run for one bad
//! line. Instead, the tasks the agent added (those whose ids the file did not have when the loop
//! last read it) that break it are taken out again, one at a time, until the file checks; each
//! is returned with why and its text as the agent wrote it, for the loop to journal and to put
//! in the next packet. Everything else the agent changed — its other additions, the statuses
//! it set — stays, byte for byte. A file broken in a task the loop already knew is not guessed
//! at: the error stands.

use std::collections::HashSet;

use super::spans::Kind;
use super::{MAX_TASKS, Task, TaskError, TaskFile, TaskSource, json};

/// A task taken out of the file again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Its id.
    pub id: String,
    /// Why it could not stay.
    pub reason: String,
    /// Its text as the agent wrote it.
    pub text: String,
}

/// The index of an added task (not in `known`) to take out for `error`, if one is to blame.
fn culprit(error: &TaskError, tasks: &[Task], known: &HashSet<String>) -> Option<usize> {
    let added = |t: &Task| !known.contains(&t.id);
    match error {
        // The second use of the id: the one added after the first.
        TaskError::DuplicateId { what: "task", id, line, .. } => {
            tasks.iter().position(|t| t.id == *id && t.line == *line)
        }
        TaskError::UnknownDependency { task, line, .. } => {
            tasks.iter().position(|t| t.id == *task && t.line == *line && added(t))
        }
        TaskError::Cycle { cycle, .. } => tasks.iter().rposition(|t| cycle.contains(&t.id) && added(t)),
        _ => None,
    }
}

/// `text` without task `index` of its list, and the task's own text; the separator that goes
/// with it goes too.
fn without(file: &TaskFile, text: &str, index: usize) -> Result<(String, String), TaskError> {
    let root = json::scan(&file.path, text)?;
    let list = match &root.kind {
        Kind::Array(_) => &root,
        _ => match root.get("tasks") {
            Some(member) => &member.value,
            None => return Err(TaskError::NoSuchTask { path: file.path.clone(), id: index.to_string() }),
        },
    };
    let Kind::Array(elements) = &list.kind else {
        return Err(TaskError::NoSuchTask { path: file.path.clone(), id: index.to_string() });
    };
    let element = &elements[index];
    let removed = text[element.start..element.end].to_owned();
    let (from, to) = match (index.checked_sub(1).map(|i| &elements[i]), elements.get(index + 1)) {
        (_, Some(next)) => (element.start, next.start),
        (Some(before), None) => (before.end, element.end),
        (None, None) => (element.start, element.end),
    };
    Ok(([&text[..from], &text[to..]].concat(), removed))
}

impl TaskFile {
    /// Reads the file again; when tasks added since it was last read (ids not in `known`) keep
    /// it from loading, or take it past [`MAX_TASKS`], takes them out (see the module docs) and
    /// writes it back. Returns what was taken out; an error that no added task is to blame for
    /// stands.
    pub fn repair_additions(&mut self, known: &HashSet<String>) -> Result<Vec<Removed>, TaskError> {
        let mut text = super::read(&self.path)?;
        let mut removed = Vec::new();
        loop {
            let error = match Self::parse(self.path.clone(), self.source, &text) {
                Ok(file) => {
                    let added: Vec<usize> =
                        (0..file.tasks().len()).filter(|&i| !known.contains(&file.tasks()[i].id)).collect();
                    let over = file.tasks().len().saturating_sub(MAX_TASKS);
                    if over == 0 || added.is_empty() || self.source != TaskSource::Json {
                        if !removed.is_empty() {
                            crate::atomic_file::write(&self.path, &text)
                                .map_err(|source| TaskError::Write { path: self.path.clone(), source })?;
                        }
                        *self = file;
                        return Ok(removed);
                    }
                    let index = added[added.len() - 1];
                    let id = file.tasks()[index].id.clone();
                    let (rest, gone) = without(self, &text, index)?;
                    let reason = format!("the task file holds {MAX_TASKS} tasks already, the most it may");
                    removed.push(Removed { id, reason, text: gone });
                    text = rest;
                    continue;
                }
                Err(error) => error,
            };
            if self.source != TaskSource::Json {
                return Err(error);
            }
            let tasks = json::JsonDoc::parse(&self.path, &text).map(|doc| doc.tasks).unwrap_or_default();
            let Some(index) = culprit(&error, &tasks, known) else { return Err(error) };
            let (rest, gone) = without(self, &text, index)?;
            removed.push(Removed {
                id: tasks[index].id.clone(),
                reason: super::add::reason(&error),
                text: gone,
            });
            text = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::task::tests::tasks_json as file;

    #[test]
    fn added_tasks_that_break_the_file_are_taken_out_and_the_rest_of_the_edit_stays() {
        let (_dir, mut file) = file(
            "{\"tasks\": [\n  {\"id\": \"a\", \"title\": \"A\"},\n  {\"id\": \"b\", \"title\": \"B\"}\n]}\n",
        );
        let known: HashSet<String> = file.tasks().iter().map(|t| t.id.clone()).collect();
        // The agent marked `a` done, added a good task, a duplicate, a dangling one and a cycle.
        let edited = "{\"tasks\": [\n  {\"id\": \"a\", \"title\": \"A\", \"status\": \"done\"},\n  {\"id\": \"b\", \"title\": \"B\"},\n  {\"id\": \"c\", \"title\": \"C\", \"depends_on\": [\"a\"]},\n  {\"id\": \"a\", \"title\": \"Again\"},\n  {\"id\": \"d\", \"title\": \"D\", \"depends_on\": [\"zz\"]},\n  {\"id\": \"e\", \"title\": \"E\", \"depends_on\": [\"f\"]},\n  {\"id\": \"f\", \"title\": \"F\", \"depends_on\": [\"e\"]}\n]}\n";
        std::fs::write(file.path(), edited).unwrap();
        let removed = file.repair_additions(&known).unwrap();
        let summary: Vec<(&str, &str)> = removed.iter().map(|r| (r.id.as_str(), r.reason.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("a", "a task `a` exists already"),
                ("d", "it depends on `zz`, which is not a task of the file"),
                ("f", "it would close a dependency cycle: e → f → e"),
                // With `f` gone, `e` depends on nothing known.
                ("e", "it depends on `f`, which is not a task of the file"),
            ]
        );
        assert_eq!(removed[0].text, "{\"id\": \"a\", \"title\": \"Again\"}");
        assert_eq!(
            std::fs::read_to_string(file.path()).unwrap(),
            "{\"tasks\": [\n  {\"id\": \"a\", \"title\": \"A\", \"status\": \"done\"},\n  {\"id\": \"b\", \"title\": \"B\"},\n  {\"id\": \"c\", \"title\": \"C\", \"depends_on\": [\"a\"]}\n]}\n"
        );
    }

    #[test]
    fn a_file_broken_in_a_known_task_is_left_as_it_is() {
        let (_dir, mut file) = file("[{\"id\": \"a\", \"title\": \"A\"}]\n");
        let known: HashSet<String> = ["a".to_owned()].into();
        let broken = "[{\"id\": \"a\", \"title\": \"A\", \"depends_on\": [\"nope\"]}]\n";
        std::fs::write(file.path(), broken).unwrap();
        assert!(matches!(file.repair_additions(&known), Err(TaskError::UnknownDependency { .. })));
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), broken);
    }

    #[test]
    fn tasks_added_past_the_limit_are_taken_out_last_first() {
        let tasks: Vec<String> =
            (0..MAX_TASKS).map(|i| format!("{{\"id\": \"t{i}\", \"title\": \"t\"}}")).collect();
        let (_dir, mut file) = file(&format!("[{}]\n", tasks.join(",\n")));
        let known: HashSet<String> = file.tasks().iter().map(|t| t.id.clone()).collect();
        let text = std::fs::read_to_string(file.path()).unwrap();
        std::fs::write(
            file.path(),
            text.replace(
                "]\n",
                ",\n{\"id\": \"x\", \"title\": \"x\"},\n{\"id\": \"y\", \"title\": \"y\"}]\n",
            ),
        )
        .unwrap();
        let removed = file.repair_additions(&known).unwrap();
        assert_eq!(removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["y", "x"]);
        assert_eq!(file.tasks().len(), MAX_TASKS);
    }
}
