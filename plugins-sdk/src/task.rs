//! The `context` section of a steering packet: the conversation so far, the current task,
//! what is done and what failed.

use serde::{Deserialize, Serialize};

/// One message of the prior thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who spoke: `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: content.into() }
    }
}

/// The task a step works on, usually one item of `TODO.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// A stable identifier, e.g. `task-5`.
    pub id: String,
    /// What has to be done.
    pub description: String,
    /// Where the task comes from in `TODO.md`, e.g. `"line 42"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_todo: Option<String>,
    /// The part of the specification it implements, e.g. `"section-4.2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_ref: Option<String>,
    /// What must be true for the task to count as done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance_criteria: Vec<String>,
}

impl Task {
    /// A task with only an id and a description.
    pub fn new(id: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            description: description.into(),
            from_todo: None,
            spec_ref: None,
            acceptance_criteria: Vec::new(),
        }
    }
}

/// One failed attempt at a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The task that failed.
    pub task: String,
    /// Which attempt failed (1 for the first).
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// The step that failed, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The engine's classification of the error (e.g. `transient`, `timeout`, `agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// The `context` section of a steering packet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskContext {
    /// The conversation carried into this step, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prior_thread: Vec<Message>,
    /// The task the step works on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_task: Option<Task>,
    /// Ids of the tasks already done, in completion order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub completed_tasks: Vec<String>,
    /// Failed attempts, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failure_history: Vec<Failure>,
    /// What agents learnt in earlier tasks that bears on this one, most relevant first (at
    /// most five; each also a `memory` message of `prior_thread`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub learnings: Vec<Learning>,
}

/// A learning carried into a packet from an earlier task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learning {
    /// Its id in the project's store (`L3`), for `ralph-loop learnings forget|edit`.
    pub id: String,
    /// What was learnt.
    pub text: String,
    /// The task that first reported it, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// How many times it was reported.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl TaskContext {
    /// The failures recorded for `task`, oldest first.
    pub fn failures_of<'a>(&'a self, task: &'a str) -> impl Iterator<Item = &'a Failure> + 'a {
        self.failure_history.iter().filter(move |f| f.task == task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_task_fields_are_omitted() {
        let task = Task::new("task-1", "Add login form");
        assert_eq!(
            serde_json::to_value(&task).unwrap(),
            serde_json::json!({"id": "task-1", "description": "Add login form"})
        );
    }

    #[test]
    fn failures_are_filtered_by_task() {
        let context = TaskContext {
            failure_history: vec![
                Failure { task: "a".into(), attempt: 1, error: "x".into(), step: None, class: None },
                Failure { task: "b".into(), attempt: 1, error: "y".into(), step: None, class: None },
                Failure {
                    task: "a".into(),
                    attempt: 2,
                    error: "z".into(),
                    step: Some("build".into()),
                    class: Some("agent".into()),
                },
            ],
            ..TaskContext::default()
        };
        let attempts: Vec<u32> = context.failures_of("a").map(|f| f.attempt).collect();
        assert_eq!(attempts, [1, 2]);
    }

    #[test]
    fn empty_context_serializes_as_empty_object() {
        assert_eq!(serde_json::to_string(&TaskContext::default()).unwrap(), "{}");
        let parsed: TaskContext = serde_json::from_str(r#"{"future_field": 1}"#).unwrap();
        assert_eq!(parsed, TaskContext::default());
    }
}
