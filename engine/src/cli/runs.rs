//! `ralph-loop runs`: every run in the store, newest first, with how it stands.

use clap::Args;

use super::table::{Align, Table, time};
use super::{Env, Exit};
use crate::inspect::runs::newest;
use crate::inspect::source::Source;

/// Arguments of `runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Only the newest N runs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// A run's duration: journal times have whole seconds, so no more precision is claimed.
fn seconds(ms: Option<u64>) -> String {
    match ms {
        None => "—".to_owned(),
        Some(0..1_000) => "<1s".to_owned(),
        Some(ms @ 1_000..60_000) => format!("{}s", ms / 1000),
        Some(ms) => crate::inspect::human_ms(ms),
    }
}

/// Lists the runs.
pub fn run(args: &RunsArgs, env: &Env) -> anyhow::Result<Exit> {
    let summaries = newest(&mut Source::open(&env.state_dir)?, args.limit)?;
    if args.json {
        let value = serde_json::json!({ "runs": summaries });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
        return Ok(Exit::Ok);
    }
    if summaries.is_empty() {
        super::out(&format!("no runs yet in `{}`; `ralph-loop loop` starts one\n", env.state_dir.display()));
        return Ok(Exit::Ok);
    }
    let mut table = Table::new(&[
        ("RUN", Align::Left),
        ("WORKFLOW", Align::Left),
        ("KIND", Align::Left),
        ("STATUS", Align::Left),
        ("STARTED (UTC)", Align::Left),
        ("DURATION", Align::Right),
        ("STEPS", Align::Right),
        ("FAILED", Align::Right),
        ("REASON", Align::Left),
    ]);
    for s in &summaries {
        let resumed = match s.resumed {
            0 => String::new(),
            1 => " (resumed)".to_owned(),
            n => format!(" (resumed {n}×)"),
        };
        table.row(vec![
            s.run_id.clone(),
            s.workflow.clone(),
            s.kind.clone(),
            format!("{}{resumed}", s.status.as_str()),
            time(&s.started_at),
            seconds(s.duration_ms),
            s.steps_finished.to_string(),
            s.steps_failed.to_string(),
            s.reason.clone().unwrap_or_default(),
        ]);
    }
    super::out(&table.render());
    Ok(Exit::Ok)
}
