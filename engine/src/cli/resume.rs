//! `ralph-loop resume [<run>]`: a crashed or stopped run goes on, with the same id, from where
//! its journal ends (see `run::resume`).

use clap::Args;

use super::exit::usage;
use super::run::run_loop;
use super::{Env, Exit};
use crate::run::core::event::Event;

/// Arguments of `resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to resume (default: the latest).
    pub run: Option<String>,
    /// Stream packets, signals and steps as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub telemetry: super::run::TelemetryArgs,
}

/// Resumes the run: a paused live loop goes on; otherwise a stopped run continues.
pub fn run(args: &ResumeArgs, env: &Env) -> anyhow::Result<Exit> {
    match super::control::send(env, crate::control::Signal::Resume)? {
        super::control::Sent::NoLoop => {}
        sent => return Ok(super::control::report(env, sent, "")),
    }
    let record = {
        let store = super::replay::open_store(env)?;
        let mut record = match &args.run {
            Some(id) => super::replay::find_run(&store, id)?,
            None => store.runs()?.pop().ok_or_else(|| {
                usage(format!("there is no run to resume in `{}`", env.state_dir.display()))
            })?,
        };
        // The journal is the run: a loop killed after journaling its end but before recording
        // it left a record that still says `running`. The record is brought up to date.
        if record.status == "running" {
            let journal = store.journal(&record.run_id)?;
            if let Some((_, Event::RunFinished { status, reason, .. })) =
                journal.read::<Event>(journal.last_seq())?.pop()
            {
                record.status = status.as_str().to_owned();
                record.reason = Some(reason);
                store.put_run(&record)?;
            }
        }
        record
    };
    if matches!(record.status.as_str(), "succeeded" | "failed") {
        return Err(usage(format!(
            "run {} has ended ({}): there is nothing to resume; `ralph-loop loop` starts a new run",
            record.run_id, record.status
        )));
    }
    let mut loop_args = super::replay::loop_args(&record, args.json);
    loop_args.telemetry = args.telemetry.clone();
    run_loop(&loop_args, env, Some(record))
}
