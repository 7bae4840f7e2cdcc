//! The runner: the shell around the run's pure core. It owns the resources — the log (store and
//! journal), the agents (or a script), plugins, telemetry, the control channel, the clock, git —
//! and no decision state: everything the run decides from is its [`RunState`], which changes
//! only by [`RunState::apply`] inside [`Runner::emit`].
//!
//! Every event goes through `emit`: masked for secrets, applied, appended to the log, shown,
//! and handed to the telemetry. The executors of the three workflow kinds (`exec_*.rs`), the
//! steps' life (`steps.rs`), the guards (`guard.rs`), live control (`live.rs`) and the task
//! loop (`task_loop.rs`) are further `impl Runner` blocks; this file holds preparing a run and
//! the event path.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::agents::{self, AgentError, StepAgent};
use super::core::event::{Event, RunStatus};
use super::core::ledger::{Ledger, LedgerRules};
use super::core::outcome::FailureClass;
use super::core::projection::RunState;
use super::human;
use super::log::RunLog;
use super::performer::Performer;
use crate::agent::signal::SignalReport;
use crate::clock::Clock;
use crate::plan::{NodeRole, Plan};
use crate::workflow::condition::{self, Evaluator};
use crate::workflow::model::{Action, AgentKind, Document, StateKind};

/// Where the run's events go.
#[derive(Debug, Clone, Default)]
pub enum LogChoice {
    /// The run store in `RunOptions::state_dir`.
    #[default]
    Store,
    /// Memory: events already there are the run's journal so far (it is resumed from them).
    Memory(super::log::Memory),
}

/// Who or what stops a run from outside: the CLI's SIGINT/SIGTERM watcher says which signal.
pub type Cancel = tokio::sync::watch::Receiver<Option<String>>;

/// How to run.
#[derive(Debug)]
pub struct RunOptions {
    /// DAG nodes run at once.
    pub jobs: usize,
    /// Whether a parallel state's agents run at once (`loop.parallel_agents`, default true);
    /// when false they run one after the other, with the same `require_all` rule.
    pub parallel_agents: bool,
    /// The project directory: agents work here.
    pub project_dir: PathBuf,
    /// Where runs are kept (`.ralph/runs/<run-id>/`).
    pub runs_dir: PathBuf,
    /// The workflow's name.
    pub workflow: String,
    /// The most agent invocations in the whole run (`loop.max_iterations`).
    pub max_invocations: u64,
    /// Where prompt files are looked up (see `prompt::search_dirs`).
    pub prompt_dirs: Vec<PathBuf>,
    /// What the store records about the run (its id and status are filled in by the runner).
    pub record: crate::store::RunRecord,
    /// The run store's directory (opened once the run is known to be able to start).
    pub state_dir: PathBuf,
    /// Who performs the steps: the agents, or a script (`replay --check`, tests) — then
    /// nothing outside the run is touched.
    pub performer: Performer,
    /// Where the events go.
    pub log: LogChoice,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Serve the control socket (a run nobody can reach does not).
    pub control: bool,
    /// SIGINT/SIGTERM, watched by the CLI from before the run starts.
    pub cancel: Option<Cancel>,
    /// Told what takes time before the run's first event (a plugin's source being built or
    /// its component compiled), so a person is not left waiting in silence.
    pub notice: Option<fn(&str)>,
}

impl RunOptions {
    /// Options for a run of `workflow` in `project_dir`, with the defaults: the real agents, the
    /// store in `state_dir`, the system clock, the control socket served.
    pub fn new(project_dir: PathBuf, state_dir: PathBuf, workflow: String) -> RunOptions {
        RunOptions {
            jobs: 1,
            parallel_agents: true,
            runs_dir: runs_dir(&project_dir),
            project_dir,
            workflow,
            max_invocations: 100,
            prompt_dirs: Vec::new(),
            record: crate::store::RunRecord::default(),
            state_dir,
            performer: Performer::Agents,
            log: LogChoice::Store,
            clock: Arc::new(crate::clock::SystemClock),
            control: true,
            cancel: None,
            notice: None,
        }
    }
}

/// Receives every event after it has been applied.
pub trait EventSink: Send {
    /// Shows or forwards an event.
    fn event(&mut self, event: &Event, state: &RunState);
    /// Whether it wants every step's packet, even for agents that do not read one.
    fn wants_packets(&self) -> bool {
        false
    }
    /// Shows a step's packet: `phase` is `built` (before the step) or `completed` (after).
    fn packet(&mut self, _step: &str, _phase: &str, _packet: &ralph_plugin_sdk::SteeringPacket) {}
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An agent cannot run.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The ledger cannot be read.
    #[error("{0}")]
    Ledger(String),
    /// The circuit breaker is open.
    #[error("{0}")]
    BreakerOpen(String),
    /// The store cannot be used.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The control socket cannot be served.
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    /// The run's journal cannot be read or written.
    #[error("{0}")]
    Journal(String),
    /// A plugin that fails closed cannot be loaded.
    #[error("{0}")]
    Plugin(String),
    /// A role's own workflow cannot be read or is invalid.
    #[error("{0}")]
    RoleWorkflow(String),
    /// An agent a role, a routing entry or the escalation would run cannot run.
    #[error("{choice} in ralph.yaml chooses an agent that cannot run")]
    Choice {
        /// Which entries make the choice (`` `routing.code` ``).
        choice: String,
        /// Why the agent cannot run.
        source: AgentError,
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

impl RunError {
    /// Whether the machine is at fault (the store, the disk, the socket), not the workflow.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            RunError::Store(_) | RunError::Control(_) | RunError::Journal(_) | RunError::RunDir { .. }
        )
    }
}

/// A human state's review settings.
#[derive(Debug, Clone, Default)]
pub(super) struct HumanSpec {
    pub timeout: Option<Duration>,
    pub reminder: Option<Duration>,
    /// The reminders' messages, set when the review opens (none: no channel to send to).
    pub remind: Option<super::notify::Reminder>,
    /// `on_timeout`, in order.
    pub on_timeout: Vec<OnTimeout>,
}

/// One `on_timeout` entry of a human state.
#[derive(Debug, Clone)]
pub(super) enum OnTimeout {
    /// A built-in action or an agent to run.
    Run(Vec<StepAgent>),
    /// A state (or `stop`) to move to.
    Goto(String),
}

/// What a plan node runs, resolved before the first step.
#[derive(Debug, Clone, Default)]
pub(super) struct NodePrep {
    /// Its units (an agent, a chain or an action), each a list of agents run in order.
    pub units: Vec<Vec<StepAgent>>,
    pub on_enter: Vec<Vec<StepAgent>>,
    pub on_exit: Vec<Vec<StepAgent>>,
    /// A state's `on_timeout` when its step times out (human states handle their own).
    pub on_timeout: Vec<Vec<StepAgent>>,
    pub human: Option<HumanSpec>,
    /// How a failed step is tried again.
    pub retry: crate::policy::retry::Retry,
    /// Whether an AI agent performs it (budgets apply).
    pub ai: bool,
    /// The model of its first agent, for prices.
    pub model: Option<String>,
}

/// A run in progress: its state, and the resources it acts through.
pub struct Runner {
    pub(super) plan: Plan,
    pub(super) options: RunOptions,
    /// The projection of the run's journal: every decision is taken from it.
    pub(super) state: RunState,
    pub(super) sink: Box<dyn EventSink>,
    pub(super) log: RunLog,
    /// When the run takes snapshots (`None`: never).
    pub(super) snapshots: Option<super::snapshots::SnapshotPolicy>,
    /// Set when the journal could not be written: nothing more is acknowledged.
    pub(super) journal_error: Option<String>,
    pub(super) run_dir: PathBuf,
    /// This process made the run's directory: no step file of an earlier process is in it.
    pub(super) run_dir_fresh: bool,
    pub(super) nodes: Vec<NodePrep>,
    pub(super) evaluator: Evaluator,
    pub(super) named_conditions: Vec<String>,
    /// The git work tree the project is in (none outside git, and for a script).
    pub(super) tree: Option<crate::git::WorkTree>,
    /// The commit `HEAD` was at when the run started.
    pub(super) base_commit: Option<String>,
    /// The branch and tag, for conditions.
    pub(super) git_vars: (String, String),
    /// The work tree when the run started (the base its evidence and `git_reset` count from).
    pub(super) run_start: Option<crate::git::Snapshot>,
    /// The last look at the work tree, with the number of steps started when it was taken: it
    /// stands for the next look while no step has started or runs since (a chain's step ends
    /// where the next begins).
    pub(super) last_look: Option<(crate::git::Snapshot, u64)>,
    /// The workflow runs `git_reset` or `git_commit`: the commits steps make are noted.
    pub(super) notes_commits: bool,
    pub(super) signals_tx: mpsc::UnboundedSender<SignalReport>,
    pub(super) signals_rx: mpsc::UnboundedReceiver<SignalReport>,
    /// Where backends report the process groups they start (journaled: a loop that dies
    /// leaves them behind, and the next one ends them).
    pub(super) spawned_tx: crate::agent::orphans::SpawnedSender,
    pub(super) spawned_rx: mpsc::UnboundedReceiver<crate::agent::orphans::Spawned>,
    /// The ledger file (none: a check or test run, which never writes it).
    pub(super) ledger_path: Option<PathBuf>,
    /// The ledger as last written to its file.
    pub(super) ledger_saved: Ledger,
    pub(super) breaker: Option<crate::policy::breaker::BreakerConfig>,
    pub(super) budget: crate::workflow::model::Budget,
    /// How large a step's log may grow before it is rotated (`logging.step_logs`).
    pub(super) step_log: crate::agent::step_log::LogLimit,
    pub(super) max_runtime: Option<Duration>,
    pub(super) on_open: Vec<Action>,
    pub(super) on_close: Vec<Action>,
    /// The agents `on_open` hands the failures to when the breaker opens, resolved.
    pub(super) escalations: Vec<(String, Vec<StepAgent>)>,
    /// Who does a task's work: roles, routing and escalation, resolved (`routing.rs`).
    pub(super) routing: super::routing::Prepared,
    /// Roles a task named that `roles:` does not, said once each.
    pub(super) warned_roles: std::collections::HashSet<String>,
    /// The agent with `on_failure: always` (the planner), resolved.
    pub(super) on_failure: Option<(String, Vec<StepAgent>)>,
    /// The agents with hooks (`agents.<name>.hooks`), resolved.
    pub(super) hook_agents: Vec<super::hook_agents::HookAgent>,
    /// Who performs the steps.
    pub(super) performer: Performer,
    /// The control channel: signals from other terminals, the status and events they see.
    pub(super) live: super::live::Live,
    /// The run's plugins, loaded when it starts (none for a script).
    pub(super) plugins: crate::plugin::PluginSet,
    /// ralph.yaml as JSON, for the plugins' workflow context.
    pub(super) plugin_config: serde_json::Value,
    /// Configured plugins that are not loaded, journaled when the run begins.
    pub(super) plugin_problems: Vec<PluginProblem>,
    /// The `notifications:` section's channels, sending in the background.
    pub(super) notifier: super::notify::Notifier,
    /// Plugins' webhook calls on their way.
    pub(super) notifying: Vec<tokio::task::JoinHandle<Option<String>>>,
    /// The run's spans, measurements and log lines, made from its events.
    pub(super) telemetry: crate::telemetry::run::RunTelemetry,
    /// Secrets (secret-named variables, values of `${…}` references) kept out of every event
    /// and packet: what an agent echoes is masked before anything records or shows it.
    pub(super) redactor: crate::redact::Redactor,
    pub(super) clock: Arc<dyn Clock>,
    /// A resumed run: where its journal ended, until `begin` journals the resumption.
    pub(super) resuming: Option<u64>,
    /// A resumed run: the ledger it goes on with, journaled in its `resumed` event.
    pub(super) resumed_ledger: Option<Ledger>,
    /// Warnings found before the run's first event, journaled right after it.
    pub(super) pending_warnings: Vec<String>,
    /// Git failed once (said then, not again for every step).
    pub(super) git_failed: bool,
    /// The task's status before the iteration took it (put back when the environment fails).
    pub(super) picked_from: Option<crate::task::TaskStatus>,
    /// The work tree when the latest iteration began, when its files are looked at (also kept
    /// in the run's directory, for a resumed run).
    pub(super) iteration_start: Option<crate::git::Snapshot>,
    /// A condition reads the files steps change: every step's evidence is collected.
    pub(super) evidence_read: bool,
    /// Whether some condition reads the branch or the tag.
    pub(super) git_vars_read: bool,
    /// The review form's address when the loop serves a dashboard (`loop --dashboard`): a
    /// review's notification carries it.
    pub(super) review_url: Option<String>,
    /// The project's learnings (`.ralph/learnings.json`, `.ralph/learnings.md`); none for a
    /// script, which neither reads nor changes the project's.
    pub(super) learnings: Option<super::learnings::ProjectLearnings>,
}

/// A configured plugin that is not loaded: its name, `missing` or `load_error`, and why.
pub(super) type PluginProblem = (String, &'static str, String);

/// Loads the plugins ralph.yaml configures. One that cannot be loaded is left out and reported,
/// unless it fails closed: then the run does not start.
fn load_plugins(
    doc: &Document,
    options: &RunOptions,
) -> Result<(crate::plugin::PluginSet, Vec<PluginProblem>), RunError> {
    let mut catalog = crate::plugin::catalog::catalog(&options.project_dir, doc);
    let mut problems: Vec<PluginProblem> =
        catalog.missing.iter().map(|m| (m.name.clone(), "missing", m.reason.clone())).collect();
    if catalog.plugins.is_empty() {
        return Ok((crate::plugin::PluginSet::default(), problems));
    }
    // The same cache the `plugin` verbs fill: a plugin `plugin install` compiled loads at once.
    let cache = options.project_dir.join(".ralph").join("cache").join("plugins");
    // `.py`, `.js` and `.ts` entries are built first (cached by content); one that does not
    // build stops the run with the build's own error, whatever its `on_error`.
    let notice = |text: &str| {
        if let Some(notice) = options.notice {
            notice(text);
        }
    };
    crate::plugin::build::prepare(&options.project_dir, &mut catalog, &cache.join("builds"), &notice)
        .map_err(|(name, error)| RunError::Plugin(format!("plugin `{name}` could not be built: {error}")))?;
    let (set, failures) = crate::plugin::PluginSet::load(&catalog, &cache, &notice);
    for failure in failures {
        if failure.fatal {
            return Err(RunError::Plugin(format!(
                "{} (it fails closed, so the run cannot start without it)",
                failure.error
            )));
        }
        let name = failure.error.plugin().to_owned();
        problems.push((name, "load_error", format!("{} — the run goes on without it", failure.error)));
    }
    Ok((set, problems))
}

/// Where a project's runs keep their files (`.ralph/runs/<id>/`).
pub fn runs_dir(project_dir: &std::path::Path) -> PathBuf {
    project_dir.join(".ralph").join("runs")
}

/// The ids of the runs kept in `runs_dir`, oldest first (run ids start with their start time;
/// the ids of earlier versions, `YYYYMMDDhhmmss-xxxx`, all predate UUIDv7 ones).
pub fn run_ids(runs_dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut ids: Vec<String> = std::fs::read_dir(runs_dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort_by(|a, b| (uuid::Uuid::try_parse(a).is_ok(), a).cmp(&(uuid::Uuid::try_parse(b).is_ok(), b)));
    Ok(ids)
}

/// A new run's id: a UUIDv7 — its start to the millisecond, then random bits — so ids are
/// unique across processes and sort as the runs started (ids made in one process, in the
/// order they were made, even within a millisecond).
pub fn run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The `retry:` written on each state, DAG node and saga step, by id (looked up once per node;
/// a search per node would be quadratic in a 10,000-node DAG).
fn step_retries(doc: &Document) -> HashMap<&str, &crate::workflow::model::PolicyRef> {
    let Some(workflow) = doc.workflow.as_ref() else { return Default::default() };
    let states = workflow.states.iter().filter_map(|s| Some((s.id(), s.state()?.retry.as_ref()?)));
    let nodes = workflow.nodes.iter().filter_map(|n| Some((n.id.as_str(), n.retry.as_ref()?)));
    let steps = workflow.steps.iter().filter_map(|s| Some((s.name.as_str(), s.retry.as_ref()?)));
    states.chain(nodes).chain(steps).collect()
}

/// The time limits of DAG nodes and saga steps (`timeout`), by id; a state's is read with the
/// state, where a human state's means something else.
fn step_timeouts(doc: &Document) -> HashMap<&str, Duration> {
    let Some(workflow) = doc.workflow.as_ref() else { return Default::default() };
    let nodes = workflow.nodes.iter().filter_map(|n| Some((n.id.as_str(), n.timeout?.0)));
    let steps = workflow.steps.iter().filter_map(|s| Some((s.name.as_str(), s.timeout?.0)));
    nodes.chain(steps).collect()
}

/// How events and displays name a unit: its agents in order.
pub(super) fn unit_name(unit: &[StepAgent]) -> String {
    unit.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(" → ")
}

fn resolve_all(doc: &Document, actions: &[Action]) -> Result<Vec<Vec<StepAgent>>, AgentError> {
    actions.iter().map(|a| agents::resolve_action(doc, a)).collect()
}

/// The bound of step logs from `logging.step_logs` (the defaults for what it leaves out).
fn step_log_limit(doc: &Document) -> crate::agent::step_log::LogLimit {
    let rotation = doc.logging.as_ref().and_then(|l| l.step_logs.as_ref());
    crate::agent::step_log::LogLimit::new(
        rotation.and_then(|r| r.max_size).map(|s| s.0),
        rotation.and_then(|r| r.max_files),
    )
}

/// Whether the workflow runs `git_reset` or `git_commit` anywhere: then the commits its steps
/// make are noted as the run's (a reset may take only those back).
fn uses_git_actions(doc: &Document) -> bool {
    let text = serde_json::to_string(doc).unwrap_or_default();
    text.contains("\"git_reset\"") || text.contains("\"git_commit\"")
}

/// Whether some condition of the workflow reads what steps change (`file_changed(…)`,
/// `evidence.files_changed`): then every step's evidence is collected, not only AI agents'.
fn reads_evidence(doc: &Document) -> bool {
    conditions_read(doc, &|text: &str| text.contains("file") || text.contains("evidence"))
}

/// Whether some condition of the workflow (of a transition, a node, an agent, or a named one)
/// mentions what `reads` looks for.
fn conditions_read(doc: &Document, reads: &dyn Fn(&str) -> bool) -> bool {
    let Some(workflow) = doc.workflow.as_ref() else { return false };
    workflow.transitions.iter().filter_map(|t| t.condition.as_deref()).any(reads)
        || workflow.nodes.iter().filter_map(|n| n.condition.as_deref()).any(reads)
        || doc.agents.values().filter_map(|a| a.condition.as_deref()).any(reads)
        || doc.conditions.values().any(|c| reads(c))
}

/// The `notification:` of each human state, or of the human agent a step names (a state's,
/// a DAG node's or a saga step's), by step.
fn review_notifications(doc: &Document, plan: &Plan) -> Vec<(String, crate::workflow::model::Notification)> {
    let own: BTreeMap<&str, &crate::workflow::model::Notification> = doc
        .workflow
        .iter()
        .flat_map(|w| w.states.iter())
        .filter_map(|s| Some((s.id(), s.state()?.notification.as_ref()?)))
        .collect();
    let mut out = Vec::new();
    for (_, node) in plan.nodes() {
        let from_agent = || {
            node.agents
                .iter()
                .filter_map(|a| doc.agents.get(a.as_str()))
                .find(|a| a.kind == Some(AgentKind::Human))
                .and_then(|a| a.notification.as_ref())
        };
        if let Some(notification) = own.get(node.id.as_str()).copied().or_else(from_agent) {
            out.push((node.id.clone(), notification.clone()));
        }
    }
    out
}

/// A document's named conditions, compiled (those that compile: validation reported the rest).
pub(super) fn named_conditions(doc: &Document) -> indexmap::IndexMap<String, condition::Condition> {
    let named = |n: &str| doc.conditions.contains_key(n);
    doc.conditions
        .iter()
        .filter_map(|(name, text)| condition::compile(text, &named).ok().map(|c| (name.clone(), c)))
        .collect()
}

/// Resolves what every plan node runs, before the first step.
pub(super) fn prepare(doc: &Document, plan: &Plan) -> Result<Vec<NodePrep>, AgentError> {
    let state_ids: Vec<&str> =
        doc.workflow.as_ref().map(|w| w.states.iter().map(|s| s.id()).collect()).unwrap_or_default();
    let states: BTreeMap<&str, &crate::workflow::model::State> = doc
        .workflow
        .as_ref()
        .map(|w| w.states.iter().filter_map(|s| s.state().map(|st| (s.id(), st))).collect())
        .unwrap_or_default();
    let retries = step_retries(doc);
    let timeouts = step_timeouts(doc);
    let mut resolved: HashMap<String, Vec<StepAgent>> = HashMap::new();
    let mut nodes = Vec::with_capacity(plan.graph.node_count());
    for (index, node) in plan.nodes() {
        debug_assert_eq!(index.index(), nodes.len(), "plan nodes are dense");
        let mut prep = NodePrep::default();
        let state = states.get(node.id.as_str());
        let human_agent =
            node.agents.iter().any(|a| doc.agents.get(a).is_some_and(|a| a.kind == Some(AgentKind::Human)));
        let human_state =
            matches!(node.role, NodeRole::State { kind: StateKind::Human | StateKind::HumanInTheLoop, .. });
        if human_state || human_agent {
            let actions = state.and_then(|s| s.on_timeout.as_ref()).map(|o| o.as_slice()).unwrap_or_default();
            let mut on_timeout = Vec::with_capacity(actions.len());
            for action in actions {
                let name = action.name();
                on_timeout.push(if state_ids.contains(&name) || name == "stop" {
                    OnTimeout::Goto(name.to_owned())
                } else if name == crate::workflow::vocabulary::ESCALATE {
                    // `{action: escalate, args: {agent, model}}`: that agent decides the review.
                    match agents::resolve_escalation(doc, action)? {
                        Some(unit) => OnTimeout::Run(unit),
                        None => OnTimeout::Run(agents::resolve_action(doc, action)?),
                    }
                } else {
                    OnTimeout::Run(agents::resolve_action(doc, action)?)
                });
            }
            prep.human = Some(HumanSpec {
                timeout: state.and_then(|s| s.timeout).map(|d| d.0),
                reminder: state.and_then(|s| s.reminder_interval).map(|d| d.0),
                remind: None,
                on_timeout,
            });
        } else {
            for name in &node.agents {
                // A saga's `compensation.on_failure` keeps its actions' arguments.
                let action = match node.role {
                    NodeRole::FinalCompensation => doc
                        .compensation
                        .as_ref()
                        .and_then(|c| c.on_failure.as_slice().iter().find(|a| a.name() == name).cloned())
                        .unwrap_or_else(|| Action::Name(name.clone())),
                    _ => Action::Name(name.clone()),
                };
                // Resolving looks programs up on PATH: once per agent, not once per node
                // (10,000 nodes sharing an agent would otherwise stat PATH 10,000 times).
                let unit = match &action {
                    Action::Name(name) => match resolved.get(name) {
                        Some(unit) => Vec::clone(unit),
                        None => {
                            let unit = agents::resolve_action(doc, &action)?;
                            resolved.insert(name.clone(), unit.clone());
                            unit
                        }
                    },
                    _ => agents::resolve_action(doc, &action)?,
                };
                prep.units.push(unit);
            }
        }
        if let Some(state) = state {
            prep.on_enter = resolve_all(doc, state.on_enter.as_slice())?;
            prep.on_exit = resolve_all(doc, state.on_exit.as_slice())?;
            if prep.human.is_none() {
                if let Some(on_timeout) = &state.on_timeout {
                    prep.on_timeout = resolve_all(doc, on_timeout.as_slice())?;
                }
                // The state's time limit caps each of its agents'.
                if let Some(limit) = state.timeout {
                    for agent in prep.units.iter_mut().flatten() {
                        agent.timeout = Some(agent.timeout.map_or(limit.0, |t| t.min(limit.0)));
                    }
                }
            }
        }
        // A DAG node's or a saga step's time limit caps each of its agents', as a state's does.
        if let Some(limit) = timeouts
            .get(node.id.as_str())
            .filter(|_| matches!(node.role, NodeRole::Node { .. } | NodeRole::Step))
        {
            for agent in prep.units.iter_mut().flatten() {
                agent.timeout = Some(agent.timeout.map_or(*limit, |t| t.min(*limit)));
            }
        }
        prep.ai = prep.units.iter().flatten().any(|a| a.backing.is_ai());
        prep.model = node.agents.first().and_then(|a| doc.agents.get(a)).and_then(|a| a.model.clone());
        prep.retry = crate::policy::retry::Retry::for_step(
            doc,
            retries.get(node.id.as_str()).copied(),
            node.agents.first().map(String::as_str),
        );
        nodes.push(prep);
    }
    Ok(nodes)
}

impl Runner {
    /// Prepares a run: checks that every agent can run, opens the log and creates the run
    /// directory. A run whose options carry a run id is resumed: its journal is applied to a
    /// fresh state, and it goes on from where that ends.
    pub fn new(
        doc: &Document,
        plan: Plan,
        mut options: RunOptions,
        sink: Box<dyn EventSink>,
    ) -> Result<Self, RunError> {
        let nodes = prepare(doc, &plan)?;
        let conditions = named_conditions(doc);
        let on_failure = match doc
            .agents
            .iter()
            .find(|(_, a)| a.on_failure == Some(crate::workflow::model::OnFailure::Always))
        {
            Some((name, _)) => Some((name.clone(), agents::resolve(doc, name)?)),
            None => None,
        };
        let hook_agents = super::hook_agents::resolve(doc)?;
        let routing = super::routing::Prepared::resolve(doc, &options.project_dir)?;
        let mut escalations = Vec::new();
        for action in doc.circuit_breaker.iter().flat_map(|c| c.on_open.as_slice()) {
            if let Some(unit) = agents::resolve_escalation(doc, action)? {
                let name = match action {
                    Action::Spec(spec) if spec.action == crate::workflow::vocabulary::ESCALATE => {
                        unit_name(&unit)
                    }
                    _ => action.name().to_owned(),
                };
                escalations.push((name, unit));
            }
        }
        // A script starts from a blank ledger of its own: the project's spend and breaker are
        // neither read nor changed by it.
        let scripted = options.performer.is_script();
        let ledger_path = (!scripted).then(|| super::ledger::path(&options.project_dir));
        let ledger = match &ledger_path {
            Some(path) => super::ledger::load(path).map_err(RunError::Ledger)?,
            None => Ledger::default(),
        };
        let breaker = crate::policy::breaker::config(doc.circuit_breaker.as_ref());
        if let Some(config) = breaker.as_ref().filter(|_| !scripted) {
            // An open breaker refuses the run before anything is recorded; one whose timeout
            // passed lets the run's first step probe.
            ledger.breaker.check(config, options.clock.unix()).map_err(RunError::BreakerOpen)?;
        }
        let resuming = !options.record.run_id.is_empty();
        let id = if resuming { options.record.run_id.clone() } else { run_id() };
        // Everything that can refuse the run has been checked: from here on it is recorded.
        let (log, server) = match std::mem::take(&mut options.log) {
            LogChoice::Memory(events) => (RunLog::memory(events), None),
            LogChoice::Store => {
                let store = crate::store::Store::open_patiently(&options.state_dir, Duration::from_secs(2))?;
                let mut journal = store.journal(&id)?;
                // The control socket is bound now, while the run can still be refused: a loop
                // that cannot be reached from another terminal would be a surprise hours later.
                let durability = store.durability();
                let server = if options.control {
                    let server = crate::control::server::Server::bind(&options.state_dir)?;
                    // The server answers other processes' reads from this store (it is held here).
                    let archive =
                        super::archive::StoreArchive::new(store.reader(), &id, Some(durability.clone()));
                    let history: crate::control::server::History = Arc::new(archive);
                    Some((server, history))
                } else {
                    None
                };
                journal.attach(&durability);
                (RunLog::Store { store, journal, durability }, server)
            }
        };
        let run_dir = options.runs_dir.join(&id);
        let run_dir_fresh = !run_dir.exists();
        for sub in ["steps", "packets"] {
            crate::private::create_dir_all(&run_dir.join(sub))
                .map_err(|source| RunError::RunDir { path: run_dir.clone(), source })?;
        }
        // What the engine keeps is the user's alone; a `.ralph` made before it cared is fixed
        // here, on the next run.
        if !scripted {
            let _ = crate::private::secure_tree(&options.project_dir.join(".ralph"));
        }
        // The definition is kept under its hash, for `replay --from-state` after the file changed.
        if !options.record.definition_hash.is_empty() {
            log.put_definition(&options.record.definition_hash, || crate::store::StoredDefinition {
                workflow_file: options.record.workflow_file.clone(),
                document: {
                    // Kept masked like everything in the store: a password written into a
                    // URL of the file is not kept in clear (a replay of this copy gets the mask;
                    // `${…}` references are kept as written, and resolve again).
                    let mut document = serde_json::to_value(doc).unwrap_or_default();
                    crate::redact::Redactor::for_document(doc).redact_json(&mut document);
                    document
                },
            })
            .map_err(RunError::Journal)?;
        }
        // A script must not take the project's `.ralph/pause` or `.ralph/hint` as its own.
        let files = if scripted { run_dir.clone() } else { options.project_dir.join(".ralph") };
        let live = super::live::Live::new(server, files);
        // The engine's own files — the project's `.ralph/` and the state directory — are never
        // the work's, even when `.gitignore` does not say so.
        let tree = if scripted {
            None
        } else {
            let exclude = [options.project_dir.join(".ralph"), options.state_dir.clone()];
            crate::git::WorkTree::open(&options.project_dir, &exclude)
        };
        // A resumed run keeps the commit its run started from; a new one reads it as it begins.
        let base_commit = options.record.base_commit.clone().filter(|_| resuming);
        // The ledger is folded with the breaker's settings, and each step feeds its first
        // agent's own breaker.
        let rules = LedgerRules {
            breaker: breaker.clone(),
            agents: if breaker.is_some() {
                plan.nodes().filter_map(|(_, n)| Some((n.id.clone(), n.agents.first()?.clone()))).collect()
            } else {
                BTreeMap::new()
            },
        };
        let mut state = RunState::with_rules(Arc::new(rules));
        state.run_id.clone_from(&id);
        let (signals_tx, signals_rx) = mpsc::unbounded_channel();
        let (spawned_tx, spawned_rx) = mpsc::unbounded_channel();
        let (plugins, plugin_problems) = if scripted {
            (crate::plugin::PluginSet::default(), Vec::new())
        } else {
            load_plugins(doc, &options)?
        };
        let plugin_config = if plugins.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::to_value(doc).unwrap_or_default()
        };
        let telemetry = crate::telemetry::run::RunTelemetry::new(
            doc,
            &options.workflow,
            plan.kind.as_str(),
            crate::telemetry::instruments::Instruments::new(&opentelemetry::metrics::MeterProvider::meter(
                &opentelemetry::metrics::noop::NoopMeterProvider::new(),
                crate::telemetry::pipeline::SCOPE,
            )),
        )
        .started_at(&options.record.started_at);
        let performer = std::mem::take(&mut options.performer);
        let clock = Arc::clone(&options.clock);
        // A scripted run (`replay`, the differential tests) sends nothing: it is not happening now.
        let mut redactor = crate::redact::Redactor::for_document(doc);
        let (notifier, channel_problems) = if scripted {
            (super::notify::Notifier::none(), Vec::new())
        } else {
            super::notify::Notifier::new(
                doc.notifications.as_ref(),
                &review_notifications(doc, &plan),
                Some(&run_dir),
                Some(&options.project_dir),
                &mut redactor,
            )
        };
        let mut runner = Runner {
            plan,
            state,
            sink,
            log,
            snapshots: super::snapshots::SnapshotPolicy::from_doc(doc),
            journal_error: None,
            run_dir,
            run_dir_fresh,
            nodes,
            evaluator: Evaluator::new(conditions),
            named_conditions: doc.conditions.keys().cloned().collect(),
            tree,
            base_commit,
            git_vars: Default::default(),
            run_start: None,
            last_look: None,
            notes_commits: uses_git_actions(doc),
            learnings: (!scripted).then(|| super::learnings::ProjectLearnings::new(&options.project_dir)),
            signals_tx,
            signals_rx,
            spawned_tx,
            spawned_rx,
            ledger_path,
            ledger_saved: ledger.clone(),
            breaker,
            budget: doc.budget.clone().unwrap_or_default(),
            step_log: step_log_limit(doc),
            max_runtime: doc.loop_settings.as_ref().and_then(|l| l.max_runtime).map(|d| d.0),
            on_open: doc.circuit_breaker.as_ref().map(|c| c.on_open.as_slice().to_vec()).unwrap_or_default(),
            on_close: doc
                .circuit_breaker
                .as_ref()
                .map(|c| c.on_close.as_slice().to_vec())
                .unwrap_or_default(),
            escalations,
            routing,
            warned_roles: Default::default(),
            on_failure,
            hook_agents,
            performer,
            live,
            plugins,
            plugin_config,
            plugin_problems,
            notifying: Vec::new(),
            notifier,
            telemetry,
            redactor,
            clock,
            resuming: None,
            resumed_ledger: None,
            pending_warnings: channel_problems,
            git_failed: false,
            picked_from: None,
            iteration_start: None,
            evidence_read: false,
            git_vars_read: false,
            review_url: None,
            options,
        };
        runner.evidence_read = reads_evidence(doc);
        runner.git_vars_read =
            conditions_read(doc, &|text: &str| text.contains("branch") || text.contains("tag"));
        // The agents' transcripts are written far from here; they mask the same secrets.
        if !scripted {
            crate::redact::install(runner.redactor.clone());
        }
        runner.restore(ledger)?;
        Ok(runner)
    }

    /// Where SIGINT and SIGTERM come from (the CLI watches them): before the run starts.
    pub fn set_cancel(&mut self, cancel: Cancel) {
        self.options.cancel = Some(cancel);
    }

    /// Replaces the run's telemetry (the default records nothing): before [`Runner::begin`].
    pub fn set_telemetry(&mut self, telemetry: crate::telemetry::run::RunTelemetry) {
        self.telemetry = telemetry.started_at(&self.options.record.started_at);
    }

    /// Where the review form is served (the dashboard's address and `/review`, without its
    /// token): a review's notifications carry it.
    pub fn set_review_url(&mut self, url: Option<String>) {
        self.review_url = url;
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.state.run_id
    }

    /// The run's directory.
    pub fn run_dir(&self) -> &std::path::Path {
        &self.run_dir
    }

    /// The project's git work tree, if it is in one.
    pub fn tree(&self) -> Option<&crate::git::WorkTree> {
        self.tree.as_ref()
    }

    /// The run's state so far.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The secrets the run keeps out of what it records and shows.
    pub fn redactor(&self) -> &crate::redact::Redactor {
        &self.redactor
    }

    /// The current time, as events carry it.
    pub(super) fn now(&self) -> String {
        self.clock.stamp()
    }

    /// Applies an event, journals it and shows it: the one way a run's state changes.
    pub fn emit(&mut self, event: &Event) {
        let masked = self.redactor.redact_value(event);
        let event = masked.as_ref().unwrap_or(event);
        if let Event::ReviewRequested { step, .. } = event {
            // A decision counts only for a review waiting when it arrives: none from before.
            self.live.desk.open(step);
            human::mark_waiting(&self.run_dir, step);
        }
        self.state.apply(event);
        let moved = self.state.take_moved();
        // The engine itself wrote into the work tree (the task file, a commit): the last look at
        // it no longer stands for the next.
        if matches!(
            event,
            Event::TaskMarked { .. } | Event::Committed { .. } | Event::IterationStarted { .. }
        ) {
            self.last_look = None;
        }
        let mut seq = None;
        if self.journal_error.is_none() {
            match self.log.append(event) {
                Ok(s) => {
                    seq = Some(s);
                    self.maybe_snapshot(event, s);
                    self.broadcast(s, event);
                }
                Err(e) => self.journal_broke(e),
            }
        }
        if matches!(event, Event::ReviewRequested { .. }) {
            self.log.request();
        }
        self.sink.event(event, &self.state);
        self.telemetry.observe(event);
        self.publish_soon(event);
        if let Event::Transition { from, to, kind, .. } = event {
            if self.has_plugins() {
                self.plugins_on_transition(from, to, kind.as_str());
            }
        }
        if let Some(seq) = seq {
            self.save_ledger(seq);
        }
        if !moved.is_empty() {
            self.breakers_moved(moved);
        }
    }

    /// A warning for whoever watches the run: journaled, shown by the display (and as a
    /// `warning` line of `--json`).
    pub(super) fn warn(&mut self, message: String) {
        let at = self.now();
        self.emit(&Event::Warning { message, at });
    }

    /// The journal cannot be written (a full disk, say): the run stops after the steps in
    /// flight, and nothing more is acknowledged — what the journal holds stays consistent.
    fn journal_broke(&mut self, error: String) {
        self.journal_error = Some(error);
    }

    /// How the run must end after the steps in flight, if it must: a journaled halt, or a
    /// journal that cannot be written.
    pub(super) fn halted(&self) -> Option<(RunStatus, String)> {
        if let Some(error) = &self.journal_error {
            return Some((
                RunStatus::Failed,
                format!(
                    "the journal cannot be written ({error}); the run stops, and `ralph-loop resume` continues it"
                ),
            ));
        }
        self.state.halt.as_ref().map(|(status, reason, _)| (*status, reason.clone()))
    }

    /// The failure class that halted the run, if one did (`environment`).
    pub(super) fn halt_class(&self) -> Option<FailureClass> {
        if self.journal_error.is_some() {
            return Some(FailureClass::Environment);
        }
        self.state.halt.as_ref().and_then(|(_, _, class)| *class)
    }

    /// Journals a halt: the run ends after the steps in flight.
    pub(super) fn halt(&mut self, status: RunStatus, reason: String, class: Option<FailureClass>) {
        if self.state.halt.is_none() {
            self.emit(&Event::Halt { status, reason, class });
        }
    }

    /// Waits until every event so far is durable: before a transition, a task update, a
    /// commit, or the end of the run acts on them.
    pub(super) async fn settle(&mut self) {
        if self.journal_error.is_some() {
            return;
        }
        let ticket = self.log.hurry();
        if let Err(e) = self.log.wait(ticket).await {
            self.journal_broke(e);
        }
    }

    /// Shows the signals steps have sent so far, and journals the process groups they started.
    pub(super) fn drain_signals(&mut self) {
        while let Ok(report) = self.signals_rx.try_recv() {
            self.on_signal(report);
        }
        while let Ok(spawned) = self.spawned_rx.try_recv() {
            self.on_spawned(spawned);
        }
        self.drain_notifications();
    }

    /// An agent's process group started: journaled, so a loop that takes over from this one
    /// after it died ends it before anything runs again.
    pub(super) fn on_spawned(&mut self, spawned: crate::agent::orphans::Spawned) {
        let iteration = self.state.iteration;
        self.emit(&Event::AgentStarted { step: spawned.step, pgid: spawned.pgid, iteration });
    }

    pub(super) fn on_signal(&mut self, report: SignalReport) {
        let at = self.now();
        self.emit(&Event::Signal {
            step: report.step,
            signal: report.signal,
            message: report.message,
            data: report.data,
            at,
        });
    }

    /// Whether finished tasks are committed (`--commit`); never for a script.
    pub(super) fn commits(&self) -> bool {
        self.options.record.commit && !self.performer.is_script()
    }

    /// The work tree as the run starts: a new run records it (its evidence, commits and
    /// `git_reset` count from it) and says when it is dirty; a resumed run reads the record.
    /// Whether anything of the run reads the work tree: an AI agent's packet, a person's review,
    /// a condition on files or on the branch or tag, plugins, git actions, `--commit`. A run of
    /// quiet commands runs no `git` at all (a `git status` of a 2,000-file repository is about
    /// 20 ms, a fortieth of a 1,000-step chain).
    fn reads_work_tree(&self) -> bool {
        self.nodes.iter().any(|n| n.ai || n.human.is_some())
            || self.evidence_everywhere()
            || self.git_vars_read
            || self.commits()
    }

    /// Whether every step's evidence is read, not only AI agents': by a condition on files, by
    /// plugins, or by git actions (which note the commits steps made).
    pub(super) fn evidence_everywhere(&self) -> bool {
        self.evidence_read || self.has_plugins() || self.notes_commits
    }

    async fn look_at_start(&mut self, resumed: bool) {
        let Some(tree) = self.tree.clone() else { return };
        if resumed {
            self.run_start = super::base::RunBase::load(&self.run_dir).ok().flatten().map(|b| b.start);
        }
        let now = match self.look().await {
            Some(now) => now,
            None => return,
        };
        let tag = tree.tag().await.ok().flatten().unwrap_or_default();
        self.git_vars = (now.branch().unwrap_or_default().to_owned(), tag);
        if self.run_start.is_none() {
            if self.base_commit.is_none() {
                self.base_commit = now.head().map(str::to_owned);
            }
            if let Err(e) = super::base::RunBase::record(&self.run_dir, &tree, &now) {
                self.notice(format!("the work tree's state at the start could not be kept: {e}"));
            }
            if self.commits() {
                if let Some(warning) = super::commit::dirty_tree_warning(&now) {
                    self.pending_warnings.push(warning);
                }
            }
            self.run_start = Some(now);
        }
    }

    /// A look at the work tree: the last one while no step has started or runs since, else a
    /// new one. `None` outside git, or when git cannot be asked (said once).
    pub(super) async fn look(&mut self) -> Option<crate::git::Snapshot> {
        self.look_beside(0).await
    }

    /// A look while `finishing` steps end (their processes are gone, their ends not yet
    /// journaled): it may stand for the next look when no other step runs.
    pub(super) async fn look_beside(&mut self, finishing: usize) -> Option<crate::git::Snapshot> {
        let tree = self.tree.clone()?;
        let quiet = self.state.count(super::core::projection::StepStatus::Running) <= finishing;
        if let Some((snapshot, starts)) = &self.last_look {
            if quiet && *starts == self.state.invocations {
                return Some(snapshot.clone());
            }
        }
        match tree.snapshot().await {
            Ok(snapshot) => {
                if quiet {
                    self.last_look = Some((snapshot.clone(), self.state.invocations));
                }
                Some(snapshot)
            }
            Err(e) => {
                if !self.git_failed {
                    self.git_failed = true;
                    self.warn(format!("git cannot tell what changed in the work tree: {e}"));
                }
                None
            }
        }
    }

    /// Shows something without journaling it: for what happens once the journal has ended.
    pub(super) fn notice(&mut self, message: String) {
        let at = self.now();
        self.sink.event(&Event::Warning { message, at }, &self.state);
    }

    /// Emits `run_started`, or for a resumed run ends what its dead predecessor left running,
    /// journals its interrupted steps and `resumed`.
    pub async fn begin(&mut self) -> Result<(), RunError> {
        if self.reads_work_tree() {
            self.look_at_start(self.resuming.is_some()).await;
        }
        let workflow = self.options.workflow.clone();
        let id = self.state.run_id.clone();
        let resumed = self.resuming.take();
        let now = self.now();
        let record = &mut self.options.record;
        record.run_id.clone_from(&id);
        record.workflow.clone_from(&workflow);
        record.kind = self.plan.kind.as_str().into();
        record.status = "running".into();
        if resumed.is_none() {
            record.started_at = now;
            record.base_commit.clone_from(&self.base_commit);
        }
        // The run's span is opened before the record is written, which keeps it: a resumed run
        // continues the trace its first start began.
        let traceparent =
            self.telemetry.open_run(&id, resumed.is_some(), resumed.and(record.traceparent.as_deref()));
        if resumed.is_none() {
            record.traceparent = traceparent;
        }
        self.log.put_run(&self.options.record).map_err(RunError::Journal)?;
        self.telemetry.ledger(&self.state.ledger, &self.budget);
        self.telemetry.plugins(self.plugins.names());
        self.serve_control();
        match resumed {
            Some(from_seq) => {
                // Whatever the dead loop left running is ended first: two agents must never work
                // one tree. Then the resumption, with the ledger the run goes on with; then the
                // steps that were running are journaled as interrupted (they run again).
                self.end_orphans(&id);
                let interrupted = self.running_steps();
                let ledger = self.resumed_ledger.take().map(Box::new);
                let at = self.now();
                self.emit(&Event::Resumed { run_id: id.clone(), from_seq, interrupted, ledger, at });
                self.interrupt_running();
                if let Some(by) = self.state.paused.clone() {
                    self.warn(format!(
                        "run {id} was paused (by {by}) when it stopped, and stays paused: `ralph-loop resume` from another terminal lets it go on"
                    ));
                }
                self.report_plugin_problems();
            }
            None => {
                // A crashed run's agents may still run (a `loop` instead of a `resume`).
                for crashed in self.crashed_runs() {
                    self.end_orphans(&crashed);
                }
                let at = self.now();
                let ledger = Some(Box::new(self.ledger_saved.clone()));
                self.emit(&Event::RunStarted {
                    run_id: id,
                    workflow,
                    kind: self.plan.kind.as_str().into(),
                    ledger,
                    at,
                });
                self.report_plugin_problems();
                self.plugins_on_start();
                self.notify_run(
                    "on_start",
                    &format!("run `{}` of `{}` started", self.state.run_id, self.options.workflow),
                    None,
                );
            }
        }
        for warning in std::mem::take(&mut self.pending_warnings) {
            self.warn(warning);
        }
        Ok(())
    }

    /// Emits `run_finished`, makes the journal durable and records how the run ended.
    pub async fn end(&mut self, status: RunStatus, reason: String, class: Option<FailureClass>) {
        self.plugins_on_end(status, &reason);
        self.notify_end(status, &reason);
        self.notifications_sent().await;
        self.notifications_finished().await;
        let at = self.now();
        self.emit(&Event::RunFinished { status, reason: reason.clone(), class, at });
        self.settle().await;
        self.close_control().await;
        let mut record = self.options.record.clone();
        record.status = status.as_str().into();
        record.reason = Some(reason);
        if let Some(retention) = self.snapshots.as_ref().map(|p| p.retention) {
            self.trim_snapshots(retention);
        }
        // Recording the end flushes the store, the dropped snapshots with it.
        if let Err(e) = self.log.put_run(&record) {
            self.notice(format!("the run's end could not be recorded: {e}"));
        }
        self.log.stop();
    }

    /// The final state.
    pub fn into_state(self) -> RunState {
        self.state
    }
}
