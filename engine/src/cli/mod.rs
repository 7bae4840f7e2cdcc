//! The command line: clap definitions and dispatch. Each verb's work lives in its own module;
//! this one only parses, then calls it.

mod check;
mod completions;
mod control;
mod dashboard;
mod debug;
pub mod exit;
mod init;
mod inspect;
mod learnings;
mod logs;
mod metrics;
mod notify;
mod plugin;
mod progress;
mod replay;
mod reset;
mod resume;
mod retry;
mod review;
mod run;
mod run_again;
mod runs;
mod schema;
mod snapshots;
mod status;
mod table;
mod tasks;
mod traces;
mod workflow;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diagnostic::Styles;

pub use exit::Exit;

/// ralph-loop runs autonomous AI coding-agent loops from declarative workflows.
#[derive(Debug, Parser)]
#[command(
    name = "ralph-loop",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = exit::HELP
)]
pub struct Cli {
    /// When to color output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, env = "RALPH_COLOR")]
    pub color: ColorChoice,

    /// The project directory: where `ralph.yaml`, prompts and `workflows/` are found.
    #[arg(
        short = 'C',
        long = "project-dir",
        global = true,
        value_name = "DIR",
        env = "RALPH_PROJECT_DIR",
        default_value = "."
    )]
    pub project_dir: PathBuf,

    /// The run store (journal, snapshots, runs); defaults to `state.persistence.path` of
    /// ralph.yaml, else `.ralph/state` in the project.
    #[arg(long, global = true, value_name = "DIR", env = "RALPH_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// When to use colors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When the output is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Output format of checking commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Human,
    /// One JSON document, for scripts and editors.
    Json,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow until its tasks are done.
    Loop(run::LoopArgs),
    /// Show the task queue in the order `loop` takes it, each score's parts, and why the other
    /// tasks wait.
    Tasks(tasks::TasksArgs),
    /// Add, show, edit, block or unblock a task of the project's task file.
    #[command(subcommand)]
    Task(tasks::TaskCommand),
    /// Create a project skeleton: ralph.yaml, TODO.md, AGENTS.md, prompts and workflows.
    Init(init::InitArgs),
    /// Show the current run: state, iteration, task, breaker and budgets.
    Status(status::StatusArgs),
    /// Show a run's logs.
    Logs(logs::LogsArgs),
    /// List the runs in the store, newest first, with their status.
    Runs(runs::RunsArgs),
    /// Remove the loop's state (run store, ledger, run directories); asks first, or --yes.
    Reset(reset::ResetArgs),
    /// Continue a crashed or stopped run, or resume a paused one (the same run goes on).
    #[command(after_help = run_again::HELP)]
    Resume(resume::ResumeArgs),
    /// Pause the running loop after its current step.
    Pause(control::SignalArgs),
    /// Stop the running loop's current agent now, keep the context, and pause.
    Interrupt(control::SignalArgs),
    /// Send the running loop (a state machine) to another state next.
    Redirect(control::RedirectArgs),
    /// Give the running loop a hint for its next prompt.
    Hint(control::HintArgs),
    /// Raise the running loop's max_iterations.
    AddIterations(control::AddIterationsArgs),
    /// Approve a human-review state of the running loop.
    Approve(review::ApproveArgs),
    /// Reject a human-review state of the running loop.
    Reject(review::ReviewArgs),
    /// Check, draw and list workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Manage WebAssembly plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Check the `notifications:` channels.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// Show the current run's metrics.
    Metrics(metrics::MetricsArgs),
    /// Show a run's span tree (from its journal), with durations and attributes.
    Traces(traces::TracesArgs),
    /// Show where the monitoring dashboards are and check their endpoints.
    Dashboard(dashboard::DashboardArgs),
    /// Show one iteration: its packet, prompt, agent output, outcome and decision.
    Debug(debug::DebugArgs),
    /// Start a new run from a snapshot, or re-check a run against a changed workflow.
    #[command(after_help = run_again::HELP)]
    Replay(replay::ReplayArgs),
    /// Start a new run from a step of an ended one: the steps before it keep their outcomes.
    #[command(after_help = run_again::HELP)]
    Retry(retry::RetryArgs),
    /// List the snapshots a replay can start from.
    Snapshots(snapshots::SnapshotsArgs),
    /// List what agents learnt in this project; forget or edit one.
    Learnings(learnings::LearningsArgs),
    /// Show every execution of a phase with timings and results.
    Inspect(inspect::InspectArgs),
    /// Print the JSON Schema of workflow files or of ralph.yaml.
    Schema(schema::SchemaArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
}

/// `ralph-loop workflow …`
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Check workflow files and report every problem at once.
    Validate(workflow::ValidateArgs),
    /// Draw a workflow's plan as Mermaid or Graphviz DOT.
    Visualize(workflow::VisualizeArgs),
    /// List the workflows under ./workflows with their type and description.
    List(workflow::ListArgs),
}

/// Options shared by commands that read a workflow with its configuration.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The project configuration; defaults to `ralph.yaml` in the project directory.
    #[arg(long, value_name = "FILE", env = "RALPH_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Everything a command needs besides its own arguments.
#[derive(Debug, Clone)]
pub struct Env {
    /// The project directory.
    pub project_dir: PathBuf,
    /// The run store's directory.
    pub state_dir: PathBuf,
    /// Styles for stderr.
    pub styles: Styles,
}

/// The JSON Schema of `ralph.yaml` (`config`) or of workflow files, as written by `schema`.
pub fn schema_text(config: bool) -> String {
    schema::text(if config { schema::Which::Config } else { schema::Which::Workflow })
}

/// The store's directory the project configuration names (`state.persistence.path` of
/// `RALPH_CONFIG`, else of `ralph.yaml` in the project directory), relative to that file's
/// directory; `None` when it names none. Every verb opens the store this way, so `status`,
/// `inspect`, `resume`, `replay` … find the runs `loop` kept there. A configuration that does
/// not load leaves the default: the verbs that read it (`loop`, `validate`) report why.
fn configured_state_dir(project_dir: &Path) -> Option<PathBuf> {
    let config = match std::env::var_os("RALPH_CONFIG").filter(|v| !v.is_empty()) {
        // As `--config` takes it: relative to the current directory.
        Some(path) => PathBuf::from(path),
        None => project_dir.join("ralph.yaml"),
    };
    if !config.is_file() {
        return None;
    }
    let loaded =
        crate::workflow::load::load_path(&config, crate::workflow::schema::SchemaKind::Config).ok()?;
    let named = loaded.document?.state?.persistence?.path?;
    let named = PathBuf::from(named);
    Some(if named.is_absolute() { named } else { config.parent().unwrap_or(project_dir).join(named) })
}

/// Says what went wrong on stderr, as every error is said (`error: …`).
pub fn say_error(env: &Env, message: &str) {
    let style = env.styles.error;
    let message = crate::redact::installed().redact(message);
    eprintln!("{}error{}: {message}", style.render(), style.render_reset());
}

/// Writes to stdout, with secrets masked (the process's redactor: by kind, and the values of
/// its secret-named variables): whatever a verb reads — a step's log, a kept file, a record
/// made before masking — no verb prints a credential. A reader that went away
/// (`ralph-loop … | head`) is not an error worth a panic: the output is simply no longer wanted.
pub fn out(text: &str) {
    use std::io::Write as _;
    let text = crate::redact::installed().redact(text);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The verbs that never open the run store: `--state-dir` is hidden from their help (it is
/// global, so it is still accepted anywhere).
const STORELESS: [&str; 7] = ["init", "workflow", "plugin", "notify", "dashboard", "schema", "completions"];
/// The verbs that do not read the project either: `--project-dir` is hidden from their help too.
const PROJECTLESS: [&str; 2] = ["schema", "completions"];

/// The command line's definition, with each verb's help showing only the options that apply
/// to it. clap shows a global option in every verb's help; a verb that has its own (hidden) copy
/// of a global option does not get the shown one, and the value still reaches the same field.
pub fn command() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    for (id, verbs) in [("state_dir", &STORELESS[..]), ("project_dir", &PROJECTLESS[..])] {
        let Some(global) = command.get_arguments().find(|arg| arg.get_id() == id).cloned() else {
            continue;
        };
        for verb in verbs {
            command = command.mut_subcommand(verb, |sub| sub.arg(global.clone().hide(true)));
        }
    }
    command
}

/// Parses the command line, runs the command, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    crate::tls::ensure_provider();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let state_dir = match &cli.state_dir {
        Some(dir) if dir.is_relative() => cli.project_dir.join(dir),
        Some(dir) => dir.clone(),
        None => configured_state_dir(&cli.project_dir)
            .unwrap_or_else(|| crate::store::default_dir(&cli.project_dir)),
    };
    let env = Env {
        project_dir: cli.project_dir.clone(),
        state_dir,
        styles: if color { Styles::colored() } else { Styles::plain() },
    };
    match run(cli.command, &env) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            say_error(&env, &format!("{err:#}"));
            ExitCode::from(exit::of(&err).code())
        }
    }
}

fn run(command: Command, env: &Env) -> anyhow::Result<Exit> {
    match command {
        Command::Workflow(WorkflowCommand::Validate(args)) => workflow::validate(&args, env),
        Command::Workflow(WorkflowCommand::Visualize(args)) => workflow::visualize(&args, env),
        Command::Workflow(WorkflowCommand::List(args)) => workflow::list(&args, env),
        Command::Loop(args) => run::run(&args, env),
        Command::Tasks(args) => tasks::list(&args, env),
        Command::Task(command) => tasks::run(&command, env),
        Command::Init(args) => init::run(&args, env),
        Command::Status(args) => status::run(&args, env),
        Command::Logs(args) => logs::run(&args, env),
        Command::Runs(args) => runs::run(&args, env),
        Command::Debug(args) => debug::run(&args, env),
        Command::Inspect(args) => inspect::run(&args, env),
        Command::Reset(args) => reset::run(&args, env),
        Command::Resume(args) => resume::run(&args, env),
        Command::Pause(_) => control::pause(env),
        Command::Interrupt(_) => control::interrupt(env),
        Command::Redirect(args) => control::redirect(&args, env),
        Command::Hint(args) => control::hint(&args, env),
        Command::AddIterations(args) => control::add_iterations(&args, env),
        Command::Approve(args) => review::run(&args.review, Some(args.with_changes), env),
        Command::Reject(args) => review::run(&args, None, env),
        Command::Replay(args) => replay::run(&args, env),
        Command::Retry(args) => retry::run(&args, env),
        Command::Snapshots(args) => snapshots::run(&args, env),
        Command::Learnings(args) => learnings::run(&args, env),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Plugin(command) => plugin::run(&command, env),
        Command::Traces(args) => traces::run(&args, env),
        Command::Metrics(args) => metrics::run(&args, env),
        Command::Notify(command) => notify::run(&command, env),
        Command::Dashboard(args) => dashboard::run(&args, env),
    }
}
