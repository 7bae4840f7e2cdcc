//! The process's telemetry pipeline: a tracer provider behind the `tracing` subscriber, a meter
//! provider with its readers (OTLP push, the Prometheus registry), the `/metrics` server and the
//! log writer — installed once when a run starts, flushed and shut down when it ends.
//!
//! A collector that is down never slows, blocks or fails a run: spans wait in the batch
//! processor's bounded queue and are exported from its own thread (dropped when the queue is
//! full), metrics are pushed from the periodic reader's thread, each export gives up after its
//! timeout, and the shutdown at exit waits a bounded time whatever the collector does.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

use super::log_file::{LogWriter, RotatingFile};
use super::prometheus::MetricsServer;
use super::run::{LogTarget, SPAN_TARGET};
use super::settings::{Otlp, Protocol, Settings};
use crate::redact::Redactor;

/// The instrumentation scope of everything the engine records.
pub const SCOPE: &str = "ralph-loop";

/// Spans waiting for export at most; past that they are dropped, never waited for.
const SPAN_QUEUE: usize = 8192;

/// The installed pipeline.
#[derive(Debug, Default)]
pub struct Pipeline {
    tracer: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
    server: Option<MetricsServer>,
    log: Option<LogWriter>,
    /// Where spans go, and the exports that failed.
    span_failures: Option<(String, std::sync::Arc<ExportFailures>)>,
    /// What the warnings at the end must not quote.
    redactor: Redactor,
    /// What could not be set up; the run goes on without it.
    pub warnings: Vec<String>,
}

/// Masks secrets in spans on their way out: whatever an attribute, an event or a status picked
/// up (an error message quoting a key, say) never leaves the process.
#[derive(Debug)]
pub struct Redacting<E> {
    inner: E,
    redactor: Redactor,
    failures: std::sync::Arc<ExportFailures>,
}

/// Exports that did not go through: told once, when the run ends (a warning in the middle of
/// the run's display would help nobody, and the run is not affected).
#[derive(Debug, Default)]
pub struct ExportFailures {
    count: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<Option<String>>,
}

impl<E> Redacting<E> {
    /// `inner`, behind `redactor`.
    pub fn new(inner: E, redactor: Redactor) -> Self {
        Redacting { inner, redactor, failures: std::sync::Arc::default() }
    }
}

fn redact_value(redactor: &Redactor, value: &mut Value) {
    if let Value::String(s) = value {
        if let std::borrow::Cow::Owned(clean) = redactor.redact(s.as_str()) {
            *value = Value::String(clean.into());
        }
    }
}

fn redact_pairs(redactor: &Redactor, pairs: &mut [KeyValue]) {
    for pair in pairs {
        redact_value(redactor, &mut pair.value);
    }
}

/// `span` with every secret masked.
pub fn redact_span(redactor: &Redactor, span: &mut SpanData) {
    if let std::borrow::Cow::Owned(name) = redactor.redact(&span.name) {
        span.name = name.into();
    }
    redact_pairs(redactor, &mut span.attributes);
    for event in &mut span.events.events {
        redact_pairs(redactor, &mut event.attributes);
    }
    if let opentelemetry::trace::Status::Error { description } = &span.status {
        if let std::borrow::Cow::Owned(clean) = redactor.redact(description) {
            span.status = opentelemetry::trace::Status::error(clean);
        }
    }
}

impl<E: SpanExporter> SpanExporter for Redacting<E> {
    fn export(&self, mut batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            redact_span(&self.redactor, span);
        }
        let failures = self.failures.clone();
        let export = self.inner.export(batch);
        async move {
            let result = export.await;
            if let Err(e) = &result {
                failures.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut last) = failures.last.lock() {
                    *last = Some(e.to_string());
                }
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

fn resource(project: Option<&str>) -> Resource {
    let mut builder = Resource::builder();
    // OTEL_SERVICE_NAME (read by the builder) names the service when set.
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.with_service_name(SCOPE);
    }
    builder = builder.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if let Some(project) = project {
        builder = builder.with_attribute(KeyValue::new("ralph.project.name", project.to_owned()));
    }
    builder.build()
}

// Exports are not retried: a batch the collector did not take is dropped, and the next goes
// on schedule. Retries (the SDK's default: three, with backoff) would hold every export — and
// the flush at exit — for seconds while a collector is down, which a run must not feel.
fn span_exporter(otlp: &Otlp, client: &HttpClient) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let url = otlp.url("traces");
    let built = match otlp.protocol {
        Protocol::Grpc => grpc(opentelemetry_otlp::SpanExporter::builder().with_tonic(), otlp, url).build(),
        Protocol::Http => {
            http(opentelemetry_otlp::SpanExporter::builder().with_http(), otlp, url, client.get(otlp)?)
                .build()
        }
    };
    built.map_err(|e| format!("traces cannot be exported to {}: {e}", otlp.endpoint))
}

fn metric_exporter(otlp: &Otlp, client: &HttpClient) -> Result<opentelemetry_otlp::MetricExporter, String> {
    let url = otlp.url("metrics");
    let built = match otlp.protocol {
        Protocol::Grpc => grpc(opentelemetry_otlp::MetricExporter::builder().with_tonic(), otlp, url).build(),
        Protocol::Http => {
            http(opentelemetry_otlp::MetricExporter::builder().with_http(), otlp, url, client.get(otlp)?)
                .build()
        }
    };
    built.map_err(|e| format!("metrics cannot be exported to {}: {e}", otlp.endpoint))
}

/// A gRPC exporter's settings, whatever the signal.
fn grpc<B: WithExportConfig + WithTonicConfig>(builder: B, otlp: &Otlp, url: String) -> B {
    builder
        .with_endpoint(url)
        .with_timeout(otlp.timeout)
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .with_metadata(tonic_metadata(&otlp.headers))
}

/// The blocking HTTP client both signals' OTLP/HTTP exporters share: each exporter would
/// otherwise make its own (a thread and a runtime each, a few milliseconds of every run's start).
#[derive(Default)]
struct HttpClient(std::sync::OnceLock<Result<std::sync::Arc<dyn opentelemetry_http::HttpClient>, String>>);

impl HttpClient {
    fn get(&self, otlp: &Otlp) -> Result<std::sync::Arc<dyn opentelemetry_http::HttpClient>, String> {
        let timeout = otlp.timeout;
        self.0
            .get_or_init(|| {
                // reqwest's blocking client must not be made on an async runtime's thread.
                crate::tls::ensure_provider();
                let made =
                    std::thread::spawn(move || reqwest::blocking::Client::builder().timeout(timeout).build());
                match made.join() {
                    Ok(Ok(client)) => {
                        Ok(std::sync::Arc::new(client) as std::sync::Arc<dyn opentelemetry_http::HttpClient>)
                    }
                    Ok(Err(e)) => Err(format!("the OTLP/HTTP client cannot be made: {e}")),
                    Err(_) => Err("the OTLP/HTTP client cannot be made".to_owned()),
                }
            })
            .clone()
    }
}

/// An HTTP exporter's settings, whatever the signal.
fn http<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    otlp: &Otlp,
    url: String,
    client: std::sync::Arc<dyn opentelemetry_http::HttpClient>,
) -> B {
    builder
        .with_shared_http_client(client)
        .with_endpoint(url)
        .with_timeout(otlp.timeout)
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .with_headers(otlp.headers.iter().cloned().collect::<HashMap<_, _>>())
}

fn tonic_metadata(headers: &[(String, String)]) -> tonic::metadata::MetadataMap {
    let mut map = tonic::metadata::MetadataMap::new();
    for (name, value) in headers {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()),
            value.parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>(),
        ) {
            map.insert(key, value);
        }
    }
    map
}

/// The layer that makes the run's `tracing` spans OpenTelemetry spans of `provider`; it takes
/// only [`SPAN_TARGET`]'s spans (the SDK's own diagnostics must not become spans of the run).
pub fn span_layer(
    provider: &SdkTracerProvider,
) -> Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync> {
    let scope = InstrumentationScope::builder(SCOPE).with_version(env!("CARGO_PKG_VERSION")).build();
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer_with_scope(scope))
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.target() == SPAN_TARGET))
        .boxed()
}

impl Pipeline {
    /// Installs the pipeline `settings` describe. Must be called inside the tokio runtime (the
    /// gRPC exporter and the `/metrics` server live on it). A part that cannot be set up is
    /// left out with a warning: telemetry never stops a run.
    pub async fn install(settings: &Settings, redactor: &Redactor, project: Option<&str>) -> Pipeline {
        let mut pipeline = Pipeline { redactor: redactor.clone(), ..Pipeline::default() };
        let resource = resource(project);
        let client = HttpClient::default();
        // Spans only when they go somewhere: without the layer they are disabled, and cost the
        // run nothing (no ids then for packets, agents or log lines — there is no trace).
        if let Some(otlp) = &settings.traces {
            match span_exporter(otlp, &client) {
                Ok(exporter) => {
                    let config = BatchConfigBuilder::default()
                        .with_max_queue_size(SPAN_QUEUE)
                        .with_scheduled_delay(Duration::from_secs(2))
                        .build();
                    let exporter = Redacting::new(exporter, redactor.clone());
                    pipeline.span_failures = Some((otlp.endpoint.clone(), exporter.failures.clone()));
                    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(config).build();
                    let tracer = SdkTracerProvider::builder()
                        .with_resource(resource.clone())
                        .with_span_processor(processor)
                        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                            settings.sampling_rate,
                        ))))
                        .build();
                    // One run per process: a second install (tests in-process) keeps the first.
                    let subscriber = tracing_subscriber::registry().with(span_layer(&tracer));
                    let _ = tracing::subscriber::set_global_default(subscriber);
                    pipeline.tracer = Some(tracer);
                }
                Err(e) => pipeline.warnings.push(e),
            }
        }

        let mut meters = SdkMeterProvider::builder().with_resource(resource);
        let mut readers = 0;
        if let Some(otlp) = &settings.metrics {
            match metric_exporter(otlp, &client) {
                Ok(exporter) => {
                    meters = meters.with_reader(
                        PeriodicReader::builder(exporter).with_interval(settings.metrics_interval).build(),
                    );
                    readers += 1;
                }
                Err(e) => pipeline.warnings.push(e),
            }
        }
        if let Some(addr) = settings.metrics_addr {
            let registry = prometheus::Registry::new();
            match opentelemetry_prometheus::exporter().with_registry(registry.clone()).build() {
                Ok(reader) => match super::prometheus::serve(addr, registry).await {
                    Ok(server) => {
                        meters = meters.with_reader(reader);
                        readers += 1;
                        pipeline.server = Some(server);
                    }
                    Err(e) => pipeline.warnings.push(format!("metrics cannot be served on {addr}: {e}")),
                },
                Err(e) => pipeline.warnings.push(format!("the Prometheus exporter cannot be set up: {e}")),
            }
        }
        if readers > 0 {
            pipeline.meters = Some(meters.build());
        }

        if let Some(log) = &settings.log {
            match RotatingFile::open(&log.path, log.max_size, log.max_files) {
                Ok(file) => pipeline.log = Some(LogWriter::start(file)),
                Err(e) => pipeline
                    .warnings
                    .push(format!("the log file `{}` cannot be opened: {e}", log.path.display())),
            }
        }
        pipeline
    }

    /// The meter the run's instruments come from: a no-op one when no metric leaves the
    /// process, so recording costs nothing.
    pub fn meter(&self) -> Meter {
        match &self.meters {
            Some(provider) => provider.meter(SCOPE),
            None => opentelemetry::metrics::noop::NoopMeterProvider::new().meter(SCOPE),
        }
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(MetricsServer::addr)
    }

    /// The log file's writer, if there is one.
    pub fn log_target(&self, settings: &Settings) -> Option<LogTarget> {
        let (writer, log) = (self.log.clone()?, settings.log.as_ref()?);
        Some(LogTarget { writer, format: log.format, level: log.level })
    }

    /// Exports what is left and stops, waiting at most `patience` for the collector.
    /// Returns what went wrong on the way, for the caller to say (the library prints nothing).
    pub fn shutdown(mut self, patience: Duration) -> Vec<String> {
        let mut warnings = Vec::new();
        let deadline = std::time::Instant::now() + patience;
        self.server = None;
        let tracer = self.tracer.take();
        let meters = self.meters.take();
        // The SDK's shutdowns wait on their exporters; a thread of their own lets exit go on
        // when a collector holds them.
        let had_tracer = tracer.is_some();
        // The thread says whether the traces were flushed, then ends (its sender dropped).
        let (flushed_tx, flushed) = std::sync::mpsc::channel::<bool>();
        let flushing = std::thread::Builder::new().name("ralph-telemetry-flush".into()).spawn(move || {
            if let Some(tracer) = tracer {
                let _ = flushed_tx.send(tracer.shutdown_with_timeout(patience).is_ok());
            }
            if let Some(meters) = meters {
                let _ = meters.shutdown_with_timeout(patience);
            }
        });
        if let Some(mut log) = self.log.take() {
            log.close(patience);
            let dropped = log.dropped();
            if dropped > 0 {
                warnings.push(format!(
                    "{dropped} log line(s) were dropped: the log file's disk was slower than the run"
                ));
            }
            warnings.extend(log.failure());
        }
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        let mut traces_flushed = true;
        if flushing.is_ok() {
            if had_tracer {
                traces_flushed = flushed.recv_timeout(left()).unwrap_or(false);
            }
            // Returns when the thread does, or at the deadline.
            let _ = flushed.recv_timeout(left());
        }
        if let (false, Some((endpoint, failures))) = (traces_flushed, &self.span_failures) {
            // A collector that takes the connection and never answers fails no export before
            // the deadline: without this, its spans would be lost without a word.
            if failures.count.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                warnings.push(format!(
                    "spans could not be delivered to {}: the collector did not answer within {:?}; the run was not affected",
                    self.redactor.redact(endpoint),
                    patience
                ));
            }
        }
        if let Some((endpoint, failures)) = &self.span_failures {
            let count = failures.count.load(std::sync::atomic::Ordering::Relaxed);
            if count > 0 {
                let last = failures.last.lock().ok().and_then(|l| l.clone()).unwrap_or_default();
                let redactor = &self.redactor;
                warnings.push(format!(
                    "{count} batch(es) of spans could not be sent to {} ({}); the run was not affected",
                    redactor.redact(endpoint),
                    redactor.redact(&last)
                ));
            }
        }
        warnings
    }
}
