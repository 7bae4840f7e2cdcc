//! `ralph-loop logs`: a run's journal, event by event.

use clap::Args;

use super::{EXIT_OK, EXIT_USAGE, Env};
use crate::run::event::Event;
use crate::store::Store;

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

/// The step an event is about, if any.
pub fn event_step(event: &Event) -> Option<&str> {
    match event {
        Event::StepStarted { step, .. }
        | Event::StepFinished { step, .. }
        | Event::ActionFinished { step, .. }
        | Event::Signal { step, .. }
        | Event::ReviewRequested { step, .. }
        | Event::ReviewDecided { step, .. }
        | Event::StepRetrying { step, .. }
        | Event::StepInterrupted { step, .. }
        | Event::Waiting { step, .. }
        | Event::StepSkipped { step, .. } => Some(step),
        Event::Transition { from, .. } => Some(from),
        _ => None,
    }
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
        Event::Forked { from_run, from_seq, why, definition, .. } => {
            format!("from run {from_run} up to event {from_seq} ({why}; {definition} definition)")
        }
        Event::Resumed { from_seq, interrupted, .. } if interrupted.is_empty() => {
            format!("after event {from_seq}")
        }
        Event::Resumed { from_seq, interrupted, .. } => {
            format!("after event {from_seq}; running again: {}", interrupted.join(", "))
        }
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
    let store = Store::open(&env.state_dir)?;
    let id = match &args.run {
        Some(id) => id.clone(),
        None => match store.runs()?.pop() {
            Some(record) => record.run_id,
            None => {
                eprintln!("no runs yet in `{}`", env.state_dir.display());
                return Ok(EXIT_USAGE);
            }
        },
    };
    if store.run(&id)?.is_none() {
        anyhow::bail!(
            "there is no run `{id}` in `{}` (`ralph-loop runs` lists them)",
            env.state_dir.display()
        );
    }
    let journal = store.journal(&id)?;
    let mut text = String::new();
    for (seq, event) in journal.read::<Event>(1)? {
        if args.step.as_deref().is_some_and(|s| event_step(&event) != Some(s)) {
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
