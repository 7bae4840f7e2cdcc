//! `ralph-loop metrics [--run ID] [--json | --prometheus]`: a run's figures — runs, iterations,
//! steps, retries, tokens, cost and latency by agent, the budget and the breakers — computed
//! from its journal by the same code that records a live run's metrics. While a loop runs it
//! holds the store, and the journals come over its control socket (see `inspect::source`).

use clap::Args;

use super::{Env, Exit};
use crate::run::core::event::Event;
use crate::telemetry::figures::{self, Figures, label};
use crate::workflow::model::Document;

/// Arguments of `metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The run (default: the running loop's, else the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Every series as JSON.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// The Prometheus exposition, as `/metrics` serves it.
    #[arg(long)]
    pub prometheus: bool,
}

/// What the figures are made from.
struct Source {
    run_id: String,
    workflow: String,
    kind: String,
    started_at: String,
    status: String,
    events: Vec<Event>,
    doc: Option<Document>,
}

/// The run asked for (else the latest: a running loop's, when one runs), read from the store
/// or, while a loop holds it, from the loop.
fn source(env: &Env, asked: Option<&str>) -> anyhow::Result<Source> {
    let mut runs = crate::inspect::source::Source::open(&env.state_dir)?;
    let record = runs.select_run(asked)?;
    let events = runs.journal(&record.run_id)?.into_iter().map(|(_, e)| e).collect();
    // The agents' providers and models come from the definition the run ran.
    let doc = runs
        .definition(&record.definition_hash)
        .ok()
        .flatten()
        .and_then(|d| serde_json::from_value::<Document>(d.document).ok());
    Ok(Source {
        run_id: record.run_id,
        workflow: record.workflow,
        kind: record.kind,
        started_at: record.started_at,
        status: record.status,
        events,
        doc,
    })
}

/// A count or amount: whole numbers without a fraction (and never `-0`, which an empty sum
/// of floats is).
fn num(value: f64) -> String {
    let value = value + 0.0;
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{}", value as i64) } else { format!("{value}") }
}

fn seconds(value: f64) -> String {
    crate::inspect::human_ms((value * 1000.0).round() as u64)
}

/// The figures for people.
fn render(source: &Source, figures: &Figures) -> String {
    let mut out =
        format!("run {}  {} ({})  {}\n", source.run_id, source.workflow, source.kind, source.status);
    let runs: Vec<_> = figures.series("cicd_pipeline_run_duration_seconds").collect();
    if let Some((_, (_, sum))) = runs.first() {
        out.push_str(&format!("  duration     {}\n", seconds(*sum)));
    }
    let iterations = figures.total("ralph_iterations_total", &[]);
    let ok_iterations = figures.total("ralph_iterations_total", &[("ralph_iteration_result", "succeeded")]);
    out.push_str(&format!("  iterations   {} ({} succeeded)\n", num(iterations), num(ok_iterations)));
    let step = |result: &str| figures.total("ralph_step_outcomes_total", &[("ralph_step_result", result)]);
    out.push_str(&format!(
        "  steps        {} succeeded, {} failed, {} skipped, {} interrupted; {} retries\n",
        num(step("succeeded")),
        num(step("failed")),
        num(step("skipped")),
        num(step("interrupted")),
        num(figures.total("ralph_step_retries_total", &[]))
    ));
    let tokens = |kind: &str| {
        figures
            .series("gen_ai_client_token_usage")
            .filter(move |(l, _)| label(l, "gen_ai_token_type") == kind)
            .map(|(_, (_, sum))| sum)
            .sum::<f64>()
    };
    out.push_str(&format!(
        "  tokens       {} in, {} out;  cost ${:.4}\n",
        num(tokens("input")),
        num(tokens("output")),
        figures.total("ralph_cost_usd_total", &[]) + 0.0
    ));
    // By agent (and model): invocations, failures, mean latency, tokens, cost.
    let mut rows: std::collections::BTreeMap<(String, String), [f64; 6]> = Default::default();
    let key = |labels: &serde_json::Map<String, serde_json::Value>| {
        let get = |k: &str| label(labels, k).to_owned();
        (get("gen_ai_agent_name"), get("gen_ai_request_model"))
    };
    for (labels, (count, sum)) in figures.series("gen_ai_client_operation_duration_seconds") {
        let row = rows.entry(key(&labels)).or_default();
        row[0] += count;
        row[2] += sum;
        if labels.contains_key("error_type") {
            row[1] += count;
        }
    }
    for (labels, (_, sum)) in figures.series("gen_ai_client_token_usage") {
        let row = rows.entry(key(&labels)).or_default();
        let column = if label(&labels, "gen_ai_token_type") == "input" { 3 } else { 4 };
        row[column] += sum;
    }
    for (labels, (value, _)) in figures.series("ralph_cost_usd_total") {
        rows.entry(key(&labels)).or_default()[5] += value;
    }
    if !rows.is_empty() {
        use super::table::{Align, Table};
        let mut table = Table::new(&[
            ("agent", Align::Left),
            ("model", Align::Left),
            ("steps", Align::Right),
            ("failed", Align::Right),
            ("mean", Align::Right),
            ("tokens in", Align::Right),
            ("tokens out", Align::Right),
            ("cost", Align::Right),
        ]);
        for ((agent, model), r) in &rows {
            table.row(vec![
                agent.clone(),
                if model.is_empty() { "-".into() } else { model.clone() },
                num(r[0]),
                num(r[1]),
                if r[0] > 0.0 { seconds(r[2] / r[0]) } else { "-".into() },
                num(r[3]),
                num(r[4]),
                format!("${:.4}", r[5]),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    let budget: Vec<String> = figures
        .series("ralph_budget_spent")
        .map(|(labels, (spent, _))| {
            let unit = label(&labels, "ralph_budget_unit").to_owned();
            let window = label(&labels, "ralph_budget_window").to_owned();
            let limit = figures.series("ralph_budget_limit").find(|(l, _)| l == &labels).map(|(_, (v, _))| v);
            let spent = if unit == "usd" { format!("${spent:.4}") } else { num(spent) };
            match limit {
                Some(limit) if unit == "usd" => format!("{window} {spent} of ${limit:.2}"),
                Some(limit) => format!("{window} {spent} of {} {unit}", num(limit)),
                None => format!("{window} {spent}{}", if unit == "usd" { "" } else { " tokens" }),
            }
        })
        .collect();
    if !budget.is_empty() {
        out.push_str(&format!("\n  project spend: {}\n", budget.join(", ")));
    }
    let open: Vec<String> = figures
        .series("ralph_breaker_state")
        .filter(|(_, (v, _))| *v > 0.0)
        .map(|(labels, (v, _))| {
            let scope = label(&labels, "ralph_breaker_scope").to_owned();
            format!("{scope} {}", if v >= 2.0 { "open" } else { "half open" })
        })
        .collect();
    if !open.is_empty() {
        out.push_str(&format!("  breakers: {}\n", open.join(", ")));
    }
    out
}

/// Shows the figures.
pub fn run(args: &MetricsArgs, env: &Env) -> anyhow::Result<Exit> {
    let source = source(env, args.run.as_deref())?;
    let ledger = crate::run::ledger::load(&crate::run::ledger::path(&env.project_dir)).ok();
    let budget = source.doc.as_ref().and_then(|d| d.budget.clone()).unwrap_or_default();
    let figures = figures::replay(
        &source.events,
        source.doc.as_ref(),
        &source.workflow,
        &source.kind,
        &source.started_at,
        ledger.as_ref().map(|l| (l, &budget)),
    )
    .map_err(|e| anyhow::anyhow!("the run's metrics cannot be computed: {e}"))?;
    if args.prometheus {
        super::out(&figures.exposition());
    } else if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&figures.json())?));
    } else {
        super::out(&render(&source, &figures));
    }
    Ok(Exit::Ok)
}
