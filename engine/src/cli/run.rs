//! `ralph-loop loop`: validate strictly, compile, run, report.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::progress::Progress;
use super::{EXIT_INVALID, EXIT_OK, Env};
use crate::run::core::event::{Event, RunStatus};
use crate::run::core::projection::{RunState, StepStatus};
use crate::run::runner::{EventSink, RunOptions, Runner};
use crate::run::task_loop;
use crate::workflow::validate::{Options, validate};

/// Arguments of `loop`.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// The workflow to run; defaults to the `workflow:` of ralph.yaml.
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
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Show each step's packet and prompt without invoking any agent.
    #[arg(long)]
    pub dry_run: bool,
    /// Stream packets, signals and steps as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
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
            | Event::Resumed { .. }
            | Event::Forked { .. } => "run",
            Event::Signal { .. } | Event::Control { .. } => "signal",
            Event::Plugin { .. } => "plugin",
            Event::StepStarted { .. }
            | Event::StepFinished { .. }
            | Event::StepSkipped { .. }
            | Event::StepRetrying { .. }
            | Event::StepInterrupted { .. }
            | Event::Waiting { .. }
            | Event::HintsDelivered { .. }
            | Event::ActionFinished { .. }
            | Event::ReviewRequested { .. }
            | Event::ReviewDecided { .. }
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

/// Runs the run's future as a task on a worker thread rather than on the thread that blocks on
/// the runtime: the steps it spawns then start on the same worker (tokio's LIFO slot), and a
/// step's end wakes the runner without a handoff between threads.
async fn on_a_worker(run: impl Future<Output = RunState> + Send + 'static) -> anyhow::Result<RunState> {
    tokio::spawn(run).await.map_err(|e| anyhow::anyhow!("the run panicked: {e}"))
}

/// Runs the workflow.
pub fn run(args: &LoopArgs, env: &Env) -> anyhow::Result<u8> {
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

/// Reads, validates (strictly) and compiles the workflow `args` name, printing diagnostics;
/// `Err(code)` when it is invalid.
pub fn load(args: &LoopArgs, env: &Env) -> anyhow::Result<Result<Loaded, u8>> {
    let config = args.config.clone();
    let workflow: PathBuf = match (&args.workflow, &config) {
        (Some(w), _) => w.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => env.project_dir.join("ralph.yaml"),
    };
    let options = Options { config, project_dir: env.project_dir.clone(), strict: true };
    let validation = validate(&workflow, &options)?;
    for d in &validation.diagnostics {
        eprintln!("{}", d.render(validation.source_of(d), &env.styles));
    }
    if !validation.is_valid() {
        eprintln!("{}: invalid, not run", workflow.display());
        return Ok(Err(EXIT_INVALID));
    }
    let (Some(doc), Some(plan)) = (validation.document, validation.plan) else {
        anyhow::bail!("`{}` has no `workflow:` to run", workflow.display());
    };
    Ok(Ok(Loaded { doc, plan, workflow }))
}

/// Runs the workflow: a new run, or the run of `resume` (same id, same settings) from where its
/// journal ends. A resumed run's workflow must not have changed.
pub fn run_loop(args: &LoopArgs, env: &Env, resume: Option<crate::store::RunRecord>) -> anyhow::Result<u8> {
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
) -> anyhow::Result<u8> {
    let Loaded { doc, plan, workflow } = loaded;
    let name =
        doc.workflow.as_ref().and_then(|w| w.name.clone()).or_else(|| doc.name.clone()).unwrap_or_else(
            || workflow.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        );
    let refuse = |message: String| super::refuse(env, &message);
    let loop_settings = doc.loop_settings.clone().unwrap_or_default();
    let configured = loop_settings.tasks.as_ref().map(|t| env.project_dir.join(t));
    let explicit =
        args.tasks.as_ref().map(|t| if t.is_absolute() { t.clone() } else { env.project_dir.join(t) });
    let tasks = match task_loop::find(explicit, configured, &env.project_dir) {
        Ok(tasks) => tasks,
        Err(e) => return refuse(e.to_string()),
    };
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
        return Ok(EXIT_OK);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let total = plan.graph.node_count();
    let live = std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    let sink: Box<dyn EventSink> = if args.json {
        Box::new(JsonLines)
    } else {
        Box::new(Progress::new(
            total,
            plan.kind == crate::workflow::model::WorkflowKind::Dag,
            env.styles,
            live,
        ))
    };
    let workflow_name = name.clone();
    let options = RunOptions {
        jobs,
        project_dir: env.project_dir.clone(),
        runs_dir: crate::run::runner::runs_dir(&env.project_dir),
        workflow: name,
        prompt_dirs: crate::prompt::search_dirs(Some(&workflow), &env.project_dir),
        // A backstop for runaway loops: `loop.max_iterations`, else the larger of 100 and the
        // number of plan nodes (a DAG runs each node once).
        max_invocations: doc
            .loop_settings
            .as_ref()
            .and_then(|l| l.max_iterations)
            .unwrap_or_else(|| (total as u64).max(100)),
        record: crate::store::RunRecord::default(),
        state_dir: env.state_dir.clone(),
        oracle: None,
    };
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
        started_at: String::new(),
        base_commit: None,
        traceparent: None,
        status: String::new(),
        reason: None,
    };
    if commit && tasks.is_none() {
        return refuse("`--commit` commits each finished task, and there is no task file (TODO.md, tasks.json, kanban.json or `--tasks`)".into());
    }
    if commit && crate::run::evidence::Repo::open(&env.project_dir).is_none() {
        return refuse(format!(
            "`--commit` needs a git work tree, and `{}` is not in one",
            env.project_dir.display()
        ));
    }
    let mut options = options;
    options.record = record;
    if let Some(resumed) = resume {
        if resumed.definition_hash != options.record.definition_hash {
            return refuse(format!(
                "the workflow of run {} (`{}`) has changed since it started; resume runs the definition it started with — undo the change, or start a new run with `ralph-loop loop`",
                resumed.run_id,
                resumed.workflow_file.display()
            ));
        }
        options.record = crate::store::RunRecord { jobs: options.record.jobs, ..resumed };
    }
    let settings = match crate::telemetry::settings::Settings::resolve(
        &doc,
        &env.project_dir,
        &args.telemetry.flags(),
    ) {
        Ok(settings) => settings,
        Err(e) => return refuse(e.to_string()),
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
        Err(e) => return refuse(e.to_string()),
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
            return refuse(e.to_string());
        }
    };
    let _work_tree_lock = work_tree_lock;
    // The pipeline (and its log file) comes once the run can start: a refused run records
    // nothing.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
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
    // Spans and metrics go out before the process does; a collector that does not answer
    // holds the exit a few seconds at most.
    runtime.block_on(async {
        tokio::task::spawn_blocking(move || pipeline.shutdown(std::time::Duration::from_secs(3))).await
    })?;
    if !args.json && std::io::stderr().is_terminal() {
        eprintln!(
            "{} succeeded, {} failed, {} skipped",
            state.count(StepStatus::Succeeded),
            state.count(StepStatus::Failed),
            state.count(StepStatus::Skipped)
        );
    }
    Ok(if state.status == RunStatus::Succeeded { EXIT_OK } else { EXIT_INVALID })
}

/// Whether two paths name the same directory (resolved where they exist).
fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    let resolve = |p: &std::path::Path| {
        p.canonicalize().or_else(|_| std::path::absolute(p)).unwrap_or_else(|_| p.to_owned())
    };
    resolve(a) == resolve(b)
}
