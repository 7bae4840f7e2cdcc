//! Delivery of the `notifications:` section's events to their channels: Slack incoming
//! webhooks and generic JSON webhooks ([`http`]), and email over SMTP ([`email`]).
//!
//! Each send is a task on the run's runtime, so a slow or dead channel never holds the loop up;
//! a failed attempt is retried with a short backoff; every attempt comes back to the runner as a
//! [`Report`] (which it journals) and is written, masked, to the run's `notifications.log`; a
//! channel that stays down is reported once when the run ends. What costs CPU time (loading the
//! system's certificate authorities for TLS) is done once, on a blocking thread, and only for a
//! channel that needs TLS, so a run with a dead channel runs as fast as one without.
//!
//! This module depends on the workflow model, `reqwest`, `lettre` and the run's log file only:
//! the runner decides when an event happens.

mod email;
mod http;
mod route;
mod sign;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::{mpsc, watch};

use crate::redact::Redactor;
use crate::workflow::model::{Channel, Notification, Notifications};

pub use route::Route;
use route::{event_routes, review_notification};

/// How many times a send is tried before the channel is called down.
const ATTEMPTS: u32 = 3;
/// The wait before the second attempt; each later wait doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the run's end waits for the sends still in flight.
pub const END_WAIT: Duration = Duration::from_secs(3);

/// The kind of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Slack,
    Webhook,
    Email,
}

/// A channel with its `${VAR}` references resolved.
#[derive(Debug, Clone)]
struct Target {
    kind: Kind,
    /// Slack and webhook channels: where to POST.
    url: String,
    slack_channel: Option<String>,
    headers: Vec<(String, String)>,
    /// Webhook channels: the HMAC-SHA256 key of the signature header.
    secret: Option<String>,
    /// Email channels: the server and the envelope.
    email: Option<Arc<email::Settings>>,
}

/// Whether a TCP connection to `host:port` can be made, before the TLS settings a channel needs
/// are made for it: they cost tens of milliseconds of CPU (the system's certificate
/// authorities), which a channel that is down must not cost the run. Asked only until the
/// settings exist, so a channel that works sees one extra connection per run at most.
async fn reachable(host: &str, port: u16) -> Result<(), String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match tokio::time::timeout(ATTEMPT_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// What the run knows of an event when it happens.
#[derive(Debug, Clone, Default)]
pub struct Happening {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The one-line text people read.
    pub text: String,
    /// The step it concerns, if any (the one waiting for review).
    pub step: Option<String>,
    /// How the run ended, for `on_complete` and `on_failure`.
    pub status: Option<String>,
    /// A review's reminder: which one (from 1); 0 for the first message.
    pub reminder: u32,
    /// A review: its web form (`loop --dashboard`'s address and `/review`; never the token).
    pub review_url: Option<String>,
}

/// What came back from a send: one attempt, or the send's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// One attempt and its result (journaled by the runner).
    Attempt(Attempt),
    /// The send ended; `failure` is why it was not delivered, if it was not.
    Done {
        /// The channel.
        channel: String,
        /// Why it was not delivered.
        failure: Option<String>,
    },
}

/// One attempt to deliver an event to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The event (`on_start`, …, `test`).
    pub event: String,
    /// The channel.
    pub channel: String,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// How many attempts a send gets.
    pub attempts: u32,
    /// Whether this attempt delivered it.
    pub delivered: bool,
    /// `delivered (200)`, `delivered (250 ok)`, or why it failed; masked, without the URL.
    pub detail: String,
}

/// What the sending tasks share: the channels, where to report, whether the run is ending.
#[derive(Debug)]
struct Shared {
    targets: IndexMap<String, Target>,
    run_dir: Option<PathBuf>,
    reports: mpsc::UnboundedSender<Report>,
    /// Turns true when the run ends: a send waits for no more backoff then.
    ending: watch::Receiver<bool>,
    /// Sends started and not yet done.
    in_flight: AtomicUsize,
    clients: http::Clients,
    redactor: Redactor,
}

/// A handle that sends from anywhere on the run's runtime (a review's reminders).
#[derive(Debug, Clone)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    /// Sends `event` along `routes` in the background; returns at once.
    pub fn send(&self, event: &str, routes: &[Route], happening: &Happening) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        for route in routes {
            let Some(target) = self.shared.targets.get(&route.channel) else { continue };
            let message = Message::new(target, event, happening, route);
            let shared = Arc::clone(&self.shared);
            shared.in_flight.fetch_add(1, Ordering::SeqCst);
            let channel = route.channel.clone();
            handle.spawn(async move {
                let failure = deliver(&shared, &channel, &message).await;
                // Reported before it stops counting as in flight: the run's end, which stops
                // waiting when nothing is in flight, finds the report there.
                let _ = shared.reports.send(Report::Done { channel, failure });
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
}

/// A review's reminders: what [`super::human`] sends every `reminder_interval`.
#[derive(Debug, Clone)]
pub struct Reminder {
    sender: Sender,
    routes: Vec<Route>,
    happening: Happening,
}

impl Reminder {
    /// Sends reminder number `n` (from 1), `waited` after the review opened.
    pub fn remind(&self, n: u32, waited: Duration) {
        let mut happening = self.happening.clone();
        happening.reminder = n;
        let step = happening.step.clone().unwrap_or_default();
        let id = &happening.run_id;
        happening.text = format!(
            "ralph-loop: reminder {n}: `{step}` of run `{id}` has been waiting for review for {}: `ralph-loop approve {id}` or `ralph-loop reject {id}`{}",
            humantime::format_duration(Duration::from_secs(waited.as_secs())),
            review_link(happening.review_url.as_deref())
        );
        self.sender.send(REVIEW_EVENT, &self.routes, &happening);
    }
}

/// What a review's text ends with when its form is served: `, or decide at <url>`.
pub fn review_link(url: Option<&str>) -> String {
    url.map(|url| format!(", or decide at {url}")).unwrap_or_default()
}

/// The event of a review waiting.
pub const REVIEW_EVENT: &str = "on_human_review_needed";

/// Sends the run's notifications in the background.
#[derive(Debug)]
pub struct Notifier {
    sender: Sender,
    routes: IndexMap<String, Vec<Route>>,
    /// A human state's `notification:` adds to (and overrides) the review event's routes.
    review_routes: IndexMap<String, Vec<Route>>,
    /// Where the sends report; the runner takes from it.
    pub reports: mpsc::UnboundedReceiver<Report>,
    ending: watch::Sender<bool>,
    /// Channels whose sends failed for good: how many, and the last reason.
    down: BTreeMap<String, (usize, String)>,
}

impl Notifier {
    /// The notifier of a workflow's `notifications:` section and its human states'
    /// `notification:` (by step), and the problems of channels it cannot use (a variable that
    /// is not set, a missing setting), to be shown as warnings: a notification must never stop
    /// the run. A relative `ca_file` is found in `project_dir`. The channels' secrets (resolved URLs, passwords, signing keys) are added to
    /// `redactor`, so nothing the run writes shows them.
    pub fn new(
        section: Option<&Notifications>,
        reviews: &[(String, Notification)],
        run_dir: Option<&Path>,
        project_dir: Option<&Path>,
        redactor: &mut Redactor,
    ) -> (Notifier, Vec<String>) {
        let env = |var: &str| std::env::var(var).ok();
        let base = project_dir;
        let mut targets = IndexMap::new();
        let mut problems = Vec::new();
        let mut routes = IndexMap::new();
        if let Some(section) = section {
            for (name, channel) in &section.channels {
                match resolve(name, channel, &env, base) {
                    Ok(target) => {
                        targets.insert(name.clone(), target);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
            for (event, refs) in &section.events {
                routes.insert(event.clone(), event_routes(refs));
            }
        }
        let mut review_routes = IndexMap::new();
        for (step, notification) in reviews {
            let mut list = routes.get(REVIEW_EVENT).cloned().unwrap_or_default();
            match review_notification(step, notification, &mut list, &mut targets, &env) {
                Ok(()) => {}
                Err(problem) => problems.push(problem),
            }
            review_routes.insert(step.clone(), list);
        }
        for target in targets.values() {
            for secret in target.secrets() {
                redactor.add(secret);
            }
        }
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (ending, ending_rx) = watch::channel(false);
        let shared = Shared {
            targets,
            run_dir: run_dir.map(Path::to_owned),
            reports: reports_tx,
            ending: ending_rx,
            in_flight: AtomicUsize::new(0),
            clients: http::Clients::default(),
            redactor: redactor.clone(),
        };
        let notifier = Notifier {
            sender: Sender { shared: Arc::new(shared) },
            routes,
            review_routes,
            reports,
            ending,
            down: BTreeMap::new(),
        };
        (notifier, problems)
    }

    /// A notifier that sends nothing (a script's run).
    pub fn none() -> Notifier {
        Notifier::new(None, &[], None, None, &mut Redactor::default()).0
    }

    /// Whether any channel is routed for `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.routes.get(event).is_some_and(|r| r.iter().any(|route| self.has(route)))
    }

    fn has(&self, route: &Route) -> bool {
        self.sender.shared.targets.contains_key(&route.channel)
    }

    /// Sends `event` to its channels in the background; returns at once.
    pub fn notify(&self, event: &str, happening: &Happening) {
        if let Some(routes) = self.routes.get(event) {
            self.sender.send(event, routes, happening);
        }
    }

    /// The routes of a review of `step`: the review event's, with the state's `notification:`.
    fn review_routes(&self, step: &str) -> &[Route] {
        self.review_routes
            .get(step)
            .or_else(|| self.routes.get(REVIEW_EVENT))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// A review of `step` opened: sends it, and returns the reminders to send while it waits
    /// (none when no channel is routed).
    pub fn review(&self, step: &str, happening: &Happening) -> Option<Reminder> {
        let routes: Vec<Route> = self.review_routes(step).iter().filter(|r| self.has(r)).cloned().collect();
        if routes.is_empty() {
            return None;
        }
        self.sender.send(REVIEW_EVENT, &routes, happening);
        Some(Reminder { sender: self.sender.clone(), routes, happening: happening.clone() })
    }

    /// Takes a report: an attempt is returned for the runner to journal; a send's end is kept
    /// for the run's end.
    pub fn take(&mut self, report: Report) -> Option<Attempt> {
        match report {
            Report::Attempt(attempt) => Some(attempt),
            Report::Done { channel, failure: Some(why) } => {
                let entry = self.down.entry(channel).or_insert((0, String::new()));
                entry.0 += 1;
                entry.1 = why;
                None
            }
            Report::Done { .. } => None,
        }
    }

    /// The run ends: waits at most [`END_WAIT`] for the sends in flight (which retry no more),
    /// and returns the attempts reported meanwhile, to be journaled, then one warning per
    /// channel that could not be reached.
    pub async fn finish(&mut self) -> (Vec<Attempt>, Vec<String>) {
        self.ending.send_replace(true);
        let deadline = tokio::time::Instant::now() + END_WAIT;
        let mut attempts = Vec::new();
        loop {
            let idle = self.sender.shared.in_flight.load(Ordering::SeqCst) == 0;
            while let Ok(report) = self.reports.try_recv() {
                attempts.extend(self.take(report));
            }
            if idle {
                break;
            }
            match tokio::time::timeout_at(deadline, self.reports.recv()).await {
                Ok(Some(report)) => attempts.extend(self.take(report)),
                Ok(None) | Err(_) => break,
            }
        }
        let mut warnings: Vec<String> = std::mem::take(&mut self.down)
            .into_iter()
            .map(|(name, (lost, why))| {
                format!("notification channel `{name}` could not be reached ({}): {why}", lost_text(lost))
            })
            .collect();
        let unfinished = self.sender.shared.in_flight.load(Ordering::SeqCst);
        if unfinished > 0 {
            warnings.push(format!(
                "{} still sending when the run ended ({}s) were dropped",
                lost_text(unfinished),
                END_WAIT.as_secs()
            ));
        }
        (attempts, warnings)
    }
}

fn lost_text(lost: usize) -> String {
    if lost == 1 {
        "1 notification not delivered".to_owned()
    } else {
        format!("{lost} notifications not delivered")
    }
}

impl Target {
    /// What must never be shown: the URL (a Slack webhook's path is its key), the signing key,
    /// the SMTP password.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = Vec::new();
        if !self.url.is_empty() {
            secrets.push(self.url.as_str());
        }
        secrets.extend(self.secret.as_deref());
        if let Some(email) = &self.email {
            secrets.extend(email.password.as_deref());
        }
        for (name, value) in &self.headers {
            if crate::redact::is_secret_name(name) || name.eq_ignore_ascii_case("authorization") {
                secrets.push(value);
            }
        }
        secrets
    }
}

/// Sends a test message to `only` (or every channel of `section`) and waits for each: the
/// channel's name and why it was not delivered, if it was not. For `ralph-loop notify test`.
pub async fn test(
    section: &Notifications,
    only: Option<&str>,
    project: &str,
    redactor: &mut Redactor,
) -> Vec<(String, Option<String>)> {
    let base = std::env::current_dir().ok();
    let mut results = Vec::new();
    let mut targets = IndexMap::new();
    for (name, channel) in &section.channels {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        match resolve(name, channel, &|var| std::env::var(var).ok(), base.as_deref()) {
            Ok(target) => {
                for secret in target.secrets() {
                    redactor.add(secret);
                }
                targets.insert(name.clone(), target);
            }
            Err(problem) => results.push((name.clone(), Some(problem))),
        }
    }
    let (reports, _keep) = mpsc::unbounded_channel();
    let (_ending, ending) = watch::channel(false);
    let shared = Shared {
        targets,
        run_dir: None,
        reports,
        ending,
        in_flight: AtomicUsize::new(0),
        clients: http::Clients::default(),
        redactor: redactor.clone(),
    };
    for (name, target) in &shared.targets {
        let happening = Happening {
            text: format!("ralph-loop: a test message from `{project}` to channel `{name}`"),
            ..Happening::default()
        };
        let route = Route { channel: name.clone(), ..Route::default() };
        let message = Message::new(target, "test", &happening, &route);
        let failure = deliver(&shared, name, &message).await;
        results.push((name.clone(), failure));
    }
    results
}

/// Resolves a channel's settings. `base` is where a relative `ca_file` is found.
fn resolve(
    name: &str,
    channel: &Channel,
    env: &dyn Fn(&str) -> Option<String>,
    base: Option<&Path>,
) -> Result<Target, String> {
    let kind = channel.kind.as_deref().unwrap_or(name);
    let kind = match kind {
        "slack" => Kind::Slack,
        "webhook" => Kind::Webhook,
        "email" => Kind::Email,
        other => {
            return Err(format!(
                "notification channel `{name}` is of type `{other}`, which is not one ralph-loop delivers: use `type: slack`, `webhook` or `email`"
            ));
        }
    };
    let expand = |what: &str, value: &crate::workflow::model::EnvString| {
        value.resolve(env).map_err(|e| format!("notification channel `{name}`: `{what}`: {e}"))
    };
    if kind == Kind::Email {
        let settings = email::Settings::resolve(name, channel, &expand, base)?;
        return Ok(Target {
            kind,
            url: String::new(),
            slack_channel: None,
            headers: Vec::new(),
            secret: None,
            email: Some(Arc::new(settings)),
        });
    }
    let Some(url) = channel.webhook.as_ref().or(channel.url.as_ref()) else {
        return Err(format!(
            "notification channel `{name}` has no `webhook` or `url`: set one to receive its events"
        ));
    };
    let url = expand("url", url)?;
    let mut headers = Vec::new();
    for (header, value) in &channel.headers {
        headers.push((header.clone(), expand(&format!("headers.{header}"), value)?));
    }
    let secret = channel.secret.as_ref().map(|s| expand("secret", s)).transpose()?;
    Ok(Target { kind, url, slack_channel: channel.channel.clone(), headers, secret, email: None })
}

/// What a channel receives for an event: a JSON body, or an email.
#[derive(Debug, Clone)]
enum Message {
    Json { body: String, event: String },
    Email(email::Mail),
}

impl Message {
    fn new(target: &Target, event: &str, happening: &Happening, route: &Route) -> Message {
        let text = match &route.mention {
            Some(who) => format!("{who} {}", happening.text),
            None => happening.text.clone(),
        };
        match target.kind {
            Kind::Email => Message::Email(email::Mail::new(event, happening, &text, route.to.as_deref())),
            Kind::Slack | Kind::Webhook => Message::Json {
                body: http::body(target, route, event, happening, &text).to_string(),
                event: event.to_owned(),
            },
        }
    }

    fn event(&self) -> &str {
        match self {
            Message::Json { event, .. } => event,
            Message::Email(mail) => &mail.event,
        }
    }
}

/// Tries a send up to [`ATTEMPTS`] times, reporting and logging each attempt; the last
/// failure, if any. Once the run is ending it tries no more after a failure.
async fn deliver(shared: &Shared, name: &str, message: &Message) -> Option<String> {
    let target = shared.targets.get(name)?;
    let event = message.event().to_owned();
    let mut ending = shared.ending.clone();
    let mut backoff = FIRST_BACKOFF;
    let mut last = None;
    for attempt in 1..=ATTEMPTS {
        let result = match (message, &target.email) {
            (Message::Email(mail), Some(settings)) => email::send(settings, mail).await,
            (Message::Json { body, .. }, _) => http::post(&shared.clients, target, &event, body).await,
            (Message::Email(_), None) => Err("not an email channel".to_owned()),
        };
        let (delivered, detail) = match result {
            Ok(said) => (true, format!("delivered ({said})")),
            Err(why) => {
                let why = shared.redactor.redact(&why).into_owned();
                last = Some(why.clone());
                (false, format!("failed: {why}"))
            }
        };
        if let Some(run_dir) = &shared.run_dir {
            let _ = super::action::record_notification(
                run_dir,
                "notify",
                &format!("{event} -> `{name}`: attempt {attempt}/{ATTEMPTS} {detail}"),
            );
        }
        let _ = shared.reports.send(Report::Attempt(Attempt {
            event: event.clone(),
            channel: name.to_owned(),
            attempt,
            attempts: ATTEMPTS,
            delivered,
            detail,
        }));
        if delivered {
            return None;
        }
        if attempt == ATTEMPTS || *ending.borrow() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = ending.wait_for(|ended| *ended) => break,
        }
        backoff *= 2;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::EnvString;

    #[test]
    fn settings_expand_variables_and_a_missing_one_is_named() {
        let channel = Channel {
            kind: Some("webhook".into()),
            url: Some(EnvString("http://h/${PATH_PART}".into())),
            headers: [("x-token".to_owned(), EnvString("${TOKEN}".into()))].into_iter().collect(),
            secret: Some(EnvString("${SIGNING}".into())),
            ..Channel::default()
        };
        let env = |name: &str| match name {
            "PATH_PART" => Some("hook".to_owned()),
            "TOKEN" => Some("s3cret".to_owned()),
            "SIGNING" => Some("k3y-k3y".to_owned()),
            _ => None,
        };
        let target = resolve("ops", &channel, &env, None).unwrap();
        assert_eq!(target.url, "http://h/hook");
        assert_eq!(target.headers, vec![("x-token".to_owned(), "s3cret".to_owned())]);
        assert_eq!(target.secret.as_deref(), Some("k3y-k3y"));
        assert!(target.secrets().contains(&"k3y-k3y") && target.secrets().contains(&"http://h/hook"));
        let err = resolve("ops", &channel, &|_| None, None).unwrap_err();
        assert!(err.contains("`PATH_PART` is not set"), "{err}");
    }

    #[test]
    fn an_unknown_channel_type_names_the_ones_there_are() {
        let channel = Channel { kind: Some("pager".into()), ..Channel::default() };
        let err = resolve("p", &channel, &|_| None, None).unwrap_err();
        assert!(err.contains("`pager`") && err.contains("`email`"), "{err}");
    }

    #[tokio::test]
    async fn the_runs_end_reports_every_attempt_and_a_channel_that_stayed_down_once() {
        // A port nobody listens on: connections are refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let section = Notifications {
            channels: [(
                "ops".to_owned(),
                Channel {
                    kind: Some("webhook".into()),
                    url: Some(EnvString(format!("http://{closed}/hook"))),
                    ..Channel::default()
                },
            )]
            .into_iter()
            .collect(),
            events: [("on_start".to_owned(), vec![crate::workflow::model::ChannelRef::Name("ops".into())])]
                .into_iter()
                .collect(),
        };
        let mut redactor = Redactor::default();
        let (mut notifier, problems) = Notifier::new(Some(&section), &[], None, None, &mut redactor);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(notifier.wants("on_start") && !notifier.wants("on_complete"));
        notifier.notify("on_start", &Happening { text: "started".into(), ..Happening::default() });
        notifier.notify("on_start", &Happening { text: "again".into(), ..Happening::default() });
        let (attempts, warnings) = notifier.finish().await;
        assert!(attempts.len() >= 2, "each send's attempts: {attempts:?}");
        assert!(attempts.iter().all(|a| !a.delivered && a.detail.starts_with("failed: cannot connect")));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "notification channel `ops` could not be reached (2 notifications not delivered): cannot connect"
            ),
            "{warnings:?}"
        );
    }
}
