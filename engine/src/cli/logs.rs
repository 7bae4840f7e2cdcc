//! `ralph-loop logs`: a run's journal, event by event.

use clap::Args;

use super::{Env, Exit};
use crate::run::core::event::Event;

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
        Event::TaskAdded { task, step, by, .. } => {
            let from = step
                .as_deref()
                .map(|s| format!(" by `{s}`"))
                .or_else(|| by.as_deref().map(|b| format!(" by {b}")));
            format!("task {}{}: {}", task.id, from.unwrap_or_default(), task.title)
        }
        Event::TaskRefused { task, reason, step, .. } => {
            let from = step.as_deref().map(|s| format!(" from `{s}`")).unwrap_or_default();
            format!("task {task}{from} refused: {reason}")
        }
        Event::TaskRouted(route) => {
            format!("iteration {}: {}", route.iteration, crate::inspect::status::route_text(route))
        }
        Event::TaskSentBack { task, by, review, .. } => format!("{} sent back by {by}: {review}", task.id),
        Event::LearningReported { step, task, id, text, .. } => {
            let task = task.as_deref().map(|t| format!(" (task {t})")).unwrap_or_default();
            format!("{step}{task} {id}: {text}")
        }
        Event::Notification { notification, channel, attempt, attempts, detail, .. } => {
            format!("{notification} → `{channel}`: attempt {attempt}/{attempts} {detail}")
        }
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
            format!("{}: {reason}", status.as_str())
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

fn print(args: &LogsArgs, seq: u64, event: &Event) -> anyhow::Result<()> {
    if args.step.as_deref().is_some_and(|s| event.step() != Some(s)) {
        return Ok(());
    }
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string(event)?));
    } else {
        super::out(&line(seq, event));
    }
    Ok(())
}

/// A running loop's journal, over its control socket (the loop owns the store): with
/// `--follow`, then its events as they happen, until it ends. `None` when no loop runs, or it
/// runs another run than the one asked for.
fn from_live(args: &LogsArgs, env: &Env) -> anyhow::Result<Option<Exit>> {
    use crate::control::Reply;
    let Some(mut client) = crate::control::client::Client::connect(&env.state_dir)? else { return Ok(None) };
    if let Some(run) = &args.run {
        let status = match client.request(&crate::control::Request::Status) {
            Ok(Reply::Status { status }) => status,
            // The loop died as we asked: the store has its journal.
            Err(crate::control::ControlError::Closed) => return Ok(None),
            Ok(_) => anyhow::bail!("the loop did not say which run it runs"),
            Err(e) => return Err(e.into()),
        };
        if !status.run_id.starts_with(run.as_str()) {
            return Ok(None);
        }
    }
    let mut reply = match client.subscribe(1, args.follow) {
        Ok(reply) => reply,
        Err(crate::control::ControlError::Closed) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    loop {
        match reply {
            Reply::Event { seq, event } => match serde_json::from_value::<Event>(event.clone()) {
                Ok(event) => print(args, seq, &event)?,
                Err(_) => super::out(&format!("{event}\n")),
            },
            Reply::Lagged { missed } => {
                eprintln!(
                    "warning: {missed} event(s) went by too fast to show; `ralph-loop logs` has them all"
                );
            }
            Reply::End => return Ok(Some(Exit::Ok)),
            other => anyhow::bail!("the loop answered `{}`", serde_json::to_string(&other)?),
        }
        reply = match client.read_reply()? {
            Some(reply) => reply,
            // The loop went away without saying `end` (it was killed): the journal has the rest.
            None => return Ok(Some(Exit::Ok)),
        };
    }
}

/// Prints the journal: with `--follow`, the running loop's as it grows, over its control
/// socket; otherwise from the store (or from the loop that holds it).
pub fn run(args: &LogsArgs, env: &Env) -> anyhow::Result<Exit> {
    if args.follow {
        if let Some(code) = from_live(args, env)? {
            return Ok(code);
        }
    }
    let mut source = crate::inspect::source::Source::open(&env.state_dir)?;
    let id = source.select_run(args.run.as_deref())?.run_id;
    // Without a running loop, `--follow` has nothing to wait for: the journal is all there is.
    for (seq, event) in source.journal(&id)? {
        print(args, seq, &event)?;
    }
    Ok(Exit::Ok)
}
