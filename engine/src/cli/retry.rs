//! `ralph-loop retry <run> --from <step>`: a new run that takes over another at a step — the
//! steps before it keep their recorded outcomes, the step (and, in a DAG, what depends on it)
//! runs again. See `run::fork`.

use clap::Args;

use super::Env;
use super::exit::{Exit, usage};
use super::replay::{Definition, choose, loop_args};
use super::run::run_loaded;
use crate::run::fork::{Cut, ForkError, fork};

/// Arguments of `retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The run to retry (see `ralph-loop runs`).
    pub run: String,
    /// The step (state, DAG node or saga step) to run again, with everything after it.
    #[arg(long, value_name = "STEP")]
    pub from: String,
    /// Which definition the new run runs when the workflow file changed since the run: the one
    /// it ran, or the file as it is now.
    #[arg(long, value_enum, value_name = "WHICH")]
    pub definition: Option<Definition>,
    /// Stream the new run's events as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `retry`.
pub fn run(args: &RetryArgs, env: &Env) -> anyhow::Result<Exit> {
    let store = super::replay::open_store(env)?;
    let source = super::replay::find_run(&store, &args.run)?;
    if source.status == "running" {
        return Err(usage(format!(
            "run {} did not end (it crashed or was killed); `ralph-loop resume {}` continues it",
            source.run_id, source.run_id
        )));
    }
    let loop_args = loop_args(&source, args.json);
    let since = format!("run {} started", source.run_id);
    let (loaded, which, hash) =
        match choose(&store, &source, &source.definition_hash, args.definition, &loop_args, &since, env)? {
            Ok(chosen) => chosen,
            Err(code) => return Ok(code),
        };
    if loaded.plan.node(&args.from).is_none() {
        let ids: Vec<String> = loaded.plan.nodes().map(|(_, n)| n.id.clone()).collect();
        let hint = crate::workflow::suggest::did_you_mean(&args.from, ids.iter().map(String::as_str))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(usage(format!("the workflow has no step `{}`{hint}", args.from)));
    }
    let new_id = crate::run::runner::run_id();
    let record = match fork(
        &store,
        &source,
        &Cut::RetryFrom(args.from.clone()),
        &loaded.plan,
        &new_id,
        which,
        &hash,
    ) {
        Ok(record) => record,
        Err(e @ ForkError::NeverRan { .. }) => return Err(usage(e)),
        Err(e) => return Err(e.into()),
    };
    drop(store);
    eprintln!("run {new_id}: retrying run {} from `{}`", source.run_id, args.from);
    run_loaded(&loop_args, env, loaded, Some(record))
}
