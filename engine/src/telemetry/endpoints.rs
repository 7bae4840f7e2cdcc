//! The monitoring stack's endpoints as a project sees them — Grafana, Prometheus, the Jaeger UI
//! and the OTLP receiver, from the `observability:` section of `ralph.yaml` and the environment —
//! and whether each answers. What `ralph-loop dashboard` checks before anyone opens a browser
//! on an empty dashboard.

use std::time::Duration;

use crate::workflow::model::{ExporterSpec, Observability, Toggle};

/// The port the OTLP receivers take gRPC on; an address on it (or on 4318, OTLP over HTTP) given
/// as Jaeger's is where Jaeger receives spans, and its UI is on the same host's 16686.
const OTLP_PORTS: [u16; 2] = [4317, 4318];
/// The Jaeger UI's port.
const JAEGER_UI_PORT: u16 = 16686;

/// One of the services of the monitoring stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// The dashboards.
    Grafana,
    /// The metrics store Grafana queries.
    Prometheus,
    /// The trace store and its UI.
    Jaeger,
    /// The OpenTelemetry Collector's OTLP receiver, where the engine sends traces and metrics.
    Otlp,
}

/// How a service is asked whether it is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// An HTTP GET of this path answers 2xx once the service is ready.
    Get(&'static str),
    /// A TCP connection is accepted: OTLP over gRPC has no plain-HTTP page to ask, and a
    /// receiver that accepts connections is one the engine can export to.
    Connect,
}

impl Service {
    /// Every service, in the order they are shown.
    pub const ALL: [Service; 4] = [Service::Grafana, Service::Prometheus, Service::Jaeger, Service::Otlp];

    /// Its name, as shown and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Service::Grafana => "grafana",
            Service::Prometheus => "prometheus",
            Service::Jaeger => "jaeger",
            Service::Otlp => "otlp",
        }
    }

    /// Where it answers when nothing says otherwise: the stack's standard ports on this machine,
    /// as `monitoring/docker-compose.yml` publishes them.
    pub fn default_url(self) -> &'static str {
        match self {
            Service::Grafana => "http://localhost:3000",
            Service::Prometheus => "http://localhost:9090",
            Service::Jaeger => "http://localhost:16686",
            Service::Otlp => "http://localhost:4317",
        }
    }

    /// How it is asked.
    pub fn probe(self) -> Probe {
        match self {
            Service::Grafana => Probe::Get("/api/health"),
            Service::Prometheus => Probe::Get("/-/ready"),
            Service::Jaeger => Probe::Get("/"),
            Service::Otlp => Probe::Connect,
        }
    }
}

/// Where an endpoint's address came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The service's standard local address.
    Default,
    /// `ralph.yaml`, at this key.
    Config(&'static str),
    /// This environment variable.
    Environment(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Config(key) => write!(f, "ralph.yaml {key}"),
            Origin::Environment(var) => f.write_str(var),
        }
    }
}

/// Why an endpoint does not answer (each says it in a few words, for a table cell).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Its address refers to an environment variable that is not set.
    #[error("{0}")]
    Reference(String),
    /// Its address is not an http(s) URL with a host.
    #[error("not an http:// or https:// URL")]
    NotHttp,
    /// Nothing listens there.
    #[error("connection refused")]
    Refused,
    /// Nothing answered in time.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// It answered, but not that it is ready.
    #[error("HTTP {0}")]
    Status(String),
    /// Anything else: the innermost cause, which is the informative one.
    #[error("{0}")]
    Other(String),
}

/// A service's address and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The service.
    pub service: Service,
    /// Its base URL (as written when it cannot be resolved).
    pub url: String,
    /// Where the URL came from.
    pub origin: Origin,
    /// Why it cannot even be asked (an unset `${VAR}`), if so.
    unusable: Option<ProbeError>,
}

impl Endpoint {
    fn new(service: Service, url: &str, origin: Origin) -> Endpoint {
        Endpoint { service, url: url.trim().trim_end_matches('/').to_owned(), origin, unusable: None }
    }

    /// What is asked, for people: `GET /api/health` or `TCP connect`.
    pub fn check(&self) -> String {
        match self.service.probe() {
            Probe::Get(path) => format!("GET {path}"),
            Probe::Connect => "TCP connect".to_owned(),
        }
    }
}

/// The exporter of a kind (`otlp`, `jaeger`, `prometheus`): in the `exporters:` map (named by
/// its key or its `type`), else in `metrics.exporters` (named by its `type`).
fn exporter<'a>(obs: &'a Observability, kind: &str) -> Option<&'a ExporterSpec> {
    let named =
        |name: &str, spec: &ExporterSpec| spec.kind.as_deref().unwrap_or(name).eq_ignore_ascii_case(kind);
    obs.exporters.iter().find(|(name, spec)| named(name, spec)).map(|(_, spec)| spec).or_else(|| {
        match &obs.metrics {
            Some(Toggle::Settings(metrics)) => metrics.exporters.iter().find(|spec| named("", spec)),
            _ => None,
        }
    })
}

/// The endpoint of `service` configured by an exporter's `endpoint:`, resolved, or the default.
fn configured(
    service: Service,
    spec: Option<&ExporterSpec>,
    key: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Endpoint {
    match spec.and_then(|s| s.endpoint.as_ref()) {
        Some(text) => match text.resolve(env) {
            Ok(url) => Endpoint::new(service, &url, Origin::Config(key)),
            Err(e) => Endpoint {
                unusable: Some(ProbeError::Reference(e.to_string())),
                ..Endpoint::new(service, &text.0, Origin::Config(key))
            },
        },
        None => Endpoint::new(service, service.default_url(), Origin::Default),
    }
}

/// Jaeger's UI, given the address written for Jaeger. `ralph.yaml` may give the UI's
/// (`http://localhost:16686`, as the seed writes it) or the OTLP receiver's on 4317/4318, which
/// the engine also accepts as Jaeger's (Jaeger v2 takes OTLP directly); the UI of the latter
/// is on the same host.
fn jaeger_ui(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.port().is_some_and(|p| OTLP_PORTS.contains(&p)) => {
            // Setting the port of an http(s) URL with a host cannot fail.
            let _ = parsed.set_port(Some(JAEGER_UI_PORT));
            parsed.set_path("");
            parsed.to_string().trim_end_matches('/').to_owned()
        }
        _ => url.to_owned(),
    }
}

/// The stack's endpoints for a project: Grafana at `observability.dashboard.url`, Prometheus at
/// `exporters.prometheus.endpoint`, the Jaeger UI at `exporters.jaeger.endpoint`, the OTLP
/// receiver at `OTEL_EXPORTER_OTLP_ENDPOINT` or `exporters.otlp.endpoint` — each at its standard
/// local address when unset. A Prometheus exporter's `port` is not Prometheus: it is where the
/// engine serves its own `/metrics` for Prometheus to scrape. The environment wins over
/// `ralph.yaml` for OTLP, as it does for the export itself (one shell is more specific than the
/// project).
pub fn endpoints(obs: Option<&Observability>, env: &dyn Fn(&str) -> Option<String>) -> Vec<Endpoint> {
    let none = Observability::default();
    let obs = obs.unwrap_or(&none);
    let grafana = match obs.dashboard.as_ref().and_then(|d| d.url.as_deref()) {
        Some(url) => Endpoint::new(Service::Grafana, url, Origin::Config("observability.dashboard.url")),
        None => Endpoint::new(Service::Grafana, Service::Grafana.default_url(), Origin::Default),
    };
    let prometheus =
        configured(Service::Prometheus, exporter(obs, "prometheus"), "exporters.prometheus.endpoint", env);
    let mut jaeger = configured(Service::Jaeger, exporter(obs, "jaeger"), "exporters.jaeger.endpoint", env);
    if jaeger.unusable.is_none() {
        jaeger.url = jaeger_ui(&jaeger.url);
    }
    let otlp = match env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty()) {
        Some(url) => Endpoint::new(Service::Otlp, &url, Origin::Environment("OTEL_EXPORTER_OTLP_ENDPOINT")),
        None => configured(Service::Otlp, exporter(obs, "otlp"), "exporters.otlp.endpoint", env),
    };
    vec![grafana, prometheus, jaeger, otlp]
}

/// The innermost cause of an error: reqwest's outer layers ("error sending request for url")
/// say nothing the table does not already show.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// An I/O error as a reason.
fn io_reason(error: &std::io::Error) -> ProbeError {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => ProbeError::Refused,
        _ => ProbeError::Other(error.to_string()),
    }
}

/// A reqwest error as a reason.
fn http_reason(error: &reqwest::Error, timeout: Duration) -> ProbeError {
    if error.is_timeout() {
        return ProbeError::Timeout(timeout);
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        cause = c.source();
    }
    ProbeError::Other(innermost(error))
}

/// Asks one endpoint, within `timeout`.
async fn probe(
    client: reqwest::Client,
    service: Service,
    url: String,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let parsed = reqwest::Url::parse(&url).map_err(|_| ProbeError::NotHttp)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProbeError::NotHttp);
    }
    match service.probe() {
        Probe::Get(path) => {
            let response =
                client.get(format!("{url}{path}")).send().await.map_err(|e| http_reason(&e, timeout))?;
            let status = response.status();
            if status.is_success() { Ok(()) } else { Err(ProbeError::Status(status.to_string())) }
        }
        Probe::Connect => {
            let host = parsed.host_str().ok_or(ProbeError::NotHttp)?;
            // An IPv6 literal keeps its brackets in the URL, not in an address to connect to.
            let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
            let port = parsed.port_or_known_default().ok_or(ProbeError::NotHttp)?;
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(io_reason(&e)),
                Err(_) => Err(ProbeError::Timeout(timeout)),
            }
        }
    }
}

/// Asks every endpoint at once, each within `timeout`, and gives the answers in the same order.
/// The only error is not being able to start the HTTP client at all.
pub fn check_all(endpoints: &[Endpoint], timeout: Duration) -> std::io::Result<Vec<Result<(), ProbeError>>> {
    // The engine's HTTP client is async; a handful of requests need no more than a
    // current-thread runtime, on which the spawned probes still wait on the network together.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        crate::tls::ensure_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| std::io::Error::other(innermost(&e)))?;
        let handles: Vec<_> = endpoints
            .iter()
            .map(|endpoint| {
                let unusable = endpoint.unusable.clone();
                let probe = probe(client.clone(), endpoint.service, endpoint.url.clone(), timeout);
                tokio::spawn(async move {
                    match unusable {
                        Some(reason) => Err(reason),
                        None => probe.await,
                    }
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(handles.len());
        for handle in handles {
            answers.push(handle.await.unwrap_or_else(|e| Err(ProbeError::Other(e.to_string()))));
        }
        Ok(answers)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::{Dashboard, EnvString};

    fn spec(endpoint: &str) -> ExporterSpec {
        ExporterSpec { endpoint: Some(EnvString(endpoint.to_owned())), ..ExporterSpec::default() }
    }

    fn urls(obs: Option<&Observability>, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        endpoints(obs, env).into_iter().map(|e| e.url).collect()
    }

    #[test]
    fn without_configuration_the_standard_local_ports_are_used() {
        assert_eq!(
            urls(None, &|_| None),
            [
                "http://localhost:3000",
                "http://localhost:9090",
                "http://localhost:16686",
                "http://localhost:4317"
            ]
        );
    }

    #[test]
    fn ralph_yaml_and_the_environment_say_where_the_services_are() {
        let mut obs = Observability {
            dashboard: Some(Dashboard {
                url: Some("https://grafana.example/".into()),
                ..Dashboard::default()
            }),
            ..Observability::default()
        };
        obs.exporters.insert("prometheus".into(), spec("http://prom:9091"));
        obs.exporters.insert("jaeger".into(), spec("http://traces:4317"));
        obs.exporters
            .insert("collector".into(), ExporterSpec { kind: Some("otlp".into()), ..spec("${COLLECTOR}") });
        let env = |name: &str| (name == "COLLECTOR").then(|| "http://otel:4317".to_owned());
        assert_eq!(
            urls(Some(&obs), &env),
            ["https://grafana.example", "http://prom:9091", "http://traces:16686", "http://otel:4317"]
        );
        let env = |name: &str| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://from-env:4318".to_owned()),
            _ => None,
        };
        let found = endpoints(Some(&obs), &env);
        assert_eq!(found[3].url, "http://from-env:4318");
        assert_eq!(found[3].origin, Origin::Environment("OTEL_EXPORTER_OTLP_ENDPOINT"));
        // Unset, the variable is the reason the endpoint is not asked.
        assert_eq!(
            endpoints(Some(&obs), &|_| None)[3].unusable.as_ref().map(ToString::to_string),
            Some("environment variable `COLLECTOR` is not set".to_owned())
        );
    }

    #[test]
    fn a_prometheus_port_is_the_engines_own_endpoint_not_prometheus() {
        let mut obs = Observability::default();
        obs.exporters
            .insert("prometheus".into(), ExporterSpec { port: Some(9464), ..ExporterSpec::default() });
        assert_eq!(endpoints(Some(&obs), &|_| None)[1].url, "http://localhost:9090");
    }

    #[test]
    fn a_closed_port_is_refused_and_a_bad_url_is_not_asked() {
        // A port that was just free: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let closed = format!("http://127.0.0.1:{port}");
        let list = vec![
            Endpoint::new(Service::Prometheus, &closed, Origin::Default),
            Endpoint::new(Service::Otlp, &closed, Origin::Default),
            Endpoint::new(Service::Grafana, "localhost:3000", Origin::Default),
        ];
        let answers = check_all(&list, Duration::from_secs(2)).unwrap();
        assert_eq!(answers, [Err(ProbeError::Refused), Err(ProbeError::Refused), Err(ProbeError::NotHttp)]);
    }
}
