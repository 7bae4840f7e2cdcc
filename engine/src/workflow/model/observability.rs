//! The `observability:` section: traces, metrics, logs and dashboards.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EnvString, LogFormat, LogLevel, Size};

/// A feature switched with `true`/`false`, or configured with an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Toggle<T> {
    /// On or off with the defaults.
    Enabled(bool),
    /// On, with settings.
    Settings(T),
}

/// Observability settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observability {
    /// `opentelemetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Tracing of runs, iterations and steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<Toggle<TracesSettings>>,
    /// Metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Toggle<MetricsSettings>>,
    /// Structured logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Toggle<LogsSettings>>,
    /// Exporters by name, e.g. `jaeger: {endpoint: …}`, `prometheus: {port: 9090}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub exporters: IndexMap<String, ExporterSpec>,
    /// The monitoring dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<Dashboard>,
}

/// Trace settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracesSettings {
    /// Whether traces are recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The fraction of runs traced, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sampling_rate: Option<f64>,
    /// Export prompts and agent output in spans (off by default: they may hold secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_content: Option<bool>,
}

/// Metric settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether metrics are recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Where metrics go, each with a `type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exporters: Vec<ExporterSpec>,
}

/// An exporter: `prometheus`, `otlp`, `jaeger`, `cloudwatch`, …
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExporterSpec {
    /// The exporter's kind; in the map form, the key names it.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Where to send data, e.g. `http://localhost:4317`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EnvString>,
    /// The port to serve on (Prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `grpc` or `http` (OTLP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// A cloud region (CloudWatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Extra headers; values may use `${VAR}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, EnvString>,
}

/// Log settings inside `observability:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsSettings {
    /// Whether structured logs are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The lowest level written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,
    /// `human` or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    /// When log files are rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

/// Log file rotation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Rotate when a file reaches this size, e.g. `100MB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<Size>,
    /// Keep this many rotated files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
}

/// The monitoring dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Whether it is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `grafana` or `builtin`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Where it is served, e.g. `http://localhost:3000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A dashboard configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}
