//! Resolving the agents of a plan to what runs: a shell command, an agent CLI, an HTTP model
//! server, a built-in action, or a person. Everything that can be known before the first step
//! (a missing program, an unset variable) is found here, so a run never fails half-way for it.

use crate::agent::{claude, codex, gemini, openai, opencode};
use crate::workflow::model::{Action, ActionSpec, Agent, AgentKind, Backend, Document, ModelChoice};
use crate::workflow::vocabulary;

/// How an agent runs.
#[derive(Debug, Clone)]
pub enum Backing {
    /// A shell command, and its argument vector when it needs no shell.
    Shell(String, Option<Vec<String>>),
    /// An agent CLI with its command line; the prompt is stacked when the step starts.
    Cli { backend: Backend, argv: Vec<String>, role_prompt: Option<String>, system_prompt: Option<String> },
    /// An OpenAI-compatible server; the prompt is stacked when the step starts.
    Http { config: Box<openai::OpenAiConfig>, role_prompt: Option<String> },
    /// A built-in action (`git_reset`, `notify`, …) with its arguments.
    Builtin(ActionSpec),
}

impl Backing {
    /// Whether the agent is driven by a stacked prompt.
    pub fn is_ai(&self) -> bool {
        matches!(self, Backing::Cli { .. } | Backing::Http { .. })
    }
}

/// One agent of a plan node, ready to run.
#[derive(Debug, Clone)]
pub struct StepAgent {
    /// The agent's (or action's) name.
    pub name: String,
    /// How it runs.
    pub backing: Backing,
    /// The engine's check after it.
    pub check: Option<String>,
    /// Its time limit.
    pub timeout: Option<std::time::Duration>,
    /// How long it may stay silent before it counts as hung.
    pub heartbeat_timeout: Option<std::time::Duration>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The stacked prompt (AI agents), filled in when the step starts.
    pub prompt: Option<String>,
    /// Run it only when this holds (the agent's `condition:`).
    pub condition: Option<String>,
    /// A command agent that reads its packet (`reads_packet: true`).
    pub reads_packet: bool,
    /// The agent may send the loop control signals from inside its step (`approver: true`).
    pub approver: bool,
}

impl StepAgent {
    /// Whether the step's packet must be built for this agent.
    pub fn reads_files(&self) -> bool {
        match &self.backing {
            Backing::Shell(command, _) => {
                self.reads_packet || crate::agent::command::reads_files(command, self.check.as_deref())
            }
            Backing::Builtin(_) => false,
            Backing::Cli { .. } | Backing::Http { .. } => true,
        }
    }
}

/// Why an agent cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No backend is configured and no agent program is installed.
    #[error(
        "agent `{agent}` needs an AI backend, and none is configured or installed; install one of Claude Code (`npm install -g @anthropic-ai/claude-code`), the Codex CLI (`npm install -g @openai/codex`), OpenCode (`npm install -g opencode-ai`) or the Gemini CLI (`npm install -g @google/gemini-cli`), or set `loop.backend` in ralph.yaml (`openai` with an agent `base_url` for a local model server)"
    )]
    NoBackend {
        /// The agent.
        agent: String,
    },
    /// An agent's program is not installed.
    #[error("agent `{agent}` uses the `{backend}` backend, but `{program}` is not on PATH; {hint}")]
    MissingProgram {
        /// The agent.
        agent: String,
        /// Its backend.
        backend: String,
        /// The program looked for.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// An agent's configuration is incomplete.
    #[error("agent `{agent}`: {reason}")]
    Config {
        /// The agent.
        agent: String,
        /// What is missing.
        reason: String,
    },
    /// An agent's environment refers to a variable that is not set.
    #[error("agent `{agent}`: `{field}`: {reason}")]
    Env {
        /// The agent.
        agent: String,
        /// The field (`env.NAME`, `base_url`).
        field: String,
        /// Why it cannot be resolved.
        reason: String,
    },
}

/// An agent CLI: how to find it and how to install it.
struct CliProgram {
    backend: Backend,
    program: &'static str,
    variable: &'static str,
    hint: &'static str,
}

/// The agent CLIs, in the order auto-detection tries them.
const CLIS: &[CliProgram] = &[
    CliProgram {
        backend: Backend::Claude,
        program: "claude",
        variable: "RALPH_CLAUDE_BIN",
        hint: "install Claude Code (`npm install -g @anthropic-ai/claude-code`)",
    },
    CliProgram {
        backend: Backend::Codex,
        program: "codex",
        variable: "RALPH_CODEX_BIN",
        hint: "install the Codex CLI (`npm install -g @openai/codex`)",
    },
    CliProgram {
        backend: Backend::Opencode,
        program: "opencode",
        variable: "RALPH_OPENCODE_BIN",
        hint: "install OpenCode (`npm install -g opencode-ai`)",
    },
    CliProgram {
        backend: Backend::Gemini,
        program: "gemini",
        variable: "RALPH_GEMINI_BIN",
        hint: "install the Gemini CLI (`npm install -g @google/gemini-cli`)",
    },
];

/// The first `program` on `PATH` (or `program` itself when it is a path).
pub use crate::agent::process::find_program;

fn cli_program(backend: Backend) -> Option<(&'static CliProgram, String)> {
    let cli = CLIS.iter().find(|c| c.backend == backend)?;
    Some((cli, std::env::var(cli.variable).unwrap_or_else(|_| cli.program.into())))
}

/// The backend an agent without one uses: `loop.backend`, else the first agent CLI installed.
pub fn default_backend(doc: &Document) -> Option<Backend> {
    if let Some(backend) = doc.loop_settings.as_ref().and_then(|l| l.backend) {
        return Some(backend);
    }
    CLIS.iter()
        .find(|c| cli_program(c.backend).is_some_and(|(_, program)| find_program(&program).is_some()))
        .map(|c| c.backend)
}

/// The name of a backend as written in YAML.
pub fn backend_name(backend: Backend) -> String {
    serde_json::to_value(backend).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

thread_local! {
    /// Set while `replay --check` builds its runner on this thread (see [`without_programs`]).
    static PROGRAMS_OPTIONAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `build` with agents' programs optional: a check of a recorded run invokes no agent, so
/// checking a run on a machine (or a dashboard's process) without `claude` on `PATH` is no
/// error. Only this thread, and only while `build` runs: a loop resolving its agents beside
/// it still needs its programs.
pub fn without_programs<T>(build: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PROGRAMS_OPTIONAL.set(false);
        }
    }
    PROGRAMS_OPTIONAL.set(true);
    let _reset = Reset;
    build()
}

/// Resolves what a plan node names (an agent, a chain or a built-in action) to the agents that
/// run, in order.
pub fn resolve(doc: &Document, name: &str) -> Result<Vec<StepAgent>, AgentError> {
    resolve_action(doc, &Action::Name(name.to_owned()))
}

/// Like [`resolve`], for an action that may carry arguments.
pub fn resolve_action(doc: &Document, action: &Action) -> Result<Vec<StepAgent>, AgentError> {
    resolve_at(doc, action, 0)
}

fn resolve_at(doc: &Document, action: &Action, depth: usize) -> Result<Vec<StepAgent>, AgentError> {
    let name = action.name();
    if let Some(chain) = doc.chains.get(name).filter(|_| depth < 16) {
        let mut all = Vec::new();
        for member in chain {
            all.extend(resolve_at(doc, &Action::Name(member.clone()), depth + 1)?);
        }
        return Ok(all);
    }
    let Some(agent) = doc.agents.get(name) else {
        if vocabulary::is_builtin_action(name) {
            let spec = match action {
                Action::Spec(spec) => spec.clone(),
                Action::Name(name) => {
                    ActionSpec { action: name.clone(), args: Default::default(), notify: None }
                }
            };
            return Ok(vec![StepAgent {
                name: name.to_owned(),
                backing: Backing::Builtin(spec),
                check: None,
                timeout: None,
                heartbeat_timeout: None,
                env: Vec::new(),
                prompt: None,
                condition: None,
                reads_packet: false,
                approver: false,
            }]);
        }
        // Defined only by its prompt file (validation made sure it exists): an AI agent of the
        // project's default backend.
        let default = Agent::default();
        return ai_agent(doc, name, &default, Vec::new(), None);
    };
    resolve_agent(doc, name, agent)
}

/// What `circuit_breaker.on_open` escalates to when the breaker opens: an agent (or chain)
/// named as the action, or `escalate` with `args.agent` and, optionally, `args.model` to run
/// that agent on another model. `None` for built-in actions.
pub fn resolve_escalation(doc: &Document, action: &Action) -> Result<Option<Vec<StepAgent>>, AgentError> {
    let name = action.name();
    if name != vocabulary::ESCALATE {
        if vocabulary::is_builtin_action(name) {
            return Ok(None);
        }
        return resolve_action(doc, action).map(Some);
    }
    let Action::Spec(spec) = action else {
        return Err(AgentError::Config {
            agent: name.to_owned(),
            reason: "`escalate` needs `args.agent` (the agent to hand the failures to)".into(),
        });
    };
    let text = |key: &str| spec.args.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let Some(agent_name) = text("agent") else {
        return Err(AgentError::Config {
            agent: name.to_owned(),
            reason: "`escalate` needs `args.agent` (the agent to hand the failures to)".into(),
        });
    };
    let change = ModelChoice { model: text("model"), ..ModelChoice::default() };
    resolve_changed(doc, &agent_name, &change).map(Some)
}

/// Agent `name`'s definition (an empty one for an agent known only by its prompt) with
/// `change` applied: another backend drops the agent's own model and arguments, which were for
/// the old one; a model, a server or a key variable replaces the agent's.
pub fn changed(doc: &Document, name: &str, change: &ModelChoice) -> Agent {
    let mut agent = doc.agents.get(name).cloned().unwrap_or_default();
    if let Some(backend) = change.backend {
        if agent.backend != Some(backend) {
            agent.args.clear();
            agent.model = None;
        }
        agent.backend = Some(backend);
    }
    if let Some(model) = &change.model {
        agent.model = Some(model.clone());
    }
    if let Some(url) = &change.base_url {
        agent.base_url = Some(url.clone());
    }
    if let Some(var) = &change.api_key_env {
        agent.api_key_env = Some(var.clone());
    }
    agent
}

/// Resolves agent `name` with `change` applied (see [`changed`]): what a breaker's `escalate`
/// with a model, a role, a routing entry and an escalation run. With nothing to change, `name`
/// resolves as itself (a chain, a built-in action).
pub fn resolve_changed(
    doc: &Document,
    name: &str,
    change: &ModelChoice,
) -> Result<Vec<StepAgent>, AgentError> {
    let unchanged = change.backend.is_none()
        && change.model.is_none()
        && change.base_url.is_none()
        && change.api_key_env.is_none();
    if unchanged {
        return resolve(doc, name);
    }
    resolve_agent(doc, name, &changed(doc, name, change))
}

/// Resolves an agent definition.
fn resolve_agent(doc: &Document, name: &str, agent: &Agent) -> Result<Vec<StepAgent>, AgentError> {
    let env = agent
        .env
        .iter()
        .map(|(k, v)| {
            v.resolve(|n| std::env::var(n).ok()).map(|v| (k.clone(), v)).map_err(|e| AgentError::Env {
                agent: name.to_owned(),
                field: format!("env.{k}"),
                reason: e.0,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = agent.timeout.or_else(|| doc.timeouts.get(name).copied()).map(|d| d.0);
    let is_command = agent.kind == Some(AgentKind::Command)
        || agent.backend == Some(Backend::Command)
        || (agent.backend.is_none() && agent.command.is_some());
    let mut resolved = if is_command {
        let Some(command) = &agent.command else {
            return Err(AgentError::Config {
                agent: name.to_owned(),
                reason: "a command agent needs `command:`".into(),
            });
        };
        // An agent that sets its own PATH finds its programs there: leave that to the shell.
        let argv = env
            .iter()
            .all(|(k, _)| k != "PATH")
            .then(|| crate::agent::command::direct_argv(command))
            .flatten();
        vec![defined(name, Backing::Shell(command.clone(), argv), agent, env, timeout)]
    } else {
        ai_agent(doc, name, agent, env, timeout)?
    };
    for step in &mut resolved {
        step.condition.clone_from(&agent.condition);
    }
    Ok(resolved)
}

fn ai_agent(
    doc: &Document,
    name: &str,
    agent: &Agent,
    env: Vec<(String, String)>,
    timeout: Option<std::time::Duration>,
) -> Result<Vec<StepAgent>, AgentError> {
    let backend = agent
        .backend
        .or_else(|| default_backend(doc))
        .ok_or_else(|| AgentError::NoBackend { agent: name.to_owned() })?;
    let backing = match backend {
        Backend::Command => {
            return Err(AgentError::Config {
                agent: name.to_owned(),
                reason: "the default backend is `command`, but the agent has no `command:`".into(),
            });
        }
        Backend::Openai => {
            let base_url = match &agent.base_url {
                Some(url) => url.resolve(|n| std::env::var(n).ok()).map_err(|e| AgentError::Env {
                    agent: name.to_owned(),
                    field: "base_url".into(),
                    reason: e.0,
                })?,
                None => std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| openai::DEFAULT_BASE_URL.into()),
            };
            let api_key = match &agent.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| AgentError::Env {
                    agent: name.to_owned(),
                    field: "api_key_env".into(),
                    reason: format!("the variable `{var}` is not set"),
                })?),
                None => std::env::var("OPENAI_API_KEY").ok(),
            };
            let Some(model) = agent.model.clone() else {
                return Err(AgentError::Config {
                    agent: name.to_owned(),
                    reason: "the `openai` backend needs `model:` (the model name the server knows)".into(),
                });
            };
            Backing::Http {
                config: Box::new(openai::OpenAiConfig {
                    base_url,
                    model,
                    api_key,
                    system_prompt: agent.system_prompt.clone(),
                    temperature: agent.temperature,
                    ..openai::OpenAiConfig::default()
                }),
                role_prompt: agent.prompt.clone(),
            }
        }
        cli => {
            let (program_info, program) = cli_program(cli).expect("every other backend is a CLI");
            let found = find_program(&program);
            // A check invokes no agent: the program's name stands in for a program not here.
            let found = found.or_else(|| PROGRAMS_OPTIONAL.get().then(|| program.clone().into()));
            let Some(path) = found else {
                return Err(AgentError::MissingProgram {
                    agent: name.to_owned(),
                    backend: backend_name(cli),
                    program,
                    hint: format!("{} or set {}", program_info.hint, program_info.variable),
                });
            };
            let path = path.display().to_string();
            let model = agent.model.as_deref();
            let argv = match cli {
                Backend::Claude => claude::argv(&path, model, &agent.tools, &agent.args),
                Backend::Codex => codex::argv(&path, model, &agent.args),
                Backend::Opencode => opencode::argv(&path, model, &agent.args),
                _ => gemini::argv(&path, model, &agent.args),
            };
            Backing::Cli {
                backend: cli,
                argv,
                role_prompt: agent.prompt.clone(),
                system_prompt: agent.system_prompt.clone(),
            }
        }
    };
    Ok(vec![defined(name, backing, agent, env, timeout)])
}

/// A defined agent, ready to run on `backing`.
fn defined(
    name: &str,
    backing: Backing,
    agent: &Agent,
    env: Vec<(String, String)>,
    timeout: Option<std::time::Duration>,
) -> StepAgent {
    StepAgent {
        name: name.to_owned(),
        backing,
        check: agent.check.clone(),
        timeout,
        heartbeat_timeout: agent.heartbeat_timeout.map(|d| d.0),
        env,
        prompt: None,
        condition: None,
        reads_packet: agent.reads_packet == Some(true),
        approver: agent.approver == Some(true),
    }
}
