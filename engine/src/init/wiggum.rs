//! `init --from wiggum.yaml`: a PyWiggum configuration turned into a ralph-loop project — the
//! files to write and, setting by setting, what was carried over and what was not (with why,
//! and what to do instead).
//!
//! Pure: it takes the file's text and returns files and notes. It reads and writes nothing, so
//! the CLI decides what to keep; it knows the workflow language only as the text it writes.
//!
//! PyWiggum runs one agent per task of `kanban.json`, commits after each task, and builds its
//! prompt from the `prompt:` section. The project made here does the same: a one-state
//! workflow whose `builder` works the current task, the kanban as `loop.tasks`, and the prompt
//! sections in `AGENTS.md`, the static context every agent reads first.

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use crate::workflow::path::FieldPath;
use crate::workflow::suggest::did_you_mean;
use crate::workflow::yaml::{self, Node, ScalarKind, Value};

/// The workflow file the project runs.
pub const WORKFLOW: &str = "workflows/wiggum.yaml";
/// The agent that works each task.
pub const AGENT: &str = "builder";

/// Why a PyWiggum file cannot be converted: every problem found, each at its place.
#[derive(Debug, thiserror::Error)]
#[error("`{file}` is not a PyWiggum configuration ralph-loop can convert ({} problem{})", .diagnostics.len(), if .diagnostics.len() == 1 { "" } else { "s" })]
pub struct WiggumError {
    /// The file, as the user named it.
    pub file: String,
    /// The problems, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// What became of one setting of `wiggum.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The setting, e.g. `agent.model`.
    pub setting: String,
    /// Carried over or not.
    pub fate: Fate,
}

/// Where a setting went, or why it went nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Carried over into `file` at `key`; `remark` says what changed on the way.
    Carried {
        /// The file it is in (`ralph.yaml`, `AGENTS.md`).
        file: &'static str,
        /// Where in it (`loop.tasks`, `## 2. Tech stack`).
        key: String,
        /// What changed on the way, if anything.
        remark: Option<String>,
    },
    /// Needs no setting here: ralph-loop does it this way anyway.
    Implied {
        /// How.
        how: String,
    },
    /// Not carried over.
    Dropped {
        /// Why.
        why: String,
        /// What to do instead.
        instead: String,
    },
}

/// The project: files as (relative path, contents), and a note per setting, in file order.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The files to write.
    pub files: Vec<(String, String)>,
    /// What became of each setting.
    pub notes: Vec<Note>,
    /// The task file `loop.tasks` names, relative to the project.
    pub tasks: String,
}

/// The sections of `wiggum.yaml` and their keys.
const SECTIONS: &[(&str, &[&str])] = &[
    ("project", &["name", "kanban", "work_dir"]),
    ("agent", &["backend", "model", "timeout", "api_base_url", "api_key_env"]),
    ("runner", &["max_iterations", "sleep_between", "commit_after_task", "commit_format"]),
    ("dashboard", &["port", "host", "refresh_interval"]),
    ("prompt", &["tech_stack", "conventions", "extra_context"]),
    // `routing:` maps task types to models: its keys are the user's own.
    ("routing", &[]),
    ("escalation", &["trigger_after", "model", "api_key_env"]),
];

/// PyWiggum's backend names, and ralph-loop's names (accepted too, written as they are).
const BACKENDS: &[(&str, Backend)] = &[
    ("opencode", Backend::Opencode),
    ("claude_code", Backend::Claude),
    ("api", Backend::Openai),
    ("claude", Backend::Claude),
    ("openai", Backend::Openai),
    ("codex", Backend::Codex),
    ("gemini", Backend::Gemini),
];

/// The backends a converted project can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Opencode,
    Claude,
    Openai,
    Codex,
    Gemini,
}

impl Backend {
    /// Our name, as `ralph.yaml` spells it.
    fn name(self) -> &'static str {
        match self {
            Backend::Opencode => "opencode",
            Backend::Claude => "claude",
            Backend::Openai => "openai",
            Backend::Codex => "codex",
            Backend::Gemini => "gemini",
        }
    }
}

/// Converts the PyWiggum configuration in `file`. `default_name` names the project when the
/// file does not.
pub fn convert(file: &SourceFile, default_name: &str) -> Result<Conversion, WiggumError> {
    let parsed = yaml::parse(file);
    let mut reader = Reader { file, diagnostics: parsed.diagnostics };
    let config = parsed.root.as_ref().map(|root| reader.read(root)).unwrap_or_default();
    if reader.diagnostics.iter().any(Diagnostic::is_error) {
        let mut diagnostics = reader.diagnostics;
        diagnostics.sort_by_key(Diagnostic::sort_key);
        return Err(WiggumError { file: file.name().display().to_string(), diagnostics });
    }
    Ok(config.convert(default_name))
}

/// The settings read from the file; absent and null ones are `None`.
#[derive(Debug, Default)]
struct Wiggum {
    name: Option<String>,
    kanban: Option<String>,
    work_dir: Option<String>,
    backend: Option<Backend>,
    /// The backend as written (`claude_code`), for the report.
    backend_written: Option<String>,
    model: Option<String>,
    timeout: Option<u64>,
    api_base_url: Option<String>,
    api_key_env: Option<String>,
    max_iterations: Option<u64>,
    sleep_between: Option<f64>,
    commit_after_task: Option<bool>,
    commit_format: Option<String>,
    port: Option<u64>,
    host: Option<String>,
    refresh_interval: Option<f64>,
    tech_stack: Option<String>,
    conventions: Option<String>,
    extra_context: Option<String>,
    routing: Vec<(String, String)>,
    escalation: Escalation,
}

#[derive(Debug, Default)]
struct Escalation {
    trigger_after: Option<u64>,
    model: Option<String>,
    api_key_env: Option<String>,
}

/// Walks the tree, collecting what does not fit as diagnostics.
struct Reader<'a> {
    file: &'a SourceFile,
    diagnostics: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn read(&mut self, root: &Node) -> Wiggum {
        let mut w = Wiggum::default();
        let Some(entries) = root.entries() else {
            let d = wrong_type(
                root,
                &FieldPath::root(),
                "a mapping of sections (`project:`, `agent:`, `runner:`, …)",
            );
            self.push(d, root);
            return w;
        };
        let top: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
        for entry in entries {
            let Some(key) = entry.key.scalar_text() else { continue };
            let path = FieldPath::root().key(key);
            let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| *s == key) else {
                self.unknown_key(&entry.key, &path, &top, "at the top level");
                continue;
            };
            let value = &entry.value;
            if is_null(value) {
                continue;
            }
            let Some(fields) = value.entries() else {
                self.push(wrong_type(value, &path, "a mapping"), value);
                continue;
            };
            for field in fields {
                let Some(name) = field.key.scalar_text() else { continue };
                let at = path.key(name);
                let v = &field.value;
                if key == "routing" {
                    if let Some(model) = self.string(v, &at) {
                        w.routing.push((name.to_owned(), model));
                    }
                    continue;
                }
                if !keys.contains(&name) {
                    self.unknown_key(&field.key, &at, keys, &format!("in `{key}`"));
                    continue;
                }
                match (key, name) {
                    ("project", "name") => w.name = self.string(v, &at),
                    ("project", "kanban") => w.kanban = self.string(v, &at),
                    ("project", "work_dir") => w.work_dir = self.string(v, &at),
                    ("agent", "backend") => {
                        w.backend_written = self.string(v, &at);
                        w.backend = w.backend_written.as_deref().and_then(|b| self.backend(b, v, &at));
                    }
                    ("agent", "model") => w.model = self.string(v, &at),
                    ("agent", "timeout") => w.timeout = self.count(v, &at, "a number of seconds"),
                    ("agent", "api_base_url") => w.api_base_url = self.string(v, &at),
                    ("agent", "api_key_env") => w.api_key_env = self.string(v, &at),
                    ("runner", "max_iterations") => w.max_iterations = self.count(v, &at, "a whole number"),
                    ("runner", "sleep_between") => w.sleep_between = self.seconds(v, &at),
                    ("runner", "commit_after_task") => w.commit_after_task = self.boolean(v, &at),
                    ("runner", "commit_format") => w.commit_format = self.string(v, &at),
                    ("dashboard", "port") => {
                        w.port = self.count(v, &at, "a port number");
                        if w.port.is_some_and(|p| p > u64::from(u16::MAX)) {
                            w.port = None;
                            self.wrong(v, &at, "a port number, from 1 to 65535");
                        }
                    }
                    ("dashboard", "host") => w.host = self.string(v, &at),
                    ("dashboard", "refresh_interval") => w.refresh_interval = self.seconds(v, &at),
                    ("prompt", "tech_stack") => w.tech_stack = self.string(v, &at),
                    ("prompt", "conventions") => w.conventions = self.string(v, &at),
                    ("prompt", "extra_context") => w.extra_context = self.string(v, &at),
                    ("escalation", "trigger_after") => {
                        w.escalation.trigger_after = self.count(v, &at, "a number of iterations");
                    }
                    ("escalation", "model") => w.escalation.model = self.string(v, &at),
                    ("escalation", "api_key_env") => w.escalation.api_key_env = self.string(v, &at),
                    _ => {}
                }
            }
        }
        w
    }

    fn push(&mut self, d: Diagnostic, node: &Node) {
        self.diagnostics.push(d.located(self.file.name(), node.span));
    }

    fn unknown_key(&mut self, key: &Node, path: &FieldPath, known: &[&str], place: &str) {
        let name = key.scalar_text().unwrap_or_default();
        let mut d = Diagnostic::error("unknown-key", format!("unknown key `{name}` {place}"))
            .at_key(path.clone())
            .suggest(did_you_mean(name, known.iter().copied()));
        if !known.is_empty() {
            d = d.expected(format!(
                "one of {}",
                known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        self.push(d.note("PyWiggum settings are listed in its README's Configuration section"), key);
    }

    fn wrong(&mut self, node: &Node, path: &FieldPath, expected: &str) {
        self.push(wrong_type(node, path, expected), node);
    }

    /// A string; a null is absent. Numbers and booleans are refused: a model named `4` or a
    /// host `true` is a mistake, and YAML would have changed the text (`1.10` → `1.1`).
    fn string(&mut self, node: &Node, path: &FieldPath) -> Option<String> {
        if is_null(node) {
            return None;
        }
        match node.as_str() {
            Some(text) => Some(text.to_owned()),
            None => {
                let mut d = wrong_type(node, path, "a string");
                if let Some(text) = node.scalar_text() {
                    d = d.note(format!("quote it to make it text: \"{text}\""));
                }
                self.push(d, node);
                None
            }
        }
    }

    /// A positive whole number.
    fn count(&mut self, node: &Node, path: &FieldPath, what: &str) -> Option<u64> {
        match &node.value {
            Value::Scalar(s) if s.kind == ScalarKind::Null => None,
            Value::Scalar(s) => match s.kind {
                ScalarKind::Int(i) if i > 0 => Some(i as u64),
                _ => {
                    self.wrong(node, path, &format!("{what}, at least 1"));
                    None
                }
            },
            _ => {
                self.wrong(node, path, what);
                None
            }
        }
    }

    /// A number of seconds, whole or not, not negative.
    fn seconds(&mut self, node: &Node, path: &FieldPath) -> Option<f64> {
        match &node.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => None,
                ScalarKind::Int(i) if i >= 0 => Some(i as f64),
                ScalarKind::Float(f) if f >= 0.0 => Some(f),
                _ => {
                    self.wrong(node, path, "a number of seconds");
                    None
                }
            },
            _ => {
                self.wrong(node, path, "a number of seconds");
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &FieldPath) -> Option<bool> {
        match &node.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => None,
                ScalarKind::Bool(b) => Some(b),
                // PyWiggum reads its file with PyYAML, a YAML 1.1 parser, for which these are
                // booleans too: the file means what PyWiggum took it to mean.
                ScalarKind::Str if matches!(s.text.as_str(), "yes" | "Yes" | "YES" | "on" | "On" | "ON") => {
                    Some(true)
                }
                ScalarKind::Str if matches!(s.text.as_str(), "no" | "No" | "NO" | "off" | "Off" | "OFF") => {
                    Some(false)
                }
                _ => {
                    self.wrong(node, path, "`true` or `false`");
                    None
                }
            },
            _ => {
                self.wrong(node, path, "`true` or `false`");
                None
            }
        }
    }

    fn backend(&mut self, name: &str, node: &Node, path: &FieldPath) -> Option<Backend> {
        if let Some((_, backend)) = BACKENDS.iter().find(|(n, _)| *n == name) {
            return Some(*backend);
        }
        let names: Vec<&str> = BACKENDS.iter().map(|(n, _)| *n).collect();
        let d = Diagnostic::error("unknown-backend", format!("unknown agent backend `{name}`"))
            .at(path.clone())
            .expected(
                "`opencode`, `claude_code` or `api` (PyWiggum's), or `claude`, `openai`, `codex`, `gemini`",
            )
            .suggest(did_you_mean(name, names));
        self.push(d, node);
        None
    }
}

fn wrong_type(node: &Node, path: &FieldPath, expected: &str) -> Diagnostic {
    let what = if path.is_root() { "the file".to_owned() } else { format!("`{path}`") };
    Diagnostic::error("invalid-type", format!("{what} has the wrong type"))
        .at(path.clone())
        .expected(expected)
        .found(node.describe())
}

fn is_null(node: &Node) -> bool {
    matches!(&node.value, Value::Scalar(s) if s.kind == ScalarKind::Null)
}

/// A string as a YAML double-quoted scalar (a JSON string is one).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Seconds as a duration of the workflow language.
fn duration(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{}s", seconds as u64)
    } else {
        format!("{}ms", (seconds * 1000.0).round() as u64)
    }
}

/// Where a model string of PyWiggum's (`anthropic/claude-sonnet-4-5`, `vllm/qwen3-coder-next`)
/// runs here: Anthropic's models on Claude Code, under their own name; other providers' on
/// OpenCode, whose models are `provider/model`; a bare name on the builder's backend (`None`).
fn place_model(model: &str) -> (Option<Backend>, String) {
    match model.split_once('/') {
        Some(("anthropic", name)) => (Some(Backend::Claude), name.to_owned()),
        Some(_) => (Some(Backend::Opencode), model.to_owned()),
        None => (None, model.to_owned()),
    }
}

fn carried(notes: &mut Vec<Note>, setting: &str, file: &'static str, key: &str, remark: Option<String>) {
    notes.push(Note {
        setting: setting.to_owned(),
        fate: Fate::Carried { file, key: key.to_owned(), remark },
    });
}

fn not_carried(notes: &mut Vec<Note>, setting: &str, why: String, instead: String) {
    notes.push(Note { setting: setting.to_owned(), fate: Fate::Dropped { why, instead } });
}

impl Wiggum {
    fn convert(self, default_name: &str) -> Conversion {
        let mut notes = Vec::new();
        let name = self.name.clone().unwrap_or_else(|| default_name.to_owned());
        if self.name.is_some() {
            carried(&mut notes, "project.name", "ralph.yaml", "project.name", None);
        }
        let tasks = self.kanban.clone().unwrap_or_else(|| "kanban.json".to_owned());
        if self.kanban.is_some() {
            carried(&mut notes, "project.kanban", "ralph.yaml", "loop.tasks", None);
        }
        let mut ralph = format!(
            "# yaml-language-server: $schema=schemas/config.schema.json
#
# Project settings for ralph-loop, converted from a PyWiggum configuration by
# `ralph-loop init --from`. Run the loop with:
#
#   ralph-loop loop
#
version: 1

project:
  name: {}

loop:
  # The workflow `ralph-loop loop` runs: one builder per task, as PyWiggum runs its agent.
  workflow: {WORKFLOW}
  # Where tasks come from: PyWiggum's kanban (milestones, `blocked_by`, tasks). The loop takes
  # the next ready task and marks it `done` or `failed` in place.
  tasks: {}
",
            quoted(&name),
            quoted(&tasks)
        );
        if let Some(n) = self.max_iterations {
            ralph.push_str(&format!(
                "  # The most agent invocations of one `loop` run: one per task with this workflow.\n  max_iterations: {n}\n"
            ));
            let remark =
                "ralph-loop counts agent invocations, retries included: one per task with this workflow";
            carried(
                &mut notes,
                "runner.max_iterations",
                "ralph.yaml",
                "loop.max_iterations",
                Some(remark.into()),
            );
        }
        if let Some(commit) = self.commit_after_task {
            ralph.push_str(&format!("  # Commit each finished task's work.\n  auto_commit: {commit}\n"));
            carried(&mut notes, "runner.commit_after_task", "ralph.yaml", "loop.auto_commit", None);
        }
        if let Some(format) = &self.commit_format {
            ralph.push_str(&format!(
                "  # `{{task_id}}`, `{{task_title}}`, `{{iteration}}` and `{{workflow}}` are replaced.\n  commit_message: {}\n",
                quoted(format)
            ));
            let unknown: Vec<String> = placeholders(format)
                .into_iter()
                .filter(|p| !["task_id", "task_title", "iteration", "workflow"].contains(p))
                .map(|p| format!("`{{{p}}}`"))
                .collect();
            let remark = (!unknown.is_empty())
                .then(|| format!("ralph-loop does not replace {}: it stays as written", unknown.join(", ")));
            carried(&mut notes, "runner.commit_format", "ralph.yaml", "loop.commit_message", remark);
        }
        let backend = self.backend;
        if let (Some(b), Some(written)) = (backend, &self.backend_written) {
            ralph.push_str(&format!(
                "  # The agent program of every agent that names none.\n  backend: {}\n",
                b.name()
            ));
            let remark = (written != b.name())
                .then(|| format!("PyWiggum's `{written}` is ralph-loop's `{}`", b.name()));
            carried(&mut notes, "agent.backend", "ralph.yaml", "loop.backend", remark);
        }
        let agent = self.builder(&mut notes);
        ralph.push_str(&format!(
            "
agents:
  # Works one task per iteration with the bundled builder guide (PROMPT-BUILDER.md); the
  # project's context (tech stack, conventions) is in AGENTS.md.
  {AGENT}:
    description: Implements the current task and reports build_success when its checks pass.
    prompt: PROMPT-BUILDER.md
{agent}"
        ));
        ralph.push_str(&self.routing(&mut notes));
        ralph.push_str(&self.escalation(&mut notes));
        self.runner_and_dashboard(&mut notes);
        match self.work_dir.as_deref() {
            None => {}
            Some("." | "./" | "") => notes.push(Note {
                setting: "project.work_dir".into(),
                fate: Fate::Implied {
                    how: "agents run in the project directory, where ralph.yaml is".into(),
                },
            }),
            Some(dir) => not_carried(
                &mut notes,
                "project.work_dir",
                "ralph-loop runs agents in the project directory, where ralph.yaml is".into(),
                format!(
                    "make the project there: `ralph-loop init {dir} --from wiggum.yaml` (with the kanban in it), or move ralph.yaml and the files made beside it into `{dir}`"
                ),
            ),
        }
        let (agents_md, agents_notes) = self.agents_md(&name, &tasks);
        notes.extend(agents_notes);
        // In the order of the file's sections, as a person reads their wiggum.yaml.
        let section = |n: &Note| {
            let top = n.setting.split('.').next().unwrap_or_default();
            SECTIONS.iter().position(|(s, _)| *s == top)
        };
        notes.sort_by_key(section);
        let mut files = vec![
            ("ralph.yaml".to_owned(), ralph),
            (WORKFLOW.to_owned(), workflow(&tasks)),
            ("AGENTS.md".to_owned(), agents_md),
        ];
        for file in ["PROMPT.md", "PROMPT-BUILDER.md"] {
            files.push((file.to_owned(), bundled(file).to_owned()));
        }
        files.push((".gitignore".to_owned(), "# ralph-loop keeps its runs here\n.ralph/\n".to_owned()));
        files.push(("schemas/workflow.schema.json".to_owned(), crate::cli::schema_text(false)));
        files.push(("schemas/config.schema.json".to_owned(), crate::cli::schema_text(true)));
        Conversion { files, notes, tasks }
    }

    /// The builder's own settings (indented under `agents.builder`): `agent:`'s model, timeout
    /// and, for the `api` backend, its server and key.
    fn builder(&self, notes: &mut Vec<Note>) -> String {
        let backend = self.backend;
        let mut agent = String::new();
        if let Some(model) = &self.model {
            let (model, remark) = match (backend, model.split_once('/')) {
                (Some(Backend::Claude), Some(("anthropic", name))) => (
                    name.to_owned(),
                    Some(format!("`{model}` became `{name}`: Claude Code names models without a provider")),
                ),
                (Some(Backend::Claude), Some((provider, _))) => (
                    model.clone(),
                    Some(format!(
                        "Claude Code runs Anthropic's models only, not `{provider}`'s: name one, or use the `opencode` backend"
                    )),
                ),
                (Some(Backend::Opencode), None) => (
                    model.clone(),
                    Some("OpenCode names models `provider/model`: add the provider".to_owned()),
                ),
                _ => (model.clone(), None),
            };
            agent.push_str(&format!("    model: {}\n", quoted(&model)));
            carried(notes, "agent.model", "ralph.yaml", &format!("agents.{AGENT}.model"), remark);
        }
        if let Some(seconds) = self.timeout {
            agent.push_str(&format!("    timeout: {}\n", duration(seconds as f64)));
            carried(notes, "agent.timeout", "ralph.yaml", &format!("agents.{AGENT}.timeout"), None);
        }
        let settings = [
            ("agent.api_base_url", &self.api_base_url, "base_url"),
            ("agent.api_key_env", &self.api_key_env, "api_key_env"),
        ];
        for (setting, value, key) in settings {
            let Some(value) = value else { continue };
            if backend == Some(Backend::Openai) {
                agent.push_str(&format!("    {key}: {}\n", quoted(value)));
                carried(notes, setting, "ralph.yaml", &format!("agents.{AGENT}.{key}"), None);
            } else {
                let on =
                    backend.map_or("the agent program installed".to_owned(), |b| format!("`{}`", b.name()));
                not_carried(
                    notes,
                    setting,
                    format!("only the `api` backend uses it, and the builder runs on {on}"),
                    "nothing: the agent program uses its own login and configuration".into(),
                );
            }
        }
        agent
    }

    /// The `routing:` section: each task type's model, on the backend that runs it.
    fn routing(&self, notes: &mut Vec<Note>) -> String {
        if self.routing.is_empty() {
            return String::new();
        }
        let mut text =
            "\n# The model of a task's builder, by the task's `type`, `role` or one of its `labels` in the\n# kanban (e.g. `\"type\": \"code\"`); the first match wins.\nrouting:\n"
                .to_owned();
        for (kind, model) in &self.routing {
            let (target, name) = place_model(model);
            let value = match target {
                Some(t) if Some(t) != self.backend => {
                    format!("{{backend: {}, model: {}}}", t.name(), quoted(&name))
                }
                _ => quoted(&name),
            };
            text.push_str(&format!("  {}: {value}\n", yaml_key(kind)));
            let mut remark = format!("for tasks whose `type`, `role` or a label is `{kind}`");
            match target {
                Some(t) if Some(t) != self.backend || name != *model => {
                    remark.push_str(&format!("; `{model}` runs on `{}` as `{name}`", t.name()));
                }
                _ => {}
            }
            let remark = Some(remark);
            carried(notes, &format!("routing.{kind}"), "ralph.yaml", &format!("routing.{kind}"), remark);
        }
        text
    }

    /// The `escalation:` section: when, and on which backend and model.
    fn escalation(&self, notes: &mut Vec<Note>) -> String {
        let e = &self.escalation;
        let written = [
            ("escalation.trigger_after", e.trigger_after.is_some()),
            ("escalation.model", e.model.is_some()),
            ("escalation.api_key_env", e.api_key_env.is_some()),
        ];
        // ralph-loop's escalation has no default trigger or target: one made up here would
        // decide when, and on what, the loop spends.
        let (Some(n), Some(_)) = (e.trigger_after, &e.model) else {
            let missing = if e.trigger_after.is_none() {
                "the escalation has no `trigger_after`, and ralph-loop escalates only after that many iterations without progress"
            } else {
                "the escalation names no model to escalate to"
            };
            for (setting, _) in written.iter().filter(|(_, w)| *w) {
                not_carried(
                    notes,
                    setting,
                    missing.into(),
                    "add `escalation: {trigger_after: N, backend: …, model: …}` (or `human: true`, to ask a person) to ralph.yaml".into(),
                );
            }
            return String::new();
        };
        let mut text =
            "\n# When the loop is stuck, the builder's next attempts run on a stronger model.\nescalation:\n"
                .to_owned();
        text.push_str(&format!(
            "  # Iterations in a row without progress (or a task's failed attempts).\n  trigger_after: {n}\n"
        ));
        carried(notes, "escalation.trigger_after", "ralph.yaml", "escalation.trigger_after", None);
        let placed = e.model.as_deref().map(|m| (m, place_model(m)));
        let target = placed.as_ref().and_then(|(_, (t, _))| t.or(self.backend));
        if let Some((model, (_, name))) = &placed {
            if let Some(t) = target {
                text.push_str(&format!("  backend: {}\n", t.name()));
            }
            text.push_str(&format!("  model: {}\n", quoted(name)));
            let remark = match target {
                Some(t) if name != model => Some(format!("`{model}` runs on `{}` as `{name}`", t.name())),
                _ => None,
            };
            carried(notes, "escalation.model", "ralph.yaml", "escalation.backend, escalation.model", remark);
        }
        if let Some(var) = &e.api_key_env {
            if target == Some(Backend::Openai) {
                text.push_str(&format!("  api_key_env: {}\n", quoted(var)));
                carried(notes, "escalation.api_key_env", "ralph.yaml", "escalation.api_key_env", None);
            } else {
                let why = match target {
                    Some(Backend::Claude) => {
                        "Claude Code uses its own login, or reads `ANTHROPIC_API_KEY` itself"
                    }
                    Some(Backend::Opencode) => {
                        "OpenCode reads a provider's key from its own configuration or the provider's variable"
                    }
                    _ => "the agent program uses its own login and configuration",
                };
                not_carried(
                    notes,
                    "escalation.api_key_env",
                    format!("it is not needed: {why}"),
                    format!("keep `{var}` set in the loop's environment, or log the agent program in"),
                );
            }
        }
        text
    }

    /// The settings with no place here: the pause between tasks and the dashboard's.
    fn runner_and_dashboard(&self, notes: &mut Vec<Note>) {
        if let Some(seconds) = self.sleep_between {
            not_carried(
                notes,
                "runner.sleep_between",
                "ralph-loop has no pause between tasks: the next task starts when one ends".into(),
                format!(
                    "to space agent calls out, set `budget: {{cooldown: {}}}` in ralph.yaml (the least time between the starts of two agent invocations) or `budget: {{calls_per_hour: N}}`",
                    duration(seconds)
                ),
            );
        }
        if self.port.is_some() || self.host.is_some() {
            let host = self.host.as_deref().unwrap_or("127.0.0.1");
            let addr = match self.port {
                Some(port) if host.contains(':') => format!("[{host}]:{port}"),
                Some(port) => format!("{host}:{port}"),
                None => format!("{host}:8080"),
            };
            let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
            let token = if loopback {
                String::new()
            } else {
                "; off loopback every request needs the token it prints".to_owned()
            };
            let setting = match (self.port, &self.host) {
                (Some(_), Some(_)) => "dashboard.port, dashboard.host",
                (Some(_), None) => "dashboard.port",
                _ => "dashboard.host",
            };
            not_carried(
                notes,
                setting,
                "the dashboard's address is chosen when it is served, not in ralph.yaml".into(),
                format!(
                    "`ralph-loop loop --dashboard {addr}` serves it while the loop runs, or `ralph-loop dashboard --serve {addr}` beside it{token}"
                ),
            );
        }
        if self.refresh_interval.is_some() {
            not_carried(
                notes,
                "dashboard.refresh_interval",
                "the web dashboard is live: the running loop's events reach the page as they happen".into(),
                "nothing".into(),
            );
        }
    }

    /// The bundled `AGENTS.md` with the project's name, task file and `prompt:` sections.
    fn agents_md(&self, name: &str, tasks: &str) -> (String, Vec<Note>) {
        let mut text = bundled("AGENTS.md").to_owned();
        let mut notes = Vec::new();
        text = text.replacen("- **Name:** _project name_", &format!("- **Name:** {name}"), 1);
        text = text.replacen(
            "- **Task list:** `TODO.md` <!-- one task per line, format in section 7 -->",
            &format!("- **Task list:** `{tasks}` (a PyWiggum kanban: milestones and their tasks, format in section 7)"),
            1,
        );
        text = replace_section(&text, "## 7. Task format (TODO.md)", &kanban_section(tasks));
        let mut carry = |setting: &str, key: &str| {
            notes.push(Note {
                setting: setting.to_owned(),
                fate: Fate::Carried { file: "AGENTS.md", key: key.to_owned(), remark: None },
            });
        };
        if let Some(context) = self.extra_context.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            text = text.replacen(
                "<!-- FILL IN: one paragraph. What the software does, for whom, and what \"done\" means overall. -->",
                context,
                1,
            );
            carry("prompt.extra_context", "## 1. Project");
        }
        if let Some(stack) = self.tech_stack.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            text = replace_section(&text, "## 2. Tech stack", &format!("## 2. Tech stack\n\n{stack}\n"));
            carry("prompt.tech_stack", "## 2. Tech stack");
        }
        if let Some(conventions) = self.conventions.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            text =
                replace_section(&text, "## 5. Conventions", &format!("## 5. Conventions\n\n{conventions}\n"));
            carry("prompt.conventions", "## 5. Conventions");
        }
        (text, notes)
    }
}

fn bundled(name: &str) -> &'static str {
    crate::prompt::BUNDLED.iter().find(|(n, _)| *n == name).map_or("", |(_, t)| t)
}

/// `text` with the section that starts at the line `heading` (up to the next `## `) replaced
/// by `body`; unchanged when there is no such heading.
fn replace_section(text: &str, heading: &str, body: &str) -> String {
    let Some(start) = text.find(&format!("\n{heading}\n")).map(|i| i + 1) else { return text.to_owned() };
    let after = start + heading.len();
    let end = text[after..].find("\n## ").map_or(text.len(), |i| after + i + 1);
    format!("{}{body}\n{}", &text[..start], &text[end..])
}

fn kanban_section(tasks: &str) -> String {
    format!(
        "## 7. Task format ({tasks})

Tasks are in `{tasks}`, PyWiggum's kanban: milestones in order, each with the milestones it
is `blocked_by` and its tasks (`id`, `title`, `description`, `acceptance_criteria`, `status`
`todo`, `done` or `failed`). The loop takes the next ready task, gives it to you in PROMPT.md
(\"Your task\") and marks it `done` or `failed` itself when the step ends: do not edit its
status. To split or add a task, say so in your result's `details`.
"
    )
}

/// The `{name}` placeholders of a commit format.
fn placeholders(format: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        found.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    found
}

/// A mapping key as YAML: plain when it is a simple name, quoted otherwise.
fn yaml_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !matches!(key, "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~")
        && !key.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if plain { key.to_owned() } else { quoted(key) }
}

/// The workflow: PyWiggum's loop, one builder per task.
fn workflow(tasks: &str) -> String {
    format!(
        "# yaml-language-server: $schema=../schemas/workflow.schema.json
#
# PyWiggum's loop, made by `ralph-loop init --from`: for each ready task of {tasks}, one
# builder works it; the task is marked `done` when the builder reports `build_success`, and
# `failed` otherwise (a failed task is not taken again until its status is reset).
#
#   building   build_success   ▶ complete   (the task is done)
#   building   anything else   ▶ the pass fails (the task is failed)
#
# The builder (model, timeout) is defined in ralph.yaml; `routing:` and `escalation:` there
# choose its model per task and when the loop is stuck. For a planner and a verifier around
# it, see `ralph-loop init --template basic`.
version: 1
name: wiggum
description: One builder per task, as PyWiggum runs its agent.

workflow:
  type: state_machine
  initial: building
  states:
    - id: building
      description: The builder implements the current task and runs its checks.
      agent: {AGENT}
    - id: complete
      description: The task is done.
      type: terminal
  transitions:
    - from: building
      to: complete
      condition: build_success
      description: Build Success
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_text(text: &str) -> Result<Conversion, WiggumError> {
        convert(&SourceFile::new("wiggum.yaml", text), "demo")
    }

    #[test]
    fn every_anchor_of_the_bundled_agents_md_is_there() {
        // The prompt sections are put in place by these anchors: a reworded AGENTS.md must not
        // make them vanish silently.
        let w = Wiggum {
            tech_stack: Some("Rust".into()),
            conventions: Some("one concept per file".into()),
            extra_context: Some("A demo.".into()),
            ..Wiggum::default()
        };
        let (text, notes) = w.agents_md("Demo", "kanban.json");
        assert_eq!(notes.len(), 3);
        for want in [
            "- **Name:** Demo",
            "`kanban.json` (a PyWiggum kanban",
            "A demo.",
            "## 2. Tech stack\n\nRust\n\n## 3.",
            "## 5. Conventions\n\none concept per file\n\n## 6.",
            "## 7. Task format (kanban.json)",
        ] {
            assert!(text.contains(want), "{want}:\n{text}");
        }
        assert!(!text.contains("FILL IN: one paragraph") && !text.contains("_e.g. axum 0.8_"), "{text}");
    }

    #[test]
    fn anthropic_models_go_to_claude_other_providers_to_opencode_and_bare_names_stay() {
        assert_eq!(
            place_model("anthropic/claude-sonnet-4-5"),
            (Some(Backend::Claude), "claude-sonnet-4-5".into())
        );
        assert_eq!(
            place_model("vllm/qwen3-coder-next"),
            (Some(Backend::Opencode), "vllm/qwen3-coder-next".into())
        );
        assert_eq!(place_model("gpt-4"), (None, "gpt-4".into()));
    }

    #[test]
    fn a_null_section_or_value_is_absent_and_an_unknown_backend_is_named_with_a_suggestion() {
        let ok = convert_text("project:\nagent:\n  model: ~\n").unwrap();
        assert!(ok.notes.is_empty(), "{:?}", ok.notes);
        let err = convert_text("agent:\n  backend: claude-code\n").unwrap_err();
        assert_eq!(err.diagnostics[0].code, "unknown-backend");
        assert_eq!(err.diagnostics[0].suggestion.as_deref(), Some("claude_code"));
    }

    #[test]
    fn an_escalation_without_a_trigger_or_a_model_is_not_carried() {
        for text in
            ["escalation:\n  trigger_after: 3\n", "escalation:\n  model: anthropic/x\n  api_key_env: K\n"]
        {
            let conversion = convert_text(text).unwrap();
            let ralph = &conversion.files[0].1;
            assert!(!ralph.contains("\nescalation:\n"), "{ralph}");
            assert!(
                conversion.notes.iter().all(|n| matches!(n.fate, Fate::Dropped { .. })),
                "{:?}",
                conversion.notes
            );
        }
    }

    #[test]
    fn placeholders_are_found_and_durations_are_exact() {
        assert_eq!(placeholders("{task_id}: {task_title} {x"), ["task_id", "task_title"]);
        assert_eq!(duration(600.0), "600s");
        assert_eq!(duration(1.5), "1500ms");
        assert_eq!(yaml_key("code"), "code");
        assert_eq!(yaml_key("yes"), "\"yes\"");
    }
}
