//! Observability: a run's traces, metrics and logs, named by the OpenTelemetry semantic
//! conventions and exported over OTLP, to Prometheus and to a log file.
//!
//! - `settings.rs`: where things go (`ralph.yaml`, `OTEL_*`, the command line).
//! - `pipeline.rs`: the providers, exporters and writers of one process, and their shutdown.
//! - `run.rs`: a run's events made into spans, measurements and log lines.
//! - `instruments.rs`, `semconv.rs`: the names.
//! - `prometheus.rs`, `log_file.rs`, `log_line.rs`: `/metrics`, the rotated log file, its lines.
//! - `figures.rs`: a run's metrics read back from its journal (`ralph-loop metrics`).
//! - `endpoints.rs`: the monitoring stack's addresses, and whether they answer (`dashboard`).

pub mod endpoints;
pub mod figures;
pub mod instruments;
pub mod log_file;
pub mod log_line;
pub mod pipeline;
pub mod prometheus;
pub mod run;
pub mod semconv;
pub mod settings;
