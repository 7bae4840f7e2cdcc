//! `ralph-loop status`: the project's latest run, its spend, and its circuit breaker.
//!
//! It reads what runs leave behind — the ledger (`.ralph/ledger.json`) and the latest run's
//! journal — so it works whether or not a loop is running. The words and the JSON are
//! `inspect::status`'s, which the web dashboard shows too.

use clap::Args;

use super::{Env, Exit};
use crate::inspect::status;

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints the status.
pub fn run(args: &StatusArgs, env: &Env) -> anyhow::Result<Exit> {
    if args.json {
        let value = status::json(&env.project_dir, &env.state_dir)?;
        super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
    } else {
        super::out(&status::text(&env.project_dir, &env.state_dir)?);
    }
    Ok(Exit::Ok)
}
