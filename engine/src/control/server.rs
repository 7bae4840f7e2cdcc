//! The loop's side of the control channel: a Unix socket in the state directory, served by a
//! tokio task inside the running loop.
//!
//! The server decides nothing: a signal becomes an [`Order`] for the runner, which journals it
//! (or refuses it) and answers; `status` is the snapshot the runner publishes after every event;
//! `subscribe` is the journal so far followed by the events the runner broadcasts; the read
//! requests (`runs`, `journal`, `snapshots`, `definition`) are answered from the loop's store
//! through the [`Archive`] the runner lends, off the async workers (they read the disk).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::peer::Peer;
use super::protocol::{LiveStatus, Reply, Request, Signal};
use super::{ControlError, check_len, socket_path};

/// A signal handed to the runner, with where its answer goes.
#[derive(Debug)]
pub struct Order {
    /// The signal.
    pub signal: Signal,
    /// A name the sender gave (`--as NAME`), shown beside the OS user, never instead of it.
    pub display_name: Option<String>,
    /// Who is on the other end of the socket; `None` for the loop's own orders (the
    /// `pause_loop` and `resume_loop` actions), which never come through the socket.
    pub peer: Option<Box<Peer>>,
    /// The answer: `accepted` once journaled, or `refused`.
    pub reply: Option<oneshot::Sender<Reply>>,
}

/// The bounds of the control socket: what one client may make the loop hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest request line, in bytes: past it, an error reply and the connection closed
    /// (never more than this is held).
    pub max_line: usize,
    /// How many connections are served at once: past it, a new one gets an error reply and is
    /// closed at once, so the loop's file descriptors stay bounded.
    pub max_connections: usize,
    /// How long a connection may wait before (or between) requests, and take to send one.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_line: 1 << 20, max_connections: 64, idle: Duration::from_secs(30) }
    }
}

/// What a running loop lets its clients read of its store: its own run's journal (for
/// `subscribe`) and every run's records, journals, snapshots and stored definitions (for the
/// read-only verbs, which cannot open a store the loop holds). Everything is JSON as the store
/// keeps it, so this module needs no store types. Calls block on the disk.
pub trait Archive: Send + Sync {
    /// The run this loop runs.
    fn live_run(&self) -> &str;
    /// Up to `limit` events of `run`'s journal from sequence number `from` on, in order.
    fn journal(&self, run: &str, from: u64, limit: usize) -> Result<Vec<(u64, serde_json::Value)>, String>;
    /// Every run's record, oldest first.
    fn runs(&self) -> Result<Vec<serde_json::Value>, String>;
    /// The snapshots of `run`, or of every run, oldest first.
    fn snapshots(&self, run: Option<&str>) -> Result<Vec<serde_json::Value>, String>;
    /// The stored definition with this hash.
    fn definition(&self, hash: &str) -> Result<Option<serde_json::Value>, String>;
}

/// The loop's store as its server reads it.
pub type History = Arc<dyn Archive>;

/// How many journal events are read (and held) at once: a 100,000-event journal is sent in
/// pages, never held whole.
const PAGE: usize = 1000;

/// Runs a blocking read of the archive on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    archive: &History,
    f: impl FnOnce(&dyn Archive) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let archive = Arc::clone(archive);
    tokio::task::spawn_blocking(move || f(&*archive))
        .await
        .unwrap_or_else(|e| Err(format!("reading the store failed: {e}")))
}

/// What the runner shares with the server.
#[derive(Clone)]
pub struct Hub {
    /// Signals for the runner.
    pub orders: mpsc::UnboundedSender<Order>,
    /// The runner's latest status.
    pub status: watch::Receiver<LiveStatus>,
    /// Every event as it is journaled, with its sequence number.
    pub events: broadcast::Sender<(u64, LiveEvent)>,
    /// The journal so far.
    pub history: History,
    /// Set when the run has ended: the server stops.
    pub closing: watch::Receiver<bool>,
}

/// The socket file: removed when the server goes away, however it goes.
#[derive(Debug)]
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bound control socket, not serving yet (it is bound before the runtime runs the loop, so
/// that a run that cannot be controlled is refused before it starts).
#[derive(Debug)]
pub struct Server {
    listener: std::os::unix::net::UnixListener,
    file: SocketFile,
    limits: Limits,
}

impl Server {
    /// Binds `<state_dir>/control.sock`, owner-only. A socket left by a loop that was killed
    /// answers nothing (connecting is refused): it is replaced. The caller owns the state
    /// directory (its loop lock), so no live loop can be answering there.
    pub fn bind(state_dir: &Path) -> Result<Server, ControlError> {
        let path = socket_path(state_dir);
        check_len(&path)?;
        let io = |source| ControlError::Io { path: path.clone(), source };
        if path.symlink_metadata().is_ok() {
            match std::os::unix::net::UnixStream::connect(&path) {
                Ok(_) => return Err(ControlError::InUse(path)),
                Err(_) => std::fs::remove_file(&path).map_err(io)?,
            }
        }
        // The socket's directory is made owner-only first, so the socket is never, even for a
        // moment, reachable by other users; its own mode is then set as well. (Not through the
        // umask: it is the process's, and a file another thread creates meanwhile — a log, a
        // hook an agent's test writes — would get the socket's mode.)
        std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| ControlError::Io { path: state_dir.to_owned(), source })?;
        let listener = std::os::unix::net::UnixListener::bind(&path).map_err(io)?;
        let file = SocketFile(path.clone());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        Ok(Server { listener, file, limits: Limits::default() })
    }

    /// The same server with other bounds (tests use small ones).
    pub fn with_limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.file.0
    }

    /// Serves until the run ends (`hub.closing`), then removes the socket and gives open
    /// connections a moment to say `end`. Must run inside a tokio runtime.
    pub async fn serve(self, hub: Hub) {
        let Server { listener, file, limits } = self;
        let Ok(listener) = tokio::net::UnixListener::from_std(listener) else { return };
        let mut closing = hub.closing.clone();
        let mut connections = JoinSet::new();
        // The connections served, oldest first, with whether each has asked anything yet.
        let mut slots: std::collections::VecDeque<Slot> = std::collections::VecDeque::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        slots.retain(|slot| !slot.evict.is_closed());
                        while connections.try_join_next().is_some() {}
                        // Connections being closed for newer ones end at once, but they may not
                        // have run yet under a flood: wait briefly for one rather than turn
                        // a person away.
                        while connections.len() >= 2 * limits.max_connections {
                            let ended = tokio::time::timeout(Duration::from_millis(200), connections.join_next());
                            if !matches!(ended.await, Ok(Some(_))) {
                                break;
                            }
                        }
                        // A full house makes room by closing the oldest connection that has
                        // asked nothing yet: a flood of idle connections cannot keep a person's
                        // `approve` out. Connections being closed still count, twice the limit
                        // at most, so descriptors stay bounded.
                        let room = slots.len() < limits.max_connections
                            || (connections.len() < 2 * limits.max_connections && evict_idlest(&mut slots));
                        if !room {
                            turn_away(&stream, limits.max_connections);
                            continue;
                        }
                        let (evict, evicted) = oneshot::channel();
                        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
                        slots.push_back(Slot { evict, asked: Arc::clone(&asked) });
                        connections.spawn(serve_connection(stream, hub.clone(), limits, Idle { asked, evicted }));
                    }
                    // Out of descriptors (the process's, not the socket's: those are bounded
                    // above): accepting again at once would spin. A short pause lets steps end
                    // and give theirs back.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                _ = closing.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        drop(file);
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
    }
}

/// A served connection, as the accept loop sees it.
struct Slot {
    /// Closes the connection, if it has asked nothing yet.
    evict: oneshot::Sender<()>,
    /// Whether it has sent a request.
    asked: Arc<std::sync::atomic::AtomicBool>,
}

/// A connection's side of its [`Slot`].
struct Idle {
    asked: Arc<std::sync::atomic::AtomicBool>,
    evicted: oneshot::Receiver<()>,
}

/// Closes the oldest connection that has asked nothing yet; whether there was one.
fn evict_idlest(slots: &mut std::collections::VecDeque<Slot>) -> bool {
    let Some(i) = slots.iter().position(|s| !s.asked.load(std::sync::atomic::Ordering::Relaxed)) else {
        return false;
    };
    slots.remove(i).is_some_and(|slot| slot.evict.send(()).is_ok())
}

/// Appends `reply` as a line to `batch`.
/// How long a subscriber's next write waits for more events to go with the first.
const GATHER: Duration = Duration::from_millis(20);

/// A journaled event as the runner broadcasts it: its JSON, serialized once for every
/// subscriber (a busy DAG journals thousands a second, and a tree of values built for each only
/// to be written out again cost the loop's thread a measurable share with a dashboard open).
pub type LiveEvent = Arc<str>;

/// Serializes an event for [`Hub::events`].
pub fn live_event(event: &impl serde::Serialize) -> Option<LiveEvent> {
    serde_json::to_string(event).ok().map(LiveEvent::from)
}

/// The line [`Reply::Event`] serializes to, written around the event's JSON as it is: the
/// tag, the sequence number, the event (a test holds it to serde's own output).
fn push_event(batch: &mut Vec<u8>, seq: u64, event: &str) {
    batch.extend_from_slice(br#"{"reply":"event","seq":"#);
    batch.extend_from_slice(seq.to_string().as_bytes());
    batch.extend_from_slice(br#","event":"#);
    batch.extend_from_slice(event.as_bytes());
    batch.extend_from_slice(b"}\n");
}

/// Whether the event's JSON is the run's last event (the tag comes first).
fn is_last(event: &str) -> bool {
    event.starts_with(r#"{"event":"run_finished""#)
}

fn push(batch: &mut Vec<u8>, reply: &Reply) -> std::io::Result<()> {
    serde_json::to_writer(&mut *batch, reply).map_err(std::io::Error::other)?;
    batch.push(b'\n');
    Ok(())
}

async fn write(stream: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await
}

/// Answers a connection past the limit with an error and closes it, without waiting: the reply
/// is one short line, which a new connection's empty buffer always takes.
fn turn_away(stream: &UnixStream, max: usize) {
    let reply = Reply::Refused {
        message: format!(
            "the loop serves {max} control connections at once and has no room for another; try again when one closes"
        ),
    };
    if let Ok(mut line) = serde_json::to_vec(&reply) {
        line.push(b'\n');
        let _ = stream.try_write(&line);
    }
}

/// Reads one request line of at most `limits.max_line` bytes within `limits.idle`. `Ok(None)`
/// when the client closed the connection; `Err` is the reply to send before closing it.
async fn read_request(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    limits: Limits,
) -> Result<Option<Vec<u8>>, Reply> {
    let mut line = Vec::new();
    // One byte past the limit tells a line of exactly the limit from a longer one; nothing
    // beyond it is read, so a line with no end costs at most the limit.
    let mut bounded = (&mut *reader).take(limits.max_line as u64 + 1);
    match tokio::time::timeout(limits.idle, bounded.read_until(b'\n', &mut line)).await {
        Err(_) => Err(Reply::Refused {
            message: format!(
                "no complete request within {} s: the connection is closed",
                limits.idle.as_secs_f64()
            ),
        }),
        Ok(Err(_)) | Ok(Ok(0)) => Ok(None),
        Ok(Ok(_)) if line.last() == Some(&b'\n') => {
            line.pop();
            Ok(Some(line))
        }
        Ok(Ok(_)) if line.len() > limits.max_line => Err(Reply::Refused {
            message: format!(
                "the request is longer than {} bytes, the most a control request may be: the connection is closed",
                limits.max_line
            ),
        }),
        // The last request, without its newline, before the client closed its side.
        Ok(Ok(_)) => Ok(Some(line)),
    }
}

async fn serve_connection(stream: UnixStream, hub: Hub, limits: Limits, idle: Idle) {
    // The kernel's word on who connected, taken now: the credentials are those of the process
    // that called `connect`, whatever it does with the connection afterwards.
    let cred = stream.peer_cred().ok();
    let (read, mut write_half) = stream.into_split();
    let mut reader = BufReader::new(read);
    let Idle { asked, mut evicted } = idle;
    let evicted_reply = || Reply::Refused {
        message: "the loop closed this connection, which had sent no request, to make room for another"
            .into(),
    };
    // Until its first request a connection may be closed for a newer one.
    let first = tokio::select! {
        read = read_request(&mut reader, limits) => read,
        Ok(()) = &mut evicted => Err(evicted_reply()),
    };
    asked.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut next = Some(first);
    loop {
        let read = match next.take() {
            Some(first) => first,
            None => read_request(&mut reader, limits).await,
        };
        let line = match read {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(reply) => {
                let _ = write(&mut write_half, &reply).await;
                return;
            }
        };
        let request = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => request,
            Err(e) => {
                let what = match std::str::from_utf8(&line) {
                    Ok(_) => format!("not a control request: {e}"),
                    Err(_) => "not a control request: the line is not UTF-8 (requests are JSON lines)".into(),
                };
                let _ = write(&mut write_half, &Reply::Refused { message: what }).await;
                return;
            }
        };
        let reply = match request {
            Request::Status => Reply::Status { status: Box::new(hub.status.borrow().clone()) },
            Request::Signal { signal, display_name } => {
                // Read while the sender waits for its answer, so its process is still there.
                let peer = match cred {
                    Some(cred) => Peer::identify(cred.pid(), cred.uid()),
                    None => Peer::unknown(),
                };
                order(&hub, signal, display_name, peer).await
            }
            Request::Subscribe { from, follow } => {
                let _ = subscribe(&mut write_half, &mut reader, &hub, from, follow).await;
                return;
            }
            Request::Journal { run, from } => {
                match journal(&mut write_half, &hub.history, &run, from, u64::MAX).await {
                    Ok(Ok(_)) => Reply::End,
                    Ok(Err(message)) => Reply::Unreadable { message },
                    Err(_) => return,
                }
            }
            Request::Runs => match blocking(&hub.history, |a| a.runs()).await {
                Ok(runs) => Reply::Runs { runs, live: hub.history.live_run().to_owned() },
                Err(message) => Reply::Unreadable { message },
            },
            Request::Snapshots { run } => {
                match blocking(&hub.history, move |a| a.snapshots(run.as_deref())).await {
                    Ok(snapshots) => Reply::Snapshots { snapshots },
                    Err(message) => Reply::Unreadable { message },
                }
            }
            Request::Definition { hash } => {
                match blocking(&hub.history, move |a| a.definition(&hash)).await {
                    Ok(definition) => Reply::Definition { definition },
                    Err(message) => Reply::Unreadable { message },
                }
            }
        };
        if write(&mut write_half, &reply).await.is_err() {
            return;
        }
    }
}

async fn order(hub: &Hub, signal: Signal, display_name: Option<String>, peer: Peer) -> Reply {
    let (tx, rx) = oneshot::channel();
    if hub.orders.send(Order { signal, display_name, peer: Some(Box::new(peer)), reply: Some(tx) }).is_err() {
        return Reply::Refused { message: "the loop is ending".into() };
    }
    let mut closing = hub.closing.clone();
    // A reply sent before the loop closed wins: a decision that ends the run (an approval
    // leading to a terminal state) closes the loop right after it is answered, and an unbiased
    // select picked the closing half of the time when both were ready.
    tokio::select! {
        biased;
        reply = rx => reply.unwrap_or(Reply::Refused { message: "the loop ended before acting on it".into() }),
        _ = closing.changed() => Reply::Refused { message: "the loop ended before acting on it".into() },
    }
}

/// Sends the events of `run`'s journal from `from` up to (not including) `until`, a page at a
/// time; the sequence number after the last one sent, or why the store could not be read.
async fn journal(
    out: &mut tokio::net::unix::OwnedWriteHalf,
    archive: &History,
    run: &str,
    from: u64,
    until: u64,
) -> std::io::Result<Result<u64, String>> {
    let mut next = from.max(1);
    loop {
        let run = run.to_owned();
        let page = match blocking(archive, move |a| a.journal(&run, next, PAGE)).await {
            Ok(page) => page,
            Err(message) => return Ok(Err(message)),
        };
        let full = page.len() == PAGE;
        for (seq, event) in page {
            if seq >= until {
                return Ok(Ok(next));
            }
            write(out, &Reply::Event { seq, event }).await?;
            next = seq + 1;
        }
        if !full {
            return Ok(Ok(next));
        }
    }
}

/// The journal from `from`, then live events until `run_finished`. Events journaled before
/// the subscription but not yet readable from the store (the writer thread applies them in
/// batches) show up as a gap before the first live event: the journal is read again for it.
async fn subscribe(
    out: &mut tokio::net::unix::OwnedWriteHalf,
    input: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    hub: &Hub,
    from: u64,
    follow: bool,
) -> std::io::Result<()> {
    let mut live = hub.events.subscribe();
    let run = hub.history.live_run().to_owned();
    // A journal that cannot be read sends what it can: the live events still follow.
    let mut next = journal(out, &hub.history, &run, from, u64::MAX).await?.unwrap_or(from.max(1));
    if !follow {
        return write(out, &Reply::End).await;
    }
    let mut closing = hub.closing.clone();
    let mut byte = [0u8; 1];
    // An event taken from the channel while draining it that must wait for a gap to be read.
    let mut pending: Option<(u64, LiveEvent)> = None;
    loop {
        let received = match pending.take() {
            Some(event) => Ok(event),
            None => tokio::select! {
                received = live.recv() => received,
                _ = closing.changed() => Err(broadcast::error::RecvError::Closed),
                // A subscriber sends nothing more: its side closing (or anything it sends) ends the
                // subscription now, not at the next event, so that its place is free.
                _ = input.read(&mut byte) => return Ok(()),
            },
        };
        match received {
            Ok((seq, event)) => {
                if seq < next {
                    continue;
                }
                for _ in 0..100 {
                    if next >= seq {
                        break;
                    }
                    if let Ok(after) = journal(out, &hub.history, &run, next, seq).await? {
                        next = after;
                    }
                    if next < seq {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                // This event and every one journaled in the next few milliseconds go out in
                // one write: a busy run journals thousands of events a second, and a wake-up
                // and a write for each cost the loop's own threads a measurable share of a
                // DAG of quick steps with a dashboard open (the subscriber is no later for it
                // than a person can see).
                if !is_last(&event) {
                    tokio::time::sleep(GATHER).await;
                }
                let mut batch = Vec::new();
                let mut finished = is_last(&event);
                push_event(&mut batch, seq, &event);
                next = seq + 1;
                while !finished {
                    match live.try_recv() {
                        Ok((seq, _)) if seq < next => {}
                        Ok((seq, event)) if seq == next => {
                            finished = is_last(&event);
                            push_event(&mut batch, seq, &event);
                            next = seq + 1;
                        }
                        Ok(later) => {
                            pending = Some(later);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if finished {
                    push(&mut batch, &Reply::End)?;
                }
                out.write_all(&batch).await?;
                if finished {
                    return Ok(());
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                write(out, &Reply::Lagged { missed }).await?;
            }
            Err(broadcast::error::RecvError::Closed) => {
                let mut batch = Vec::new();
                while let Ok((seq, event)) = live.try_recv() {
                    if seq >= next {
                        push_event(&mut batch, seq, &event);
                    }
                }
                out.write_all(&batch).await?;
                return write(out, &Reply::End).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, Write as _};

    #[test]
    fn an_event_line_is_what_serde_writes_for_the_reply() {
        let event = crate::run::core::event::Event::RunFinished {
            status: crate::run::core::event::RunStatus::Succeeded,
            reason: "done \"quoted\" ✓".into(),
            class: None,
            at: "2026-01-01T00:00:00Z".into(),
        };
        let json = live_event(&event).unwrap();
        let mut line = Vec::new();
        push_event(&mut line, 42, &json);
        let value = serde_json::to_value(&event).unwrap();
        let mut expected = serde_json::to_vec(&Reply::Event { seq: 42, event: value }).unwrap();
        expected.push(b'\n');
        assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(expected).unwrap());
        assert!(is_last(&json));
        let started =
            crate::run::core::event::Event::Warning { message: "run_finished".into(), at: String::new() };
        assert!(!is_last(&live_event(&started).unwrap()));
    }

    struct NoStore;

    impl Archive for NoStore {
        fn live_run(&self) -> &str {
            "r1"
        }
        fn journal(&self, _: &str, _: u64, _: usize) -> Result<Vec<(u64, serde_json::Value)>, String> {
            Ok(Vec::new())
        }
        fn runs(&self) -> Result<Vec<serde_json::Value>, String> {
            Ok(Vec::new())
        }
        fn snapshots(&self, _: Option<&str>) -> Result<Vec<serde_json::Value>, String> {
            Ok(Vec::new())
        }
        fn definition(&self, _: &str) -> Result<Option<serde_json::Value>, String> {
            Ok(None)
        }
    }

    /// Serves a socket in `dir` with `limits` on a runtime of its own thread; the orders it
    /// takes go to the returned receiver.
    fn serving(dir: &Path, limits: Limits) -> (std::thread::JoinHandle<()>, watch::Sender<bool>) {
        let server = Server::bind(dir).unwrap().with_limits(limits);
        let (closing_tx, closing) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (orders, mut taken) = mpsc::unbounded_channel::<Order>();
            let (_status_tx, status) = watch::channel(LiveStatus::default());
            let (events, _) = broadcast::channel(16);
            let hub = Hub { orders, status, events, history: Arc::new(NoStore), closing };
            runtime.block_on(async move {
                // The runner's part: every signal refused, naming who sent it.
                tokio::spawn(async move {
                    while let Some(order) = taken.recv().await {
                        let who = order.peer.map(|p| p.user).unwrap_or_default();
                        let _ = order.reply.unwrap().send(Reply::Refused { message: format!("from {who}") });
                    }
                });
                server.serve(hub).await;
            });
        });
        (thread, closing_tx)
    }

    fn connect(dir: &Path) -> std::os::unix::net::UnixStream {
        std::os::unix::net::UnixStream::connect(socket_path(dir)).unwrap()
    }

    fn reply(stream: &std::os::unix::net::UnixStream) -> Option<Reply> {
        let mut line = String::new();
        std::io::BufReader::new(stream).read_line(&mut line).unwrap();
        (!line.is_empty()).then(|| serde_json::from_str(&line).unwrap())
    }

    fn refused(reply: Option<Reply>) -> String {
        match reply {
            Some(Reply::Refused { message }) => message,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn what_the_socket_cannot_read_or_hold_gets_an_error_reply_and_the_connection_closed() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { max_line: 1000, max_connections: 3, idle: Duration::from_millis(300) };
        let (thread, closing) = serving(dir.path(), limits);
        // Invalid UTF-8.
        let mut bad = connect(dir.path());
        bad.write_all(b"{\"request\":\"status\xff\"}\n").unwrap();
        assert!(refused(reply(&bad)).contains("not UTF-8"));
        assert!(reply(&bad).is_none(), "closed after the reply");
        // Not JSON.
        let mut junk = connect(dir.path());
        junk.write_all(b"hello\n").unwrap();
        assert!(refused(reply(&junk)).starts_with("not a control request"));
        // A line past the limit: refused once the limit is read, the rest never held.
        let mut long = connect(dir.path());
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < 8 << 20 && long.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        assert!(sent < 8 << 20, "the loop stopped reading past the limit");
        assert!(refused(reply(&long)).contains("longer than 1000 bytes"));
        // A connection that says nothing is closed at the idle timeout, with a reply.
        let idle = connect(dir.path());
        assert!(refused(reply(&idle)).contains("no complete request within 0.3 s"));
        // A full house makes room by closing its oldest connection that has asked nothing.
        let held: Vec<_> = (0..3).map(|_| connect(dir.path())).collect();
        let mut newer = Vec::new();
        for _ in 0..3 {
            newer.push(connect(dir.path()));
        }
        let oldest = refused(reply(&held[0]));
        assert!(oldest.contains("to make room for another"), "{oldest}");
        drop((held, newer));
        // When every connection is busy (subscribers), a new one is turned away at once.
        let mut busy = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while busy.len() < 3 {
            let mut sub = connect(dir.path());
            sub.write_all(b"{\"request\":\"subscribe\"}\n").unwrap();
            sub.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            // A subscriber is answered only when events come: silence means it is served.
            let mut byte = [0u8; 1];
            match std::io::Read::read(&mut sub, &mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => busy.push(sub),
                _ => assert!(std::time::Instant::now() < deadline, "no subscriber was served"),
            }
        }
        let extra = connect(dir.path());
        assert!(refused(reply(&extra)).contains("serves 3 control connections at once"));
        drop(busy);
        // A signal is handed on with the OS user the kernel names on the other end, whatever
        // name the request gives. (The closed connections free their places as the server
        // notices them: until then, a new one is turned away.)
        let me = crate::control::peer::user_name(std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata("/proc/self").unwrap(),
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut signal = connect(dir.path());
            // Turned away, it may be closed before the request is written.
            let _ = signal.write_all(b"{\"request\":\"signal\",\"signal\":\"pause\",\"by\":\"mallory\"}\n");
            let answer = refused(reply(&signal));
            if !answer.contains("at once") {
                assert_eq!(answer, format!("from {me}"));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the closed connections' places were never freed");
        }
        closing.send(true).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn the_socket_is_owner_only_a_stale_one_is_replaced_and_a_long_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A socket left behind by a killed loop: a file nobody answers on.
        let stale = std::os::unix::net::UnixListener::bind(socket_path(dir.path())).unwrap();
        drop(stale);
        let server = Server::bind(dir.path()).unwrap();
        let mode = std::fs::metadata(server.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(Server::bind(dir.path()), Err(ControlError::InUse(_))));
        drop(server);
        assert!(!socket_path(dir.path()).exists(), "removed when the server goes away");
        let long = dir.path().join("x".repeat(120));
        let err = Server::bind(&long).unwrap_err();
        assert!(err.to_string().contains("longer than the 107 a Unix socket allows"), "{err}");
    }
}
