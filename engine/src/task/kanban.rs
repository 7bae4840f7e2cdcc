//! `kanban.json`: the PyWiggum board — milestones, each `blocked_by` other milestones, each
//! with its tasks and their acceptance criteria.

use std::path::Path;

use super::json::{self, Bad, Statuses};
use super::spans::Kind;
use super::{LineIndex, Milestone, Task, TaskError, TaskStatus};

/// A parsed `kanban.json`.
#[derive(Debug, Clone)]
pub(super) struct KanbanDoc {
    pub tasks: Vec<Task>,
    pub milestones: Vec<Milestone>,
    statuses: Statuses,
}

const BOARD_SHAPE: &str = "expected an object with a `milestones` array";

impl KanbanDoc {
    pub fn parse(path: &Path, text: &str) -> Result<KanbanDoc, TaskError> {
        let root = json::scan(path, text)?;
        Self::read(text, &root).map_err(|bad| bad.at(path, text))
    }

    fn read(text: &str, root: &super::spans::Node) -> Result<KanbanDoc, Bad> {
        let members = root.members().ok_or_else(|| Bad::new(root.start, BOARD_SHAPE))?;
        json::no_duplicate_keys(members)?;
        let list = &root.get("milestones").ok_or_else(|| Bad::new(root.start, BOARD_SHAPE))?.value;
        let Kind::Array(elements) = &list.kind else {
            return Err(Bad::new(list.start, "`milestones` must be an array of milestones"));
        };
        let mut doc = KanbanDoc { tasks: Vec::new(), milestones: Vec::new(), statuses: Statuses::default() };
        let lines = LineIndex::new(text);
        for element in elements {
            let Some(members) = element.members() else {
                return Err(Bad::new(element.start, "expected a milestone object"));
            };
            json::no_duplicate_keys(members)?;
            let id = match element.get("id") {
                Some(member) => json::read_id(text, &member.value, "a milestone `id`")?,
                None => return Err(Bad::new(element.start, "this milestone has no `id`")),
            };
            doc.milestones.push(Milestone {
                name: json::read_string(text, element.get("name"))?,
                blocked_by: json::read_ids(text, element.get("blocked_by"))?,
                line: lines.line(element.start),
                id: id.clone(),
            });
            let Some(tasks) = element.get("tasks") else { continue };
            match &tasks.value.kind {
                Kind::Array(tasks) => {
                    for node in tasks {
                        let (task, slot) = json::read_task(text, &lines, node, Some(&id))?;
                        doc.statuses.push(&task, slot, node, text);
                        doc.tasks.push(task);
                    }
                }
                Kind::Scalar if text[tasks.value.start..tasks.value.end] == *"null" => {}
                _ => return Err(Bad::new(tasks.value.start, "`tasks` must be an array of tasks")),
            }
        }
        Ok(doc)
    }

    /// `text` with the status of task `index` set to `status`; a pending task is `todo` here,
    /// unless the board already spells it otherwise.
    pub fn set_status(&self, text: &str, index: usize, status: TaskStatus) -> String {
        let default = if status == TaskStatus::Pending { "todo" } else { status.as_str() };
        self.statuses.set(text, index, status, default)
    }

    /// `text` with the task `object` (one line of JSON) appended to the tasks of milestone
    /// `milestone` (a `tasks` array is made for a milestone without one); nothing else changes.
    pub fn append_task(path: &Path, text: &str, milestone: &str, object: &str) -> Result<String, TaskError> {
        let root = json::scan(path, text)?;
        let found = root.get("milestones").and_then(|m| match &m.value.kind {
            Kind::Array(elements) => elements.iter().find(|e| {
                e.get("id")
                    .is_some_and(|id| json::read_id(text, &id.value, "").ok().as_deref() == Some(milestone))
            }),
            _ => None,
        });
        let Some(element) = found else {
            return Err(TaskError::NoSuchTask { path: path.to_owned(), id: milestone.to_owned() });
        };
        Ok(match element.get("tasks").map(|t| &t.value) {
            Some(list) if matches!(list.kind, Kind::Array(_)) => json::append_element(text, list, object),
            _ => json::put_member(text, element, "tasks", &format!("[{object}]")),
        })
    }

    /// `text` with member `key` of task `index` set to `value`.
    pub fn set_member(&self, text: &str, index: usize, key: &str, value: &serde_json::Value) -> String {
        self.statuses.set_member(text, index, key, value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::task::{TaskFile, TaskSource};

    /// The board of the PyWiggum seed, as printed there.
    const SEED: &str = r#"{
  "milestones": [
    {
      "id": "M1",
      "name": "Project Setup",
      "blocked_by": [],
      "tasks": [
        {
          "id": "M1.1",
          "title": "Initialize SvelteKit project",
          "description": "Run sv create to scaffold the project",
          "acceptance_criteria": [
            "package.json exists",
            "npm run dev works"
          ],
          "status": "todo"
        }
      ]
    },
    {
      "id": "M2",
      "name": "Core Implementation",
      "blocked_by": ["M1"],
      "tasks": [
        {
          "id": "M2.1",
          "title": "Create database schema",
          "description": "Set up SQLite database with initial tables",
          "acceptance_criteria": [
            "Database file created",
            "Tables exist"
          ],
          "status": "todo"
        }
      ]
    }
  ]
}
"#;

    fn parse(text: &str) -> Result<TaskFile, TaskError> {
        TaskFile::parse("kanban.json", TaskSource::Kanban, text)
    }

    #[test]
    fn reads_the_seed_board() {
        let file = parse(SEED).unwrap();
        assert_eq!(file.milestones().len(), 2);
        assert_eq!(file.milestones()[1].blocked_by, ["M1"]);
        assert_eq!(file.milestones()[1].name.as_deref(), Some("Core Implementation"));
        let task = &file.tasks()[1];
        assert_eq!(task.id, "M2.1");
        assert_eq!(task.milestone.as_deref(), Some("M2"));
        assert_eq!(task.acceptance_criteria, ["Database file created", "Tables exist"]);
        assert_eq!(task.status, TaskStatus::Pending);
        assert_eq!(task.line, 25);
    }

    #[test]
    fn a_blocked_milestone_waits_for_every_task_of_its_blocker() {
        let file = parse(SEED).unwrap();
        let none = HashSet::new();
        assert_eq!(file.next_ready(&none).unwrap().id, "M1.1");
        // Even when the first task is being skipped, M2 is still blocked by M1.
        assert_eq!(file.next_ready(&HashSet::from(["M1.1".to_owned()])), None);
        assert_eq!(file.waiting_on(&file.tasks()[1]), ["M1"]);

        let failed = SEED.replacen("\"todo\"", "\"failed\"", 1);
        let file = parse(&failed).unwrap();
        assert_eq!(file.next_ready(&none), None, "a failed task keeps its milestone unfinished");

        let done = SEED.replacen("\"todo\"", "\"done\"", 1);
        let file = parse(&done).unwrap();
        assert_eq!(file.next_ready(&none).unwrap().id, "M2.1");
        assert!(file.waiting_on(&file.tasks()[1]).is_empty());
    }

    #[test]
    fn task_dependencies_cross_milestones() {
        let text = r#"{"milestones": [
  {"id": "A", "tasks": [
    {"id": "a1", "title": "one", "depends_on": ["b1"]},
    {"id": "a2", "title": "two"}]},
  {"id": "B", "tasks": [{"id": "b1", "title": "three", "status": "todo"}]}
]}"#;
        let file = parse(text).unwrap();
        let order: Vec<&str> = {
            let mut skip = HashSet::new();
            let mut order = Vec::new();
            while let Some(task) = file.next_ready(&skip) {
                order.push(task.id.as_str());
                skip.insert(task.id.clone());
            }
            order
        };
        // b1 unblocks a1, so the scheduler takes it before a2 (fan-out).
        assert_eq!(order, ["b1", "a2"], "a1 waits for b1");
    }

    #[test]
    fn board_errors_name_what_is_wrong() {
        let unknown = r#"{"milestones": [{"id": "M1", "blocked_by": ["M0"], "tasks": []}]}"#;
        assert_eq!(
            parse(unknown).unwrap_err().to_string(),
            "kanban.json:1: milestone `M1` is blocked by unknown milestone `M0`"
        );
        let cycle = r#"{"milestones": [
  {"id": "M1", "blocked_by": ["M2"], "tasks": []},
  {"id": "M2", "blocked_by": ["M1"], "tasks": []}]}"#;
        assert_eq!(parse(cycle).unwrap_err().to_string(), "kanban.json: dependency cycle: M1 → M2 → M1");
        // A task of M1 that waits for a task of M2, which waits for M1: nothing can start.
        let deadlock = r#"{"milestones": [
  {"id": "M1", "tasks": [{"id": "t1", "title": "x", "depends_on": ["t2"]}]},
  {"id": "M2", "blocked_by": ["M1"], "tasks": [{"id": "t2", "title": "y"}]}]}"#;
        assert_eq!(
            parse(deadlock).unwrap_err().to_string(),
            "kanban.json: dependency cycle: t1 → t2 → M1 → t1"
        );
        let duplicate = r#"{"milestones": [
  {"id": "M1", "tasks": [{"id": "t", "title": "x"}]},
  {"id": "M2", "tasks": [{"id": "t", "title": "y"}]}]}"#;
        assert_eq!(
            parse(duplicate).unwrap_err().to_string(),
            "kanban.json:3: duplicate task id `t` (first used on line 2)"
        );
        assert_eq!(
            parse(r#"{"tasks": []}"#).unwrap_err().to_string(),
            "kanban.json:1:1: expected an object with a `milestones` array"
        );
        assert_eq!(
            parse(r#"{"milestones": [{"name": "x"}]}"#).unwrap_err().to_string(),
            "kanban.json:1:17: this milestone has no `id`"
        );
    }

    #[test]
    fn marking_a_board_task_changes_only_its_status() {
        let file = parse(SEED).unwrap();
        let Doc::Kanban(doc) = &file.doc else { unreachable!() };
        let marked = doc.set_status(SEED, 1, TaskStatus::Done);
        assert_eq!(
            marked,
            SEED.replacen(
                "\"todo\"\n        }\n      ]\n    }\n  ]",
                "\"done\"\n        }\n      ]\n    }\n  ]",
                1
            )
        );
        assert_eq!(marked.matches("\"todo\"").count(), 1);
        let reset = parse(&marked).unwrap();
        let Doc::Kanban(doc) = &reset.doc else { unreachable!() };
        assert_eq!(doc.set_status(&marked, 1, TaskStatus::Pending), SEED);
    }

    use crate::task::Doc;
}
