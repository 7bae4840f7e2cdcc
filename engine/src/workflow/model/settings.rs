//! Loop, logging and project settings.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Backend, Duration, Rotation};

/// The project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// The project's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Settings of the loop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopSettings {
    /// The workflow file `ralph-loop loop` runs, relative to this file (read from `ralph.yaml`
    /// only; `--workflow` wins over it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The most agent invocations a loop makes in total (each start of an agent or command,
    /// retries included; a human review is not one), not passes of the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_iterations: Option<u64>,
    /// The longest a loop may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime: Option<Duration>,
    /// Commit the work after each task (like `--commit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_commit: Option<bool>,
    /// The commit message; `{task_id}` and `{task_title}` are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Let agents of one step run in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_agents: Option<bool>,
    /// The default backend of agents that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// The task file: `TODO.md`, `tasks.json` or `kanban.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<String>,
}

/// Engine logging.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// The lowest level written: `trace`, `debug`, `info`, `warn` or `error` (any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,
    /// The log file, e.g. `.ralph/logs/ralph.log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `human` (default) or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    /// When the log file is rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// When each step's own log (`.ralph/runs/<run>/steps/<n>-<step>.log`) is rotated: at
    /// `max_size` (default 50MiB), keeping `max_files` older parts (default 1, at least 1), so
    /// the end of what an agent printed is always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_logs: Option<Rotation>,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// For people.
    Human,
    /// One JSON object per line.
    Json,
}

/// A log level, written in any case (`INFO`, `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected.
    Warn,
    /// Failures.
    Error,
}

impl LogLevel {
    const NAMES: [(&'static str, LogLevel); 6] = [
        ("trace", LogLevel::Trace),
        ("debug", LogLevel::Debug),
        ("info", LogLevel::Info),
        ("warn", LogLevel::Warn),
        ("warning", LogLevel::Warn),
        ("error", LogLevel::Error),
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(_, l)| *l == self).map_or("info", |(n, _)| n)
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let lower = text.to_ascii_lowercase();
        LogLevel::NAMES.iter().find(|(n, _)| *n == lower).map(|(_, l)| *l).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown log level `{text}`, expected `trace`, `debug`, `info`, `warn` or `error`"
            ))
        })
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl JsonSchema for LogLevel {
    fn schema_name() -> Cow<'static, str> {
        "LogLevel".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut names: Vec<String> = Vec::new();
        for (name, _) in LogLevel::NAMES {
            names.push(name.to_owned());
            names.push(name.to_ascii_uppercase());
        }
        json_schema!({ "type": "string", "enum": names, "description": "A log level, in lower or upper case." })
    }
}
