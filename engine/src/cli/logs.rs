//! `ralph-loop logs`: a run's journal, event by event.

use clap::Args;

use super::{EXIT_OK, EXIT_USAGE, Env};
use crate::run::event::Event;

/// Arguments of `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new events as the running loop journals them.
    #[arg(long, short)]
    pub follow: bool,
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Only the events of this step.
    #[arg(long)]
    pub step: Option<String>,
    /// Print the events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// One line for people.
fn line(seq: u64, event: &Event) -> String {
    let value = serde_json::to_value(event).unwrap_or_default();
    let name = value["event"].as_str().unwrap_or_default().to_owned();
    let at = value["at"].as_str().map(|a| format!("{a} ")).unwrap_or_default();
    let detail = match event {
        Event::StepStarted { step, agent, attempt, .. } => format!("{step} ({agent}, attempt {attempt})"),
        Event::StepFinished { step, outcome, .. } => {
            let how = if outcome.success { "ok" } else { "failed" };
            let why = outcome.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            let result = outcome.result.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
            format!("{step} {how}{result}{why} in {} ms", outcome.duration_ms)
        }
        Event::Transition { from, to, .. } => format!("{from} → {to}"),
        Event::RunFinished { status, reason, .. } | Event::IterationFinished { status, reason, .. } => {
            format!(
                "{}: {reason}",
                serde_json::to_value(status).unwrap_or_default().as_str().unwrap_or_default()
            )
        }
        other => {
            let mut v = serde_json::to_value(other).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.remove("event");
                map.remove("at");
            }
            v.to_string()
        }
    };
    format!("{seq:>6} {at}{name:<18} {detail}\n")
}

/// Prints the journal.
pub fn run(args: &LogsArgs, env: &Env) -> anyhow::Result<u8> {
    if args.follow {
        eprintln!(
            "error: `logs --follow` reads a running loop's journal over its control channel, which is not built yet (issue #5); `logs` prints a finished or stopped run"
        );
        return Ok(EXIT_USAGE);
    }
    let store = crate::inspect::open_store(&env.state_dir)?;
    let id = crate::inspect::select_run(&store, args.run.as_deref())?.run_id;
    let journal = store.journal(&id)?;
    let mut text = String::new();
    for (seq, event) in journal.read::<Event>(1)? {
        if args.step.as_deref().is_some_and(|s| event.step() != Some(s)) {
            continue;
        }
        if args.json {
            text.push_str(&serde_json::to_string(&event)?);
            text.push('\n');
        } else {
            text.push_str(&line(seq, &event));
        }
    }
    super::out(&text);
    Ok(EXIT_OK)
}
