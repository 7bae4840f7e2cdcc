//! `ralph-loop replay --check <run> [--workflow <file>]`: see `run::check`.

use super::exit::usage;
use super::replay::ReplayArgs;
use super::run::{LoopArgs, load};
use super::{Env, Exit};
use crate::inspect::source::Source;
use crate::run::check::{self, CheckError, Report};
use crate::run::core::event::Event;

/// Runs the check against `--workflow`, or without it against the definition the run ran:
/// exit 0 when the decisions are the same, 1 when they diverge.
pub fn run(args: &ReplayArgs, run: &str, env: &Env) -> anyhow::Result<Exit> {
    let report = match &args.workflow {
        Some(_) => {
            let (record, recorded) = {
                let mut source = Source::open(&env.state_dir)?;
                let record = source.select_run(Some(run))?;
                let events: Vec<Event> =
                    source.journal(&record.run_id)?.into_iter().map(|(_, e)| e).collect();
                (record, events)
            };
            let loop_args = LoopArgs {
                workflow: args.workflow.clone(),
                config: args.config.clone().or_else(|| record.config_file.clone()),
                commit: false,
                tasks: None,
                jobs: Some(record.jobs),
                max_iterations: None,
                dry_run: false,
                json: false,
                telemetry: Default::default(),
            };
            let loaded = match load(&loop_args, env)? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let workflow = (&loaded.doc, loaded.plan, loaded.workflow.as_path());
            check::check(&env.project_dir, &record, &recorded, workflow, "file")
        }
        None => crate::inspect::plan::check_stored(&env.state_dir, &env.project_dir, run)?,
    };
    let report = match report {
        Ok(report) => report,
        Err(e @ CheckError::KindMismatch { .. }) => return Err(usage(e.to_string())),
        // The runner's own error, for its exit code.
        Err(CheckError::Run(e)) => return Err(e.into()),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        super::out(&text(&report));
    }
    Ok(if report.same { Exit::Ok } else { Exit::Failed })
}

/// The report for people.
fn text(report: &Report) -> String {
    let (file, run, outcomes) = (report.workflow.display(), &report.run, report.outcomes);
    let what = match report.definition {
        "stored" => format!("the definition run {run} ran (`{file}` as it was then)"),
        _ => format!("`{file}`"),
    };
    let Some(d) = &report.divergence else {
        return format!(
            "{what} makes the same decisions as run {run} on its {outcomes} recorded step outcomes (no agent was invoked)\n"
        );
    };
    let mut text = format!("{what} diverges from run {run} in iteration {}:\n", d.iteration);
    if let Some(after) = &d.after {
        text.push_str(&format!("  after:     {after}\n"));
    }
    text.push_str(&format!("  recorded:  {}\n", d.recorded.as_deref().unwrap_or("(nothing more)")));
    text.push_str(&format!("  new:       {}\n", d.new.as_deref().unwrap_or("(nothing more)")));
    if let Some(reason) = &report.stopped {
        text.push_str(&format!("  the check stopped there: {reason}\n"));
    }
    text
}
