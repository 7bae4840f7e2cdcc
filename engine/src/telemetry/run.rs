//! A run's telemetry, made from its events: every event the runner journals also passes through
//! [`RunTelemetry::observe`], which turns it into spans (a run, its iterations, its steps, with
//! the runner's decisions as span events), into metric measurements, and into a log line in the
//! span it belongs to. The journal and the telemetry therefore tell the same story, and the
//! same code reads a finished run's journal back into metrics (`ralph-loop metrics`).
//!
//! Spans are `tracing` spans; the tracing-opentelemetry layer (see `pipeline.rs`) makes them
//! OpenTelemetry spans. Without that layer they are disabled and cost next to nothing, and the
//! meter is a no-op one when metrics are off: observing is free when nothing is exported.

use std::collections::HashMap;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Status, TraceContextExt};
use serde_json::{Map, Value as Json};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::instruments::Instruments;
use super::log_file::LogWriter;
use super::log_line::{self, Record};
use super::semconv::{self, AgentInfo};
use crate::redact::Redactor;
use crate::run::core::event::{Event, RunStatus};
use crate::workflow::model::{Document, LogFormat, LogLevel};

/// What a plugin decided that `ralph.plugin.decisions` counts.
const DECISIONS: [&str; 5] = ["veto", "veto_ignored", "modify", "modify_ignored", "annotate"];

/// The `tracing` target of the run's spans: the OpenTelemetry layer takes only these.
pub const SPAN_TARGET: &str = "ralph::trace";

/// A span, with its ids kept as text for log lines, the packet and `TRACEPARENT`.
#[derive(Debug)]
struct Open {
    span: tracing::Span,
    ids: Option<(String, String)>,
    /// `01` when sampled: what `TRACEPARENT` passes on.
    flags: u8,
}

impl Open {
    fn new(span: tracing::Span) -> Self {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        let ids = span_context.is_valid().then(|| {
            (format!("{:032x}", span_context.trace_id()), format!("{:016x}", span_context.span_id()))
        });
        Open { span, ids, flags: span_context.trace_flags().to_u8() }
    }
}

/// A step in progress: its span and what its metrics are labelled with.
#[derive(Debug)]
struct Step {
    open: Open,
    agent: String,
    info: AgentInfo,
}

/// How the log file is written.
#[derive(Debug)]
pub struct LogTarget {
    /// The writer.
    pub writer: LogWriter,
    /// `human` or `json`.
    pub format: LogFormat,
    /// The lowest level written.
    pub level: LogLevel,
}

/// The telemetry of one run.
#[derive(Debug)]
pub struct RunTelemetry {
    instruments: Instruments,
    workflow: String,
    kind: String,
    agents: HashMap<String, AgentInfo>,
    /// `loop.backend`: what describes an agent the definition does not name (an action, say).
    default_backend: Option<crate::workflow::model::Backend>,
    include_content: bool,
    redactor: std::sync::Arc<Redactor>,
    log: Option<LogTarget>,
    run: Option<Open>,
    /// When the run began (its first start, for a resumed run).
    started_at: Option<String>,
    iteration: Option<Open>,
    steps: HashMap<String, Step>,
    /// The agent of each step that ran, for retries counted after the step's span ended.
    step_agents: HashMap<String, String>,
    /// Who does the current iteration's work, when its role, routing or an escalation chose.
    route: Option<crate::run::core::event::Route>,
    /// The ready-queue depth last recorded.
    ready_depth: Option<usize>,
}

fn attrs(pairs: &[(&'static str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| KeyValue::new(*k, (*v).to_owned())).collect()
}

impl RunTelemetry {
    /// The telemetry of a run of `doc` named `workflow`, recording to `instruments`.
    pub fn new(doc: &Document, workflow: &str, kind: &str, instruments: Instruments) -> Self {
        let agents =
            doc.agents.keys().map(|name| (name.clone(), semconv::agent_info(Some(doc), name))).collect();
        RunTelemetry {
            instruments,
            workflow: workflow.to_owned(),
            kind: kind.to_owned(),
            agents,
            default_backend: doc.loop_settings.as_ref().and_then(|l| l.backend),
            include_content: false,
            redactor: std::sync::Arc::default(),
            log: None,
            run: None,
            started_at: None,
            iteration: None,
            steps: HashMap::new(),
            step_agents: HashMap::new(),
            route: None,
            ready_depth: None,
        }
    }

    /// Puts prompts' and outputs' content into spans (the `include_content` setting).
    pub fn with_content(mut self, include: bool) -> Self {
        self.include_content = include;
        self
    }

    /// Masks these secrets in every attribute, event and log line.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = std::sync::Arc::new(redactor);
        self
    }

    /// Writes a log line per event.
    pub fn with_log(mut self, log: LogTarget) -> Self {
        self.log = Some(log);
        self
    }

    /// A resumed run began at `started_at` (its first start): its duration counts from there.
    pub fn started_at(mut self, started_at: &str) -> Self {
        if !started_at.is_empty() {
            self.started_at = Some(started_at.to_owned());
        }
        self
    }

    fn info(&self, agent: &str) -> AgentInfo {
        let first = semconv::first_agent(agent);
        let info = self
            .agents
            .get(first)
            .cloned()
            .unwrap_or_else(|| semconv::describe(first, None, self.default_backend));
        info.routed(self.route.as_ref(), first)
    }

    /// The span new iteration and decision spans hang from.
    fn parent(&self) -> Option<&Open> {
        self.iteration.as_ref().or(self.run.as_ref())
    }

    fn text(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    /// The run's trace id (32 hex digits), once the run has begun and tracing is on.
    pub fn trace_id(&self) -> Option<String> {
        self.run.as_ref().and_then(|o| o.ids.as_ref()).map(|(trace, _)| trace.clone())
    }

    /// The W3C `traceparent` of a running step, for its agent process: agents that speak
    /// OpenTelemetry then put their own spans under the step's.
    pub fn traceparent(&self, step: &str) -> Option<String> {
        let open = &self.steps.get(step)?.open;
        let (trace, span) = open.ids.as_ref()?;
        Some(format!("00-{trace}-{span}-{:02x}", open.flags))
    }

    /// The span a plugin's hook call goes under: the step's, else the iteration's or the run's.
    pub fn hook_parent(&self, step: Option<&str>) -> Option<tracing::Span> {
        step.and_then(|s| self.steps.get(s))
            .map(|s| &s.open)
            .or_else(|| self.parent())
            .map(|o| o.span.clone())
    }

    /// Records a plugin's hook call: how long it took, and how it failed if it did.
    pub fn plugin_call(&self, plugin: &str, hook: &str, seconds: f64, error: Option<&str>) {
        let labels = attrs(&[("ralph.plugin.name", plugin), ("ralph.plugin.hook", hook)]);
        self.instruments.hook_duration.record(seconds, &labels);
        if let Some(kind) = error {
            let mut labels = labels;
            labels.push(KeyValue::new(semconv::ERROR_TYPE, kind.to_owned()));
            self.instruments.hook_failures.add(1, &labels);
        }
    }

    /// DAG nodes ready and waiting for a job slot (recorded when it changes: the scheduler asks
    /// after every start and every end).
    pub fn ready_queue(&mut self, depth: usize) {
        if self.ready_depth != Some(depth) {
            self.ready_depth = Some(depth);
            self.instruments.ready_queue.record(depth as i64, &attrs(&[(semconv::WORKFLOW, &self.workflow)]));
        }
    }

    /// What the project has spent and may spend, from the ledger (`unit` is `usd` or
    /// `tokens`, `window` `total` or `day`).
    pub fn budget(&self, unit: &str, window: &str, spent: f64, limit: Option<f64>) {
        let labels = attrs(&[("ralph.budget.unit", unit), ("ralph.budget.window", window)]);
        self.instruments.budget_spent.record(spent, &labels);
        if let Some(limit) = limit {
            self.instruments.budget_limit.record(limit, &labels);
        }
    }

    /// What the ledger says: the project's spend against its budget, and where its breakers
    /// stand (both are kept across runs, so they are read, not counted from events).
    pub fn ledger(&self, ledger: &crate::run::ledger::Ledger, budget: &crate::workflow::model::Budget) {
        self.budget("usd", "total", ledger.cost_usd, budget.max_cost_usd);
        self.budget("tokens", "total", ledger.tokens as f64, budget.max_tokens.map(|t| t as f64));
        let today = ledger.daily_cost_usd.get(&crate::run::ledger::today()).copied().unwrap_or(0.0);
        self.budget("usd", "day", today, budget.daily_cost_usd);
        let name = |state: crate::policy::breaker::BreakerState| match state {
            crate::policy::breaker::BreakerState::Closed => "closed",
            crate::policy::breaker::BreakerState::Open => "open",
            crate::policy::breaker::BreakerState::HalfOpen => "half_open",
        };
        self.breaker("workflow", name(ledger.breaker.state));
        for (agent, breaker) in &ledger.agents {
            self.breaker(agent, name(breaker.state));
        }
    }

    /// The state of the workflow's breaker (`scope` `workflow`) or an agent's.
    pub fn breaker(&self, scope: &str, state: &str) {
        let value = match state {
            "open" => 2,
            "half_open" => 1,
            _ => 0,
        };
        self.instruments.breaker_state.record(value, &attrs(&[("ralph.breaker.scope", scope)]));
    }

    /// Opens the run's span before the run is recorded, so the record can keep it: a resumed
    /// run (`parent`, the first start's `traceparent`) continues the same trace, its span a
    /// child of the first one. Returns this span's `traceparent`.
    pub fn open_run(&mut self, run_id: &str, resumed: bool, parent: Option<&str>) -> Option<String> {
        self.start_run(run_id, &crate::clock::now(), resumed, parent.and_then(remote_parent));
        let open = self.run.as_ref()?;
        let (trace, span) = open.ids.as_ref()?;
        Some(format!("00-{trace}-{span}-{:02x}", open.flags))
    }

    fn start_run(&mut self, run_id: &str, at: &str, resumed: bool, parent: Option<opentelemetry::Context>) {
        if self.run.is_some() {
            return;
        }
        let name = format!("{} {}", semconv::INVOKE_WORKFLOW, self.workflow);
        let span =
            tracing::info_span!(target: SPAN_TARGET, parent: None, "invoke_workflow", otel.name = %name);
        if let Some(parent) = parent {
            let _ = span.set_parent(parent);
        }
        span.set_attribute(semconv::OPERATION, semconv::INVOKE_WORKFLOW);
        span.set_attribute(semconv::WORKFLOW, self.workflow.clone());
        span.set_attribute(semconv::PIPELINE, self.workflow.clone());
        span.set_attribute(semconv::PIPELINE_RUN_ID, run_id.to_owned());
        span.set_attribute("ralph.workflow.kind", self.kind.clone());
        if resumed {
            span.set_attribute("ralph.resumed", true);
        }
        self.run = Some(Open::new(span));
        if self.started_at.is_none() {
            self.started_at = Some(at.to_owned());
        }
        self.instruments.runs_active.add(1, &self.run_labels(&[(semconv::PIPELINE_RUN_STATE, "executing")]));
        // Counters start at zero, so `rate()` and `increase()` see the first error, retry or
        // stop of a run rather than a series that appears out of nowhere.
        let workflow = attrs(&[(semconv::WORKFLOW, &self.workflow)]);
        self.instruments.run_errors.add(0, &self.run_labels(&[]));
        self.instruments.budget_stops.add(0, &workflow);
        self.instruments.retries.add(0, &workflow);
        self.instruments.iterations.add(0, &workflow);
        self.instruments.step_outcomes.add(0, &workflow);
        for state in ["open", "half_open", "closed"] {
            let labels = attrs(&[("ralph.breaker.scope", "workflow"), ("ralph.breaker.state", state)]);
            self.instruments.breaker_transitions.add(0, &labels);
        }
    }

    /// The plugins the run loaded: their failure and decision counters start at zero.
    pub fn plugins<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            self.instruments.hook_failures.add(0, &attrs(&[("ralph.plugin.name", name)]));
            for decision in DECISIONS {
                let labels = attrs(&[("ralph.plugin.name", name), ("ralph.plugin.decision", decision)]);
                self.instruments.plugin_decisions.add(0, &labels);
            }
        }
    }

    fn run_labels(&self, extra: &[(&'static str, &str)]) -> Vec<KeyValue> {
        let mut labels = attrs(&[(semconv::PIPELINE, &self.workflow)]);
        labels.extend(attrs(extra));
        labels
    }

    fn decision(&self, step: Option<&str>, name: &'static str, description: &str, mut extra: Vec<KeyValue>) {
        let target = step.and_then(|s| self.steps.get(s)).map(|s| &s.open).or_else(|| self.parent());
        if let Some(open) = target {
            extra.push(KeyValue::new("ralph.description", self.text(description)));
            if let Some(step) = step {
                extra.push(KeyValue::new("ralph.step", step.to_owned()));
            }
            open.span.add_event(name, extra);
        }
    }

    /// Takes in one event of the run.
    pub fn observe(&mut self, event: &Event) {
        // The span the event's log line belongs to: looked up before the event opens or
        // closes one, so a step's end is logged in the step's span.
        match event {
            Event::RunStarted { run_id, at, .. } => self.start_run(run_id, at, false, None),
            Event::Resumed { run_id, at, .. } => self.start_run(run_id, at, true, None),
            Event::Forked { .. } => {}
            Event::TaskRouted(route) => {
                if let Some(open) = &self.iteration {
                    open.span.set_attribute("ralph.route.agent", route.agent.clone());
                    open.span.set_attribute("ralph.route.reason", route.reason.clone());
                    if let Some(model) = &route.model {
                        open.span.set_attribute("ralph.route.model", model.clone());
                    }
                    if route.escalated {
                        open.span.set_attribute("ralph.route.escalated", true);
                    }
                }
                self.route = Some((**route).clone());
            }
            Event::IterationStarted { iteration, task, .. } => {
                self.iteration = None;
                self.route = None;
                let name = format!("iteration {iteration}");
                let parent = self.run.as_ref().map(|o| o.span.clone());
                let span = match &parent {
                    Some(p) => {
                        tracing::info_span!(target: SPAN_TARGET, parent: p, "iteration", otel.name = %name)
                    }
                    None => {
                        tracing::info_span!(target: SPAN_TARGET, parent: None, "iteration", otel.name = %name)
                    }
                };
                span.set_attribute("ralph.iteration", i64::from(*iteration));
                if let Some(task) = task {
                    span.set_attribute("ralph.task.id", task.id.clone());
                    if self.include_content {
                        span.set_attribute("ralph.task.title", self.text(&task.title));
                    }
                }
                self.iteration = Some(Open::new(span));
            }
            Event::StepStarted { step, agent, attempt, .. } => {
                let info = self.info(agent);
                let name = format!("{} {agent}", info.operation);
                let span = match self.parent().map(|o| o.span.clone()) {
                    Some(p) => {
                        tracing::info_span!(target: SPAN_TARGET, parent: &p, "invoke_agent", otel.name = %name)
                    }
                    None => {
                        tracing::info_span!(target: SPAN_TARGET, parent: None, "invoke_agent", otel.name = %name)
                    }
                };
                span.set_attribute(semconv::OPERATION, info.operation);
                span.set_attribute(semconv::AGENT, agent.clone());
                if let Some(provider) = info.provider {
                    span.set_attribute(semconv::PROVIDER, provider);
                }
                if let Some(model) = &info.model {
                    span.set_attribute(semconv::MODEL, model.clone());
                }
                span.set_attribute("ralph.step", step.clone());
                span.set_attribute("ralph.attempt", i64::from(*attempt));
                self.step_agents.insert(step.clone(), agent.clone());
                self.steps.insert(step.clone(), Step { open: Open::new(span), agent: agent.clone(), info });
            }
            _ => {}
        }
        self.log(event);
        match event {
            Event::StepFinished { step, outcome, .. } => {
                let Some(Step { open, agent, info }) = self.steps.remove(step) else { return };
                let span = &open.span;
                let metrics = &outcome.evidence.metrics;
                let mut labels = attrs(&[
                    (semconv::OPERATION, info.operation),
                    (semconv::AGENT, &agent),
                    (semconv::WORKFLOW, &self.workflow),
                ]);
                if let Some(provider) = info.provider {
                    labels.push(KeyValue::new(semconv::PROVIDER, provider));
                }
                if let Some(model) = &info.model {
                    labels.push(KeyValue::new(semconv::MODEL, model.clone()));
                }
                for (key, tokens, kind) in [
                    (semconv::INPUT_TOKENS, metrics.input_tokens, "input"),
                    (semconv::OUTPUT_TOKENS, metrics.output_tokens, "output"),
                ] {
                    if let Some(tokens) = tokens {
                        span.set_attribute(key, tokens as i64);
                        let mut labels = labels.clone();
                        labels.push(KeyValue::new(semconv::TOKEN_TYPE, kind));
                        self.instruments.token_usage.record(tokens, &labels);
                    }
                }
                if let Some(cost) = metrics.cost_usd {
                    span.set_attribute("ralph.cost_usd", cost);
                    self.instruments.cost.add(cost, &labels);
                }
                let result = if outcome.success { "succeeded" } else { "failed" };
                if outcome.success {
                    span.set_status(Status::Ok);
                } else {
                    let class = outcome.class.map_or("_OTHER", |c| c.as_str());
                    span.set_attribute(semconv::ERROR_TYPE, class);
                    let description = match (&outcome.error, self.include_content) {
                        (Some(error), true) => self.text(error),
                        _ => class.to_owned(),
                    };
                    span.set_status(Status::error(description));
                    labels.push(KeyValue::new(semconv::ERROR_TYPE, class));
                }
                if self.include_content {
                    if let Some(summary) = &outcome.summary {
                        span.set_attribute("ralph.output.summary", self.text(summary));
                    }
                }
                self.instruments.operation_duration.record(outcome.duration_ms as f64 / 1000.0, &labels);
                labels.retain(|kv| {
                    kv.key.as_str() != semconv::OPERATION
                        && kv.key.as_str() != semconv::PROVIDER
                        && kv.key.as_str() != semconv::MODEL
                });
                labels.push(KeyValue::new("ralph.step.result", result));
                self.instruments.step_outcomes.add(1, &labels);
            }
            Event::StepSkipped { step, reason, .. } => {
                let agent = self.step_agents.get(step).cloned().unwrap_or_default();
                self.instruments.step_outcomes.add(
                    1,
                    &attrs(&[
                        (semconv::WORKFLOW, &self.workflow),
                        (semconv::AGENT, &agent),
                        ("ralph.step.result", "skipped"),
                    ]),
                );
                self.decision(Some(step), "skip", reason, Vec::new());
            }
            Event::StepInterrupted { step, .. } => {
                if let Some(Step { open, agent, .. }) = self.steps.remove(step) {
                    open.span.set_attribute(semconv::ERROR_TYPE, "interrupted");
                    open.span.set_status(Status::error("interrupted"));
                    self.instruments.step_outcomes.add(
                        1,
                        &attrs(&[
                            (semconv::WORKFLOW, &self.workflow),
                            (semconv::AGENT, &agent),
                            ("ralph.step.result", "interrupted"),
                        ]),
                    );
                }
            }
            Event::StepRetrying { step, attempt, delay_ms, class, error, policy, .. } => {
                let agent = self.step_agents.get(step).cloned().unwrap_or_default();
                let class = class.map_or("_OTHER", |c| c.as_str());
                self.instruments.retries.add(
                    1,
                    &attrs(&[
                        (semconv::WORKFLOW, &self.workflow),
                        (semconv::AGENT, &agent),
                        (semconv::ERROR_TYPE, class),
                    ]),
                );
                let description = format!(
                    "attempt {attempt} failed ({}); retry in {delay_ms} ms ({policy})",
                    if self.include_content { error.as_deref().unwrap_or(class) } else { class }
                );
                let extra = vec![
                    KeyValue::new("ralph.attempt", i64::from(*attempt)),
                    KeyValue::new("ralph.retry.delay_ms", *delay_ms as i64),
                    KeyValue::new(semconv::ERROR_TYPE, class),
                ];
                self.decision(Some(step), "retry", &description, extra);
            }
            Event::Breaker { state, reason, .. } => {
                // An agent's own breaker says so in its reason (`agent `x`: …`).
                let scope = reason
                    .as_deref()
                    .and_then(|r| r.strip_prefix("agent `"))
                    .and_then(|r| r.split('`').next())
                    .unwrap_or("workflow")
                    .to_owned();
                self.breaker(&scope, state);
                self.instruments
                    .breaker_transitions
                    .add(1, &attrs(&[("ralph.breaker.scope", &scope), ("ralph.breaker.state", state)]));
                let description = match reason {
                    Some(reason) => format!("breaker {state}: {reason}"),
                    None => format!("breaker {state}"),
                };
                self.decision(
                    None,
                    "breaker",
                    &description,
                    vec![KeyValue::new("ralph.breaker.state", state.clone())],
                );
            }
            // Heartbeats and progress come every few seconds from a busy agent: they say it
            // is alive, which the span's length says already.
            Event::Signal {
                signal: ralph_plugin_sdk::MessageSignal::Heartbeat | ralph_plugin_sdk::MessageSignal::Progress,
                ..
            } => {}
            Event::Signal { step, signal, message, .. } => {
                let name = serde_json::to_value(signal).ok().and_then(|v| v.as_str().map(str::to_owned));
                let name = name.unwrap_or_else(|| "signal".into());
                let description = match (message, self.include_content) {
                    (Some(m), true) => format!("{name}: {m}"),
                    _ => name.clone(),
                };
                self.decision(Some(step), "signal", &description, vec![KeyValue::new("ralph.signal", name)]);
            }
            Event::Control { signal, by, .. } => {
                let description = serde_json::to_string(signal).unwrap_or_default();
                let by = by.clone().unwrap_or_default();
                self.decision(None, "control", &format!("{description} by {by}"), Vec::new());
            }
            Event::Waiting { step, seconds, reason } => {
                self.decision(Some(step), "wait", &format!("waits {seconds} s: {reason}"), Vec::new());
            }
            Event::Transition { from, to, kind, .. } => {
                let kind = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.decision(None, "transition", &format!("{from} → {to} ({kind})"), Vec::new());
            }
            Event::ReviewRequested { step, .. } => {
                self.decision(Some(step), "review", "waiting for review", Vec::new());
            }
            Event::ReviewDecided { step, decision, .. } => {
                self.decision(Some(step), "review", &format!("review: {decision}"), Vec::new());
            }
            Event::Plugin { plugin, hook, kind, message, step } => {
                if DECISIONS.contains(&kind.as_str()) {
                    self.instruments.plugin_decisions.add(
                        1,
                        &attrs(&[
                            ("ralph.plugin.name", plugin),
                            ("ralph.plugin.hook", hook),
                            ("ralph.plugin.decision", kind),
                        ]),
                    );
                }
                let extra = vec![
                    KeyValue::new("ralph.plugin.name", plugin.clone()),
                    KeyValue::new("ralph.plugin.hook", hook.clone()),
                    KeyValue::new("ralph.plugin.decision", kind.clone()),
                ];
                self.decision(step.as_deref(), "plugin", &format!("{plugin} {kind}: {message}"), extra);
            }
            Event::IterationFinished { status, reason, .. } => {
                if let Some(open) = self.iteration.take() {
                    if *status == RunStatus::Succeeded {
                        open.span.set_status(Status::Ok);
                    } else {
                        open.span.set_status(Status::error(self.text(reason)));
                    }
                }
                let result = if *status == RunStatus::Succeeded { "succeeded" } else { status.as_str() };
                self.instruments.iterations.add(
                    1,
                    &attrs(&[(semconv::WORKFLOW, &self.workflow), ("ralph.iteration.result", result)]),
                );
            }
            Event::RunFinished { status, reason, at, .. } => self.finish(*status, reason, at),
            _ => {}
        }
    }

    fn finish(&mut self, status: RunStatus, reason: &str, at: &str) {
        // Steps and an iteration left open end with the run.
        self.steps.clear();
        self.iteration = None;
        let result = semconv::pipeline_result(status);
        let budget = reason.contains("budget");
        if let Some(open) = self.run.take() {
            let span = &open.span;
            span.set_attribute(semconv::PIPELINE_RESULT, result);
            if status == RunStatus::Succeeded {
                span.set_status(Status::Ok);
            } else {
                span.set_attribute(semconv::ERROR_TYPE, status.as_str());
                span.set_status(Status::error(self.text(reason)));
                if budget {
                    span.add_event("budget", vec![KeyValue::new("ralph.description", self.text(reason))]);
                }
            }
            self.instruments
                .runs_active
                .add(-1, &self.run_labels(&[(semconv::PIPELINE_RUN_STATE, "executing")]));
        }
        if let Some(seconds) = self
            .started_at
            .as_deref()
            .and_then(|from| crate::inspect::millis_between(from, at))
            .map(|ms| ms as f64 / 1000.0)
        {
            self.instruments
                .run_duration
                .record(seconds, &self.run_labels(&[(semconv::PIPELINE_RESULT, result)]));
            let mut labels = attrs(&[(semconv::WORKFLOW, &self.workflow)]);
            if status != RunStatus::Succeeded {
                labels.push(KeyValue::new(semconv::ERROR_TYPE, status.as_str()));
            }
            self.instruments.workflow_duration.record(seconds, &labels);
        }
        if status != RunStatus::Succeeded {
            let kind = if budget { "budget" } else { status.as_str() };
            self.instruments.run_errors.add(1, &self.run_labels(&[(semconv::ERROR_TYPE, kind)]));
        }
        if budget {
            self.instruments.budget_stops.add(1, &attrs(&[(semconv::WORKFLOW, &self.workflow)]));
        }
    }

    /// The event's log line, in the span it belongs to.
    fn log(&self, event: &Event) {
        let Some(log) = &self.log else { return };
        let level = match event {
            Event::RunFinished { status: RunStatus::Failed, .. } => LogLevel::Error,
            Event::StepFinished { outcome, .. } if !outcome.success => LogLevel::Warn,
            Event::StepRetrying { .. } | Event::Breaker { .. } | Event::StepInterrupted { .. } => {
                LogLevel::Warn
            }
            Event::Plugin { kind, .. }
                if matches!(kind.as_str(), "error" | "disabled" | "load_error" | "veto") =>
            {
                LogLevel::Warn
            }
            Event::Signal { .. } | Event::HintsDelivered { .. } => LogLevel::Debug,
            _ => LogLevel::Info,
        };
        if level < log.level {
            return;
        }
        let open = event.step().and_then(|s| self.steps.get(s)).map(|s| &s.open).or_else(|| self.parent());
        let ids = open.and_then(|o| o.ids.clone());
        let (event, format, content) = (event.clone(), log.format, self.include_content);
        let redactor = self.redactor.clone();
        // Serializing and formatting happen on the writer's thread: the run only clones.
        log.writer.later(Box::new(move || {
            let Ok(Json::Object(mut fields)) = serde_json::to_value(&event) else { return None };
            let name = fields.remove("event").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let timestamp = fields
                .remove("at")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(crate::clock::now);
            if !content {
                strip_content(&mut fields);
            }
            let record = Record {
                timestamp: &timestamp,
                level,
                event: &name,
                trace_id: ids.as_ref().map(|(t, _)| t.as_str()),
                span_id: ids.as_ref().map(|(_, s)| s.as_str()),
                fields: &fields,
            };
            Some(redactor.redact(&log_line::format(&record, format)).into_owned())
        }));
    }
}

/// What agents wrote is content: it stays out of logs unless content is opted in, like spans.
fn strip_content(fields: &mut Map<String, Json>) {
    if let Some(Json::Object(outcome)) = fields.get_mut("outcome") {
        for key in ["summary", "output", "error"] {
            outcome.remove(key);
        }
        // The evidence is long (files, test output); its metrics are what a log reader wants.
        if let Some(Json::Object(evidence)) = outcome.remove("evidence") {
            if let Some(metrics) = evidence.get("metrics") {
                outcome.insert("metrics".into(), metrics.clone());
            }
        }
    }
    for key in ["message", "data", "error"] {
        fields.remove(key);
    }
}

impl Drop for RunTelemetry {
    fn drop(&mut self) {
        // A run that did not finish (a panic, a kill of the runtime) still ends its spans, so
        // what was done is exported when the pipeline shuts down.
        self.steps.clear();
        self.iteration = None;
        if let Some(open) = self.run.take() {
            open.span.set_status(Status::error("the run did not finish"));
        }
    }
}

/// The context a W3C `traceparent` (`00-<trace>-<span>-<flags>`) names, as a remote parent.
fn remote_parent(traceparent: &str) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let mut parts = traceparent.split('-');
    let (_, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    context.is_valid().then(|| opentelemetry::Context::new().with_remote_span_context(context))
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
