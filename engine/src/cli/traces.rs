//! `ralph-loop traces [--run ID] [--json]`: a run's span tree in the terminal, read from its
//! journal — the spans an OpenTelemetry export of the run carries, with their durations.

use clap::Args;

use super::{Env, Exit};
use crate::inspect::source::Source;
use crate::inspect::trace;

/// Arguments of `traces`.
#[derive(Debug, Args)]
pub struct TracesArgs {
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Print the tree as JSON (spans with attributes, events and children).
    #[arg(long)]
    pub json: bool,
}

/// Shows the tree.
pub fn run(args: &TracesArgs, env: &Env) -> anyhow::Result<Exit> {
    let mut source = Source::open(&env.state_dir)?;
    let record = source.select_run(args.run.as_deref())?;
    let tree = trace::read(&mut source, &record)?;
    drop(source);
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&tree)?));
    } else {
        super::out(&trace::render(&tree));
    }
    Ok(Exit::Ok)
}
