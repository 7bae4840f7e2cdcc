//! `ralph-loop debug --iteration N`: one iteration of a run, step by step — packet, prompt,
//! agent output, outcome, and the decision taken after each (see `inspect::iteration`).

use clap::Args;

use super::table::{duration, time};
use super::{Env, Exit};
use crate::inspect::files::Excerpt;
use crate::inspect::history::{ExecutionStatus, History};
use crate::inspect::iteration::{Detail, StepReport, report};
use crate::inspect::source::Source;

/// Arguments of `debug`.
#[derive(Debug, Args)]
pub struct DebugArgs {
    /// The iteration to show (from 1).
    #[arg(long, value_name = "N")]
    pub iteration: u32,
    /// The run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Show whole prompts, packets and agent output, not their first or last lines.
    #[arg(long)]
    pub full: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Lines of a prompt shown without `--full`: enough to see the task and what the step is told.
const PROMPT_LINES: usize = 12;
/// Lines of agent output shown without `--full`: how a step ended is at the end of its log.
const LOG_LINES: usize = 20;

/// Shows the iteration.
pub fn run(args: &DebugArgs, env: &Env) -> anyhow::Result<Exit> {
    let mut source = Source::open(&env.state_dir)?;
    let record = source.select_run(args.run.as_deref())?;
    let history = History::from_events(&source.journal(&record.run_id)?);
    drop(source);
    // Paths are shown as a person would type them from the project (`.ralph/runs/…`).
    let base = if env.project_dir == std::path::Path::new(".") {
        Default::default()
    } else {
        env.project_dir.clone()
    };
    let run_dir = crate::run::runner::runs_dir(&base).join(&record.run_id);
    let detail = match (args.full, args.json) {
        (true, _) => Detail { prompt_lines: None, log_lines: None },
        // Scripts get whole prompts (they are the step's input) and the log's tail.
        (false, true) => Detail { prompt_lines: None, log_lines: Some(LOG_LINES) },
        (false, false) => Detail { prompt_lines: Some(PROMPT_LINES), log_lines: Some(LOG_LINES) },
    };
    let report = report(&record, &history, &run_dir, args.iteration, detail)?;
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
        return Ok(Exit::Ok);
    }
    let it = &report.iteration;
    let mut text = format!(
        "run {} ({}, {}) — iteration {} of {}\n",
        report.run_id,
        report.workflow,
        report.kind,
        it.iteration,
        report.iterations.last().copied().unwrap_or(it.iteration)
    );
    if let Some(task) = &it.task {
        text.push_str(&format!("task:      {} — {}\n", task.id, task.title));
    }
    let ended = match (&it.status, &it.reason) {
        (Some(status), Some(reason)) => format!("{}: {reason}", status.as_str()),
        _ => "did not end (the run stopped or crashed during it)".to_owned(),
    };
    text.push_str(&format!("started:   {}\nended:     {ended}\n", time(&it.started_at)));
    if report.steps.is_empty() {
        text.push_str("\nno step ran in this iteration\n");
    }
    for step in &report.steps {
        text.push('\n');
        render_step(&mut text, step, args.full);
    }
    for skip in &report.skipped {
        text.push_str(&format!("\nskipped `{}`: {}\n", skip.step, skip.reason));
    }
    super::out(&text);
    Ok(Exit::Ok)
}

fn render_step(text: &mut String, step: &StepReport, full: bool) {
    let e = &step.execution;
    let title = format!("#{} {} · {} · attempt {}", e.invocation, e.step, e.agent, e.attempt);
    text.push_str(&format!("── {title} {}\n", "─".repeat(60usize.saturating_sub(title.chars().count()))));
    let took = match e.duration_ms() {
        Some(ms) => format!(", took {}", duration(Some(ms))),
        None => String::new(),
    };
    text.push_str(&format!("started    {}{took}\n", time(&e.started_at)));
    text.push_str(&format!("outcome    {}\n", outcome_line(step)));
    if let Some(summary) = e.outcome.as_ref().and_then(|o| o.summary.as_deref()) {
        text.push_str(&format!("summary    {summary}\n"));
    }
    if let Some(o) = &e.outcome {
        let m = &o.evidence.metrics;
        let mut spend = Vec::new();
        if let Some(tokens) = m.total_tokens() {
            spend.push(format!("{tokens} tokens"));
        }
        if let Some(cost) = m.cost_usd {
            spend.push(format!("${cost:.4}"));
        }
        if !o.evidence.files_changed.is_empty() {
            spend.push(format!("{} file(s) changed", o.evidence.files_changed.len()));
        }
        if let Some(t) = &o.evidence.test_results {
            spend.push(format!("tests {} passed, {} failed", t.passed, t.failed));
        }
        if !spend.is_empty() {
            text.push_str(&format!("evidence   {}\n", spend.join(", ")));
        }
    }
    match (&step.packet_file, &step.packet) {
        (Some(path), Some(packet)) => {
            text.push_str(&format!("packet     {}\n", path.display()));
            if full {
                indent(text, &serde_json::to_string_pretty(packet).unwrap_or_default());
            } else {
                for line in packet_lines(packet) {
                    text.push_str(&format!("           {line}\n"));
                }
            }
        }
        (Some(path), None) => text.push_str(&format!("packet     {} (unreadable)\n", path.display())),
        _ => text.push_str("packet     none (its agents read no packet)\n"),
    }
    for unit in &step.units {
        let who = unit.name.as_deref().map(|n| format!(" [{n}]")).unwrap_or_default();
        if let (Some(path), Some(prompt)) = (&unit.prompt_file, &unit.prompt) {
            text.push_str(&format!("{}{}{}\n", label("prompt", &who), path.display(), more(prompt, "first")));
            indent(text, &prompt.text);
        }
        // The outcome line already tells the named result and summary; the file is for --full.
        if let Some(result) = unit.result.as_ref().filter(|_| full) {
            let result = serde_json::to_string(result).unwrap_or_default();
            text.push_str(&format!("{}{result}\n", label("result", &who)));
        }
        match (&unit.log_file, &unit.log) {
            (Some(path), Some(log)) => {
                text.push_str(&format!("{}{}{}\n", label("output", &who), path.display(), more(log, "last")));
                indent(text, &log.text);
            }
            _ => text.push_str(&format!("{}none\n", label("output", &who))),
        }
    }
    if step.units.is_empty() {
        text.push_str("output     none\n");
    }
    for s in &e.signals {
        let signal = serde_json::to_value(s.signal).ok().and_then(|v| v.as_str().map(str::to_owned));
        let message = s.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        text.push_str(&format!("signal     {}{message}\n", signal.unwrap_or_default()));
    }
    if e.decisions.is_empty() {
        let then = match e.status {
            ExecutionStatus::Unfinished => "the journal ends here (the run crashed, or it is still running)",
            ExecutionStatus::Interrupted => "interrupted: `resume` ran it again",
            _ => "nothing more in this iteration",
        };
        text.push_str(&format!("then       {then}\n"));
    }
    for (i, decision) in e.decisions.iter().enumerate() {
        text.push_str(&format!("{}{decision}\n", if i == 0 { "then       " } else { "           " }));
    }
}

/// A field's label, padded so that values line up (`output [lint]` is longer: it gets a space).
fn label(name: &str, who: &str) -> String {
    format!("{:<10} ", format!("{name}{who}"))
}

fn outcome_line(step: &StepReport) -> String {
    let e = &step.execution;
    let Some(o) = &e.outcome else {
        return match e.status {
            ExecutionStatus::Interrupted => "interrupted (the run stopped while it ran)".to_owned(),
            _ => "unfinished (the journal ends while it runs)".to_owned(),
        };
    };
    let mut line = if o.success { "succeeded".to_owned() } else { "failed".to_owned() };
    if let Some(result) = &o.result {
        line.push_str(&format!(" `{result}`"));
    }
    if let Some(class) = &o.class {
        line.push_str(&format!(" ({class})"));
    }
    if let Some(error) = &o.error {
        line.push_str(&format!(": {error}"));
    }
    if let Some(code) = o.exit_code {
        line.push_str(&format!(", exit code {code}"));
    }
    line
}

/// The packet's gist: where the step stood and what it was told.
fn packet_lines(packet: &serde_json::Value) -> Vec<String> {
    let mut lines = Vec::new();
    let w = &packet["workflow"];
    if let (Some(phase), Some(iteration)) = (w["phase"].as_str(), w["iteration"].as_u64()) {
        let signal = packet["control"]["signal"].as_str().unwrap_or("continue");
        lines.push(format!("phase `{phase}`, iteration {iteration}, signal {signal}"));
    }
    if let Some(primary) = packet["instructions"]["primary"].as_str().filter(|p| !p.is_empty()) {
        lines.push(format!("instructions: {primary}"));
    }
    let failures = packet["context"]["failure_history"].as_array().map_or(0, Vec::len);
    let done = packet["context"]["completed_tasks"].as_array().map_or(0, Vec::len);
    if failures + done > 0 {
        lines.push(format!("{failures} earlier failure(s), {done} completed task(s)"));
    }
    lines
}

fn more(excerpt: &Excerpt, which: &str) -> String {
    if !excerpt.truncated {
        return String::new();
    }
    let shown = excerpt.text.lines().count();
    format!(" ({which} {shown} lines of {} bytes; --full shows all)", excerpt.bytes)
}

fn indent(text: &mut String, body: &str) {
    for line in body.lines() {
        text.push_str(&format!("  │ {line}\n"));
    }
}
