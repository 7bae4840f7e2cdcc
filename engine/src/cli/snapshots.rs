//! `ralph-loop snapshots [RUN]`: the snapshots a replay can start from.

use clap::Args;

use super::{Env, Exit};

/// Arguments of `snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only this run's snapshots.
    pub run: Option<String>,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Lists snapshots, oldest first.
pub fn run(args: &SnapshotsArgs, env: &Env) -> anyhow::Result<Exit> {
    let mut source = crate::inspect::source::Source::open(&env.state_dir)?;
    let run = match &args.run {
        Some(asked) => Some(source.select_run(Some(asked))?.run_id),
        None => None,
    };
    let snapshots = source.snapshots(run.as_deref())?;
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&snapshots)?));
        return Ok(Exit::Ok);
    }
    if snapshots.is_empty() {
        let text = match &source {
            crate::inspect::source::Source::Empty(dir) => {
                format!("no runs yet in `{}`, so no snapshots; `ralph-loop loop` starts one\n", dir.display())
            }
            _ => "no snapshots\n".to_owned(),
        };
        super::out(&text);
        return Ok(Exit::Ok);
    }
    let width = snapshots.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let mut text =
        format!("{:width$}  {:20}  {:19}  {:>9}  {}\n", "SNAPSHOT", "TRIGGER", "TAKEN", "ITERATION", "AT");
    for s in &snapshots {
        let at =
            [s.phase.as_deref(), s.task.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", task ");
        text.push_str(&format!(
            "{:width$}  {:20}  {:19}  {:>9}  {}\n",
            s.id,
            s.trigger,
            s.at.replace('T', " ").trim_end_matches('Z'),
            s.iteration,
            at
        ));
    }
    text.push_str("\nstart a new run from one with `ralph-loop replay --from-state <SNAPSHOT>`\n");
    super::out(&text);
    Ok(Exit::Ok)
}
