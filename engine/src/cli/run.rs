//! `ralph-loop loop`: validate strictly, compile, run, report.

use crate::plan::NodeRole;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;

use super::exit::usage;
use super::progress::Progress;
use super::{Env, Exit};
use crate::run::core::event::{Event, RunStatus};
use crate::run::core::outcome::FailureClass;
use crate::run::core::projection::{RunState, StepStatus};
use crate::run::runner::{EventSink, RunOptions, Runner};
use crate::run::task_loop;
use crate::workflow::validate::{Options, validate};

/// Arguments of `loop`.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// The workflow to run; defaults to `loop.workflow` of ralph.yaml, else its own
    /// `workflow:`.
    #[arg(long, value_name = "FILE", env = "RALPH_WORKFLOW")]
    pub workflow: Option<PathBuf>,
    /// The project configuration; defaults to `ralph.yaml` in the project directory.
    #[arg(long, value_name = "FILE", env = "RALPH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Commit the work after each task.
    #[arg(long)]
    pub commit: bool,
    /// The task file: TODO.md, tasks.json or kanban.json.
    #[arg(long, value_name = "FILE")]
    pub tasks: Option<PathBuf>,
    /// DAG nodes run at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// The most agent invocations this run makes (overrides `loop.max_iterations`; a resumed
    /// run keeps it).
    #[arg(long, value_name = "N", value_parser = parse_max_iterations)]
    pub max_iterations: Option<u64>,
    /// Show each step's packet and prompt without invoking any agent.
    #[arg(long)]
    pub dry_run: bool,
    /// Stream packets, signals and steps as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// `--max-iterations`: a whole number of at least 1.
fn parse_max_iterations(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("`0` would invoke no agent; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number of agent invocations (e.g. 20)")),
    }
}

/// `--jobs`: a whole number of at least 1 (0 would start nothing and wait forever).
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("`0` would run nothing; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number; give the number of DAG nodes to run at once")),
    }
}

/// Where a run's metrics and logs go, besides `ralph.yaml`'s `observability:` and `logging:`.
#[derive(Debug, Clone, Default, Args)]
pub struct TelemetryArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics while the loop runs (a bare port is on
    /// 127.0.0.1).
    #[arg(long, value_name = "ADDR", env = "RALPH_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// The log file's format: `human` (default) or `json` (one object per line, with
    /// `trace_id` and `span_id`).
    #[arg(long, value_enum, value_name = "FORMAT", env = "RALPH_LOG_FORMAT")]
    pub log_format: Option<super::Format>,
    /// Serve the web dashboard at ADDR (a port, or IP:PORT; default 127.0.0.1:8080) while the loop runs; off
    /// loopback it needs a token (RALPH_DASHBOARD_TOKEN, or one made and printed once).
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = crate::dashboard::DEFAULT_ADDR,
        value_parser = crate::dashboard::parse_addr
    )]
    pub dashboard: Option<std::net::SocketAddr>,
}

impl TelemetryArgs {
    fn flags(&self) -> crate::telemetry::settings::Flags {
        crate::telemetry::settings::Flags {
            metrics_addr: self.metrics_addr.clone(),
            log_format: self.log_format.map(|f| match f {
                super::Format::Human => crate::workflow::model::LogFormat::Human,
                super::Format::Json => crate::workflow::model::LogFormat::Json,
            }),
        }
    }
}

/// Events as JSON lines on stdout, each with a `type`.
struct JsonLines;

impl EventSink for JsonLines {
    fn event(&mut self, event: &Event, _: &RunState) {
        let kind = match event {
            Event::RunStarted { .. }
            | Event::RunFinished { .. }
            | Event::IterationStarted { .. }
            | Event::IterationFinished { .. }
            | Event::TaskMarked { .. }
            | Event::Breaker { .. }
            | Event::Committed { .. }
            | Event::CommitIntended { .. }
            | Event::Halt { .. }
            | Event::Escalating { .. }
            | Event::Escalated { .. }
            | Event::Resumed { .. }
            | Event::TaskAdded { .. }
            | Event::TaskRefused { .. }
            | Event::TaskRouted(_)
            | Event::TaskSentBack { .. }
            | Event::Forked { .. } => "run",
            Event::Warning { .. } => "warning",
            Event::Notification { .. } => "notification",
            Event::Signal { .. } | Event::Control { .. } | Event::ControlRefused { .. } => "signal",
            Event::Plugin { .. } | Event::PluginCalled { .. } => "plugin",
            Event::StepStarted { .. }
            | Event::StepFinished { .. }
            | Event::StepSkipped { .. }
            | Event::StepRetrying { .. }
            | Event::StepInterrupted { .. }
            | Event::AgentStarted { .. }
            | Event::Waiting { .. }
            | Event::HintsDelivered { .. }
            | Event::ActionFinished { .. }
            | Event::ReviewRequested { .. }
            | Event::ReviewDecided { .. }
            | Event::LearningReported { .. }
            | Event::Transition { .. } => "step",
        };
        if let Ok(mut value) = serde_json::to_value(event) {
            value["type"] = kind.into();
            super::out(&format!("{value}\n"));
        }
    }

    fn wants_packets(&self) -> bool {
        true
    }

    fn packet(&mut self, step: &str, phase: &str, packet: &ralph_plugin_sdk::SteeringPacket) {
        let line = serde_json::json!({"type": "packet", "step": step, "phase": phase, "packet": packet});
        super::out(&format!("{line}\n"));
    }
}

/// Runs the run's future as a task of the runtime (a panic in it comes back as an error).
async fn on_a_worker(run: impl Future<Output = RunState> + Send + 'static) -> anyhow::Result<RunState> {
    tokio::spawn(run).await.map_err(|e| anyhow::anyhow!("the run panicked: {e}"))
}

/// Watches for SIGINT and SIGTERM for the rest of the process: the run ends cleanly on the
/// first (its agents' process groups are killed), whenever it comes — during a step, between
/// iterations, while a task is marked or committed. A second one is the default: it kills.
fn cancellation() -> crate::run::runner::Cancel {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(None);
    if let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = tx.send(Some(name.to_owned()));
            // Keep the handlers (and the watch) alive until the process ends.
            std::future::pending::<()>().await;
        });
    }
    rx
}

/// How a run ended, as an exit status: an agent that could not work here is the environment's
/// failure (4), not the run's (1).
pub fn run_exit(state: &RunState) -> Exit {
    match state.status {
        RunStatus::Succeeded => Exit::Ok,
        _ if state.end_class == Some(FailureClass::Environment) => Exit::Environment,
        _ => Exit::Failed,
    }
}

/// Runs the workflow.
pub fn run(args: &LoopArgs, env: &Env) -> anyhow::Result<Exit> {
    run_loop(args, env, None)
}

/// A workflow read and compiled, ready to run.
pub struct Loaded {
    /// The validated document, configuration merged.
    pub doc: crate::workflow::model::Document,
    /// Its plan.
    pub plan: crate::plan::Plan,
    /// The file it was read from.
    pub workflow: PathBuf,
}

/// Which workflow file `loop` runs: `--workflow`; else the one the project configuration
/// names (see [`crate::workflow::load::configured_workflow`]). `None` when nothing names one.
fn choose_workflow(args: &LoopArgs, env: &Env) -> Option<PathBuf> {
    if let Some(workflow) = &args.workflow {
        return Some(workflow.clone());
    }
    let config = args.config.clone().unwrap_or_else(|| in_project(env, "ralph.yaml"));
    crate::workflow::load::configured_workflow(&config)
}

/// A path of the project as the user can type it: relative ones under the project directory,
/// without the `./` of the default one.
fn in_project(env: &Env, path: &str) -> PathBuf {
    if env.project_dir == Path::new(".") { PathBuf::from(path) } else { env.project_dir.join(path) }
}

/// Says how to choose a workflow, with the ones `workflows/` holds.
fn no_workflow(args: &LoopArgs, env: &Env) -> anyhow::Error {
    let config = args.config.clone().unwrap_or_else(|| in_project(env, "ralph.yaml"));
    let dir = in_project(env, "workflows");
    let mut message = if config.exists() {
        format!("`{}` names no workflow to run", config.display())
    } else {
        format!("there is no `{}` to name the workflow to run", config.display())
    };
    let listed = super::workflow::listing(&dir).ok().filter(|rows| !rows.is_empty());
    let example = listed
        .as_ref()
        .and_then(|rows| rows.iter().find(|r| !r.broken))
        .map(|r| r.file.display().to_string())
        .unwrap_or_else(|| dir.join("FILE.yaml").display().to_string());
    message.push_str(&format!(
        "; choose one with `ralph-loop loop --workflow {example}`, or set it in `{}`:\n\n    loop:\n      workflow: {}\n",
        config.display(),
        relative_path(&config, Path::new(&example)).display()
    ));
    match listed {
        Some(rows) => {
            message.push_str(&format!("\nthe workflows in `{}`:\n", dir.display()));
            message.push_str(&super::workflow::render_listing(&rows));
            message.truncate(message.trim_end().len());
        }
        None => message.push_str(&format!(
            "\n`{}` holds no workflows; `ralph-loop init` makes a project with one",
            dir.display()
        )),
    }
    usage(message)
}

/// `path` relative to the directory of `base`, when it is under it (for `loop.workflow`).
fn relative_path(base: &Path, path: &Path) -> PathBuf {
    match base.parent().filter(|d| !d.as_os_str().is_empty() && *d != Path::new(".")) {
        Some(dir) => path.strip_prefix(dir).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf()),
        None => path.to_path_buf(),
    }
}

/// Reads, validates (strictly) and compiles the workflow `args` name, printing diagnostics;
/// `Err(Exit::Invalid)` when it is invalid.
pub fn load(args: &LoopArgs, env: &Env) -> anyhow::Result<Result<Loaded, Exit>> {
    let config = args.config.clone();
    let Some(workflow) = choose_workflow(args, env) else {
        return Err(no_workflow(args, env));
    };
    let options = Options { config, project_dir: env.project_dir.clone(), strict: true, inert_errors: false };
    let validation = validate(&workflow, &options)?;
    super::workflow::print_diagnostics(&validation, env);
    if !validation.is_valid() {
        eprintln!("{}: invalid, not run", workflow.display());
        return Ok(Err(Exit::Invalid));
    }
    let (Some(doc), Some(plan)) = (validation.document, validation.plan) else {
        return Err(no_workflow(args, env));
    };
    // The roles' own workflows are checked as strictly, and their diagnostics shown the same way.
    for (role, file) in doc.roles.iter().flatten().filter_map(|(r, t)| t.workflow().map(|w| (r, w))) {
        let path = env.project_dir.join(file);
        let validation = validate(&path, &options)?;
        super::workflow::print_diagnostics(&validation, env);
        if !validation.is_valid() {
            eprintln!("{}: invalid (the workflow of role `{role}`), not run", path.display());
            return Ok(Err(Exit::Invalid));
        }
    }
    Ok(Ok(Loaded { doc, plan, workflow }))
}

/// Runs the workflow: a new run, or the run of `resume` (same id, same settings) from where its
/// journal ends. A resumed run's workflow must not have changed.
pub fn run_loop(args: &LoopArgs, env: &Env, resume: Option<crate::store::RunRecord>) -> anyhow::Result<Exit> {
    match load(args, env)? {
        Ok(loaded) => run_loaded(args, env, loaded, resume),
        Err(code) => Ok(code),
    }
}

/// Runs a loaded workflow (see [`run_loop`]).
pub fn run_loaded(
    args: &LoopArgs,
    env: &Env,
    loaded: Loaded,
    resume: Option<crate::store::RunRecord>,
) -> anyhow::Result<Exit> {
    let Loaded { doc, plan, workflow } = loaded;
    let name =
        doc.workflow.as_ref().and_then(|w| w.name.clone()).or_else(|| doc.name.clone()).unwrap_or_else(
            || workflow.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        );
    let loop_settings = doc.loop_settings.clone().unwrap_or_default();
    let configured = loop_settings.tasks.as_ref().map(|t| env.project_dir.join(t));
    let explicit =
        args.tasks.as_ref().map(|t| if t.is_absolute() { t.clone() } else { env.project_dir.join(t) });
    let tasks = task_loop::find(explicit, configured, &env.project_dir)?;
    if args.dry_run {
        // The packets show the task the first iteration would take.
        let task = tasks.as_ref().and_then(|f| f.next_ready(&Default::default()).map(|t| f.packet_task(t)));
        super::out(&crate::run::dry_run::dry_run(
            &doc,
            &plan,
            &name,
            &workflow,
            &env.project_dir,
            task.as_ref(),
        ));
        return Ok(Exit::Ok);
    }
    // `loop.parallel_agents: false` runs one agent at a time: a DAG one node at a time (unless
    // `--jobs` says otherwise), a parallel state's agents one after the other.
    let parallel_agents = doc.loop_settings.as_ref().and_then(|l| l.parallel_agents) != Some(false);
    let jobs = args.jobs.unwrap_or_else(|| match parallel_agents {
        true => std::thread::available_parallelism().map_or(2, |n| n.get()),
        false => 1,
    });
    // What a person counts: a state machine's states (its steps are counted as taken), a DAG's
    // nodes, a saga's steps (compensations run only when it fails); `stop` is no step.
    let total = plan
        .graph
        .node_weights()
        .filter(|node| match &node.role {
            NodeRole::State { .. } => true,
            NodeRole::Stop | NodeRole::Compensation { .. } | NodeRole::FinalCompensation => false,
            NodeRole::Node { .. } | NodeRole::Step => true,
        })
        .count();
    let live = std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    let sink: Box<dyn EventSink> = if args.json {
        Box::new(JsonLines)
    } else {
        Box::new(Progress::new(total, plan.kind, env.styles, live))
    };
    let workflow_name = name.clone();
    let mut options = RunOptions::new(env.project_dir.clone(), env.state_dir.clone(), name);
    options.jobs = jobs;
    options.parallel_agents = parallel_agents;
    options.notice = Some(|text: &str| eprintln!("{text}"));
    options.prompt_dirs = crate::prompt::search_dirs(Some(&workflow), &env.project_dir);
    // A backstop for runaway loops: `loop.max_iterations`, else the larger of 100 and the
    // number of plan nodes (a DAG runs each node once).
    options.max_invocations = args
        .max_iterations
        .or_else(|| doc.loop_settings.as_ref().and_then(|l| l.max_iterations))
        .unwrap_or_else(|| (total as u64).max(100));
    let commit = args.commit || loop_settings.auto_commit == Some(true);
    let record = crate::store::RunRecord {
        run_id: String::new(),
        workflow: String::new(),
        workflow_file: workflow,
        config_file: args.config.clone(),
        definition_hash: crate::store::definition_hash(&serde_json::to_vec(&doc).unwrap_or_default()),
        kind: String::new(),
        tasks: tasks.as_ref().map(|t| t.path().to_owned()),
        commit,
        jobs,
        max_iterations: args.max_iterations,
        started_at: String::new(),
        base_commit: None,
        traceparent: None,
        status: String::new(),
        reason: None,
    };
    if commit && tasks.is_none() {
        return Err(usage(
            "`--commit` commits each finished task, and there is no task file (TODO.md, tasks.json, kanban.json or `--tasks`)",
        ));
    }
    if commit && crate::git::WorkTree::open(&env.project_dir, &[]).is_none() {
        return Err(usage(format!(
            "`--commit` needs a git work tree, and `{}` is not in one; `git init` makes one",
            env.project_dir.display()
        )));
    }
    options.record = record;
    if let Some(resumed) = resume {
        if resumed.definition_hash != options.record.definition_hash {
            return Err(usage(format!(
                "the workflow of run {} (`{}`) has changed since it started; resume runs the definition it started with — undo the change, or start a new run with `ralph-loop loop`",
                resumed.run_id,
                resumed.workflow_file.display()
            )));
        }
        options.record = crate::store::RunRecord { jobs: options.record.jobs, ..resumed };
    }
    let settings = match crate::telemetry::settings::Settings::resolve(
        &doc,
        &env.project_dir,
        &args.telemetry.flags(),
    ) {
        Ok(settings) => settings,
        Err(e) => return Err(super::exit::invalid(e)),
    };
    // One loop per work tree, whatever its state directory: a second would take the same task
    // and commit the first one's work. A second loop on the same state directory is left to
    // the store's own lock, which says so in its own words.
    let ralph_dir = env.project_dir.join(".ralph");
    let had_ralph_dir = ralph_dir.exists();
    let work_tree_lock = match crate::git::lock::WorkTreeLock::acquire(&env.project_dir, &env.state_dir) {
        Ok(lock) => Some(lock),
        Err(crate::git::lock::WorkTreeLockError::Held { state_dir: Some(held), .. })
            if same_dir(&held, &env.state_dir) =>
        {
            None
        }
        Err(e) => return Err(super::exit::environment(e)),
    };
    let kind = plan.kind;
    let mut runner = match Runner::new(&doc, plan, options, sink) {
        Ok(runner) => runner,
        Err(e) => {
            // A run that cannot start leaves nothing behind: outside git, the work tree's lock
            // file is the only thing it created in the project.
            if let Some(lock) = work_tree_lock.filter(|_| !had_ralph_dir) {
                let path = lock.path().to_owned();
                drop(lock);
                if path.starts_with(&ralph_dir) {
                    let _ = std::fs::remove_file(&path);
                    let _ = std::fs::remove_dir(&ralph_dir);
                }
            }
            return Err(e.into());
        }
    };
    let _work_tree_lock = work_tree_lock;
    // The pipeline (and its log file) comes once the run can start: a refused run records
    // nothing.
    // One thread runs the loop: a step's end wakes the runner, and the next step starts, with
    // no handoff between threads. On 2 cores a DAG of 10,000 `true` nodes ran 5% faster than
    // on a worker pool: the agents' processes need the cores, and the engine's own work is
    // small and never blocks (git and plugins step aside; measured in engine/benches).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // SIGINT and SIGTERM are watched from now on, whatever the run is doing when they come.
    runner.set_cancel(runtime.block_on(async { cancellation() }));
    let redactor = runner.redactor().clone();
    let project = doc.project.as_ref().and_then(|p| p.name.clone());
    let pipeline = runtime.block_on(crate::telemetry::pipeline::Pipeline::install(
        &settings,
        &redactor,
        project.as_deref(),
    ));
    for warning in &pipeline.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(addr) = pipeline.metrics_addr() {
        if !args.json {
            eprintln!("metrics: http://{addr}/metrics");
        }
    }
    // Served beside the run, on its own threads, through the same control socket as any page.
    let served = match args.telemetry.dashboard {
        Some(addr) => Some(super::dashboard::start(
            addr,
            std::env::var("RALPH_DASHBOARD_TOKEN").ok(),
            "it ends with the loop; `ralph-loop dashboard --serve` shows the run after",
            env,
        )?),
        None => None,
    };
    // A review's notification links its form there (the token stays with the person who
    // started the loop).
    runner.set_review_url(served.as_ref().map(super::dashboard::Served::review_url));
    if served.is_none() && !args.json {
        if let Some(state) = web_review(&doc) {
            eprintln!(
                "note: `{state}` is reviewed in a web form (`ui: {{type: web}}`): `loop --dashboard` serves it at /review (or `ralph-loop dashboard --serve` beside this loop); `ralph-loop approve` / `reject` decide too"
            );
        }
    }
    if settings.metrics_twice() {
        eprintln!(
            "note: metrics go to the OTLP collector and to /metrics; if one Prometheus receives both (as \
             monitoring/docker-compose.yml does) every series is stored twice: drop `--metrics-addr`, or \
             set OTEL_METRICS_EXPORTER=none to send only traces over OTLP"
        );
    }
    let mut telemetry = crate::telemetry::run::RunTelemetry::new(
        &doc,
        &workflow_name,
        kind.as_str(),
        crate::telemetry::instruments::Instruments::new(&pipeline.meter()),
    )
    .with_content(settings.include_content)
    .with_redactor(redactor);
    if let Some(log) = pipeline.log_target(&settings) {
        telemetry = telemetry.with_log(log);
    }
    runner.set_telemetry(telemetry);
    let state = match tasks {
        Some(file) => {
            let commit = commit.then(|| {
                loop_settings
                    .commit_message
                    .clone()
                    .unwrap_or_else(|| crate::run::commit::DEFAULT_MESSAGE.into())
            });
            runtime.block_on(on_a_worker(runner.run_tasks(task_loop::TaskLoop { file, commit })))?
        }
        None => runtime.block_on(on_a_worker(runner.run_once()))?,
    };
    // Files made during the run by others than the engine's own writers (the agents' result
    // files, the store's new segments) become owner-only as well.
    for dir in [env.project_dir.join(".ralph"), env.state_dir.clone()] {
        let _ = crate::private::secure_tree(&dir);
    }
    // Spans and metrics go out before the process does; a collector that does not answer
    // holds the exit a few seconds at most.
    let warnings = runtime.block_on(async {
        tokio::task::spawn_blocking(move || pipeline.shutdown(std::time::Duration::from_secs(3))).await
    })?;
    for warning in warnings {
        if args.json {
            super::out(&format!(
                "{}\n",
                serde_json::json!({"event": "warning", "type": "warning", "message": warning})
            ));
        } else {
            eprintln!("warning: {warning}");
        }
    }
    if !args.json && std::io::stderr().is_terminal() {
        eprintln!(
            "{} succeeded, {} failed, {} skipped",
            state.count(StepStatus::Succeeded),
            state.count(StepStatus::Failed),
            state.count(StepStatus::Skipped)
        );
    }
    Ok(run_exit(&state))
}

/// The first human state reviewed in a web form (`ui: {type: web}`).
fn web_review(doc: &crate::workflow::model::Document) -> Option<&str> {
    let states = doc.workflow.as_ref().map(|w| w.states.as_slice()).unwrap_or_default();
    states
        .iter()
        .filter_map(crate::workflow::model::StateDef::state)
        .find(|s| s.ui.as_ref().is_some_and(|ui| ui.kind == crate::workflow::model::UiKind::Web))
        .map(|s| s.id.as_str())
}

/// Whether two paths name the same directory (resolved where they exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    let resolve =
        |p: &Path| p.canonicalize().or_else(|_| std::path::absolute(p)).unwrap_or_else(|_| p.to_owned());
    resolve(a) == resolve(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_stopped_by_its_environment_exits_4_and_any_other_unsuccessful_run_1() {
        let mut state = RunState::new();
        state.status = RunStatus::Succeeded;
        assert_eq!(run_exit(&state), Exit::Ok);
        state.status = RunStatus::Failed;
        assert_eq!(run_exit(&state), Exit::Failed);
        state.end_class = Some(FailureClass::NonzeroExit);
        assert_eq!(run_exit(&state), Exit::Failed);
        state.end_class = Some(FailureClass::Environment);
        assert_eq!(run_exit(&state), Exit::Environment);
        state.status = RunStatus::Stopped;
        assert_eq!(run_exit(&state), Exit::Environment);
    }
}
