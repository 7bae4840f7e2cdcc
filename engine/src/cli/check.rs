//! `ralph-loop replay --check <run> --workflow <file>`: see `run::check`.

use std::sync::{Arc, Mutex};

use super::exit::usage;
use super::replay::ReplayArgs;
use super::run::{LoopArgs, load};
use super::{Env, Exit};
use crate::run::check::{self, Oracle};
use crate::run::core::event::Event;
use crate::run::core::projection::RunState;
use crate::run::performer::Performer;
use crate::run::runner::{EventSink, LogChoice, RunOptions, Runner};

/// Keeps the check run's events.
struct Collect(Arc<Mutex<Vec<Event>>>);

impl EventSink for Collect {
    fn event(&mut self, event: &Event, _: &RunState) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
    }
}

/// Runs the check: exit 0 when the decisions are the same, 1 when they diverge.
pub fn run(args: &ReplayArgs, run: &str, env: &Env) -> anyhow::Result<Exit> {
    let (record, recorded) = {
        let store = super::replay::open_store(env)?;
        let record = super::replay::find_run(&store, run)?;
        let events: Vec<Event> =
            store.journal(&record.run_id)?.read(1)?.into_iter().map(|(_, e)| e).collect();
        (record, events)
    };
    let run = record.run_id.as_str();
    let loop_args = LoopArgs {
        workflow: args.workflow.clone(),
        config: args.config.clone().or_else(|| record.config_file.clone()),
        commit: false,
        tasks: None,
        jobs: Some(record.jobs),
        dry_run: false,
        json: false,
        telemetry: Default::default(),
    };
    let loaded = match load(&loop_args, env)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let kind = loaded.plan.kind;
    if kind.as_str() != record.kind {
        return Err(usage(format!(
            "run {run} ran a {} workflow and `{}` is a {}: their decisions cannot be compared",
            record.kind,
            loaded.workflow.display(),
            kind.as_str()
        )));
    }
    let scratch = tempfile::tempdir()?;
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut options =
        RunOptions::new(env.project_dir.clone(), scratch.path().join("state"), record.workflow.clone());
    options.jobs = record.jobs.max(1);
    options.runs_dir = scratch.path().join("runs");
    // The recording bounds the check, not a budget.
    options.max_invocations = u64::MAX;
    options.prompt_dirs = crate::prompt::search_dirs(Some(&loaded.workflow), &env.project_dir);
    options.performer = Performer::Script(Box::new(Oracle::from_events(&recorded)));
    // The check's journal is thrown away: it lives in memory, and nobody can signal it.
    options.log = LogChoice::Memory(Default::default());
    options.control = false;
    let runner = Runner::new(&loaded.doc, loaded.plan, options, Box::new(Collect(Arc::clone(&events))))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(runner.run_recorded(check::iterations(&recorded)));
    let new_events = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
    let (before, after) = (check::decisions(&recorded), check::decisions(&new_events));
    let divergence = check::compare(kind, &before, &after);
    let outcomes = recorded.iter().filter(|e| matches!(e, Event::StepFinished { .. })).count();
    if args.json {
        let report = serde_json::json!({
            "run": run,
            "workflow": loaded.workflow,
            "same": divergence.is_none(),
            "outcomes": outcomes,
            "divergence": divergence,
        });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        let file = loaded.workflow.display();
        match &divergence {
            None => super::out(&format!(
                "`{file}` makes the same decisions as run {run} on its {outcomes} recorded step outcomes (no agent was invoked)\n"
            )),
            Some(d) => {
                let mut text = format!("`{file}` diverges from run {run} in iteration {}:\n", d.iteration);
                if let Some(after) = &d.after {
                    text.push_str(&format!("  after:     {after}\n"));
                }
                text.push_str(&format!(
                    "  recorded:  {}\n",
                    d.recorded.as_deref().unwrap_or("(nothing more)")
                ));
                text.push_str(&format!("  new:       {}\n", d.new.as_deref().unwrap_or("(nothing more)")));
                if let Some(Event::RunFinished { reason, .. }) = new_events.last() {
                    if reason.contains("the recording has no outcome") {
                        text.push_str(&format!("  the check stopped there: {reason}\n"));
                    }
                }
                super::out(&text);
            }
        }
    }
    Ok(if divergence.is_none() { Exit::Ok } else { Exit::Failed })
}
