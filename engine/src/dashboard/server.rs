//! The dashboard's HTTP server (hyper, HTTP/1.1): the page and its assets, the review form
//! (`/review`), the JSON API and the live feed, behind [`super::auth`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Request, Response};

use super::api::{self, Answer};
use super::auth::{self, Access};
use super::feed::{Feed, frame};

/// The largest request body read (a hint or a review comment).
const MAX_BODY: usize = 64 * 1024;

/// How often a page is sent what happened, at most.
const PAGE_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a status answer is reused: however many pages ask, the loop is asked at most this
/// often (a page asks after events, at most every 300 ms).
const STATUS_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The token: every change needs it, and every read unless `open_reads`.
    pub token: String,
    /// Reads need no token: only when bound to loopback, and only under loopback names.
    pub open_reads: bool,
    /// The project.
    pub project_dir: PathBuf,
    /// Its state directory (the store, the control socket).
    pub state_dir: PathBuf,
}

/// Why the dashboard cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bound off loopback with reads open to all.
    #[error("a dashboard on `{0}` is reachable from other machines: reading it needs the token too")]
    OpenOffLoopback(SocketAddr),
    /// The address cannot be bound.
    #[error("cannot listen on `{addr}`: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A serving dashboard: stops when dropped.
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Dashboard {
    /// Where it listens (the port chosen, when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

struct Shared {
    options: Options,
    access: Access,
    feed: Arc<Feed>,
    /// The last status answer and when it was taken; the lock is held while it is taken, so
    /// pages asking at once wait for one answer instead of each asking the loop.
    status: tokio::sync::Mutex<Option<(std::time::Instant, Answer)>>,
}

/// Serves the dashboard. Must be called inside a multi-threaded tokio runtime.
///
/// # Errors
///
/// A non-loopback address without a token, or an address that cannot be bound.
pub async fn serve(options: Options) -> Result<Dashboard, ServeError> {
    if !options.addr.ip().is_loopback() && options.open_reads {
        return Err(ServeError::OpenOffLoopback(options.addr));
    }
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: options.addr, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: options.addr, source })?;
    let shared = Arc::new(Shared {
        access: Access { token: options.token.clone(), open_reads: options.open_reads },
        feed: Feed::start(options.state_dir.clone()),
        status: tokio::sync::Mutex::new(None),
        options,
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let shared = Arc::clone(&shared);
                    async move { Ok::<_, Infallible>(answer(request, &shared).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                // A page closed mid-request is no error of the dashboard's.
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok(Dashboard { addr, task })
}

/// A response body: the whole of it, or the live feed.
pub enum Reply {
    /// A body known in full.
    Full(Full<Bytes>),
    /// Server-sent events, as they come.
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut *self {
            Reply::Full(full) => Pin::new(full).poll_frame(cx),
            Reply::Stream(receiver) => receiver.poll_recv(cx).map(|bytes| bytes.map(|b| Ok(Frame::data(b)))),
        }
    }
}

fn respond(status: u16, content_type: &str, body: Reply) -> Response<Reply> {
    let mut response = Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = content_type.parse() {
        headers.insert(hyper::header::CONTENT_TYPE, value);
    }
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", hyper::header::HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", hyper::header::HeaderValue::from_static("DENY"));
    response
}

fn json(answer: Answer) -> Response<Reply> {
    let Answer { status, body } = answer;
    let body = serde_json::to_vec_pretty(&body).unwrap_or_default();
    respond(status, "application/json", Reply::Full(Full::new(Bytes::from(body))))
}

async fn blocking(work: impl FnOnce() -> Answer + Send + 'static) -> Response<Reply> {
    json(tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| Answer::error(500, e)))
}

async fn answer(request: Request<Incoming>, shared: &Shared) -> Response<Reply> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    if let Err(denied) = auth::check(&shared.access, &method, request.headers(), request.uri().query()) {
        let mut response = json(Answer::error(denied.status(), denied.message()));
        if denied.status() == 401 {
            response
                .headers_mut()
                .insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
        }
        return response;
    }
    let (project, state) = (shared.options.project_dir.clone(), shared.options.state_dir.clone());
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET" | "HEAD", [""]) => asset("index.html"),
        ("GET" | "HEAD", ["assets", name]) => asset(name),
        ("GET" | "HEAD", ["review"]) => {
            let (status, html) = tokio::task::spawn_blocking(move || super::review::page(&project, &state))
                .await
                .unwrap_or_else(|e| {
                    (500, super::form::page("The review form failed", &super::form::escape(&e.to_string())))
                });
            respond(status, "text/html; charset=utf-8", Reply::Full(Full::new(Bytes::from(html))))
        }
        ("GET", ["api", "status"])
            if request.uri().query().is_some_and(|q| q.split('&').any(|p| p == "format=text")) =>
        {
            match tokio::task::spawn_blocking(move || api::status_text(&project, &state)).await {
                Ok(Ok(text)) => {
                    respond(200, "text/plain; charset=utf-8", Reply::Full(Full::new(Bytes::from(text))))
                }
                Ok(Err(answer)) => json(answer),
                Err(e) => json(Answer::error(500, e)),
            }
        }
        ("GET", ["api", "status"]) => {
            let mut last = shared.status.lock().await;
            if let Some((_, answer)) = last.as_ref().filter(|(at, _)| at.elapsed() < STATUS_FRESH) {
                return json(answer.clone());
            }
            let answer = tokio::task::spawn_blocking(move || api::status(&project, &state))
                .await
                .unwrap_or_else(|e| Answer::error(500, e));
            *last = Some((std::time::Instant::now(), answer.clone()));
            json(answer)
        }
        ("GET", ["api", "runs"]) => blocking(move || api::runs(&state)).await,
        ("GET", ["api", "tasks"]) => blocking(move || api::tasks(&project, &state)).await,
        ("GET", ["api", "runs", run, "events"]) => {
            let run = (*run).to_owned();
            blocking(move || api::events(&state, &run)).await
        }
        ("GET", ["api", "plan"]) => blocking(move || api::current_plan(&project)).await,
        ("GET", ["api", "runs", run, "plan"]) => {
            let run = (*run).to_owned();
            blocking(move || api::run_plan(&state, &run)).await
        }
        ("GET", ["api", "runs", run, "trace"]) => {
            let run = (*run).to_owned();
            blocking(move || api::trace(&state, &run)).await
        }
        ("GET", ["api", "runs", run, "steps"]) => {
            let run = (*run).to_owned();
            blocking(move || api::steps(&state, &run)).await
        }
        ("GET", ["api", "runs", run, "steps", invocation, step]) => {
            let Some(step) = api::decode_segment(step) else {
                return json(Answer::error(400, format!("`{step}` is not a step id")));
            };
            let lines = match query_value(request.uri().query(), "lines").map(str::parse::<usize>) {
                None => api::DEFAULT_LINES,
                Some(Ok(lines)) => lines,
                Some(Err(_)) => return json(Answer::error(400, "`lines` is a number of lines")),
            };
            let (run, invocation) = ((*run).to_owned(), (*invocation).to_owned());
            blocking(move || api::step_files(&project, &state, &run, &invocation, &step, lines)).await
        }
        ("GET", ["api", "runs", run, "replay-check"]) => {
            let run = (*run).to_owned();
            blocking(move || api::replay_check(&project, &state, &run)).await
        }
        ("GET", ["api", "events"]) => events(shared),
        ("POST", ["api", "control"]) => {
            let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return json(Answer::error(413, format!("the body is over {} KiB", MAX_BODY / 1024)));
                }
            };
            // The page reads the status again after a signal: it must see the signal's effect.
            *shared.status.lock().await = None;
            blocking(move || api::control(&state, &body)).await
        }
        (_, ["api", ..]) => {
            json(Answer::error(404, format!("no `{method} {path}` in the API (see docs/dashboard.md)")))
        }
        _ => json(Answer::error(404, format!("no `{path}` here"))),
    }
}

/// The value of `name` in a query string (`lines=50&token=…`).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn asset(name: &str) -> Response<Reply> {
    match super::assets::get(name) {
        Some((content_type, bytes)) => {
            respond(200, content_type, Reply::Full(Full::new(Bytes::from_static(bytes))))
        }
        None => json(Answer::error(404, format!("no asset `{name}`"))),
    }
}

/// `GET /api/events`: the run so far, then each event as it is journaled, as server-sent
/// events (`run`, `event` with the journal's sequence number as its id, `lagged`, `end`).
fn events(shared: &Shared) -> Response<Reply> {
    let (so_far, mut live) = shared.feed.join();
    let (sender, receiver) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        // A comment first: the browser knows the stream is open before any event.
        if sender.send(Bytes::from_static(b": ralph-loop\n\n")).await.is_err() {
            return;
        }
        for frame in so_far {
            if sender.send(frame).await.is_err() {
                return;
            }
        }
        loop {
            let next = match live.recv().await {
                Ok(frame) => frame,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    frame("lagged", None, &serde_json::json!({ "missed": missed }))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            // A page is updated at most ten times a second: the frames of the next 100 ms go
            // out with this one, in one write. A busy run journals thousands of events a
            // second, and each write to each page costs CPU the run's agents need.
            tokio::time::sleep(PAGE_TICK).await;
            let mut batch = next.to_vec();
            while let Ok(more) = live.try_recv() {
                batch.extend_from_slice(&more);
            }
            if sender.send(Bytes::from(batch)).await.is_err() {
                return;
            }
        }
    });
    respond(200, "text/event-stream", Reply::Stream(receiver))
}
