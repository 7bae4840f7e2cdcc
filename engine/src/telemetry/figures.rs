//! A run's figures read back from its journal: the events go through the same
//! [`RunTelemetry`] a live run records with, into a Prometheus registry of their own. So
//! `ralph-loop metrics` shows what `/metrics` would have shown for that run, for any run, with
//! no exporter running.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::proto::{MetricFamily, MetricType};
use serde_json::{Map, Value, json};

use super::instruments::Instruments;
use super::run::RunTelemetry;
use crate::run::core::event::Event;
use crate::workflow::model::Document;

/// A run's metrics, gathered.
#[derive(Debug)]
pub struct Figures {
    /// The metric families, as Prometheus gathers them.
    pub families: Vec<MetricFamily>,
    registry: prometheus::Registry,
    // Kept alive: the registry reads from it when gathered.
    _provider: SdkMeterProvider,
}

/// Replays `events` of a run of `doc` (when known) into metrics; `ledger` adds the project's
/// spend and breakers.
pub fn replay(
    events: &[Event],
    doc: Option<&Document>,
    workflow: &str,
    kind: &str,
    started_at: &str,
    ledger: Option<(&crate::run::ledger::Ledger, &crate::workflow::model::Budget)>,
) -> Result<Figures, String> {
    let registry = prometheus::Registry::new();
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .without_target_info()
        .build()
        .map_err(|e| e.to_string())?;
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let empty = Document::default();
    let mut telemetry = RunTelemetry::new(
        doc.unwrap_or(&empty),
        workflow,
        kind,
        Instruments::new(&provider.meter(super::pipeline::SCOPE)),
    )
    .started_at(started_at);
    if let Some((ledger, budget)) = ledger {
        telemetry.ledger(ledger, budget);
    }
    for event in events {
        telemetry.observe(event);
    }
    drop(telemetry);
    let families = registry.gather();
    Ok(Figures { families, registry, _provider: provider })
}

/// A series' label `name`, empty when it has none.
pub fn label<'a>(labels: &'a Map<String, Value>, name: &str) -> &'a str {
    labels.get(name).and_then(Value::as_str).unwrap_or("")
}

fn labels(metric: &prometheus::proto::Metric) -> Map<String, Value> {
    metric
        .get_label()
        .iter()
        .filter(|l| l.name() != "otel_scope_name" && l.name() != "otel_scope_version")
        .map(|l| (l.name().to_owned(), Value::String(l.value().to_owned())))
        .collect()
}

impl Figures {
    /// The Prometheus exposition.
    pub fn exposition(&self) -> String {
        super::prometheus::exposition(&self.registry)
    }

    /// Every series as JSON: `{name: [{labels, value | count, sum}]}`.
    pub fn json(&self) -> Value {
        let mut out = Map::new();
        for family in &self.families {
            let series: Vec<Value> = family
                .get_metric()
                .iter()
                .map(|m| {
                    let labels = labels(m);
                    match family.get_field_type() {
                        MetricType::COUNTER => {
                            json!({"labels": labels, "value": m.get_counter().get_value()})
                        }
                        MetricType::GAUGE => json!({"labels": labels, "value": m.get_gauge().get_value()}),
                        MetricType::HISTOGRAM => json!({
                            "labels": labels,
                            "count": m.get_histogram().get_sample_count(),
                            "sum": m.get_histogram().get_sample_sum(),
                        }),
                        _ => json!({"labels": labels}),
                    }
                })
                .collect();
            out.insert(family.name().to_owned(), Value::Array(series));
        }
        Value::Object(out)
    }

    /// The sum of a counter's (or a histogram's count's, or a gauge's) series whose labels
    /// include `with`.
    pub fn total(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.series(name)
            .filter(|(labels, _)| with.iter().all(|(k, v)| label(labels, k) == *v))
            .map(|(_, value)| value.0)
            .sum()
    }

    /// Each series of `name`: its labels, and (value or count, sum).
    pub fn series<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (Map<String, Value>, (f64, f64))> + 'a {
        self.families.iter().filter(move |f| f.name() == name).flat_map(|family| {
            family.get_metric().iter().map(move |m| {
                let value = match family.get_field_type() {
                    MetricType::COUNTER => (m.get_counter().get_value(), 0.0),
                    MetricType::GAUGE => (m.get_gauge().get_value(), 0.0),
                    MetricType::HISTOGRAM => {
                        (m.get_histogram().get_sample_count() as f64, m.get_histogram().get_sample_sum())
                    }
                    _ => (0.0, 0.0),
                };
                (labels(m), value)
            })
        })
    }
}
