//! `metrics-exporter`: a ralph-loop plugin that turns every step into metrics.
//!
//! After each phase (`phase.after_<phase>`) it reports, labelled with `phase`, `step` and
//! `agent` (when known):
//!
//! | metric | value |
//! | --- | --- |
//! | `phase_duration_ms` | how long the step took |
//! | `phase_success` | 1 when it succeeded, 0 when it failed |
//! | `phase_tokens` | tokens it used |
//! | `phase_cost_usd` | what it cost |
//! | `phase_files_changed` | how many files it changed |
//!
//! and at `workflow.on_iteration` the metric `iterations` (the iteration that starts, labelled
//! with `workflow`). A metric whose value the context lacks is left out. The samples are the
//! plugin's `metrics` decision (one answer, recorded once by the engine). Names get the
//! `prefix` setting in front (default `ralph_`; `""` for none).
//!
//! It needs no capability.
#![deny(missing_docs)]

use std::collections::BTreeMap;

use ralph_plugin_sdk::{
    Decision, Descriptor, MetricSample, PhaseContext, Plugin, Reply, WorkflowContext, host, register_plugin,
};

/// The plugin: see the crate documentation.
#[derive(Debug, Default)]
pub struct MetricsExporter;

register_plugin!(MetricsExporter);

impl Plugin for MetricsExporter {
    fn describe() -> Descriptor {
        Descriptor::new("metrics-exporter", "1.0.0")
            .description("Reports each step's duration, success, tokens, cost and changed files as metrics")
            .hooks(["phase.after_build", "phase.after_verify", "workflow.on_iteration"])
    }

    fn after_phase(&self, phase: &str, context: &PhaseContext) -> Reply {
        Ok(report(phase_samples(&prefix(), phase, context)))
    }

    fn on_iteration(&self, context: &WorkflowContext) -> Reply {
        let mut sample = sample(&prefix(), "iterations", context.iteration as f64, Some("{iteration}"));
        if !context.workflow_name.is_empty() {
            sample.labels.insert("workflow".into(), context.workflow_name.clone());
        }
        Ok(report(vec![sample]))
    }
}

/// The `prefix` setting, `ralph_` by default.
fn prefix() -> String {
    host::config("prefix").map_or_else(|| "ralph_".to_owned(), |p| p.trim().to_owned())
}

fn sample(prefix: &str, name: &str, value: f64, unit: Option<&str>) -> MetricSample {
    MetricSample { unit: unit.map(str::to_owned), ..MetricSample::new(format!("{prefix}{name}"), value) }
}

/// The samples of a step of `phase`.
pub fn phase_samples(prefix: &str, phase: &str, context: &PhaseContext) -> Vec<MetricSample> {
    let metrics = context.metrics.unwrap_or_default();
    let mut labels = BTreeMap::from([("phase".to_owned(), phase.to_owned())]);
    if !context.step.is_empty() {
        labels.insert("step".into(), context.step.clone());
    }
    if !context.agent.is_empty() {
        labels.insert("agent".into(), context.agent.clone());
    }

    let mut samples = Vec::new();
    if let Some(ms) = context.duration_ms.or(metrics.duration_ms) {
        samples.push(sample(prefix, "phase_duration_ms", ms as f64, Some("ms")));
    }
    if let Some(success) = context.success {
        samples.push(sample(prefix, "phase_success", if success { 1.0 } else { 0.0 }, None));
    }
    if let Some(tokens) = metrics.total_tokens() {
        samples.push(sample(prefix, "phase_tokens", tokens as f64, Some("{token}")));
    }
    if let Some(cost) = metrics.cost_usd {
        samples.push(sample(prefix, "phase_cost_usd", cost, Some("USD")));
    }
    samples.push(sample(prefix, "phase_files_changed", context.files_changed.len() as f64, Some("{file}")));
    for s in &mut samples {
        s.labels.clone_from(&labels);
    }
    samples
}

/// The samples as the decision.
fn report(samples: Vec<MetricSample>) -> Decision {
    Decision::Metrics { samples }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_plugin_sdk::dispatch_json;
    use serde_json::{Value, json};

    fn call(hook: &str, context: &Value) -> Vec<MetricSample> {
        let answer = dispatch_json::<MetricsExporter>(hook, &context.to_string()).unwrap();
        match serde_json::from_str(&answer).unwrap() {
            Decision::Metrics { samples } => samples,
            other => panic!("expected metrics, got {other:?}"),
        }
    }

    fn by_name(samples: &[MetricSample]) -> BTreeMap<&str, f64> {
        samples.iter().map(|s| (s.name.as_str(), s.value)).collect()
    }

    #[test]
    fn describes_itself() {
        let d = MetricsExporter::describe();
        assert_eq!((d.name.as_str(), d.version.as_str()), ("metrics-exporter", "1.0.0"));
        assert!(d.hooks.contains(&"workflow.on_iteration".to_owned()));
        assert!(d.capabilities.is_empty());
    }

    #[test]
    fn a_finished_step_gives_all_five_metrics_with_labels() {
        host::set_config("prefix", "ralph_");
        let samples = call(
            "phase.after_build",
            &json!({"kind": "phase", "phase": "build", "agent": "builder", "iteration": 4,
                   "started_at": "t", "step": "implement", "duration_ms": 45000, "success": true,
                   "metrics": {"input_tokens": 1000, "output_tokens": 500, "cost": 0.45},
                   "files_changed": ["a.rs", "b.rs", "c.rs"]}),
        );
        assert_eq!(
            by_name(&samples),
            BTreeMap::from([
                ("ralph_phase_duration_ms", 45000.0),
                ("ralph_phase_success", 1.0),
                ("ralph_phase_tokens", 1500.0),
                ("ralph_phase_cost_usd", 0.45),
                ("ralph_phase_files_changed", 3.0),
            ])
        );
        for s in &samples {
            assert_eq!(s.labels["phase"], "build");
            assert_eq!(s.labels["step"], "implement");
            assert_eq!(s.labels["agent"], "builder");
        }
        assert_eq!(samples[0].unit.as_deref(), Some("ms"));
    }

    #[test]
    fn any_phase_failure_and_missing_measurements() {
        host::set_config("prefix", "");
        let samples = call(
            "phase.after_lint",
            &json!({"kind": "phase", "phase": "lint", "agent": "", "iteration": 1, "started_at": "t",
                   "success": false, "metrics": {"duration_ms": 1200}}),
        );
        assert_eq!(
            by_name(&samples),
            BTreeMap::from([
                ("phase_duration_ms", 1200.0),
                ("phase_success", 0.0),
                ("phase_files_changed", 0.0)
            ])
        );
        assert_eq!(samples[0].labels, BTreeMap::from([("phase".to_owned(), "lint".to_owned())]));
        host::set_config("prefix", "ralph_");
    }

    #[test]
    fn iterations() {
        host::set_config("prefix", "loop_");
        let samples = call(
            "workflow.on_iteration",
            &json!({"kind": "workflow", "workflow_name": "default", "iteration": 12, "started_at": "t"}),
        );
        assert_eq!(samples.len(), 1);
        assert_eq!((samples[0].name.as_str(), samples[0].value), ("loop_iterations", 12.0));
        assert_eq!(samples[0].labels["workflow"], "default");
        host::set_config("prefix", "ralph_");
    }

    #[test]
    fn before_hooks_are_not_reported() {
        let answer = dispatch_json::<MetricsExporter>(
            "phase.before_build",
            &json!({"kind": "phase", "phase": "build", "agent": "b", "iteration": 1, "started_at": "t"})
                .to_string(),
        )
        .unwrap();
        assert_eq!(serde_json::from_str::<Decision>(&answer).unwrap(), Decision::Continue);
    }
}
