//! The runner: walks a plan, invokes agents, and turns everything that happens into events.
//!
//! Every event goes through [`Runner::emit`]: applied to the run's state, appended to the run's
//! event log, then shown. The executors of the three workflow kinds live in their own files
//! (`exec_*.rs`) as further `impl Runner` blocks; this file holds what they share: preparing a
//! run, starting and finishing steps, packets, evidence and condition scopes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use petgraph::stable_graph::NodeIndex;
use ralph_plugin_sdk::{Evidence, SteeringPacket};
use tokio::sync::mpsc;

use super::action::{self, ActionContext};
use super::agents::{self, AgentError, Backing, StepAgent};
use super::core::event::{Event, RunStatus, TaskRef, now};
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::core::projection::RunState;
use super::evidence::{Repo, Snapshot};
use super::human;
use super::packet::{self, PacketContext};
use super::step;
use crate::agent::command::{Invocation, file_name};
use crate::agent::signal::SignalReport;
use crate::plan::{NodeRole, Plan};
use crate::prompt::stack;
use crate::workflow::condition::{self, Evaluator, Scope};
use crate::workflow::model::{Action, AgentKind, Document, StateKind, WorkflowKind};

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
    /// The most agent invocations in the whole run (`loop.max_iterations`).
    pub max_invocations: u64,
    /// Where prompt files are looked up (see `prompt::search_dirs`).
    pub prompt_dirs: Vec<PathBuf>,
    /// What the store records about the run (its id and status are filled in by the runner).
    pub record: crate::store::RunRecord,
    /// The run store's directory (opened once the run is known to be able to start).
    pub state_dir: PathBuf,
    /// `replay --check`: steps take their outcomes from a recording instead of running, and
    /// nothing outside the run (ledger, git, hooks) is touched.
    pub oracle: Option<super::check::Oracle>,
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
    fn packet(&mut self, _step: &str, _phase: &str, _packet: &SteeringPacket) {}
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An agent cannot run.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// Something in the workflow cannot be run by this version yet.
    #[error("{0} is not built yet")]
    Unsupported(String),
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
    /// The run's journal cannot be read.
    #[error("{0}")]
    Journal(String),
    /// A plugin that fails closed cannot be loaded.
    #[error("{0}")]
    Plugin(String),
    /// The run directory could not be created.
    #[error("cannot create the run directory `{path}`: {source}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A human state's review settings.
#[derive(Debug, Clone, Default)]
pub(super) struct HumanSpec {
    pub timeout: Option<Duration>,
    pub reminder: Option<Duration>,
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

/// A step that started: what is needed to finish it.
pub(super) struct Ticket {
    pub node: NodeIndex,
    /// The attempt, from 1 (per visit of a state).
    pub attempt: u32,
    pub packet: Option<SteeringPacket>,
    pub packet_file: Option<PathBuf>,
    pub before: Option<Snapshot>,
}

/// How starting a step went.
#[allow(clippy::large_enum_variant)] // Made once per step and taken apart at once.
pub(super) enum Started<F> {
    /// It runs: await the future, then [`Runner::finish`] it with the ticket.
    Running(Ticket, F),
    /// None of its agents' conditions held.
    Skipped(String),
}

/// A run in progress.
pub struct Runner {
    pub(super) plan: Plan,
    pub(super) options: RunOptions,
    pub(super) state: RunState,
    sink: Box<dyn EventSink>,
    /// The run store, its journal for this run, and the writer that makes it durable.
    pub(super) store: crate::store::Store,
    journal: crate::store::Journal,
    /// When the run takes snapshots (`None`: never).
    pub(super) snapshots: Option<super::snapshots::SnapshotPolicy>,
    pub(super) durability: crate::store::Durability,
    /// Set when the journal could not be written: nothing more is acknowledged.
    journal_error: Option<String>,
    pub(super) run_dir: PathBuf,
    pub(super) nodes: Vec<NodePrep>,
    pub(super) evaluator: Evaluator,
    named_conditions: Vec<String>,
    pub(super) repo: Option<Repo>,
    pub(super) base_commit: Option<String>,
    git_vars: (String, String),
    pub(super) context: PacketContext,
    signals_tx: mpsc::UnboundedSender<SignalReport>,
    pub(super) signals_rx: mpsc::UnboundedReceiver<SignalReport>,
    /// DAG: the outcome of every finished node, for the `nodes` condition variable.
    pub(super) node_results: BTreeMap<String, serde_json::Value>,
    /// Spend and the breaker, kept across runs.
    pub(super) ledger: super::ledger::Ledger,
    pub(super) ledger_path: PathBuf,
    pub(super) breaker: Option<crate::policy::breaker::BreakerConfig>,
    pub(super) budget: crate::workflow::model::Budget,
    /// Set when the run must end after the steps in flight (breaker, budget, runtime).
    pub(super) halt: Option<(RunStatus, String)>,
    pub(super) started: std::time::Instant,
    pub(super) max_runtime: Option<Duration>,
    pub(super) on_open: Vec<Action>,
    pub(super) on_close: Vec<Action>,
    /// The agents `on_open` hands the failures to when the breaker opens, resolved.
    pub(super) escalations: Vec<(String, Vec<StepAgent>)>,
    /// The breaker opened and an escalation is due, for this reason.
    pub(super) escalation: Option<String>,
    /// The escalation ran since the breaker last closed (it runs once per opening).
    pub(super) escalated: bool,
    /// The last step that ran: what an escalation is about.
    pub(super) last_node: Option<NodeIndex>,
    /// Whether a step of the current iteration changed a file.
    pub(super) iteration_changed_files: bool,
    /// The agent with `on_failure: always` (the planner), resolved.
    on_failure: Option<(String, Vec<StepAgent>)>,
    /// Resumed runs: the journaled steps of the unfinished iteration not replayed yet.
    pub(super) replayable: std::collections::HashSet<String>,
    /// Resumed state machines: the state to go on in, and whether it is still to be entered.
    pub(super) resume_at: Option<(NodeIndex, bool)>,
    /// Resumed runs: where the journal ended.
    pub(super) resumed: Option<super::resume::ResumePoint>,
    /// `replay --check`: the recorded outcomes steps take instead of running.
    pub(super) oracle: Option<super::check::Oracle>,
    /// The control channel: signals from other terminals, the status and events they see.
    pub(super) live: super::live::Live,
    /// The run's plugins, loaded when it starts (none for `replay --check`).
    pub(super) plugins: crate::plugin::PluginSet,
    /// ralph.yaml as JSON, for the plugins' workflow context.
    pub(super) plugin_config: serde_json::Value,
    /// Configured plugins that are not loaded, journaled when the run begins.
    pub(super) plugin_problems: Vec<PluginProblem>,
    /// Plugins' webhook calls on their way.
    pub(super) notifying: Vec<tokio::task::JoinHandle<()>>,
    /// The run's spans, measurements and log lines, made from its events.
    pub(super) telemetry: crate::telemetry::run::RunTelemetry,
    /// Secrets (secret-named variables, values of `${…}` references) kept out of every event
    /// and packet: what an agent echoes is masked before anything records or shows it.
    redactor: crate::redact::Redactor,
}

/// A configured plugin that is not loaded: its name, `missing` or `load_error`, and why.
pub(super) type PluginProblem = (String, &'static str, String);

/// Loads the plugins ralph.yaml configures. One that cannot be loaded is left out and reported,
/// unless it fails closed: then the run does not start.
fn load_plugins(
    doc: &Document,
    options: &RunOptions,
) -> Result<(crate::plugin::PluginSet, Vec<PluginProblem>), RunError> {
    let catalog = crate::plugin::catalog::catalog(&options.project_dir, doc);
    let mut problems: Vec<PluginProblem> =
        catalog.missing.iter().map(|m| (m.name.clone(), "missing", m.reason.clone())).collect();
    if catalog.plugins.is_empty() {
        return Ok((crate::plugin::PluginSet::default(), problems));
    }
    // The same cache the `plugin` verbs fill: a plugin `plugin install` compiled loads at once.
    let cache = options.project_dir.join(".ralph").join("cache").join("plugins");
    let (set, failures) = crate::plugin::PluginSet::load(&catalog, &cache);
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

/// How events and displays name a unit: its agents in order.
fn unit_name(unit: &[StepAgent]) -> String {
    unit.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(" → ")
}

fn resolve_all(doc: &Document, actions: &[Action]) -> Result<Vec<Vec<StepAgent>>, AgentError> {
    actions.iter().map(|a| agents::resolve_action(doc, a)).collect()
}

impl Runner {
    /// Prepares a run: checks that every agent can run and creates the run directory.
    pub fn new(
        doc: &Document,
        plan: Plan,
        options: RunOptions,
        sink: Box<dyn EventSink>,
    ) -> Result<Self, RunError> {
        let state_ids: Vec<&str> =
            doc.workflow.as_ref().map(|w| w.states.iter().map(|s| s.id()).collect()).unwrap_or_default();
        let states: BTreeMap<&str, &crate::workflow::model::State> = doc
            .workflow
            .as_ref()
            .map(|w| w.states.iter().filter_map(|s| s.state().map(|st| (s.id(), st))).collect())
            .unwrap_or_default();
        let retries = step_retries(doc);
        let mut resolved: HashMap<String, Vec<StepAgent>> = HashMap::new();
        let mut nodes = Vec::with_capacity(plan.graph.node_count());
        for (index, node) in plan.nodes() {
            debug_assert_eq!(index.index(), nodes.len(), "plan nodes are dense");
            let mut prep = NodePrep::default();
            let state = states.get(node.id.as_str());
            let human_agent = node
                .agents
                .iter()
                .any(|a| doc.agents.get(a).is_some_and(|a| a.kind == Some(AgentKind::Human)));
            let human_state = matches!(
                node.role,
                NodeRole::State { kind: StateKind::Human | StateKind::HumanInTheLoop, .. }
            );
            if human_state || human_agent {
                let actions =
                    state.and_then(|s| s.on_timeout.as_ref()).map(|o| o.as_slice()).unwrap_or_default();
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
            prep.ai = prep.units.iter().flatten().any(|a| a.backing.is_ai());
            prep.model = node.agents.first().and_then(|a| doc.agents.get(a)).and_then(|a| a.model.clone());
            prep.retry = crate::policy::retry::Retry::for_step(
                doc,
                retries.get(node.id.as_str()).copied(),
                node.agents.first().map(String::as_str),
            );
            nodes.push(prep);
        }
        let named = |n: &str| doc.conditions.contains_key(n);
        let conditions = doc
            .conditions
            .iter()
            .filter_map(|(name, text)| condition::compile(text, &named).ok().map(|c| (name.clone(), c)))
            .collect();
        let on_failure = match doc
            .agents
            .iter()
            .find(|(_, a)| a.on_failure == Some(crate::workflow::model::OnFailure::Always))
        {
            Some((name, _)) => Some((name.clone(), agents::resolve(doc, name)?)),
            None => None,
        };
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
        // A check starts from a blank ledger of its own: the project's spend and breaker are
        // neither read nor changed by it.
        let checking = options.oracle.is_some();
        let ledger_path = match checking {
            true => options.runs_dir.join("ledger.json"),
            false => super::ledger::path(&options.project_dir),
        };
        let ledger = super::ledger::Ledger::load(&ledger_path).map_err(RunError::Ledger)?;
        let breaker = crate::policy::breaker::BreakerConfig::from_section(doc.circuit_breaker.as_ref());
        if let Some(config) = breaker.as_ref().filter(|_| !checking) {
            // An open breaker refuses the run before anything is recorded; one whose timeout
            // passed lets the run's first step probe.
            ledger.breaker.check(config, super::ledger::unix_now()).map_err(RunError::BreakerOpen)?;
        }
        // Everything that can refuse the run has been checked: from here on it is recorded.
        let store = crate::store::Store::open_patiently(&options.state_dir, Duration::from_secs(2))?;
        let resuming = !options.record.run_id.is_empty();
        let id = if resuming { options.record.run_id.clone() } else { run_id() };
        let run_dir = options.runs_dir.join(&id);
        for sub in ["steps", "packets"] {
            std::fs::create_dir_all(run_dir.join(sub))
                .map_err(|source| RunError::RunDir { path: run_dir.clone(), source })?;
        }
        // The definition is kept under its hash, for `replay --from-state` after the file changed.
        if !options.record.definition_hash.is_empty() {
            store.put_definition(&options.record.definition_hash, || crate::store::StoredDefinition {
                workflow_file: options.record.workflow_file.clone(),
                document: serde_json::to_value(doc).unwrap_or_default(),
            })?;
        }
        let journal = store.journal(&id)?;
        // The control socket is bound now, while the run can still be refused: a loop that
        // cannot be reached from another terminal would be a surprise hours later.
        let server = crate::control::server::Server::bind(&options.state_dir)?;
        let durability = store.durability();
        // The server answers other processes' reads from this store (it is held here).
        let history: crate::control::server::History = std::sync::Arc::new(
            crate::inspect::archive::StoreArchive::new(store.reader(), &id, Some(durability.clone())),
        );
        // A check must not take the project's `.ralph/pause` or `.ralph/hint` as its own.
        let files = if checking { options.runs_dir.clone() } else { options.project_dir.join(".ralph") };
        let live = super::live::Live::new(Some((server, history)), files);
        let mut journal = journal;
        journal.attach(&durability);
        let repo = if checking { None } else { Repo::open(&options.project_dir) };
        // A resumed run keeps the commit its run started from (for `git_reset`).
        let base_commit = match &options.record.base_commit {
            Some(commit) if resuming => Some(commit.clone()),
            _ => repo.as_ref().and_then(Repo::head),
        };
        let git_vars = repo.as_ref().map(|r| (r.branch(), r.tag())).unwrap_or_default();
        let mut state = RunState::new();
        state.run_id = id;
        let (signals_tx, signals_rx) = mpsc::unbounded_channel();
        let context = PacketContext {
            workflow: options.workflow.clone(),
            started_at: now(),
            ..PacketContext::default()
        };
        let oracle = options.oracle.clone();
        let (plugins, plugin_problems) = if oracle.is_some() {
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
        let mut runner = Runner {
            plan,
            options,
            state,
            sink,
            store,
            journal,
            snapshots: super::snapshots::SnapshotPolicy::from_doc(doc),
            durability,
            journal_error: None,
            run_dir,
            nodes,
            evaluator: Evaluator::new(conditions),
            named_conditions: doc.conditions.keys().cloned().collect(),
            repo,
            base_commit,
            git_vars,
            context,
            signals_tx,
            signals_rx,
            node_results: BTreeMap::new(),
            ledger,
            ledger_path,
            breaker,
            budget: doc.budget.clone().unwrap_or_default(),
            halt: None,
            started: std::time::Instant::now(),
            max_runtime: doc.loop_settings.as_ref().and_then(|l| l.max_runtime).map(|d| d.0),
            on_open: doc.circuit_breaker.as_ref().map(|c| c.on_open.as_slice().to_vec()).unwrap_or_default(),
            on_close: doc
                .circuit_breaker
                .as_ref()
                .map(|c| c.on_close.as_slice().to_vec())
                .unwrap_or_default(),
            escalations,
            escalation: None,
            escalated: false,
            last_node: None,
            iteration_changed_files: false,
            on_failure,
            replayable: Default::default(),
            resume_at: None,
            resumed: None,
            oracle,
            live,
            plugins,
            plugin_config,
            plugin_problems,
            notifying: Vec::new(),
            telemetry,
            redactor: crate::redact::Redactor::for_document(doc),
        };
        // The agents' transcripts are written far from here; they mask the same secrets.
        crate::redact::install(runner.redactor.clone());
        if resuming {
            let journal = runner.journal.clone();
            runner.restore(&journal).map_err(|e| RunError::Journal(e.to_string()))?;
        }
        Ok(runner)
    }

    /// `replay --check`: the recorded outcome `step` takes instead of running. When the recording
    /// has none (the new workflow goes where the recorded run did not), the check stops here.
    fn recorded(&mut self, step: &str) -> Option<Outcome> {
        let iteration = self.state.iteration;
        let oracle = self.oracle.as_mut()?;
        Some(oracle.step(iteration, step).unwrap_or_else(|| {
            let reason = format!("the recording has no outcome for `{step}` here");
            self.halt = Some((RunStatus::Stopped, reason.clone()));
            Outcome::failed(FailureClass::NotRecorded, reason)
        }))
    }

    /// Replaces the run's telemetry (the default records nothing): before [`Runner::begin`].
    pub fn set_telemetry(&mut self, telemetry: crate::telemetry::run::RunTelemetry) {
        self.telemetry = telemetry.started_at(&self.options.record.started_at);
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
    pub fn repo(&self) -> Option<&Repo> {
        self.repo.as_ref()
    }

    /// The run's state so far.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The secrets the run keeps out of what it records and shows.
    pub fn redactor(&self) -> &crate::redact::Redactor {
        &self.redactor
    }

    /// Applies an event, journals it and shows it: the one way a run's state changes.
    pub fn emit(&mut self, event: &Event) {
        let masked = self.redactor.redact_value(event);
        let event = masked.as_ref().unwrap_or(event);
        if let Event::ReviewRequested { step, .. } = event {
            human::mark_waiting(&self.run_dir, step);
        }
        self.state.apply(event);
        if self.journal_error.is_none() {
            match self.journal.append(event) {
                Ok(seq) => {
                    self.maybe_snapshot(event, seq);
                    self.broadcast(seq, event);
                }
                Err(e) => self.journal_broke(e.to_string()),
            }
        }
        if matches!(event, Event::ReviewRequested { .. }) {
            self.durability.request();
        }
        self.sink.event(event, &self.state);
        self.telemetry.observe(event);
        self.publish();
        if let Event::Transition { from, to, kind } = event {
            if self.has_plugins() {
                let trigger = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned));
                self.plugins_on_transition(from, to, trigger.as_deref().unwrap_or("transition"));
            }
        }
    }

    /// The journal cannot be written (a full disk, say): the run stops after the steps in
    /// flight, and nothing more is acknowledged — what the journal holds stays consistent.
    fn journal_broke(&mut self, error: String) {
        self.halt = Some((
            RunStatus::Failed,
            format!(
                "the journal cannot be written ({error}); the run stops, and `ralph-loop resume` continues it"
            ),
        ));
        self.journal_error = Some(error);
    }

    /// Waits until every event so far is durable: before a transition, a task update, a
    /// commit, or the end of the run acts on them.
    pub(super) async fn settle(&mut self) {
        if self.journal_error.is_some() {
            return;
        }
        let ticket = self.durability.hurry();
        if let Err(e) = self.durability.wait(ticket).await {
            self.journal_broke(e);
        }
    }

    /// Whether an event made durable by `ticket` may be acted on.
    pub(super) fn is_durable(&self, ticket: u64) -> bool {
        !self.journal_broken() && self.durability.durable() >= ticket
    }

    /// Whether the journal failed: nothing more becomes durable.
    pub(super) fn journal_broken(&self) -> bool {
        self.journal_error.is_some()
    }

    /// Shows the signals steps have sent so far.
    pub(super) fn drain_signals(&mut self) {
        while let Ok(report) = self.signals_rx.try_recv() {
            self.on_signal(report);
        }
    }

    pub(super) fn on_signal(&mut self, report: SignalReport) {
        self.emit(&Event::Signal {
            step: report.step,
            signal: report.signal,
            message: report.message,
            data: report.data,
            at: now(),
        });
    }

    pub(super) fn action_context(&self, step: &str) -> ActionContext {
        ActionContext {
            workdir: self.options.project_dir.clone(),
            run_dir: self.run_dir.clone(),
            base_commit: self.base_commit.clone(),
            step: step.to_owned(),
            control: Some(self.live.orders_tx.clone()),
        }
    }

    /// The name a step's files start with: numbered by invocation, so that a later visit of the
    /// same step never overwrites an earlier one's files.
    fn stem(&self, step: &str) -> String {
        format!("{:04}-{}", self.state.invocations, file_name(step))
    }

    fn invocation(
        &self,
        node: NodeIndex,
        packet: Option<String>,
        packet_file: Option<PathBuf>,
    ) -> Invocation {
        let id = &self.plan.graph[node].id;
        let mut env = vec![
            ("RALPH_ITERATION".to_owned(), self.state.iteration.max(1).to_string()),
            (
                "RALPH_TASK_ID".to_owned(),
                self.context.task.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
            ),
        ];
        // Agents that speak OpenTelemetry put their spans under the step's.
        if let Some(traceparent) = self.telemetry.traceparent(id) {
            env.push(("TRACEPARENT".to_owned(), traceparent));
        }
        Invocation {
            run_id: self.state.run_id.clone(),
            step: id.clone(),
            workdir: self.options.project_dir.clone(),
            steps_dir: self.run_dir.join("steps"),
            file_stem: self.stem(id),
            packet_path: packet_file,
            signals: Some(self.signals_tx.clone()),
            packet,
            prompt: None,
            timeout: None,
            idle_timeout: None,
            env,
        }
    }

    /// Evidence for conditions before a step: what the run has changed so far.
    fn evidence_so_far(&self, now: Option<&Snapshot>) -> Evidence {
        let mut evidence = self.context.evidence.clone();
        if let (Some(repo), Some(now)) = (&self.repo, now) {
            evidence.files_changed = repo.changed_since(self.base_commit.as_deref(), now);
        }
        evidence
    }

    /// Starts a node's step: emits `step_started`, builds its packet and prompts, and returns
    /// the future that performs it.
    pub(super) fn start(
        &mut self,
        node: NodeIndex,
        parallel: bool,
        require_all: bool,
        attempt: u32,
        delay: Duration,
    ) -> Started<impl Future<Output = Outcome> + Send + 'static> {
        let id = self.plan.graph[node].id.clone();
        let before = self.repo.as_ref().map(Repo::snapshot);
        let prep = &self.nodes[node.index()];
        let human = prep.human.clone();
        let mut units = prep.units.clone();
        // Conditional agents: `condition:` is tested against what the run has changed so far.
        if units.iter().flatten().any(|a| a.condition.is_some()) {
            let scope = self.scope_with(
                node,
                &Outcome { success: true, ..Outcome::default() },
                &self.evidence_so_far(before.as_ref()),
            );
            let mut skipped = Vec::new();
            for unit in &mut units {
                unit.retain(|agent| {
                    let Some(text) = &agent.condition else { return true };
                    let holds =
                        condition::compile(text, &|n: &str| self.named_conditions.iter().any(|c| c == n))
                            .ok()
                            .and_then(|c| self.evaluator.holds(&c, &scope).ok())
                            .unwrap_or(false);
                    if !holds {
                        skipped.push(format!("`{}` (condition `{text}` does not hold)", agent.name));
                    }
                    holds
                });
            }
            units.retain(|u| !u.is_empty());
            if units.is_empty() && human.is_none() {
                return Started::Skipped(format!("no agent to run: {}", skipped.join(", ")));
            }
        }
        // A half-open breaker's probe has a time limit of its own.
        if self.ledger.breaker.state == crate::policy::breaker::BreakerState::HalfOpen {
            if let Some(limit) = self.breaker.as_ref().and_then(|c| c.half_open_timeout) {
                for agent in units.iter_mut().flatten() {
                    agent.timeout = Some(agent.timeout.map_or(limit, |t| t.min(limit)));
                }
            }
        }
        let names: Vec<String> = units.iter().map(|u| unit_name(u)).collect();
        let agent = if human.is_some() { "a person".to_owned() } else { names.join(", ") };
        self.emit(&Event::StepStarted { step: id.clone(), agent, attempt, at: now() });
        // The packet is built once, and only for steps whose agents read it (or when the
        // display streams packets): a DAG of thousands of quiet commands should not build
        // thousands of unread packets.
        let reads = units.iter().flatten().any(StepAgent::reads_files);
        let packet = (reads || self.sink.wants_packets()).then(|| {
            let is_named = |n: &str| self.named_conditions.iter().any(|c| c == n);
            let mut context = self.context.clone();
            context.iteration = self.state.iteration;
            context.evidence = self.evidence_so_far(before.as_ref());
            let mut packet = packet::build(&context, &id, packet::outcome_names(&self.plan, node, is_named));
            packet.trace_id = self.telemetry.trace_id();
            packet
        });
        let mut packet = packet;
        if let Some(packet) = packet.as_mut().filter(|_| reads) {
            // Signals since the previous packet, and the hints, go to agents that read them.
            self.deliver_control(&id, packet);
        }
        // Plugins see the packet before it is written, so their notes and patches reach it.
        let invokes = human.is_none() && !units.is_empty();
        let veto = self.plugins_before_step(
            node,
            &names.join(", "),
            attempt,
            invokes,
            packet.as_mut().filter(|_| reads),
        );
        if let Some(packet) = packet.as_mut() {
            // What the run observed (an agent's output, a test log) may quote a secret.
            if let Some(masked) = self.redactor.redact_value(&*packet) {
                *packet = masked;
            }
            self.sink.packet(&id, "built", packet);
        }
        let packet_file =
            reads.then(|| self.run_dir.join("packets").join(format!("{}.json", self.stem(&id))));
        let invocation = self.invocation(
            node,
            packet.as_ref().filter(|_| reads).map(|p| serde_json::to_string_pretty(p).unwrap_or_default()),
            packet_file.clone(),
        );
        // AI agents get their stacked prompt, rendered from this step's packet.
        let prompt_error = self.stack_prompts(&mut units, packet.as_ref(), &invocation);
        let actions = self.action_context(&id);
        let recorded = self.recorded(&id);
        let ticket = Ticket { node, attempt, packet, packet_file, before };
        if let Some(spec) = &human {
            self.emit(&Event::ReviewRequested {
                step: id.clone(),
                timeout_secs: spec.timeout.map(|t| t.as_secs()),
                at: now(),
            });
            let _ = action::record_notification(
                &self.run_dir,
                &id,
                &format!("`{id}` is waiting for review: ralph-loop approve {} | reject", self.state.run_id),
            );
        }
        let future = async move {
            if let Some(outcome) = recorded {
                return outcome;
            }
            if let Some(reason) = veto {
                return Outcome::failed(FailureClass::PluginVeto, reason);
            }
            // A retry waits out its delay inside the step, so a DAG's other nodes run meanwhile.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some(error) = prompt_error {
                return Outcome::failed(FailureClass::AgentError, error);
            }
            if let Some(spec) = human {
                return review(spec, invocation, &actions).await;
            }
            step::run_units(units, invocation, actions, parallel, require_all).await
        };
        Started::Running(ticket, future)
    }

    /// The delay before the next attempt of a step that failed with `outcome`, if it is to be
    /// tried again (its policy allows it and the invocation budget has room); emits
    /// `step_retrying`.
    pub(super) fn retry_after(
        &mut self,
        node: NodeIndex,
        attempt: u32,
        outcome: &Outcome,
    ) -> Option<Duration> {
        let interrupted = outcome.class == Some(FailureClass::Interrupted);
        if outcome.success || interrupted || self.state.invocations >= self.max_invocations() {
            return None;
        }
        if outcome.class == Some(FailureClass::UsageLimit) {
            // Not a failure: the provider said stop for now. Wait for its reset, then go on.
            let now = super::ledger::unix_now();
            let fallback = self.budget.usage_limit_wait.map_or(Duration::from_secs(15 * 60), |d| d.0);
            let wait = match outcome.retry_at.filter(|at| *at > now) {
                Some(at) => Duration::from_secs(at - now),
                None => fallback,
            };
            self.emit(&Event::Waiting {
                step: self.plan.graph[node].id.clone(),
                seconds: wait.as_secs(),
                reason: outcome.error.clone().unwrap_or_else(|| "usage limit reached".into()),
            });
            return Some(wait);
        }
        let delay =
            self.nodes[node.index()].retry.next_delay(attempt, outcome.class.map(FailureClass::as_str))?;
        self.emit(&Event::StepRetrying {
            step: self.plan.graph[node].id.clone(),
            attempt,
            delay_ms: delay.as_millis() as u64,
            class: outcome.class.clone(),
            error: outcome.error.clone(),
            policy: self.nodes[node.index()].retry.name.clone(),
        });
        Some(delay)
    }

    /// Stacks the prompt of every AI agent in `units` from `packet`; the error names the first
    /// prompt that cannot be built.
    fn stack_prompts(
        &self,
        units: &mut [Vec<StepAgent>],
        packet: Option<&SteeringPacket>,
        invocation: &Invocation,
    ) -> Option<String> {
        let (_, _, result_file, _) = invocation.files();
        let result_file = result_file.display().to_string();
        let mut prompt_error = None;
        for agent in units.iter_mut().flatten() {
            let (role_prompt, system_prompt) = match &agent.backing {
                Backing::Cli { role_prompt, system_prompt, .. } => (role_prompt, system_prompt.as_deref()),
                // The HTTP backend sends the system prompt as its own message.
                Backing::Http { role_prompt, .. } => (role_prompt, None),
                _ => continue,
            };
            let Some(packet) = packet else { continue };
            let request = stack::StackRequest {
                agent: &agent.name,
                role_prompt: role_prompt.as_deref(),
                system_prompt,
                packet,
                result_file: &result_file,
                dirs: &self.options.prompt_dirs,
            };
            match stack::stack(&request) {
                Ok(text) => agent.prompt = Some(text),
                Err(e) => prompt_error = Some(format!("the prompt of `{}` cannot be built: {e}", agent.name)),
            }
        }
        prompt_error
    }

    /// `on_failure: always`: after a step failed for good, the failure goes to that agent (the
    /// planner) with the failure history in its packet. Its outcome is recorded; the failed
    /// step's outcome still decides what happens next.
    pub(super) async fn route_failure(&mut self, node: NodeIndex) {
        let Some((name, unit)) = self.on_failure.clone() else { return };
        let id = self.plan.graph[node].id.clone();
        if self.plan.graph[node].agents.contains(&name) || self.halt.is_some() {
            return;
        }
        let instructions = format!(
            "The `{id}` step of the `{}` workflow failed. Read the failure history and change the plan so the next attempt can succeed.",
            self.options.workflow
        );
        self.consult(node, "on_failure", name, unit, instructions).await;
    }

    /// Runs an agent outside the workflow's steps (the planner on failure, the breaker's
    /// escalation) on a packet about `node` that carries the failure history; its spend
    /// counts like any step's. Reported as the `hook`'s action.
    pub(super) async fn consult(
        &mut self,
        node: NodeIndex,
        hook: &str,
        name: String,
        unit: Vec<StepAgent>,
        instructions: String,
    ) -> Outcome {
        let id = self.plan.graph[node].id.clone();
        if let Some(oracle) = &mut self.oracle {
            let outcome = oracle
                .action(self.state.iteration, &id, hook)
                .unwrap_or_else(|| Outcome { success: true, ..Outcome::default() });
            self.emit(&Event::ActionFinished {
                step: id,
                hook: hook.into(),
                action: name,
                outcome: Box::new(outcome.clone()),
            });
            return outcome;
        }
        let step = format!("{id}.{hook}");
        let mut context = self.context.clone();
        context.iteration = self.state.iteration;
        let mut packet = packet::build(&context, &step, Vec::new());
        packet.instructions.primary = instructions;
        let packet_file = self.run_dir.join("packets").join(format!("{}.json", self.stem(&step)));
        let mut invocation = self.invocation(
            node,
            Some(serde_json::to_string_pretty(&packet).unwrap_or_default()),
            Some(packet_file),
        );
        invocation.step.clone_from(&step);
        invocation.file_stem = self.stem(&step);
        let ai = unit.iter().any(|a| a.backing.is_ai());
        let mut units = vec![unit];
        let mut outcome = match self.stack_prompts(&mut units, Some(&packet), &invocation) {
            Some(error) => Outcome::failed(FailureClass::AgentError, error),
            None => {
                let run = step::run_unit(units.remove(0), invocation, self.action_context(&step));
                // Consulting is not a step of the workflow: an interrupt pauses after it.
                self.with_control(run, false).await.unwrap_or_default()
            }
        };
        if ai {
            self.charge(node, &mut outcome);
            self.save_ledger();
        }
        self.emit(&Event::ActionFinished {
            step: id,
            hook: hook.into(),
            action: name,
            outcome: Box::new(outcome.clone()),
        });
        outcome
    }

    /// Finishes a step: its evidence from git, its completed packet, `step_finished`.
    pub(super) fn finish(&mut self, ticket: Ticket, mut outcome: Outcome) {
        self.drain_signals();
        let id = self.plan.graph[ticket.node].id.clone();
        // What the agent said (its error, its logs) may quote a secret: masked before the
        // outcome reaches a packet, the history of later packets, a plugin or an event.
        if let Some(masked) = self.redactor.redact_value(&outcome) {
            outcome = masked;
        }
        if let (Some(repo), Some(before)) = (&self.repo, &ticket.before) {
            outcome.evidence.files_changed = repo.changed(before, &repo.snapshot());
        }
        // A step a plugin stopped before it ran has no result to look at.
        if outcome.class != Some(FailureClass::PluginVeto) {
            self.plugins_after_step(ticket.node, ticket.attempt, ticket.before.as_ref(), &mut outcome);
        }
        if self.nodes[ticket.node.index()].human.is_some() {
            if let Some(decision) = &outcome.result {
                self.emit(&Event::ReviewDecided {
                    step: id.clone(),
                    decision: decision.clone(),
                    comment: outcome.summary.clone(),
                    by: outcome.reviewer.clone(),
                });
            }
        }
        if let Some(packet) = ticket.packet {
            let completed = packet::complete(packet, &outcome);
            if let Some(path) = &ticket.packet_file {
                let done = path.with_extension("completed.json");
                let _ = std::fs::write(done, serde_json::to_string_pretty(&completed).unwrap_or_default());
            }
            self.sink.packet(&id, "completed", &completed);
        }
        self.account(ticket.node, &mut outcome);
        // Without a task file the history is the run's own (task id empty).
        let task = self.context.task.as_ref().map(|t| t.id.clone()).unwrap_or_default();
        self.remember_outcome(&id, &outcome, task);
        self.emit(&Event::StepFinished { step: id, outcome: Box::new(outcome), at: now() });
    }

    /// Runs a state's hook actions (`on_enter`, `on_exit`, `on_timeout`) in order, up to the
    /// first that fails; returns the outcome of the last one run (so a failure, or for
    /// `on_timeout` the decision that stands for the timed-out step). `escalate_to_human` is
    /// announced as a review wherever it is used.
    pub(super) async fn run_hook(&mut self, node: NodeIndex, hook: &str) -> Option<Outcome> {
        if let Some(oracle) = &mut self.oracle {
            // A check runs no hook: the recorded outcome of the hook, if it ran, decides.
            return oracle.action(self.state.iteration, &self.plan.graph[node].id, hook);
        }
        let prep = &self.nodes[node.index()];
        let units = match hook {
            "on_enter" => prep.on_enter.clone(),
            "on_timeout" => prep.on_timeout.clone(),
            _ => prep.on_exit.clone(),
        };
        let id = self.plan.graph[node].id.clone();
        let mut last = None;
        for unit in units {
            let name = unit_name(&unit);
            let escalates = name == "escalate_to_human";
            if escalates {
                self.emit(&Event::ReviewRequested { step: id.clone(), timeout_secs: None, at: now() });
            }
            let invocation = self.invocation(node, None, None);
            // Hooks are short and not steps: an interrupt pauses the loop after them.
            let run = step::run_unit(unit, invocation, self.action_context(&id));
            let outcome = self.with_control(run, false).await.unwrap_or_default();
            if let (true, Some(decision)) = (escalates, &outcome.result) {
                self.emit(&Event::ReviewDecided {
                    step: id.clone(),
                    decision: decision.clone(),
                    comment: outcome.summary.clone(),
                    by: outcome.reviewer.clone(),
                });
            }
            self.emit(&Event::ActionFinished {
                step: id.clone(),
                hook: hook.to_owned(),
                action: name,
                outcome: Box::new(outcome.clone()),
            });
            let failed = !outcome.success;
            last = Some(outcome);
            if failed {
                break;
            }
        }
        last
    }

    /// The variables a condition sees after a step (see `workflow::condition::VARIABLES`).
    pub(super) fn scope(&self, node: NodeIndex, outcome: &Outcome) -> Scope {
        self.scope_with(node, outcome, &outcome.evidence)
    }

    fn scope_with(&self, node: NodeIndex, outcome: &Outcome, evidence: &Evidence) -> Scope {
        use minijinja::Value;
        let id = &self.plan.graph[node].id;
        let visits = u64::from(self.state.visits.get(id).copied().unwrap_or(0));
        let failures = u64::from(self.state.failures.get(id).copied().unwrap_or(0));
        let mut v = BTreeMap::new();
        v.insert("visits".to_owned(), Value::from(visits));
        v.insert("retries".to_owned(), Value::from(visits.saturating_sub(1)));
        v.insert("failures".to_owned(), Value::from(failures));
        let attempt = self.state.steps.get(id).map_or(1, |r| r.attempts.max(1));
        v.insert("attempt".to_owned(), Value::from(attempt));
        v.insert("iteration".to_owned(), Value::from(self.state.iteration.max(1)));
        v.insert("state".to_owned(), Value::from(id.clone()));
        let agent =
            self.state.steps.get(id).map(|_| self.plan.graph[node].agents.join(", ")).unwrap_or_default();
        v.insert("agent".to_owned(), Value::from(agent));
        v.insert("workdir".to_owned(), Value::from(self.options.project_dir.display().to_string()));
        v.insert("branch".to_owned(), Value::from(self.git_vars.0.clone()));
        v.insert("tag".to_owned(), Value::from(self.git_vars.1.clone()));
        v.insert("outcome".to_owned(), Value::from(minijinja::value::Serde(outcome)));
        v.insert("evidence".to_owned(), Value::from(minijinja::value::Serde(evidence)));
        v.insert("task".to_owned(), Value::from(minijinja::value::Serde(&self.context.task)));
        v.insert("nodes".to_owned(), Value::from(minijinja::value::Serde(&self.node_results)));
        Scope { success: outcome.success, result: outcome.result.clone(), variables: v }
    }

    /// Runs one iteration: one pass of the workflow, for `task` if there is one.
    pub async fn run_iteration(
        &mut self,
        iteration: u32,
        task: Option<ralph_plugin_sdk::Task>,
        resumed: bool,
    ) -> (RunStatus, String) {
        let task_ref = task.as_ref().map(|t| TaskRef { id: t.id.clone(), title: t.description.clone() });
        self.context.task = task;
        self.context.iteration = iteration;
        // A resumed iteration goes on: its journal has started it and holds what it did.
        if !resumed {
            self.node_results.clear();
            self.iteration_changed_files = false;
            self.emit(&Event::IterationStarted { iteration, task: task_ref, at: now() });
            if let Some(reason) = self.plugins_on_iteration() {
                self.emit(&Event::IterationFinished {
                    iteration,
                    status: RunStatus::Stopped,
                    reason: reason.clone(),
                    at: now(),
                });
                return (RunStatus::Stopped, reason);
            }
        }
        let (status, reason) = match self.plan.kind {
            WorkflowKind::Dag => self.run_dag().await,
            WorkflowKind::StateMachine => self.run_state_machine().await,
            WorkflowKind::Saga => self.run_saga().await,
        };
        self.drain_signals();
        self.emit(&Event::IterationFinished { iteration, status, reason: reason.clone(), at: now() });
        (status, reason)
    }

    /// Emits `run_started`.
    pub fn begin(&mut self) -> Result<(), RunError> {
        let workflow = self.options.workflow.clone();
        let id = self.state.run_id.clone();
        let resumed = self.resumed.as_ref().map(|p| p.from_seq);
        let record = &mut self.options.record;
        record.run_id.clone_from(&id);
        record.workflow.clone_from(&workflow);
        record.kind = self.plan.kind.as_str().into();
        record.status = "running".into();
        if resumed.is_none() {
            record.started_at = now();
            record.base_commit.clone_from(&self.base_commit);
        }
        // The run's span is opened before the record is written, which keeps it: a resumed run
        // continues the trace its first start began.
        let traceparent =
            self.telemetry.open_run(&id, resumed.is_some(), resumed.and(record.traceparent.as_deref()));
        if resumed.is_none() {
            record.traceparent = traceparent;
        }
        self.store.put_run(record)?;
        self.telemetry.ledger(&self.ledger, &self.budget);
        self.telemetry.plugins(self.plugins.names());
        self.serve_control();
        if let (Some(_), Some(by)) = (resumed, &self.state.paused) {
            eprintln!(
                "note: run {id} was paused (by {by}) when it stopped, and stays paused: `ralph-loop resume` from another terminal lets it go on"
            );
        }
        match resumed {
            Some(from_seq) => {
                let interrupted = self.interrupt_running();
                self.emit(&Event::Resumed { run_id: id, from_seq, interrupted, at: now() });
                self.report_plugin_problems();
            }
            None => {
                self.emit(&Event::RunStarted {
                    run_id: id,
                    workflow,
                    kind: self.plan.kind.as_str().into(),
                    at: now(),
                });
                self.report_plugin_problems();
                self.plugins_on_start();
            }
        }
        Ok(())
    }

    /// Emits `run_finished`, makes the journal durable and records how the run ended.
    pub async fn end(&mut self, status: RunStatus, reason: String) {
        self.plugins_on_end(status, &reason);
        self.emit(&Event::RunFinished { status, reason: reason.clone(), class: None, at: now() });
        self.settle().await;
        self.notifications_sent().await;
        self.close_control().await;
        let mut record = self.options.record.clone();
        record.status = status.as_str().into();
        record.reason = Some(reason);
        if let Some(retention) = self.snapshots.as_ref().map(|p| p.retention) {
            self.trim_snapshots(retention);
        }
        // Recording the end flushes the store, the dropped snapshots with it.
        if let Err(e) = self.store.put_run(&record) {
            eprintln!("warning: the run's end could not be recorded: {e}");
        }
        self.durability.stop();
    }

    /// Marks a task done (the completed list of later packets).
    pub fn task_done(&mut self, id: &str) {
        self.context.completed_tasks.push(id.to_owned());
    }

    /// The final state.
    pub fn into_state(self) -> RunState {
        self.state
    }
}

/// A human review as a step: wait for the decision; at the timeout, `on_timeout` decides.
async fn review(spec: HumanSpec, invocation: Invocation, actions: &ActionContext) -> Outcome {
    let started = std::time::Instant::now();
    match human::wait(&actions.run_dir, &actions.step, spec.timeout, spec.reminder).await {
        human::Review::Decided { decision, comment, by } => Outcome {
            success: true,
            result: Some(decision),
            summary: comment,
            reviewer: by,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Outcome::default()
        },
        human::Review::TimedOut => {
            let mut last = Outcome::failed(
                FailureClass::Timeout,
                format!("nobody reviewed `{}` within {:?}", actions.step, spec.timeout.unwrap_or_default()),
            );
            for entry in spec.on_timeout {
                match entry {
                    OnTimeout::Run(unit) => {
                        let mut inv = invocation.clone();
                        inv.file_stem = format!("{}.on_timeout", inv.file_stem);
                        last = step::run_unit(unit, inv, actions.clone()).await;
                        last.reviewer = Some("on_timeout".into());
                        if !last.success {
                            break;
                        }
                    }
                    OnTimeout::Goto(target) => {
                        last = Outcome {
                            success: true,
                            summary: Some(format!("timed out; moving to `{target}`")),
                            goto: Some(target),
                            ..Outcome::default()
                        };
                        break;
                    }
                }
            }
            last.duration_ms = started.elapsed().as_millis() as u64;
            last
        }
    }
}
