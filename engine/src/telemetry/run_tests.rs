//! Span and metric names and attributes, asserted with the SDK's in-memory exporters.

use std::collections::{BTreeMap, BTreeSet};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;

use super::*;
use crate::run::core::event::TaskRef;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

const DOC: &str = "
agents:
  builder:
    backend: claude
    model: claude-sonnet-4
  planner:
    backend: codex
    model: gpt-5
    on_failure: always
";

fn failed(class: &str, error: &str) -> Box<Outcome> {
    Box::new(Outcome {
        class: FailureClass::parse(class),
        error: Some(error.into()),
        duration_ms: 1200,
        ..Outcome::default()
    })
}

fn succeeded(input: u64, output: u64, cost: f64) -> Box<Outcome> {
    let mut outcome = Outcome {
        success: true,
        summary: Some("wrote the parser".into()),
        duration_ms: 2500,
        ..Outcome::default()
    };
    outcome.evidence.metrics.input_tokens = Some(input);
    outcome.evidence.metrics.output_tokens = Some(output);
    outcome.evidence.metrics.cost_usd = Some(cost);
    Box::new(outcome)
}

struct Recorded {
    spans: Vec<SpanData>,
    metrics: Vec<ResourceMetrics>,
    traceparent: Option<String>,
    trace_id: Option<String>,
}

/// Runs `events` through a run's telemetry with in-memory exporters behind it.
fn record(events: &[Event], redactor: Redactor) -> Recorded {
    let spans = InMemorySpanExporter::default();
    let tracer = SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build();
    let metrics = InMemoryMetricExporter::default();
    let meters =
        SdkMeterProvider::builder().with_reader(PeriodicReader::builder(metrics.clone()).build()).build();
    let doc: Document = serde_yaml::from_str(DOC).unwrap();
    let subscriber = tracing_subscriber::registry().with(super::super::pipeline::span_layer(&tracer));
    let (traceparent, trace_id) = tracing::subscriber::with_default(subscriber, || {
        let mut telemetry =
            RunTelemetry::new(&doc, "ship", "state_machine", Instruments::new(&meters.meter("ralph-loop")))
                .with_redactor(redactor);
        let (mut traceparent, mut trace_id) = (None, None);
        for event in events {
            telemetry.observe(event);
            if let Event::StepStarted { step, attempt: 2, .. } = event {
                traceparent = telemetry.traceparent(step);
                trace_id = telemetry.trace_id();
            }
        }
        drop(telemetry);
        (traceparent, trace_id)
    });
    tracer.force_flush().unwrap();
    meters.force_flush().unwrap();
    Recorded {
        spans: spans.get_finished_spans().unwrap(),
        metrics: metrics.get_finished_metrics().unwrap(),
        traceparent,
        trace_id,
    }
}

fn attributes(span: &SpanData) -> BTreeMap<String, String> {
    span.attributes.iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect()
}

fn at(n: u32) -> String {
    format!("2026-11-22T10:00:{n:02}.000Z")
}

fn a_run() -> Vec<Event> {
    vec![
        Event::RunStarted {
            run_id: "r-1".into(),
            workflow: "ship".into(),
            kind: "state_machine".into(),
            at: at(0),
            ledger: None,
        },
        Event::IterationStarted {
            iteration: 1,
            task: Some(TaskRef { id: "T-1".into(), title: "parser".into() }),
            at: at(1),
            detail: None,
            completed: Vec::new(),
        },
        Event::StepStarted {
            step: "build".into(),
            agent: "builder".into(),
            attempt: 1,
            at: at(1),
            ai: false,
            human: false,
            iteration: 1,
        },
        Event::StepFinished {
            step: "build".into(),
            outcome: failed("timeout", "the agent hung"),
            at: at(2),
            iteration: 1,
        },
        Event::StepRetrying {
            step: "build".into(),
            attempt: 1,
            delay_ms: 500,
            class: Some(FailureClass::Timeout),
            error: Some("the agent hung".into()),
            policy: "default".into(),
            iteration: 1,
        },
        Event::StepStarted {
            step: "build".into(),
            agent: "builder".into(),
            attempt: 2,
            at: at(3),
            ai: false,
            human: false,
            iteration: 1,
        },
        Event::StepFinished {
            step: "build".into(),
            outcome: succeeded(1200, 300, 0.05),
            at: at(5),
            iteration: 1,
        },
        Event::Breaker {
            state: "open".into(),
            reason: Some("agent `builder`: 3 failures".into()),
            agent: None,
            all: false,
        },
        Event::StepStarted {
            step: "replan".into(),
            agent: "planner".into(),
            attempt: 1,
            at: at(6),
            ai: false,
            human: false,
            iteration: 1,
        },
        Event::StepFinished {
            step: "replan".into(),
            outcome: succeeded(10, 20, 0.01),
            at: at(7),
            iteration: 1,
        },
        Event::Plugin {
            plugin: "secret-guard".into(),
            hook: "phase.after_build".into(),
            kind: "veto".into(),
            message: "found a key".into(),
            step: Some("build".into()),
        },
        Event::IterationFinished {
            iteration: 1,
            status: RunStatus::Succeeded,
            reason: "done".into(),
            at: at(8),
            files: Vec::new(),
        },
        Event::RunFinished {
            status: RunStatus::Succeeded,
            reason: "every task done".into(),
            class: None,
            at: at(9),
        },
    ]
}

#[test]
fn a_run_is_a_tree_of_spans_named_by_the_genai_and_cicd_conventions() {
    let recorded = record(&a_run(), Redactor::default());
    let by_name =
        |name: &str| -> Vec<&SpanData> { recorded.spans.iter().filter(|s| s.name == name).collect() };
    let names: BTreeSet<&str> = recorded.spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["invoke_workflow ship", "iteration 1", "invoke_agent builder", "plan planner"])
    );

    let run = by_name("invoke_workflow ship")[0];
    let a = attributes(run);
    assert_eq!(a["gen_ai.operation.name"], "invoke_workflow");
    assert_eq!(a["gen_ai.workflow.name"], "ship");
    assert_eq!(a["cicd.pipeline.name"], "ship");
    assert_eq!(a["cicd.pipeline.run.id"], "r-1");
    assert_eq!(a["cicd.pipeline.result"], "success");
    assert_eq!(run.parent_span_id, opentelemetry::trace::SpanId::INVALID, "the run is the root");

    let iteration = by_name("iteration 1")[0];
    assert_eq!(iteration.parent_span_id, run.span_context.span_id());
    assert_eq!(attributes(iteration)["ralph.task.id"], "T-1");
    assert!(!attributes(iteration).contains_key("ralph.task.title"), "content stays out by default");
    // Decisions taken after a step ended are events of the iteration.
    let events: Vec<&str> = iteration.events.iter().map(|e| e.name.as_ref()).collect();
    assert!(events.contains(&"retry") && events.contains(&"breaker"), "{events:?}");

    let steps = by_name("invoke_agent builder");
    assert_eq!(steps.len(), 2, "one span per attempt");
    for step in &steps {
        assert_eq!(step.parent_span_id, iteration.span_context.span_id());
        assert_eq!(step.span_context.trace_id(), run.span_context.trace_id());
        let a = attributes(step);
        assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
        assert_eq!(a["gen_ai.agent.name"], "builder");
        assert_eq!(a["gen_ai.provider.name"], "anthropic");
        assert_eq!(a["gen_ai.request.model"], "claude-sonnet-4");
    }
    let failed = steps.iter().find(|s| attributes(s)["ralph.attempt"] == "1").unwrap();
    assert_eq!(attributes(failed)["error.type"], "timeout");
    assert!(matches!(failed.status, Status::Error { .. }));
    assert!(!format!("{:?}", failed.status).contains("hung"), "error messages are content");
    let ok = steps.iter().find(|s| attributes(s)["ralph.attempt"] == "2").unwrap();
    assert_eq!(attributes(ok)["gen_ai.usage.input_tokens"], "1200");
    assert_eq!(attributes(ok)["gen_ai.usage.output_tokens"], "300");
    assert!(!attributes(ok).contains_key("ralph.output.summary"));

    let plan = by_name("plan planner")[0];
    assert_eq!(attributes(plan)["gen_ai.operation.name"], "plan");
    assert_eq!(attributes(plan)["gen_ai.provider.name"], "openai");

    // The step's TRACEPARENT names the step's span, and the packet's trace id is the run's.
    let traceparent = recorded.traceparent.unwrap();
    assert_eq!(
        traceparent,
        format!("00-{:032x}-{:016x}-01", ok.span_context.trace_id(), ok.span_context.span_id())
    );
    assert_eq!(recorded.trace_id.unwrap(), format!("{:032x}", run.span_context.trace_id()));
}

/// Each metric's name, and the attribute keys of its data points.
fn metric_keys(metrics: &[ResourceMetrics]) -> BTreeMap<String, BTreeSet<String>> {
    fn keys<'a>(attrs: impl Iterator<Item = &'a KeyValue>, into: &mut BTreeSet<String>) {
        into.extend(attrs.map(|kv| kv.key.to_string()));
    }
    fn data<T>(data: &MetricData<T>, into: &mut BTreeSet<String>) {
        match data {
            MetricData::Gauge(g) => g.data_points().for_each(|p| keys(p.attributes(), into)),
            MetricData::Sum(s) => s.data_points().for_each(|p| keys(p.attributes(), into)),
            MetricData::Histogram(h) => h.data_points().for_each(|p| keys(p.attributes(), into)),
            MetricData::ExponentialHistogram(h) => h.data_points().for_each(|p| keys(p.attributes(), into)),
        }
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rm in metrics {
        for scope in rm.scope_metrics() {
            for metric in scope.metrics() {
                let entry = out.entry(metric.name().to_owned()).or_default();
                match metric.data() {
                    AggregatedMetrics::F64(d) => data(d, entry),
                    AggregatedMetrics::U64(d) => data(d, entry),
                    AggregatedMetrics::I64(d) => data(d, entry),
                }
            }
        }
    }
    out
}

#[test]
fn metrics_carry_the_conventions_names_and_never_a_run_or_task_id() {
    let recorded = record(&a_run(), Redactor::default());
    let metrics = metric_keys(&recorded.metrics);
    for name in [
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "gen_ai.workflow.duration",
        "cicd.pipeline.run.duration",
        "cicd.pipeline.run.active",
        "ralph.step.outcomes",
        "ralph.step.retries",
        "ralph.iterations",
        "ralph.breaker.state",
        "ralph.breaker.transitions",
        "ralph.cost.usd",
        "ralph.plugin.decisions",
    ] {
        assert!(metrics.contains_key(name), "{name} missing from {:?}", metrics.keys());
    }
    assert_eq!(
        metrics["gen_ai.client.token.usage"],
        BTreeSet::from_iter(
            [
                "gen_ai.operation.name",
                "gen_ai.agent.name",
                "gen_ai.workflow.name",
                "gen_ai.provider.name",
                "gen_ai.request.model",
                "gen_ai.token.type"
            ]
            .map(String::from)
        )
    );
    assert!(metrics["gen_ai.client.operation.duration"].contains("error.type"));
    assert!(metrics["cicd.pipeline.run.duration"].contains("cicd.pipeline.result"));
    assert!(metrics["ralph.breaker.state"].contains("ralph.breaker.scope"));
    for (name, keys) in &metrics {
        for forbidden in ["cicd.pipeline.run.id", "ralph.task.id", "ralph.step", "ralph.iteration"] {
            assert!(!keys.contains(forbidden), "{name} is labelled with {forbidden}");
        }
    }
}

#[test]
fn secrets_never_reach_a_span() {
    let mut redactor = Redactor::default();
    redactor.add("sk-test-SECRET-42");
    let mut events = a_run();
    events.insert(
        events.len() - 1,
        Event::Plugin {
            plugin: "notifier".into(),
            hook: "workflow.on_iteration".into(),
            kind: "log".into(),
            message: "posting with sk-test-SECRET-42".into(),
            step: None,
        },
    );
    if let Some(Event::RunFinished { reason, .. }) = events.last_mut() {
        *reason = "stopped: sk-test-SECRET-42 was refused".into();
    }
    if let Some(Event::RunFinished { status, .. }) = events.last_mut() {
        *status = RunStatus::Failed;
    }
    let recorded = record(&events, redactor);
    let all = format!("{:?}", recorded.spans);
    assert!(all.contains("[REDACTED]"));
    assert!(!all.contains("sk-test-SECRET-42"), "{all}");
}
