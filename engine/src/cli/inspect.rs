//! `ralph-loop inspect --phase NAME`: every execution of one phase, with timings and results,
//! then a summary (see `inspect::phase`).

use clap::Args;

use super::table::{Align, Table, duration, time};
use super::{Env, Exit};
use crate::inspect::history::{ExecutionStatus, History};
use crate::inspect::phase::{self, PhaseExecution};
use crate::inspect::source::Source;

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The phase: a state, DAG node or saga step.
    #[arg(long, value_name = "NAME")]
    pub phase: String,
    /// The run (default: the latest).
    #[arg(long, conflicts_with = "all_runs")]
    pub run: Option<String>,
    /// Every run in the store, oldest first.
    #[arg(long)]
    pub all_runs: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Shows the phase's executions.
pub fn run(args: &InspectArgs, env: &Env) -> anyhow::Result<Exit> {
    let mut source = Source::open(&env.state_dir)?;
    let records = match args.all_runs {
        true => source.runs()?.0,
        false => vec![source.select_run(args.run.as_deref())?],
    };
    let mut histories = Vec::new();
    let mut known: Vec<String> = Vec::new();
    for record in &records {
        let history = History::from_events(&source.journal(&record.run_id)?);
        for name in phase::known(&history) {
            if !known.contains(&name) {
                known.push(name);
            }
        }
        histories.push((record.run_id.clone(), history));
    }
    // `--phase build` finds the state `building` (the seed's own example names phases by their
    // verb; states are named by the gerund or by the role's phase).
    let wanted = phase::resolve(&args.phase, &known);
    let (mut executions, mut skipped) = (Vec::new(), 0);
    for (run_id, history) in &histories {
        executions.extend(phase::executions(run_id, history, &wanted));
        skipped += history.skips.iter().filter(|s| s.step == wanted).count();
    }
    let scope = match (args.all_runs, records.first()) {
        (false, Some(record)) => format!("run {}", record.run_id),
        _ => "any run".to_owned(),
    };
    if executions.is_empty() && skipped == 0 {
        return Err(phase::unknown(&args.phase, scope, known).into());
    }
    let summary = phase::summarize(&executions, skipped);
    if args.json {
        let value = serde_json::json!({
            "phase": args.phase,
            "runs": records.iter().map(|r| &r.run_id).collect::<Vec<_>>(),
            "executions": executions,
            "summary": summary,
        });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
        return Ok(Exit::Ok);
    }
    let mut text = format!("phase `{}` in {scope}\n\n", args.phase);
    text.push_str(&table(&executions, args.all_runs).render());
    let mut line = format!(
        "\n{} execution(s): {} succeeded, {} failed",
        summary.executions, summary.succeeded, summary.failed
    );
    if summary.unfinished > 0 {
        line.push_str(&format!(", {} interrupted or unfinished", summary.unfinished));
    }
    if let Some(rate) = summary.success_rate {
        line.push_str(&format!(" ({:.0}% success)", rate * 100.0));
    }
    if summary.skipped > 0 {
        line.push_str(&format!("; skipped {}×", summary.skipped));
    }
    if let (Some(p50), Some(max)) = (summary.p50_ms, summary.max_ms) {
        line.push_str(&format!("\nduration: p50 {}, max {}", duration(Some(p50)), duration(Some(max))));
    }
    if summary.tokens > 0 || summary.cost_usd > 0.0 {
        line.push_str(&format!("\nspend: {} tokens, ${:.4}", summary.tokens, summary.cost_usd));
    }
    text.push_str(&line);
    text.push('\n');
    super::out(&text);
    Ok(Exit::Ok)
}

fn status_word(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Succeeded => "ok",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::Interrupted => "interrupted",
        ExecutionStatus::Unfinished => "unfinished",
    }
}

fn table(executions: &[PhaseExecution], with_run: bool) -> Table {
    let mut columns = Vec::new();
    if with_run {
        columns.push(("RUN", Align::Left));
    }
    columns.extend([
        ("ITER", Align::Right),
        ("TASK", Align::Left),
        ("#", Align::Right),
        ("ATTEMPT", Align::Right),
        ("AGENT", Align::Left),
        ("STARTED (UTC)", Align::Left),
        ("DURATION", Align::Right),
        ("STATUS", Align::Left),
        ("RESULT", Align::Left),
        ("CLASS", Align::Left),
        ("TOKENS", Align::Right),
        ("COST", Align::Right),
        ("ERROR", Align::Left),
    ]);
    let mut table = Table::new(&columns);
    for e in executions {
        let mut row = Vec::new();
        if with_run {
            row.push(e.run_id.clone());
        }
        row.extend([
            e.iteration.to_string(),
            e.task.clone().unwrap_or_else(|| "—".into()),
            e.invocation.to_string(),
            e.attempt.to_string(),
            e.agent.clone(),
            time(&e.started_at),
            duration(e.duration_ms),
            status_word(e.status).to_owned(),
            e.result.clone().unwrap_or_default(),
            e.class.clone().unwrap_or_default(),
            e.tokens.map(|t| t.to_string()).unwrap_or_default(),
            e.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_default(),
            e.error.clone().unwrap_or_default(),
        ]);
        table.row(row);
    }
    table
}
