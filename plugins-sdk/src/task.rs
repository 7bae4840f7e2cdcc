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
    /// The role that does it (`implementer` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its type (`code`, `planning`, …), when the task file says.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The tasks it depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
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
            role: None,
            kind: None,
            labels: Vec::new(),
            depends_on: Vec::new(),
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
    /// Tasks an agent of this run tried to add and the loop refused since the last packet,
    /// with why (a duplicate id, an unknown dependency, a cycle, the file's limit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_refusals: Vec<TaskRefusal>,
    /// Reviews that sent the current task back for more work, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<Review>,
    /// For an `evaluator` task: the tasks it depends on, whose work it reviews.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review_of: Vec<ReviewedTask>,
    /// Who does the current task's work and why: its role, routing or escalation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Route>,
}

/// An added task the loop refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRefusal {
    /// The task's id or, without one, its title.
    pub task: String,
    /// Why it was refused.
    pub reason: String,
    /// The step that tried to add it, when a step did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// A review that sent a task back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The evaluator task that wrote it.
    pub by: String,
    /// What it said.
    pub text: String,
}

/// A task an evaluator reviews.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewedTask {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Where it stands.
    pub status: String,
    /// The commit of its work in this run, when it was committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The files its last iteration in this run changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// What its agents said they did, last step first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Who does a task's work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The agent that does it.
    pub agent: String,
    /// Its backend, when it is not the agent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Its model, when one is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why: `role ideas`, `routing planning`, `escalation: 3 iterations without progress`.
    pub reason: String,
    /// Whether the loop escalated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
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
