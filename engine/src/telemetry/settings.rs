//! Where a run's traces, metrics and logs go: the `observability:` and `logging:` sections of
//! `ralph.yaml`, the standard `OTEL_*` variables, and the command line, resolved once.
//!
//! Export is off unless an OTLP endpoint is given (in `ralph.yaml` or `OTEL_EXPORTER_OTLP_*`),
//! and the Prometheus endpoint is off unless `--metrics-addr` or a `prometheus` exporter's port
//! asks for it. The environment wins over `ralph.yaml`: it is the more specific of the two (one
//! shell, one run), which is how the OpenTelemetry SDKs of other languages read it too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::workflow::model::{Document, ExporterSpec, LogFormat, LogLevel, LogsSettings, Rotation, Toggle};

/// The port Jaeger (and the OpenTelemetry Collector) receive OTLP over gRPC on.
pub const OTLP_GRPC_PORT: u16 = 4317;
/// The port they receive OTLP over HTTP on.
pub const OTLP_HTTP_PORT: u16 = 4318;

/// How OTLP is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (tonic), usually port 4317.
    Grpc,
    /// HTTP with protobuf bodies, usually port 4318.
    Http,
}

/// An OTLP destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Otlp {
    /// The collector's base URL (`http://localhost:4317`); HTTP adds `/v1/traces` and
    /// `/v1/metrics` to it unless it is a signal's own URL.
    pub endpoint: String,
    /// Whether `endpoint` is a signal's full URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub full_url: bool,
    /// gRPC or HTTP.
    pub protocol: Protocol,
    /// Headers sent with every export (an API key, say).
    pub headers: Vec<(String, String)>,
    /// How long one export may take before it is dropped.
    pub timeout: Duration,
}

impl Otlp {
    /// The URL a signal's data goes to: gRPC takes the base URL, HTTP a path per signal.
    pub fn url(&self, signal: &str) -> String {
        match (self.protocol, self.full_url) {
            (Protocol::Grpc, _) | (Protocol::Http, true) => self.endpoint.clone(),
            (Protocol::Http, false) => format!("{}/v1/{signal}", self.endpoint.trim_end_matches('/')),
        }
    }
}

/// The log file.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFile {
    /// Where lines go.
    pub path: PathBuf,
    /// `human` or `json`.
    pub format: LogFormat,
    /// The lowest level written.
    pub level: LogLevel,
    /// A file is rotated before it passes this many bytes.
    pub max_size: u64,
    /// How many rotated files are kept (`ralph.log.1` … `ralph.log.N`).
    pub max_files: u32,
}

/// Everything the telemetry pipeline needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where spans go, if anywhere.
    pub traces: Option<Otlp>,
    /// Where metrics go over OTLP, if anywhere.
    pub metrics: Option<Otlp>,
    /// Where `/metrics` is served for Prometheus, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The fraction of runs whose spans are exported.
    pub sampling_rate: f64,
    /// Whether prompts and agent output may go into spans (off: they may hold secrets).
    pub include_content: bool,
    /// The log file, unless logs are off.
    pub log: Option<LogFile>,
    /// How often metrics are pushed over OTLP.
    pub metrics_interval: Duration,
}

/// What the command line says.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--metrics-addr`: where to serve `/metrics`.
    pub metrics_addr: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `--metrics-addr` or a port is not an address to listen on.
    #[error(
        "`{0}` is not an address to serve metrics on; write `127.0.0.1:9464` (or `0.0.0.0:9464` to serve other machines)"
    )]
    MetricsAddr(String),
    /// An endpoint is not an http(s) URL.
    #[error("the OTLP endpoint `{0}` is not an http:// or https:// URL (e.g. `http://localhost:4317`)")]
    Endpoint(String),
    /// A protocol that is neither gRPC nor HTTP.
    #[error("the OTLP protocol `{0}` is not one of `grpc`, `http/protobuf`")]
    Protocol(String),
    /// A `${VAR}` in a header or endpoint names a variable that is not set.
    #[error("{0}")]
    Reference(String),
}

/// The default log file, relative to the project directory.
pub const DEFAULT_LOG_FILE: &str = ".ralph/logs/ralph.log";
const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
const DEFAULT_MAX_FILES: u32 = 5;
/// A blackholed collector holds an export this long at most (the SDK's default is 10 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

fn enabled<T>(toggle: Option<&Toggle<T>>, settings_enabled: impl Fn(&T) -> Option<bool>) -> Option<bool> {
    match toggle? {
        Toggle::Enabled(on) => Some(*on),
        Toggle::Settings(s) => settings_enabled(s),
    }
}

fn is_otlp(name: &str, spec: &ExporterSpec) -> bool {
    let kind = spec.kind.as_deref().unwrap_or(name);
    kind.eq_ignore_ascii_case("otlp") || kind.eq_ignore_ascii_case("jaeger")
}

fn is_prometheus(name: &str, spec: &ExporterSpec) -> bool {
    spec.kind.as_deref().unwrap_or(name).eq_ignore_ascii_case("prometheus")
}

fn parse_protocol(text: &str) -> Result<Protocol, SettingsError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "grpc" => Ok(Protocol::Grpc),
        "http" | "http/protobuf" => Ok(Protocol::Http),
        _ => Err(SettingsError::Protocol(text.to_owned())),
    }
}

/// The port of an http(s) URL (its scheme's default when it names none).
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    match authority.rsplit_once(':') {
        Some((_, port)) if !port.ends_with(']') => port.parse().ok(),
        _ => Some(if url.starts_with("https") { 443 } else { 80 }),
    }
}

/// A Jaeger exporter's endpoint is where its UI answers (`http://localhost:16686`, as the seed
/// writes it); Jaeger takes OTLP on the same host's port 4317.
fn jaeger_to_otlp(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            let host = match authority.rsplit_once(':') {
                Some((host, _)) if !authority.ends_with(']') => host,
                _ => authority,
            };
            format!("{scheme}://{host}:{OTLP_GRPC_PORT}")
        }
        None => url.to_owned(),
    }
}

fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// The OTLP destination for one signal (`traces` or `metrics`), from the environment first.
fn otlp(
    signal: &str,
    doc_exporter: Option<(&str, &ExporterSpec)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Otlp>, SettingsError> {
    let upper = signal.to_ascii_uppercase();
    let signal_url = env(&format!("OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")).filter(|v| !v.trim().is_empty());
    let base_url = env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty());
    let resolve = |s: &crate::workflow::model::EnvString| {
        s.resolve(|name| env(name)).map_err(|e| SettingsError::Reference(e.to_string()))
    };
    let from_doc = match doc_exporter {
        Some((name, spec)) => match &spec.endpoint {
            Some(endpoint) => {
                let url = resolve(endpoint)?;
                let jaeger = spec.kind.as_deref().unwrap_or(name).eq_ignore_ascii_case("jaeger");
                Some(
                    if jaeger
                        && port_of(&url) != Some(OTLP_GRPC_PORT)
                        && port_of(&url) != Some(OTLP_HTTP_PORT)
                    {
                        jaeger_to_otlp(&url)
                    } else {
                        url
                    },
                )
            }
            // An `otlp` exporter without an endpoint: the standard local one.
            None => Some(format!("http://localhost:{OTLP_GRPC_PORT}")),
        },
        None => None,
    };
    let (endpoint, full_url) = match (signal_url, base_url, from_doc) {
        (Some(url), ..) => (url, true),
        (None, Some(url), _) => (url, false),
        (None, None, Some(url)) => (url, false),
        (None, None, None) => return Ok(None),
    };
    let endpoint = endpoint.trim().to_owned();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(SettingsError::Endpoint(endpoint));
    }
    let protocol = match env(&format!("OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .or_else(|| doc_exporter.and_then(|(_, s)| s.protocol.clone()))
    {
        Some(text) => parse_protocol(&text)?,
        // Unsaid: gRPC on its well-known port 4317, else HTTP — the specification's default.
        None if port_of(&endpoint) == Some(OTLP_GRPC_PORT) && !endpoint.contains("/v1/") => Protocol::Grpc,
        None => Protocol::Http,
    };
    let mut headers = Vec::new();
    if let Some((_, spec)) = doc_exporter {
        for (name, value) in &spec.headers {
            headers.push((name.clone(), resolve(value)?));
        }
    }
    for var in ["OTEL_EXPORTER_OTLP_HEADERS".to_owned(), format!("OTEL_EXPORTER_OTLP_{upper}_HEADERS")] {
        if let Some(text) = env(&var) {
            for (k, v) in parse_headers(&text) {
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
                headers.push((k, v));
            }
        }
    }
    let timeout = env(&format!("OTEL_EXPORTER_OTLP_{upper}_TIMEOUT"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    Ok(Some(Otlp { endpoint, full_url, protocol, headers, timeout }))
}

fn metrics_addr(text: &str) -> Result<SocketAddr, SettingsError> {
    let text = text.trim();
    // A bare port is served on loopback: metrics are nobody else's business by default.
    if let Ok(port) = text.trim_start_matches(':').parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = text.strip_prefix("localhost:").and_then(|p| p.parse::<u16>().ok()) {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| SettingsError::MetricsAddr(text.to_owned()))
}

impl Settings {
    /// Resolves the settings of a run in `project_dir` from `doc`, the process environment
    /// and `flags`.
    pub fn resolve(doc: &Document, project_dir: &Path, flags: &Flags) -> Result<Self, SettingsError> {
        Self::resolve_with(doc, project_dir, flags, &|name| std::env::var(name).ok())
    }

    /// [`Settings::resolve`] with the environment given (tests).
    pub fn resolve_with(
        doc: &Document,
        project_dir: &Path,
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let obs = doc.observability.clone().unwrap_or_default();
        let off = |var: &str| env(var).is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
        let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let exporters: Vec<(&str, &ExporterSpec)> =
            obs.exporters.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let metric_exporters: Vec<(&str, &ExporterSpec)> = match &obs.metrics {
            Some(Toggle::Settings(m)) => {
                m.exporters.iter().map(|e| (e.kind.as_deref().unwrap_or(""), e)).collect()
            }
            _ => Vec::new(),
        };
        let otlp_exporter = exporters.iter().chain(&metric_exporters).copied().find(|(n, s)| is_otlp(n, s));
        let traces_on =
            enabled(obs.traces.as_ref(), |t| t.enabled) != Some(false) && !off("OTEL_TRACES_EXPORTER");
        let metrics_on = enabled(obs.metrics.as_ref(), |m| m.enabled) != Some(false);
        let traces = match traces_on && !disabled {
            true => otlp("traces", otlp_exporter, env)?,
            false => None,
        };
        let metrics = match metrics_on && !disabled && !off("OTEL_METRICS_EXPORTER") {
            true => otlp("metrics", otlp_exporter, env)?,
            false => None,
        };
        let prometheus_port = exporters
            .iter()
            .chain(&metric_exporters)
            .find(|(n, s)| is_prometheus(n, s))
            .and_then(|(_, s)| s.port);
        let metrics_addr = match (&flags.metrics_addr, prometheus_port) {
            (Some(text), _) => Some(metrics_addr(text)?),
            (None, Some(port)) if metrics_on => Some(SocketAddr::from(([127, 0, 0, 1], port))),
            _ => None,
        };
        let (sampling_rate, include_content) = match &obs.traces {
            Some(Toggle::Settings(t)) => (t.sampling_rate.unwrap_or(1.0), t.include_content.unwrap_or(false)),
            _ => (1.0, false),
        };
        let sampling_rate = env("OTEL_TRACES_SAMPLER_ARG")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(sampling_rate)
            .clamp(0.0, 1.0);
        Ok(Settings {
            traces,
            metrics,
            metrics_addr,
            sampling_rate,
            include_content,
            log: log_file(doc, project_dir, flags),
            metrics_interval: env("OTEL_METRIC_EXPORT_INTERVAL")
                .and_then(|ms| ms.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(15), Duration::from_millis),
        })
    }

    /// Metrics go both ways, over OTLP and on `/metrics`: where one Prometheus receives both (as
    /// the bundled monitoring stack does), every series is stored twice and sums double, so the
    /// loop says so when it starts.
    pub fn metrics_twice(&self) -> bool {
        self.metrics.is_some() && self.metrics_addr.is_some()
    }

    /// Whether anything leaves the process.
    pub fn exports(&self) -> bool {
        self.traces.is_some() || self.metrics.is_some() || self.metrics_addr.is_some()
    }
}

/// The log file: `logging:` first, then `observability.logs`; the command line's format wins.
fn log_file(doc: &Document, project_dir: &Path, flags: &Flags) -> Option<LogFile> {
    let logging = doc.logging.clone().unwrap_or_default();
    let logs: Option<LogsSettings> = match doc.observability.as_ref().and_then(|o| o.logs.clone()) {
        Some(Toggle::Enabled(false)) => return None,
        Some(Toggle::Settings(s)) if s.enabled == Some(false) => return None,
        Some(Toggle::Settings(s)) => Some(s),
        _ => None,
    };
    let path = logging.file.clone().unwrap_or_else(|| DEFAULT_LOG_FILE.to_owned());
    let path = PathBuf::from(path);
    let path = if path.is_absolute() { path } else { project_dir.join(path) };
    let rotation: Option<Rotation> =
        logging.rotation.clone().or_else(|| logs.as_ref().and_then(|l| l.rotation.clone()));
    Some(LogFile {
        path,
        format: flags
            .log_format
            .or(logging.format)
            .or_else(|| logs.as_ref().and_then(|l| l.format))
            .unwrap_or(LogFormat::Human),
        level: logging.level.or_else(|| logs.as_ref().and_then(|l| l.level)).unwrap_or(LogLevel::Info),
        max_size: rotation.as_ref().and_then(|r| r.max_size).map_or(DEFAULT_MAX_SIZE, |s| s.0.max(1024)),
        max_files: rotation.as_ref().and_then(|r| r.max_files).unwrap_or(DEFAULT_MAX_FILES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Document {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn resolve(yaml: &str, vars: &[(&str, &str)], flags: &Flags) -> Result<Settings, SettingsError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Settings::resolve_with(&doc(yaml), Path::new("/p"), flags, &env)
    }

    #[test]
    fn nothing_is_exported_unless_an_endpoint_is_given() {
        let s = resolve("observability:\n  traces: true\n  metrics: true\n", &[], &Flags::default()).unwrap();
        assert!(!s.exports());
        assert_eq!(s.log.unwrap().path, Path::new("/p/.ralph/logs/ralph.log"));
    }

    #[test]
    fn an_otlp_exporter_in_ralph_yaml_sends_traces_and_metrics() {
        let yaml = "observability:\n  exporters:\n    otlp:\n      endpoint: http://collector:4318\n      headers:\n        x-api-key: ${HONEY_KEY}\n";
        let s = resolve(yaml, &[("HONEY_KEY", "k-123456")], &Flags::default()).unwrap();
        let traces = s.traces.unwrap();
        assert_eq!(traces.protocol, Protocol::Http);
        assert_eq!(traces.url("traces"), "http://collector:4318/v1/traces");
        assert_eq!(traces.headers, vec![("x-api-key".to_owned(), "k-123456".to_owned())]);
        assert_eq!(s.metrics.unwrap().url("metrics"), "http://collector:4318/v1/metrics");
        assert!(matches!(resolve(yaml, &[], &Flags::default()), Err(SettingsError::Reference(_))));
    }

    #[test]
    fn the_seeds_jaeger_ui_endpoint_sends_otlp_to_its_host() {
        let yaml = "observability:\n  provider: opentelemetry\n  traces: true\n  metrics: false\n  exporters:\n    jaeger:\n      endpoint: http://localhost:16686\n    prometheus:\n      port: 9090\n";
        let s = resolve(yaml, &[], &Flags::default()).unwrap();
        let traces = s.traces.unwrap();
        assert_eq!((traces.endpoint.as_str(), traces.protocol), ("http://localhost:4317", Protocol::Grpc));
        assert!(s.metrics.is_none(), "metrics: false");
        assert!(s.metrics_addr.is_none(), "metrics: false turns the endpoint off too");
    }

    #[test]
    fn the_environment_wins_and_can_turn_export_off() {
        let yaml = "observability:\n  exporters:\n    otlp:\n      endpoint: http://a:4317\n";
        let vars =
            [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        let s = resolve(yaml, &vars, &Flags::default()).unwrap();
        assert_eq!(s.traces.as_ref().unwrap().endpoint, "http://b:4318");
        assert_eq!(s.traces.unwrap().protocol, Protocol::Grpc);
        let vars = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ];
        let s = resolve("", &vars, &Flags::default()).unwrap();
        assert_eq!(s.traces.unwrap().url("traces"), "http://c:4318/custom");
        assert!(s.metrics.is_none());
        let s = resolve(yaml, &[("OTEL_SDK_DISABLED", "true")], &Flags::default()).unwrap();
        assert!(s.traces.is_none() && s.metrics.is_none());
        assert!(
            resolve("", &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")], &Flags::default()).is_err()
        );
    }

    #[test]
    fn metrics_are_served_on_loopback_unless_an_address_says_otherwise() {
        let flags = Flags { metrics_addr: Some("9464".into()), ..Flags::default() };
        assert_eq!(resolve("", &[], &flags).unwrap().metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(!resolve("", &[], &flags).unwrap().metrics_twice(), "/metrics alone is one way");
        let otlp = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")];
        assert!(resolve("", &otlp, &flags).unwrap().metrics_twice(), "OTLP and /metrics are two");
        let otlp_traces_only = [otlp[0], ("OTEL_METRICS_EXPORTER", "none")];
        assert!(!resolve("", &otlp_traces_only, &flags).unwrap().metrics_twice());
        let flags = Flags { metrics_addr: Some("0.0.0.0:9464".into()), ..Flags::default() };
        assert_eq!(resolve("", &[], &flags).unwrap().metrics_addr, Some("0.0.0.0:9464".parse().unwrap()));
        let flags = Flags { metrics_addr: Some("nine".into()), ..Flags::default() };
        assert!(matches!(resolve("", &[], &flags), Err(SettingsError::MetricsAddr(_))));
        let yaml =
            "observability:\n  metrics:\n    exporters:\n      - type: prometheus\n        port: 9465\n";
        assert_eq!(
            resolve(yaml, &[], &Flags::default()).unwrap().metrics_addr,
            Some("127.0.0.1:9465".parse().unwrap())
        );
    }

    #[test]
    fn logging_settings_reach_the_log_file_and_the_flag_picks_the_format() {
        let yaml =
            "logging:\n  level: WARN\n  file: logs/r.log\n  rotation:\n    max_size: 1MB\n    max_files: 3\n";
        let flags = Flags { log_format: Some(LogFormat::Json), ..Flags::default() };
        let log = resolve(yaml, &[], &flags).unwrap().log.unwrap();
        assert_eq!(log.path, Path::new("/p/logs/r.log"));
        assert_eq!((log.level, log.format, log.max_files), (LogLevel::Warn, LogFormat::Json, 3));
        assert!(log.max_size >= 1_000_000 && log.max_size <= 1_048_576);
        let yaml = "observability:\n  logs:\n    level: INFO\n    format: json\n    rotation:\n      max_size: 100MB\n      max_files: 10\n";
        let log = resolve(yaml, &[], &Flags::default()).unwrap().log.unwrap();
        assert_eq!((log.format, log.max_files), (LogFormat::Json, 10));
        assert!(resolve("observability:\n  logs: false\n", &[], &Flags::default()).unwrap().log.is_none());
    }
}
