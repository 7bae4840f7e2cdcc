//! The runner: walks a plan, invokes agents, and turns everything that happens into events.
//!
//! Every event goes through [`Runner::emit`]: applied to the run's state, appended to the run's
//! event log, then shown. It runs state machines, DAGs and sagas of command agents; AI backends,
//! human states and built-in actions are refused before the first step until they are built.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;

use petgraph::stable_graph::NodeIndex;
use ralph_plugin_sdk::{SteeringPacket, WorkflowInfo};
use tokio::task::JoinSet;

use super::dag::{DagScheduler, NodeEnd};
use super::event::{Event, RunStatus, now};
use super::outcome::Outcome;
use super::state::RunState;
use super::state::StepStatus;
use crate::agent::claude::{self, ClaudeStream};
use crate::agent::cli;
use crate::agent::codex::{self, CodexStream};
use crate::agent::command::{self, Invocation};
use crate::plan::{EdgeKind, NodeRole, Plan};
use crate::prompt::stack;
use crate::workflow::condition::{self, ConditionKind, Evaluator, Scope};
use crate::workflow::model::{AgentKind, Backend, Document, StateKind, WorkflowKind};
use crate::workflow::vocabulary;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// DAG nodes run at once.
    pub jobs: usize,
    /// The project directory: agents work here.
    pub project_dir: PathBuf,
    /// Where runs are kept (`.ralph/runs/<run-id>/`).
    pub runs_dir: PathBuf,
    /// The workflow's name.
    pub workflow: String,
    /// The most agent invocations (`loop.max_iterations`): a backstop for runaway loops.
    pub max_invocations: u64,
    /// Where prompt files are looked up (see `prompt::search_dirs`).
    pub prompt_dirs: Vec<PathBuf>,
}

/// Receives every event after it has been applied.
pub trait EventSink: Send {
    /// Shows or forwards an event.
    fn event(&mut self, event: &Event, state: &RunState);
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An agent needs a backend this version cannot run.
    #[error(
        "agent `{agent}` needs the `{backend}` backend, which this version cannot run yet; command, claude and codex agents run today"
    )]
    UnsupportedBackend {
        /// The agent.
        agent: String,
        /// Its backend.
        backend: String,
    },
    /// Something in the workflow cannot be run by this version yet.
    #[error("{0} is not built yet")]
    Unsupported(String),
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
    /// An agent's environment refers to a variable that is not set.
    #[error("agent `{agent}`: `env.{variable}`: {reason}")]
    Env {
        /// The agent.
        agent: String,
        /// The variable of its `env`.
        variable: String,
        /// Why it cannot be resolved.
        reason: String,
    },
    /// The run directory could not be created.
    #[error("cannot create the run directory `{path}`: {source}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How an agent runs.
#[derive(Debug, Clone)]
enum Backing {
    /// A shell command.
    Shell(String),
    /// An agent CLI (Claude Code, Codex) with its command line; the prompt is stacked when the
    /// step starts.
    Cli { backend: Backend, argv: Vec<String>, role_prompt: Option<String>, system_prompt: Option<String> },
}

/// One agent of a plan node, ready to run.
#[derive(Debug, Clone)]
struct StepAgent {
    name: String,
    backing: Backing,
    check: Option<String>,
    timeout: Option<std::time::Duration>,
    env: Vec<(String, String)>,
    /// The stacked prompt (AI agents), filled in when the step starts.
    prompt: Option<String>,
}

impl StepAgent {
    fn reads_files(&self) -> bool {
        match &self.backing {
            Backing::Shell(command) => command::reads_files(command, self.check.as_deref()),
            Backing::Cli { .. } => true,
        }
    }
}

/// The first `program` on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Resolves the agents of a plan node to command agents, or says which backend is missing.
fn resolve(doc: &Document, name: &str, depth: usize) -> Result<Vec<StepAgent>, RunError> {
    if let Some(chain) = doc.chains.get(name).filter(|_| depth < 16) {
        let mut all = Vec::new();
        for member in chain {
            all.extend(resolve(doc, member, depth + 1)?);
        }
        return Ok(all);
    }
    let Some(agent) = doc.agents.get(name) else {
        return Err(RunError::UnsupportedBackend {
            agent: name.to_owned(),
            backend: "auto-detected AI".into(),
        });
    };
    let is_command = agent.kind == Some(AgentKind::Command)
        || agent.backend == Some(Backend::Command)
        || (agent.backend.is_none() && agent.command.is_some());
    let env = agent
        .env
        .iter()
        .map(|(k, v)| {
            v.resolve(|n| std::env::var(n).ok()).map(|v| (k.clone(), v)).map_err(|e| RunError::Env {
                agent: name.to_owned(),
                variable: k.clone(),
                reason: e.0,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = agent.timeout.or_else(|| doc.timeouts.get(name).copied()).map(|d| d.0);
    let backend = if is_command {
        Some(Backend::Command)
    } else {
        agent.backend.or(doc.loop_settings.as_ref().and_then(|l| l.backend))
    };
    let backing = match (backend, &agent.command) {
        (_, _) if agent.kind == Some(AgentKind::Human) => {
            return Err(RunError::UnsupportedBackend { agent: name.to_owned(), backend: "human".into() });
        }
        (Some(Backend::Command), Some(command)) => Backing::Shell(command.clone()),
        (Some(backend @ (Backend::Claude | Backend::Codex)), _) => {
            let (default, variable, hint) = match backend {
                Backend::Claude => (
                    "claude",
                    "RALPH_CLAUDE_BIN",
                    "install Claude Code (`npm install -g @anthropic-ai/claude-code`)",
                ),
                _ => ("codex", "RALPH_CODEX_BIN", "install the Codex CLI (`npm install -g @openai/codex`)"),
            };
            let program = std::env::var(variable).unwrap_or_else(|_| default.into());
            let found =
                if program.contains('/') { Some(PathBuf::from(&program)) } else { find_program(&program) };
            let Some(path) = found else {
                return Err(RunError::MissingProgram {
                    agent: name.to_owned(),
                    backend: default.into(),
                    program,
                    hint: format!("{hint} or set {variable}"),
                });
            };
            let path = path.display().to_string();
            let argv = match backend {
                Backend::Claude => claude::argv(&path, agent.model.as_deref(), &agent.tools, &agent.args),
                _ => codex::argv(&path, agent.model.as_deref(), &agent.args),
            };
            Backing::Cli {
                backend,
                argv,
                role_prompt: agent.prompt.clone(),
                system_prompt: agent.system_prompt.clone(),
            }
        }
        (backend, _) => {
            let backend = match backend {
                Some(b) => serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                None => "auto-detected AI".to_owned(),
            };
            return Err(RunError::UnsupportedBackend { agent: name.to_owned(), backend });
        }
    };
    Ok(vec![StepAgent {
        name: name.to_owned(),
        backing,
        check: agent.check.clone(),
        timeout,
        env,
        prompt: None,
    }])
}

/// A run in progress.
pub struct Runner {
    plan: Plan,
    options: RunOptions,
    state: RunState,
    sink: Box<dyn EventSink>,
    journal: std::io::BufWriter<std::fs::File>,
    run_dir: PathBuf,
    /// Per plan node: its units (an agent or a chain, each a list of commands run in order).
    units: Vec<Vec<Vec<StepAgent>>>,
    evaluator: Evaluator,
}

fn run_id() -> String {
    let now = std::time::SystemTime::now();
    let nanos = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let compact: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    format!("{compact}-{:04x}", (nanos ^ std::process::id()) & 0xffff)
}

/// The steering packet of a step.
pub fn packet(workflow: &str, step: &str, outcomes: Vec<String>) -> SteeringPacket {
    let mut packet = SteeringPacket::new(
        now(),
        WorkflowInfo {
            name: workflow.to_owned(),
            iteration: 1,
            phase: step.to_owned(),
            state: "active".into(),
            started_at: now(),
        },
    );
    packet.instructions.primary = format!("Perform the `{step}` step of the `{workflow}` workflow.");
    packet.instructions.outcomes = outcomes;
    packet
}

/// The outcome names the transitions leaving a node test, so the agent knows what to report.
pub fn outcome_names(plan: &Plan, node: NodeIndex) -> Vec<String> {
    let mut names = Vec::new();
    for (_, edge) in plan.outgoing(node) {
        if let Some(c) = &edge.condition {
            match &c.kind {
                ConditionKind::Outcome(name) => names.push(name.clone()),
                ConditionKind::Expression => names.extend(c.names.iter().cloned()),
                _ => {}
            }
        }
    }
    names.dedup();
    names
}

/// Runs one unit: its commands in order, the first failure ending it.
async fn run_unit(unit: Vec<StepAgent>, invocation: Invocation) -> Outcome {
    let mut last = Outcome { success: true, ..Outcome::default() };
    let mut total_ms = 0;
    for agent in &unit {
        let mut inv = invocation.clone();
        inv.timeout = agent.timeout;
        inv.env.clone_from(&agent.env);
        inv.prompt.clone_from(&agent.prompt);
        last = match &agent.backing {
            Backing::Shell(command) => command::run(command, agent.check.as_deref(), &inv).await,
            Backing::Cli { backend: Backend::Claude, argv, .. } => {
                cli::run::<ClaudeStream>(argv.clone(), agent.check.as_deref(), &inv).await
            }
            Backing::Cli { argv, .. } => {
                cli::run::<CodexStream>(argv.clone(), agent.check.as_deref(), &inv).await
            }
        };
        total_ms += last.duration_ms;
        if !last.success {
            break;
        }
    }
    last.duration_ms = total_ms;
    last
}

/// Combines the outcomes of a state's several agents: all must succeed (`require_all`) or any
/// one; the named result is the first one reported, in the order the agents are listed.
fn combine(outcomes: Vec<Outcome>, require_all: bool) -> Outcome {
    let success =
        if require_all { outcomes.iter().all(|o| o.success) } else { outcomes.iter().any(|o| o.success) };
    let duration_ms = outcomes.iter().map(|o| o.duration_ms).max().unwrap_or_default();
    let result = outcomes.iter().find_map(|o| o.result.clone());
    let failure = outcomes.iter().find(|o| !o.success).cloned();
    match (success, failure) {
        (false, Some(mut failed)) => {
            failed.duration_ms = duration_ms;
            failed.result = result;
            failed
        }
        _ => Outcome { success, result, duration_ms, ..outcomes.into_iter().next().unwrap_or_default() },
    }
}

impl Runner {
    /// Prepares a run: checks that every agent can run and creates the run directory.
    pub fn new(
        doc: &Document,
        plan: Plan,
        options: RunOptions,
        sink: Box<dyn EventSink>,
    ) -> Result<Self, RunError> {
        let mut units = Vec::with_capacity(plan.graph.node_count());
        for (_, node) in plan.nodes() {
            if let NodeRole::State { kind: StateKind::Human | StateKind::HumanInTheLoop, .. } = node.role {
                return Err(RunError::Unsupported(format!(
                    "the human review state `{}` (it needs live control: approve and reject)",
                    node.id
                )));
            }
            let mut node_units = Vec::new();
            for name in &node.agents {
                if vocabulary::is_builtin_action(name) {
                    return Err(RunError::Unsupported(format!(
                        "the built-in action `{name}` (used by `{}`)",
                        node.id
                    )));
                }
                node_units.push(resolve(doc, name, 0)?);
            }
            units.push(node_units);
        }
        let named = |n: &str| doc.conditions.contains_key(n);
        let conditions = doc
            .conditions
            .iter()
            .filter_map(|(name, text)| condition::compile(text, &named).ok().map(|c| (name.clone(), c)))
            .collect();
        let id = run_id();
        let run_dir = options.runs_dir.join(&id);
        std::fs::create_dir_all(run_dir.join("steps"))
            .map_err(|source| RunError::RunDir { path: run_dir.clone(), source })?;
        let journal = std::fs::File::create(run_dir.join("events.jsonl"))
            .map_err(|source| RunError::RunDir { path: run_dir.clone(), source })?;
        let mut state = RunState::new();
        state.run_id = id;
        Ok(Runner {
            plan,
            options,
            state,
            sink,
            journal: std::io::BufWriter::new(journal),
            run_dir,
            units,
            evaluator: Evaluator::new(conditions),
        })
    }

    fn emit(&mut self, event: &Event) {
        self.state.apply(event);
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.journal, "{line}");
        }
        self.sink.event(event, &self.state);
    }

    fn invocation(&self, node: NodeIndex, packet: Option<String>) -> Invocation {
        let id = &self.plan.graph[node].id;
        Invocation {
            run_id: self.state.run_id.clone(),
            step: id.clone(),
            workdir: self.options.project_dir.clone(),
            steps_dir: self.run_dir.join("steps"),
            packet,
            prompt: None,
            timeout: None,
            env: Vec::new(),
        }
    }

    /// Starts a node's step: its units run in the returned task.
    fn start(
        &mut self,
        node: NodeIndex,
        parallel: bool,
        require_all: bool,
    ) -> impl Future<Output = Outcome> + Send + 'static {
        let mut units = self.units[node.index()].clone();
        let names: Vec<String> =
            units.iter().map(|u| u.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(" → ")).collect();
        let id = self.plan.graph[node].id.clone();
        let attempt = 1;
        self.emit(&Event::StepStarted { step: id.clone(), agent: names.join(", "), attempt, at: now() });
        // The packet is built once, and only for steps whose agents read it: a DAG of thousands
        // of quiet commands should not build thousands of unread packets.
        let packet = units
            .iter()
            .flatten()
            .any(StepAgent::reads_files)
            .then(|| packet(&self.options.workflow, &id, outcome_names(&self.plan, node)));
        let invocation = self
            .invocation(node, packet.as_ref().map(|p| serde_json::to_string_pretty(p).unwrap_or_default()));
        // AI agents get their stacked prompt, rendered from this step's packet.
        let (_, _, result_file, _) = invocation.files();
        let result_file = result_file.display().to_string();
        let mut prompt_error = None;
        for agent in units.iter_mut().flatten() {
            if let (Backing::Cli { role_prompt, system_prompt, .. }, Some(packet)) = (&agent.backing, &packet)
            {
                let request = stack::StackRequest {
                    agent: &agent.name,
                    role_prompt: role_prompt.as_deref(),
                    system_prompt: system_prompt.as_deref(),
                    packet,
                    result_file: &result_file,
                    dirs: &self.options.prompt_dirs,
                };
                match stack::stack(&request) {
                    Ok(text) => agent.prompt = Some(text),
                    Err(e) => {
                        prompt_error = Some(format!("the prompt of `{}` cannot be built: {e}", agent.name));
                    }
                }
            }
        }
        async move {
            if let Some(error) = prompt_error {
                return Outcome::failed("agent_error", error);
            }
            if units.len() <= 1 {
                return run_unit(units.into_iter().next().unwrap_or_default(), invocation).await;
            }
            let outcomes = if parallel {
                let mut set = JoinSet::new();
                for (i, unit) in units.into_iter().enumerate() {
                    let inv = invocation.clone();
                    set.spawn(async move { (i, run_unit(unit, inv).await) });
                }
                let mut all: Vec<(usize, Outcome)> = set.join_all().await;
                all.sort_by_key(|(i, _)| *i);
                all.into_iter().map(|(_, o)| o).collect()
            } else {
                let mut all = Vec::new();
                for unit in units {
                    all.push(run_unit(unit, invocation.clone()).await);
                }
                all
            };
            combine(outcomes, require_all)
        }
    }

    /// Runs the workflow to its end and returns the final state.
    pub async fn run(mut self) -> RunState {
        let workflow = self.options.workflow.clone();
        let id = self.state.run_id.clone();
        self.emit(&Event::RunStarted {
            run_id: id,
            workflow,
            kind: self.plan.kind.as_str().into(),
            at: now(),
        });
        let (status, reason) = match self.plan.kind {
            WorkflowKind::Dag => self.run_dag().await,
            WorkflowKind::StateMachine => self.run_state_machine().await,
            WorkflowKind::Saga => self.run_saga().await,
        };
        self.emit(&Event::RunFinished { status, reason, at: now() });
        let _ = self.journal.flush();
        self.state
    }

    async fn run_dag(&mut self) -> (RunStatus, String) {
        let (mut scheduler, ready) = DagScheduler::new(&self.plan);
        let mut queue: VecDeque<NodeIndex> = ready.into();
        let mut running: JoinSet<(NodeIndex, Outcome)> = JoinSet::new();
        let jobs = self.options.jobs.max(1);
        loop {
            while running.len() < jobs {
                let Some(node) = queue.pop_front() else { break };
                let id = self.plan.graph[node].id.clone();
                if let Some(condition) = self.plan.graph[node].condition.clone() {
                    let scope = self.scope(node, &Outcome { success: true, ..Outcome::default() });
                    let holds = self.evaluator.holds(&condition, &scope).unwrap_or(false);
                    if !holds {
                        let reason = format!("condition `{}` does not hold", condition.source);
                        self.emit(&Event::StepSkipped { step: id, reason });
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                        continue;
                    }
                }
                if self.state.invocations >= self.options.max_invocations {
                    break;
                }
                let step = self.start(node, false, true);
                running.spawn(async move { (node, step.await) });
            }
            let Some(joined) = running.join_next().await else { break };
            let (node, outcome) = match joined {
                Ok(done) => done,
                // A panicking step task is a bug; the run stops rather than guessing.
                Err(e) => return (RunStatus::Failed, format!("internal error: {e}")),
            };
            let end = if outcome.success { NodeEnd::Succeeded } else { NodeEnd::Failed };
            let id = self.plan.graph[node].id.clone();
            self.emit(&Event::StepFinished { step: id, outcome: Box::new(outcome), at: now() });
            self.release(&mut scheduler, &mut queue, node, end);
        }
        if !queue.is_empty() {
            return (
                RunStatus::Stopped,
                format!("max_iterations ({}) reached", self.options.max_invocations),
            );
        }
        let failed = self.state.count(StepStatus::Failed);
        if failed == 0 {
            (RunStatus::Succeeded, "every node finished".to_owned())
        } else {
            (RunStatus::Failed, format!("{failed} node(s) failed"))
        }
    }

    fn release(
        &mut self,
        scheduler: &mut DagScheduler,
        queue: &mut VecDeque<NodeIndex>,
        node: NodeIndex,
        end: NodeEnd,
    ) {
        let released = scheduler.finish(&self.plan, node, end);
        for (skipped, reason) in released.skipped {
            let step = self.plan.graph[skipped].id.clone();
            self.emit(&Event::StepSkipped { step, reason });
        }
        queue.extend(released.ready);
    }

    /// The variables a condition sees after a step (see `workflow::condition::VARIABLES`).
    fn scope(&self, node: NodeIndex, outcome: &Outcome) -> Scope {
        let id = &self.plan.graph[node].id;
        let visits = u64::from(self.state.visits.get(id).copied().unwrap_or(0));
        let failures = self.state.steps.get(id).map_or(0, |r| u64::from(r.status == StepStatus::Failed));
        let mut variables = std::collections::BTreeMap::new();
        variables.insert("visits".to_owned(), minijinja::Value::from(visits));
        variables.insert("retries".to_owned(), minijinja::Value::from(visits.saturating_sub(1)));
        variables.insert("failures".to_owned(), minijinja::Value::from(failures));
        variables.insert("attempt".to_owned(), minijinja::Value::from(1));
        variables.insert("iteration".to_owned(), minijinja::Value::from(1));
        variables.insert("state".to_owned(), minijinja::Value::from(id.clone()));
        variables.insert(
            "workdir".to_owned(),
            minijinja::Value::from(self.options.project_dir.display().to_string()),
        );
        variables.insert("outcome".to_owned(), minijinja::Value::from(minijinja::value::Serde(outcome)));
        variables.insert(
            "evidence".to_owned(),
            minijinja::Value::from(minijinja::value::Serde(&outcome.evidence)),
        );
        Scope { success: outcome.success, result: outcome.result.clone(), variables }
    }

    async fn run_state_machine(&mut self) -> (RunStatus, String) {
        let Some(mut current) = self.plan.initial else {
            return (RunStatus::Failed, "the workflow has no states".into());
        };
        loop {
            let id = self.plan.graph[current].id.clone();
            let (terminal, require_all, parallel) = match self.plan.graph[current].role {
                NodeRole::Stop => return (RunStatus::Stopped, "reached `stop`".into()),
                NodeRole::State { terminal, require_all, parallel, .. } => (terminal, require_all, parallel),
                _ => return (RunStatus::Failed, format!("`{id}` is not a state")),
            };
            if terminal && self.units[current.index()].is_empty() {
                return (RunStatus::Succeeded, format!("reached the terminal state `{id}`"));
            }
            if self.state.invocations >= self.options.max_invocations {
                return (
                    RunStatus::Stopped,
                    format!("max_iterations ({}) reached in `{id}`", self.options.max_invocations),
                );
            }
            let outcome = self.start(current, parallel, require_all).await;
            let success = outcome.success;
            let scope = self.scope(current, &outcome);
            self.emit(&Event::StepFinished { step: id.clone(), outcome: Box::new(outcome), at: now() });
            if terminal {
                return if success {
                    (RunStatus::Succeeded, format!("reached the terminal state `{id}`"))
                } else {
                    (RunStatus::Failed, format!("the terminal state `{id}` failed"))
                };
            }
            let mut next = None;
            for (target, edge) in self.plan.outgoing(current) {
                let holds = match edge.kind {
                    EdgeKind::Else => true,
                    EdgeKind::Transition | EdgeKind::Next => match &edge.condition {
                        Some(c) => match self.evaluator.holds(c, &scope) {
                            Ok(holds) => holds,
                            Err(e) => return (RunStatus::Failed, format!("in `{id}`: {e}")),
                        },
                        None => success,
                    },
                    _ => false,
                };
                if holds {
                    next = Some((target, edge.kind));
                    break;
                }
            }
            let Some((target, kind)) = next else {
                let result = scope.result.map(|r| format!(", result `{r}`")).unwrap_or_default();
                let how = if success { "succeeded" } else { "failed" };
                return (
                    RunStatus::Failed,
                    format!("no transition from `{id}` holds (the step {how}{result})"),
                );
            };
            let to = self.plan.graph[target].id.clone();
            self.emit(&Event::Transition { from: id, to, kind });
            current = target;
        }
    }

    async fn run_saga(&mut self) -> (RunStatus, String) {
        let mut current = self.plan.initial;
        while let Some(step) = current {
            let outcome = self.start(step, false, true).await;
            let success = outcome.success;
            let id = self.plan.graph[step].id.clone();
            self.emit(&Event::StepFinished { step: id.clone(), outcome: Box::new(outcome), at: now() });
            if !success {
                return self.compensate(step, &id).await;
            }
            current = self
                .plan
                .outgoing(step)
                .into_iter()
                .find(|(_, e)| e.kind == EdgeKind::Forward)
                .map(|(t, _)| t);
        }
        (RunStatus::Succeeded, "every step succeeded".into())
    }

    /// Runs the compensations of the steps before `failed`, latest first.
    async fn compensate(&mut self, failed: NodeIndex, id: &str) -> (RunStatus, String) {
        let mut next = self
            .plan
            .outgoing(failed)
            .into_iter()
            .find(|(_, e)| e.kind == EdgeKind::Compensate)
            .map(|(t, _)| t);
        let mut done = Vec::new();
        let mut broken = Vec::new();
        while let Some(node) = next {
            let outcome = self.start(node, false, true).await;
            let name = self.plan.graph[node].id.clone();
            if outcome.success {
                done.push(name.clone());
            } else {
                broken.push(name.clone());
            }
            self.emit(&Event::StepFinished { step: name, outcome: Box::new(outcome), at: now() });
            next = self
                .plan
                .outgoing(node)
                .into_iter()
                .find(|(_, e)| e.kind == EdgeKind::Rollback)
                .map(|(t, _)| t);
        }
        let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        if broken.is_empty() {
            (RunStatus::Failed, format!("step `{id}` failed; compensated: {}", list(&done)))
        } else {
            (
                RunStatus::Failed,
                format!(
                    "step `{id}` failed; compensated: {}; compensation FAILED: {}",
                    list(&done),
                    list(&broken)
                ),
            )
        }
    }
}
