//! Delivery of the `notifications:` section's events (`on_start`, `on_complete`, `on_failure`,
//! `on_human_review_needed`) to their HTTP channels: Slack incoming webhooks and generic JSON
//! webhooks.
//!
//! Each send is a task on the run's runtime, so a slow or dead channel never holds the loop up;
//! a failed attempt is retried with a short backoff, every attempt is written (masked) to the
//! run's `notifications.log`, and a channel that stays down is reported once when the run ends.
//! This module depends on the workflow model, `reqwest` and the run's log file only: the runner
//! decides when an event happens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::workflow::model::{Channel, ChannelRef, Notifications};

/// How many times a send is tried before the channel is called down.
const ATTEMPTS: u32 = 3;
/// The wait before the second attempt; each later wait doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the run's end waits for the sends still in flight.
pub const END_WAIT: Duration = Duration::from_secs(3);

/// The kind of a channel this module delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Slack,
    Webhook,
}

/// A channel with its `${VAR}` references resolved.
#[derive(Debug, Clone)]
struct Target {
    kind: Kind,
    url: String,
    slack_channel: Option<String>,
    headers: Vec<(String, String)>,
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
}

/// One send's end: the channel and, if it was not delivered, why.
type Sent = (String, Option<String>);

/// Sends the run's notifications in the background.
#[derive(Debug, Default)]
pub struct Notifier {
    targets: IndexMap<String, Target>,
    routes: IndexMap<String, Vec<(String, Option<String>)>>,
    run_dir: PathBuf,
    sending: Vec<JoinHandle<Sent>>,
    /// Set when the run ends: a send waits for no more backoff then (one that failed is
    /// reported at once), so a dead channel does not lengthen the run.
    ending: Option<tokio::sync::watch::Sender<bool>>,
}

impl Notifier {
    /// The notifier of a workflow's `notifications:` section, and the problems of channels it
    /// cannot use (a variable that is not set, a kind it does not deliver), to be shown as
    /// warnings: a notification must never stop the run.
    pub fn new(section: Option<&Notifications>, run_dir: &Path) -> (Notifier, Vec<String>) {
        let mut notifier = Notifier {
            run_dir: run_dir.to_owned(),
            ending: Some(tokio::sync::watch::channel(false).0),
            ..Notifier::default()
        };
        let mut problems = Vec::new();
        let Some(section) = section else { return (notifier, problems) };
        for (name, channel) in &section.channels {
            match resolve(name, channel, &|var| std::env::var(var).ok()) {
                Ok(Some(target)) => {
                    notifier.targets.insert(name.clone(), target);
                }
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
        }
        for (event, refs) in &section.events {
            let mut routes = Vec::new();
            for channel_ref in refs {
                match channel_ref {
                    ChannelRef::Name(name) => routes.push((name.clone(), None)),
                    ChannelRef::WithOptions(map) => {
                        for (name, options) in map {
                            routes.push((name.clone(), options.mention.clone()));
                        }
                    }
                }
            }
            notifier.routes.insert(event.clone(), routes);
        }
        (notifier, problems)
    }

    /// Whether any channel is routed for `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.routes.get(event).is_some_and(|r| r.iter().any(|(name, _)| self.targets.contains_key(name)))
    }

    /// Sends `event` to its channels in the background; returns at once.
    pub fn notify(&mut self, event: &str, happening: &Happening) {
        let Some(routes) = self.routes.get(event) else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let Some(ending) = self.ending.as_ref().map(tokio::sync::watch::Sender::subscribe) else { return };
        for (name, mention) in routes {
            let Some(target) = self.targets.get(name) else { continue };
            let body = body(target, event, happening, mention.as_deref());
            let (name, target, event) = (name.clone(), target.clone(), event.to_owned());
            let (run_dir, ending) = (self.run_dir.clone(), ending.clone());
            self.sending.push(handle.spawn(async move {
                let failure = deliver(&name, &target, &event, body, Some(&run_dir), Some(ending)).await;
                (name, failure)
            }));
        }
    }

    /// Waits at most [`END_WAIT`] for the sends in flight and returns one warning per channel
    /// that could not be reached.
    pub async fn finish(&mut self) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + END_WAIT;
        if let Some(ending) = &self.ending {
            ending.send_replace(true);
        }
        let mut down: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for mut sending in std::mem::take(&mut self.sending) {
            match tokio::time::timeout_at(deadline, &mut sending).await {
                Ok(Ok((_, None))) => {}
                Ok(Ok((name, Some(why)))) => {
                    let entry = down.entry(name).or_insert((0, why));
                    entry.0 += 1;
                }
                Ok(Err(_)) => {}
                Err(_) => {
                    sending.abort();
                    let entry = down.entry("(unfinished)".into()).or_insert((0, String::new()));
                    entry.0 += 1;
                }
            }
        }
        down.into_iter()
            .map(|(name, (lost, why))| {
                let lost =
                    if lost == 1 { "1 notification".to_owned() } else { format!("{lost} notifications") };
                if name == "(unfinished)" {
                    format!("{lost} still sending when the run ended ({}s) were dropped", END_WAIT.as_secs())
                } else {
                    format!(
                        "notification channel `{name}` could not be reached ({lost} not delivered): {why}"
                    )
                }
            })
            .collect()
    }
}

/// Sends a test message to `only` (or every channel of `section`) and waits for each: the
/// channel's name and why it was not delivered, if it was not. For `ralph-loop notify test`.
pub async fn test(
    section: &Notifications,
    only: Option<&str>,
    project: &str,
) -> Vec<(String, Option<String>)> {
    let mut results = Vec::new();
    for (name, channel) in &section.channels {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let target = match resolve(name, channel, &|var| std::env::var(var).ok()) {
            Ok(Some(target)) => target,
            Ok(None) => continue,
            Err(problem) => {
                results.push((name.clone(), Some(problem)));
                continue;
            }
        };
        let happening = Happening {
            text: format!("ralph-loop: a test message from `{project}` to channel `{name}`"),
            ..Happening::default()
        };
        let body = body(&target, "test", &happening, None);
        let failure = deliver(name, &target, "test", body, None, None).await;
        results.push((name.clone(), failure));
    }
    results
}

/// Resolves a channel's settings; `None` for a kind this module does not deliver (email).
fn resolve(
    name: &str,
    channel: &Channel,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Target>, String> {
    let kind = channel.kind.as_deref().unwrap_or(name);
    let kind = match kind {
        "slack" => Kind::Slack,
        "webhook" => Kind::Webhook,
        other => {
            return Err(format!(
                "notification channel `{name}` is of type `{other}`, which is not delivered yet: only `slack` and `webhook` are"
            ));
        }
    };
    let Some(url) = channel.webhook.as_ref().or(channel.url.as_ref()) else {
        return Err(format!(
            "notification channel `{name}` has no `webhook` or `url`: set one to receive its events"
        ));
    };
    let url = url.resolve(env).map_err(|e| format!("notification channel `{name}`: {e}"))?;
    let mut headers = Vec::new();
    for (header, value) in &channel.headers {
        let value = value
            .resolve(env)
            .map_err(|e| format!("notification channel `{name}`: header `{header}`: {e}"))?;
        headers.push((header.clone(), value));
    }
    Ok(Some(Target { kind, url, slack_channel: channel.channel.clone(), headers }))
}

/// The JSON a channel receives for an event.
fn body(target: &Target, event: &str, happening: &Happening, mention: Option<&str>) -> Value {
    let text = match mention {
        Some(who) => format!("{who} {}", happening.text),
        None => happening.text.clone(),
    };
    match target.kind {
        Kind::Slack => {
            let mut body = json!({ "text": text });
            if let Some(channel) = &target.slack_channel {
                body["channel"] = json!(channel);
            }
            body
        }
        Kind::Webhook => json!({
            "event": event,
            "run_id": happening.run_id,
            "workflow": happening.workflow,
            "text": text,
            "step": happening.step,
            "status": happening.status,
            "at": crate::clock::now(),
        }),
    }
}

/// Tries a send up to [`ATTEMPTS`] times, logging each attempt; the last failure, if any. Once
/// `ending` turns true (the run is ending) it tries no more after a failure.
async fn deliver(
    name: &str,
    target: &Target,
    event: &str,
    body: Value,
    run_dir: Option<&Path>,
    mut ending: Option<tokio::sync::watch::Receiver<bool>>,
) -> Option<String> {
    crate::tls::ensure_provider();
    let client = match reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => return Some(format!("cannot make an HTTP client: {e}")),
    };
    let body = body.to_string();
    let mut backoff = FIRST_BACKOFF;
    let mut last = None;
    for attempt in 1..=ATTEMPTS {
        let mut request =
            client.post(&target.url).header("content-type", "application/json").body(body.clone());
        for (header, value) in &target.headers {
            request = request.header(header, value);
        }
        // The URL may carry the channel's secret (a Slack webhook's path): errors leave it out.
        let result = request.send().await.and_then(reqwest::Response::error_for_status);
        let said = match &result {
            Ok(response) => format!("delivered ({})", response.status().as_u16()),
            Err(e) => {
                let why = error_text(e);
                last = Some(why.clone());
                format!("failed: {why}")
            }
        };
        if let Some(run_dir) = run_dir {
            let _ = super::action::record_notification(
                run_dir,
                "notify",
                &format!("{event} -> `{name}`: attempt {attempt}/{ATTEMPTS} {said}"),
            );
        }
        if result.is_ok() {
            return None;
        }
        if attempt == ATTEMPTS {
            break;
        }
        match ending.as_mut() {
            Some(ending) => {
                if *ending.borrow() {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = ending.wait_for(|ended| *ended) => break,
                }
            }
            None => tokio::time::sleep(backoff).await,
        }
        backoff *= 2;
    }
    last
}

/// A request's error as a person reads it, without its URL.
fn error_text(e: &reqwest::Error) -> String {
    if let Some(status) = e.status() {
        return format!("the server answered {status}");
    }
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    if let Some(deepest) = deepest {
        text.push_str(": ");
        text.push_str(&deepest);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::EnvString;

    fn happening() -> Happening {
        Happening {
            run_id: "r1".into(),
            workflow: "w".into(),
            text: "run `r1` started".into(),
            ..Happening::default()
        }
    }

    #[test]
    fn a_slack_body_carries_the_text_the_mention_and_the_channel() {
        let target = Target {
            kind: Kind::Slack,
            url: String::new(),
            slack_channel: Some("#builds".into()),
            headers: Vec::new(),
        };
        let body = body(&target, "on_start", &happening(), Some("@here"));
        assert_eq!(body, json!({"text": "@here run `r1` started", "channel": "#builds"}));
    }

    #[test]
    fn settings_expand_variables_and_a_missing_one_is_named() {
        let channel = Channel {
            kind: Some("webhook".into()),
            url: Some(EnvString("http://h/${PATH_PART}".into())),
            headers: [("x-token".to_owned(), EnvString("${TOKEN}".into()))].into_iter().collect(),
            ..Channel::default()
        };
        let env = |name: &str| match name {
            "PATH_PART" => Some("hook".to_owned()),
            "TOKEN" => Some("s3cret".to_owned()),
            _ => None,
        };
        let target = resolve("ops", &channel, &env).unwrap().unwrap();
        assert_eq!(target.url, "http://h/hook");
        assert_eq!(target.headers, vec![("x-token".to_owned(), "s3cret".to_owned())]);
        let err = resolve("ops", &channel, &|_| None).unwrap_err();
        assert!(err.contains("`PATH_PART` is not set"), "{err}");
    }

    #[test]
    fn an_email_channel_is_reported_not_delivered() {
        let channel = Channel { smtp: Some(EnvString("smtp.example".into())), ..Channel::default() };
        let err = resolve("email", &channel, &|_| None).unwrap_err();
        assert!(err.contains("`email`"), "{err}");
    }
}
