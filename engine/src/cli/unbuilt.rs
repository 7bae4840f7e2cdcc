//! Verbs whose capability is not built yet. Each has its real arguments and help, and says
//! plainly which capability is missing, exiting with status 2 — never fake output.

use clap::Args;

use super::{Command, EXIT_USAGE, Env};

/// Arguments of `metrics`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run (default: the current or latest).
    #[arg(long)]
    pub run: Option<String>,
}

/// Which capability each verb is waiting for, and the issue that builds it.
fn missing(command: &Command) -> (&'static str, &'static str, u32) {
    match command {
        Command::Loop(_) => ("loop", "running workflows", 3),
        Command::Metrics(_) => ("metrics", "observability (metrics)", 7),
        Command::Workflow(_)
        | Command::Plugin(_)
        | Command::Traces(_)
        | Command::Dashboard(_)
        | Command::Schema(_)
        | Command::Completions(_)
        | Command::Init(_)
        | Command::Status(_)
        | Command::Logs(_)
        | Command::Runs(_)
        | Command::Reset(_)
        | Command::Debug(_)
        | Command::Inspect(_)
        | Command::Resume(_)
        | Command::Replay(_)
        | Command::Retry(_)
        | Command::Snapshots(_)
        | Command::Approve(_)
        | Command::Pause(_)
        | Command::Interrupt(_)
        | Command::Redirect(_)
        | Command::Hint(_)
        | Command::AddIterations(_)
        | Command::Reject(_) => ("", "", 0),
    }
}

/// Says which capability is missing and exits 2.
pub fn run(command: &Command, env: &Env) -> anyhow::Result<u8> {
    let (verb, capability, issue) = missing(command);
    let style = env.styles.error;
    eprintln!(
        "{}error{}: `ralph-loop {verb}` is not available yet: it needs {capability}, which is not built in this version (tracked in issue #{issue})",
        style.render(),
        style.render_reset()
    );
    eprintln!(
        "note: what works today: `ralph-loop init`, `loop` (every backend, tasks, `--commit`, `--dry-run`), `resume`, `status`, `logs`, `runs`, `debug`, `inspect`, `reset`, `snapshots`, `replay`, `retry`, `approve`, `reject`, `pause`, `interrupt`, `redirect`, `hint`, `add-iterations`, `workflow validate | visualize | list`, `plugin list | info | install | enable | disable | remove | new | call`, `traces`, `dashboard`, `schema`, `completions`"
    );
    Ok(EXIT_USAGE)
}
