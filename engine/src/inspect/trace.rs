//! A run as a tree of spans, named the way the OpenTelemetry semantic conventions name agent
//! and pipeline work: the run is `invoke_workflow {workflow}` (GenAI and CI/CD attributes), each
//! iteration a child, each execution of a step `invoke_agent {agent}` — `plan {agent}` for the
//! planner — with the runner's decisions after it (retries, breaker moves, signals, plugin
//! vetoes) as span events. Read from the journal, so `ralph-loop traces` shows any run, finished
//! or not, without a collector.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::history::{Decision, Execution, ExecutionStatus, History, PluginCall};
use super::millis_between;
use crate::run::core::event::RunStatus;
use crate::store::RunRecord;
use crate::telemetry::semconv;
use crate::workflow::model::Document;

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// On the run's span only: the id of the run's trace in its OpenTelemetry export (32 hex
    /// digits, from the `traceparent` the run recorded), to find it in Jaeger; absent when the
    /// run was not traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Its id in this tree (16 hex digits): derived from the run's id and where the span comes
    /// from in the journal, so it stays the same while the run grows (a page keys its rows by
    /// it). It is not the exporter's span id, which the journal does not keep.
    pub span_id: String,
    /// Its name, e.g. `invoke_agent builder`.
    pub name: String,
    /// When it began (RFC 3339).
    pub start: String,
    /// How long it took, when it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `ok`, `error`, or `unset` while it has not ended.
    pub status: &'static str,
    /// Its attributes, by semantic-convention name.
    pub attributes: BTreeMap<String, Value>,
    /// What happened during or after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
    /// Its children, in the order they began.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Span>,
}

/// A span event: a policy decision or a signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanEvent {
    /// `retry`, `breaker`, `budget`, `signal`, `plugin`, `transition`, ...
    pub name: String,
    /// What, for people.
    pub description: String,
}

fn event(decision: &Decision) -> SpanEvent {
    let name = match decision {
        Decision::Retry { .. } => "retry",
        Decision::Breaker { .. } => "breaker",
        Decision::Control { .. } => "signal",
        Decision::Plugin { .. } => "plugin",
        Decision::Transition { .. } => "transition",
        Decision::Waiting { .. } => "wait",
        Decision::Hook { .. } => "hook",
        Decision::Review { .. } => "review",
        Decision::Skipped { .. } => "skip",
        Decision::Started { .. } => "next",
        Decision::IterationEnded { .. } => "iteration_end",
        Decision::TaskMarked { .. } => "task",
        Decision::Committed { .. } => "commit",
        Decision::RunEnded { reason, .. } if reason.contains("budget") => "budget",
        Decision::RunEnded { .. } => "run_end",
        Decision::Halted { reason } if reason.contains("budget") => "budget",
        Decision::Halted { .. } => "halt",
        Decision::Escalated { .. } => "escalation",
    };
    SpanEvent { name: name.into(), description: decision.to_string() }
}

fn step_span(
    run_id: &str,
    execution: &Execution,
    doc: Option<&Document>,
    route: Option<&crate::run::core::event::Route>,
) -> Span {
    let agent = execution.agent.clone();
    let info = semconv::agent_info(doc, &agent).routed(route, &agent);
    let operation = info.operation;
    let mut attributes = BTreeMap::new();
    attributes.insert(semconv::OPERATION.into(), json!(operation));
    attributes.insert(semconv::AGENT.into(), json!(agent));
    attributes.insert("ralph.step".into(), json!(execution.step));
    attributes.insert("ralph.attempt".into(), json!(execution.attempt));
    if let Some(provider) = info.provider {
        attributes.insert(semconv::PROVIDER.into(), json!(provider));
    }
    if let Some(model) = info.model {
        attributes.insert(semconv::MODEL.into(), json!(model));
    }
    let mut status = "unset";
    if let Some(outcome) = &execution.outcome {
        let metrics = &outcome.evidence.metrics;
        if let Some(tokens) = metrics.input_tokens {
            attributes.insert("gen_ai.usage.input_tokens".into(), json!(tokens));
        }
        if let Some(tokens) = metrics.output_tokens {
            attributes.insert("gen_ai.usage.output_tokens".into(), json!(tokens));
        }
        if let Some(cost) = metrics.cost_usd {
            attributes.insert("ralph.cost_usd".into(), json!(cost));
        }
        status = if outcome.success { "ok" } else { "error" };
        if !outcome.success {
            attributes.insert("error.type".into(), json!(outcome.class.map_or("_OTHER", |c| c.as_str())));
        }
    }
    if execution.status == ExecutionStatus::Interrupted {
        status = "error";
        attributes.insert("error.type".into(), json!("interrupted"));
    }
    let span_id = span_id(run_id, &format!("step {}", execution.seq));
    let children = execution
        .plugin_calls
        .iter()
        .enumerate()
        .map(|(i, call)| plugin_span(call, self::span_id(run_id, &format!("{span_id} plugin {i}"))))
        .collect();
    Span {
        trace_id: None,
        span_id,
        name: format!("{operation} {agent}"),
        start: execution.started_at.clone(),
        duration_ms: execution.duration_ms(),
        status,
        attributes,
        events: execution.decisions.iter().map(event).collect(),
        children,
    }
}

/// A plugin's call at a hook, named as the live export names it: `plugin {plugin} {hook}`.
fn plugin_span(call: &PluginCall, span_id: String) -> Span {
    let mut attributes = BTreeMap::new();
    attributes.insert("ralph.plugin.name".into(), json!(call.plugin));
    attributes.insert("ralph.plugin.hook".into(), json!(call.hook));
    attributes.insert("ralph.plugin.duration_us".into(), json!(call.duration_us));
    if let Some(decision) = &call.decision {
        attributes.insert("ralph.plugin.decision".into(), json!(decision));
    }
    if let Some(error) = &call.error {
        attributes.insert(semconv::ERROR_TYPE.into(), json!(error));
    }
    Span {
        trace_id: None,
        span_id,
        name: format!("plugin {} {}", call.plugin, call.hook),
        start: call.at.clone(),
        duration_ms: Some(call.duration_us / 1000),
        status: if call.error.is_some() { "error" } else { "ok" },
        attributes,
        events: call
            .notes
            .iter()
            .map(|n| SpanEvent { name: "annotate".into(), description: format!("note: {n}") })
            .collect(),
        children: Vec::new(),
    }
}

/// Whether a call about no step is the run's rather than an iteration's: the hooks that
/// begin and end the run (the live export parents them on the run's span as well).
fn of_the_run(call: &PluginCall) -> bool {
    matches!(call.hook.as_str(), "workflow.on_start" | "workflow.on_complete" | "workflow.on_failure")
}

/// The span tree of a run: its journal read as `history`, its agents from the definition it
/// ran (`doc`, when the store has it).
pub fn tree(record: &RunRecord, history: &History, doc: Option<&Document>) -> Span {
    let run_id = record.run_id.as_str();
    let mut attributes = BTreeMap::new();
    attributes.insert("gen_ai.operation.name".into(), json!("invoke_workflow"));
    attributes.insert("gen_ai.workflow.name".into(), json!(record.workflow));
    attributes.insert("cicd.pipeline.name".into(), json!(record.workflow));
    attributes.insert("cicd.pipeline.run.id".into(), json!(record.run_id));
    attributes.insert("ralph.workflow.kind".into(), json!(record.kind));
    let start = history.started_at.clone().unwrap_or_else(|| record.started_at.clone());
    let (status, duration_ms) = match &history.end {
        Some((status, reason)) => {
            attributes.insert(semconv::PIPELINE_RESULT.into(), json!(semconv::pipeline_result(*status)));
            if *status != RunStatus::Succeeded {
                attributes.insert("error.type".into(), json!(status.as_str()));
                attributes.insert("ralph.reason".into(), json!(reason));
            }
            let ended = history.last_at.as_deref().and_then(|end| millis_between(&start, end));
            (if *status == RunStatus::Succeeded { "ok" } else { "error" }, ended)
        }
        None => ("unset", None),
    };
    let mut children = Vec::new();
    for iteration in &history.iterations {
        let mut attributes = BTreeMap::new();
        attributes.insert("ralph.iteration".into(), json!(iteration.iteration));
        if let Some(task) = &iteration.task {
            attributes.insert("ralph.task.id".into(), json!(task.id));
        }
        if let Some(route) = &iteration.route {
            attributes.insert("ralph.route.agent".into(), json!(route.agent));
            attributes.insert("ralph.route.reason".into(), json!(route.reason));
            if let Some(model) = &route.model {
                attributes.insert("ralph.route.model".into(), json!(model));
            }
            if route.escalated {
                attributes.insert("ralph.route.escalated".into(), json!(true));
            }
        }
        let status = match iteration.status {
            Some(RunStatus::Succeeded) => "ok",
            Some(_) => "error",
            None => "unset",
        };
        let duration_ms =
            iteration.finished_at.as_deref().and_then(|end| millis_between(&iteration.started_at, end));
        let id = span_id(run_id, &format!("iteration {}", iteration.iteration));
        let mut steps: Vec<Span> = history
            .iteration(iteration.iteration)
            .map(|e| step_span(run_id, e, doc, iteration.route.as_ref()))
            .collect();
        let calls =
            history.plugin_calls.iter().filter(|c| c.iteration == iteration.iteration && !of_the_run(c));
        let before = steps.len();
        steps.extend(
            calls.enumerate().map(|(i, c)| plugin_span(c, span_id(run_id, &format!("{id} plugin {i}")))),
        );
        if steps.len() > before {
            // Stable: spans that began in the same instant keep the journal's order.
            steps.sort_by(|a, b| a.start.cmp(&b.start));
        }
        children.push(Span {
            trace_id: None,
            span_id: id,
            name: format!("iteration {}", iteration.iteration),
            start: iteration.started_at.clone(),
            duration_ms,
            status,
            attributes,
            events: Vec::new(),
            children: steps,
        });
    }
    let in_an_iteration =
        |c: &PluginCall| !of_the_run(c) && history.iterations.iter().any(|i| i.iteration == c.iteration);
    let before = children.len();
    let root_id = span_id(run_id, "run");
    children.extend(
        history
            .plugin_calls
            .iter()
            .filter(|c| !in_an_iteration(c))
            .enumerate()
            .map(|(i, c)| plugin_span(c, span_id(run_id, &format!("{root_id} plugin {i}")))),
    );
    if children.len() > before {
        children.sort_by(|a, b| a.start.cmp(&b.start));
    }
    Span {
        trace_id: record.traceparent.as_deref().and_then(trace_of).map(str::to_owned),
        span_id: root_id,
        name: format!("invoke_workflow {}", record.workflow),
        start,
        duration_ms,
        status,
        attributes,
        events: Vec::new(),
        children,
    }
}

/// The span tree of run `record` (`traces --json`, `GET /api/runs/{run}/trace`): its journal,
/// and its agents' providers and models from the definition it ran.
pub fn read(source: &mut super::source::Source, record: &RunRecord) -> Result<Span, super::InspectError> {
    let history = History::from_events(&source.journal(&record.run_id)?);
    let doc = source
        .definition(&record.definition_hash)
        .ok()
        .flatten()
        .and_then(|d| serde_json::from_value::<Document>(d.document).ok());
    Ok(tree(record, &history, doc.as_ref()))
}

/// A span's id in the tree of run `run_id`: FNV-1a (64 bits) of the run's id and `key`, which
/// names where the span comes from (`step <journal seq>`, `iteration <n>`, …).
fn span_id(run_id: &str, key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in run_id.bytes().chain([0]).chain(key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // An id of all zeros is an invalid one in W3C trace context.
    format!("{:016x}", hash.max(1))
}

/// The trace id of a W3C `traceparent` (`00-<trace>-<span>-<flags>`).
fn trace_of(traceparent: &str) -> Option<&str> {
    let trace = traceparent.split('-').nth(1)?;
    (trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit())).then_some(trace)
}

/// The tree as text: one line per span with its duration and outcome, its events under it.
pub fn render(span: &Span) -> String {
    let mut out = String::new();
    line(span, "", "", &mut out);
    out
}

fn line(span: &Span, first: &str, rest: &str, out: &mut String) {
    let duration = span.duration_ms.map_or_else(|| "…".to_owned(), super::human_ms);
    let mut detail = Vec::new();
    if let Some(error) = span.attributes.get("error.type").and_then(Value::as_str) {
        detail.push(format!("error: {error}"));
    }
    let tokens: u64 = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]
        .iter()
        .filter_map(|k| span.attributes.get(*k).and_then(Value::as_u64))
        .sum();
    if tokens > 0 {
        detail.push(format!("{tokens} tokens"));
    }
    if let Some(cost) = span.attributes.get("ralph.cost_usd").and_then(Value::as_f64) {
        detail.push(format!("${cost:.4}"));
    }
    if let Some(decision) =
        span.attributes.get("ralph.plugin.decision").and_then(Value::as_str).filter(|d| *d != "continue")
    {
        detail.push(decision.to_owned());
    }
    if let Some(step) = span.attributes.get("ralph.step").and_then(Value::as_str) {
        detail.insert(0, format!("[{step}]"));
    }
    if let Some(task) = span.attributes.get("ralph.task.id").and_then(Value::as_str) {
        detail.insert(0, format!("task {task}"));
    }
    let detail = if detail.is_empty() { String::new() } else { format!("  {}", detail.join("  ")) };
    out.push_str(&format!("{first}{}  {duration}  {}{detail}\n", span.name, span.status));
    let children = span.children.len();
    for e in &span.events {
        let bar = if children > 0 { "│" } else { " " };
        out.push_str(&format!("{rest}{bar}  · {}\n", e.description));
    }
    for (i, child) in span.children.iter().enumerate() {
        let last = i + 1 == children;
        let (branch, more) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
        line(child, &format!("{rest}{branch}"), &format!("{rest}{more}"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(traceparent: Option<&str>) -> RunRecord {
        RunRecord {
            traceparent: traceparent.map(str::to_owned),
            ..RunRecord::sample("0190aa00-0000-7000-8000-000000000001")
        }
    }

    #[test]
    fn span_ids_are_stable_distinct_and_never_zero() {
        let a = span_id("r1", "step 4");
        assert_eq!(a, span_id("r1", "step 4"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, span_id("r1", "step 5"));
        assert_ne!(a, span_id("r2", "step 4"), "another run's span");
        assert_ne!(span_id("r1", "run"), "0000000000000000");
    }

    #[test]
    fn the_run_span_carries_the_trace_id_of_its_export_when_it_was_traced() {
        let traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let history = History::default();
        let root = tree(&record(Some(traced)), &history, None);
        assert_eq!(root.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(root.span_id, span_id("0190aa00-0000-7000-8000-000000000001", "run"));
        assert_eq!(tree(&record(None), &history, None).trace_id, None);
        assert_eq!(trace_of("00-xyz-00f067aa0ba902b7-01"), None);
    }
}
