//! The runner: walks a plan, invokes agents, and turns everything that happens into events.
//!
//! Every event goes through [`Runner::emit`]: applied to the run's state, appended to the run's
//! event log, then shown. Today it runs DAG workflows of command agents; state machines, sagas
//! and the AI backends come with the rest of the run issue.

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
use crate::agent::command::{self, Invocation};
use crate::plan::Plan;
use crate::workflow::condition::{Evaluator, Scope};
use crate::workflow::model::{AgentKind, Backend, Document};

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
        "agent `{agent}` needs the `{backend}` backend, which this version cannot run yet; only command agents (`backend: command`) run today"
    )]
    UnsupportedBackend {
        /// The agent.
        agent: String,
        /// Its backend.
        backend: String,
    },
    /// The workflow kind cannot be run yet.
    #[error("running `{0}` workflows is not built yet; DAG workflows run today")]
    UnsupportedKind(String),
    /// The run directory could not be created.
    #[error("cannot create the run directory `{path}`: {source}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What performs a plan node: a command, or a chain of them.
#[derive(Debug, Clone)]
struct CommandAgent {
    name: String,
    command: String,
    check: Option<String>,
    timeout: Option<std::time::Duration>,
    env: Vec<(String, String)>,
}

/// Resolves the agents of a plan node to command agents, or says which backend is missing.
fn resolve(doc: &Document, name: &str, depth: usize) -> Result<Vec<CommandAgent>, RunError> {
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
    match (&agent.command, is_command) {
        (Some(command), true) => Ok(vec![CommandAgent {
            name: name.to_owned(),
            command: command.clone(),
            check: agent.check.clone(),
            timeout: agent.timeout.or_else(|| doc.timeouts.get(name).copied()).map(|d| d.0),
            env: agent
                .env
                .iter()
                .filter_map(|(k, v)| v.resolve(|n| std::env::var(n).ok()).ok().map(|v| (k.clone(), v)))
                .collect(),
        }]),
        _ => {
            let backend = match (agent.kind, agent.backend) {
                (Some(AgentKind::Human), _) => "human".to_owned(),
                (_, Some(b)) => serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                _ => "auto-detected AI".to_owned(),
            };
            Err(RunError::UnsupportedBackend { agent: name.to_owned(), backend })
        }
    }
}

/// A run in progress.
pub struct Runner {
    plan: Plan,
    options: RunOptions,
    state: RunState,
    sink: Box<dyn EventSink>,
    journal: std::io::BufWriter<std::fs::File>,
    run_dir: PathBuf,
    agents: Vec<Vec<CommandAgent>>,
}

fn run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let compact: String = stamp.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
    format!("{compact}-{:04x}", (now.subsec_nanos() ^ std::process::id()) & 0xffff)
}

impl Runner {
    /// Prepares a run: checks that every agent can run and creates the run directory.
    pub fn new(
        doc: &Document,
        plan: Plan,
        options: RunOptions,
        sink: Box<dyn EventSink>,
    ) -> Result<Self, RunError> {
        if plan.kind != crate::workflow::model::WorkflowKind::Dag {
            return Err(RunError::UnsupportedKind(plan.kind.as_str().to_owned()));
        }
        let mut agents = Vec::with_capacity(plan.graph.node_count());
        for (_, node) in plan.nodes() {
            let mut resolved = Vec::new();
            for name in &node.agents {
                resolved.extend(resolve(doc, name, 0)?);
            }
            agents.push(resolved);
        }
        let id = run_id();
        let run_dir = options.runs_dir.join(&id);
        std::fs::create_dir_all(run_dir.join("steps"))
            .map_err(|source| RunError::RunDir { path: run_dir.clone(), source })?;
        let journal = std::fs::File::create(run_dir.join("events.jsonl"))
            .map_err(|source| RunError::RunDir { path: run_dir.clone(), source })?;
        let mut state = RunState::new();
        state.run_id = id;
        Ok(Runner { plan, options, state, sink, journal: std::io::BufWriter::new(journal), run_dir, agents })
    }

    /// The run's directory.
    pub fn run_dir(&self) -> &std::path::Path {
        &self.run_dir
    }

    fn emit(&mut self, event: &Event) {
        self.state.apply(event);
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.journal, "{line}");
        }
        self.sink.event(event, &self.state);
    }

    fn invocation(&self, node: NodeIndex, with_packet: bool) -> Invocation {
        let id = &self.plan.graph[node].id;
        let packet = with_packet.then(|| self.packet(id));
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

    fn packet(&self, id: &str) -> String {
        let mut packet = SteeringPacket::new(
            now(),
            WorkflowInfo {
                name: self.options.workflow.clone(),
                iteration: 1,
                phase: id.to_owned(),
                state: "active".into(),
                started_at: now(),
            },
        );
        packet.instructions.primary =
            format!("Perform the `{id}` step of the `{}` workflow.", self.options.workflow);
        serde_json::to_string_pretty(&packet).unwrap_or_default()
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
        let (mut scheduler, ready) = DagScheduler::new(&self.plan);
        let mut queue: VecDeque<NodeIndex> = ready.into();
        let mut running: JoinSet<(NodeIndex, Outcome)> = JoinSet::new();
        let evaluator = Evaluator::default();
        let jobs = self.options.jobs.max(1);
        loop {
            while running.len() < jobs {
                let Some(node) = queue.pop_front() else { break };
                let id = self.plan.graph[node].id.clone();
                if let Some(condition) = self.plan.graph[node].condition.clone() {
                    let scope = Scope { success: true, result: None, variables: Default::default() };
                    let holds = evaluator.holds(&condition, &scope).unwrap_or(false);
                    if !holds {
                        self.emit(&Event::StepSkipped {
                            step: id,
                            reason: format!("condition `{}` does not hold", condition.source),
                        });
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                        continue;
                    }
                }
                let agents = self.agents[node.index()].clone();
                let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
                self.emit(&Event::StepStarted {
                    step: id, agent: names.join(" → "), attempt: 1, at: now()
                });
                let with_packet = agents.iter().any(|a| command::reads_files(&a.command, a.check.as_deref()));
                let invocation = self.invocation(node, with_packet);
                running.spawn(async move {
                    let mut last = Outcome { success: true, ..Outcome::default() };
                    let mut total_ms = 0;
                    // A chain runs agent after agent; the first failure ends it.
                    for agent in &agents {
                        let mut inv = invocation.clone();
                        inv.timeout = agent.timeout;
                        inv.env = agent.env.clone();
                        last = command::run(&agent.command, agent.check.as_deref(), &inv).await;
                        total_ms += last.duration_ms;
                        if !last.success {
                            break;
                        }
                    }
                    last.duration_ms = total_ms;
                    (node, last)
                });
            }
            let Some(joined) = running.join_next().await else { break };
            let (node, outcome) = match joined {
                Ok(done) => done,
                Err(e) => {
                    // A panicking step task is a bug; the run stops rather than guessing.
                    self.emit(&Event::RunFinished {
                        status: RunStatus::Failed,
                        reason: format!("internal error: {e}"),
                        at: now(),
                    });
                    return self.finish();
                }
            };
            let end = if outcome.success { NodeEnd::Succeeded } else { NodeEnd::Failed };
            let id = self.plan.graph[node].id.clone();
            self.emit(&Event::StepFinished { step: id, outcome: Box::new(outcome), at: now() });
            self.release(&mut scheduler, &mut queue, node, end);
        }
        let failed = self.state.count(super::state::StepStatus::Failed);
        let (status, reason) = if failed == 0 {
            (RunStatus::Succeeded, "every node finished".to_owned())
        } else {
            (RunStatus::Failed, format!("{failed} node(s) failed"))
        };
        self.emit(&Event::RunFinished { status, reason, at: now() });
        self.finish()
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

    fn finish(mut self) -> RunState {
        let _ = self.journal.flush();
        self.state
    }
}
