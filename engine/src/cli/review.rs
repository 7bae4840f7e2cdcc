//! `ralph-loop approve` and `reject`: deliver a reviewer's decision to a run waiting for one.
//!
//! The decision goes to the run's control inbox (`run::inbox`); a run is waiting while its
//! inbox holds the `waiting` file naming the step.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit::{failed, usage};
use super::{Env, Exit};
use crate::run::inbox;

/// Arguments of `approve` and `reject`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The run waiting for review (default: the latest run that is waiting).
    pub run: Option<String>,
    /// A comment for the agents.
    #[arg(long, short = 'm')]
    pub comment: Option<String>,
    /// `approve` only: approve on condition that the comment's changes are made (the
    /// `approved_with_changes` result).
    #[arg(long)]
    pub with_changes: bool,
}

/// Finds the run: the one named (by its id or a prefix of only its id), or the latest one
/// waiting.
fn find_run(runs: &Path, named: Option<&str>) -> anyhow::Result<(PathBuf, String)> {
    let ids = crate::run::runner::run_ids(runs).unwrap_or_default();
    if let Some(asked) = named {
        let id = crate::inspect::resolve_run(asked, ids.iter().map(String::as_str), runs)?;
        let dir = runs.join(&id);
        return match crate::run::human::waiting(&dir) {
            Some(step) => Ok((dir, step)),
            None => Err(failed(format!("run {id} is not waiting for review"))),
        };
    }
    ids.iter()
        .rev()
        .find_map(|id| crate::run::human::waiting(&runs.join(id)).map(|step| (runs.join(id), step)))
        .ok_or_else(|| failed(format!("no run in `{}` is waiting for review", runs.display())))
}

/// Sends the decision.
pub fn run(args: &ReviewArgs, approve: bool, env: &Env) -> anyhow::Result<Exit> {
    let runs = crate::run::runner::runs_dir(&env.project_dir);
    if args.with_changes && !approve {
        return Err(usage("`--with-changes` goes with `approve`, not `reject`"));
    }
    // A running loop takes the decision over its control socket (and journals it); the file
    // inbox below is for runs that no loop serves and for scripts.
    if let Some(reply) = crate::control::client::ask(&env.state_dir, &crate::control::Request::Status)? {
        let live = match reply {
            crate::control::Reply::Status { status } => status.run_id,
            _ => String::new(),
        };
        if args.run.as_deref().is_none_or(|r| live.starts_with(r)) {
            let signal = if approve {
                crate::control::Signal::Approve {
                    comment: args.comment.clone(),
                    with_changes: args.with_changes,
                }
            } else {
                crate::control::Signal::Reject { comment: args.comment.clone() }
            };
            let sent = super::control::send(env, signal)?;
            return Ok(super::control::report(env, sent, ""));
        }
    }
    let (dir, step) = find_run(&runs, args.run.as_deref())?;
    let message = inbox::Message {
        signal: if approve { "approve" } else { "reject" }.into(),
        comment: args.comment.clone(),
        with_changes: args.with_changes,
        by: std::env::var("USER").ok(),
        at: crate::clock::now(),
    };
    inbox::send(&dir, &message)?;
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    eprintln!("{} `{step}` of run {id}", if approve { "approved" } else { "rejected" });
    Ok(Exit::Ok)
}
