//! `/metrics` for Prometheus to scrape: the run's instruments in the text exposition format,
//! served on loopback unless `--metrics-addr` says otherwise.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use prometheus::{Encoder, TextEncoder};

/// The `/metrics` server: stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MetricsServer {
    /// Where it listens (the port chosen, when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The exposition of `registry`'s metrics.
pub fn exposition(registry: &prometheus::Registry) -> String {
    let mut out = Vec::new();
    // Encoding only fails on a broken metric family, which the registry does not hold.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn answer(request: &Request<Incoming>, registry: &prometheus::Registry) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method().as_str(), request.uri().path()) {
        ("GET" | "HEAD", "/metrics") => (StatusCode::OK, prometheus::TEXT_FORMAT, exposition(registry)),
        ("GET" | "HEAD", "/") => {
            (StatusCode::OK, "text/plain; charset=utf-8", "ralph-loop: metrics are at /metrics\n".to_owned())
        }
        ("GET" | "HEAD", _) => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n".to_owned()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET /metrics\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Serves `registry` on `addr`. Must be called inside the tokio runtime.
pub async fn serve(addr: SocketAddr, registry: prometheus::Registry) -> std::io::Result<MetricsServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let registry = registry.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let response = answer(&request, &registry);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                // A scraper that hangs up mid-request is its own problem, not the run's.
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok(MetricsServer { addr, task })
}
