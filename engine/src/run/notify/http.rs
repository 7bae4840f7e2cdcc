//! The HTTP channels: a Slack incoming webhook's JSON and a generic webhook's JSON POST (with
//! its headers and, when the channel has a `secret`, the body's HMAC-SHA256 signature).
//!
//! The HTTP clients are made once per run and only when a channel needs one: a client for
//! `https://` loads the system's certificate authorities (tens of milliseconds of CPU), so it
//! is made on a blocking thread, and a plain `http://` channel (a local relay, a test server, a
//! dead one) never loads them at all. Depends on `reqwest` and this module's parent only.

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::{ATTEMPT_TIMEOUT, Happening, Kind, Route, Target};

/// The run's HTTP clients, made when first needed.
#[derive(Debug, Default)]
pub(super) struct Clients {
    /// For `http://` URLs: no TLS, no certificate authorities loaded.
    plain: OnceCell<Result<reqwest::Client, String>>,
    /// For `https://` URLs: the system's certificate authorities.
    tls: OnceCell<Result<reqwest::Client, String>>,
}

impl Clients {
    async fn for_url(&self, url: &str) -> Result<&reqwest::Client, String> {
        let tls = !url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        let cell = if tls { &self.tls } else { &self.plain };
        if tls && !cell.initialized() {
            // A dead `https://` channel costs no certificate loading.
            if let Ok(parsed) = reqwest::Url::parse(url) {
                if let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) {
                    super::reachable(host, port).await?;
                }
            }
        }
        let made = cell
            .get_or_init(|| async move {
                let build = move || {
                    crate::tls::ensure_provider();
                    let builder = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT);
                    // No certificate authority is needed where there is no TLS.
                    let builder = if tls { builder } else { builder.tls_certs_only([]) };
                    builder.build().map_err(|e| format!("cannot make an HTTP client: {e}"))
                };
                if tls {
                    tokio::task::spawn_blocking(build)
                        .await
                        .unwrap_or_else(|e| Err(format!("cannot make an HTTP client: {e}")))
                } else {
                    build()
                }
            })
            .await;
        made.as_ref().map_err(Clone::clone)
    }
}

/// The JSON a Slack or webhook channel receives for an event.
pub(super) fn body(target: &Target, route: &Route, event: &str, happening: &Happening, text: &str) -> Value {
    match target.kind {
        Kind::Slack => {
            let mut body = json!({ "text": text });
            if let Some(channel) = route.slack_channel.as_ref().or(target.slack_channel.as_ref()) {
                body["channel"] = json!(channel);
            }
            body
        }
        Kind::Webhook | Kind::Email => {
            let mut body = json!({
                "event": event,
                "run_id": happening.run_id,
                "workflow": happening.workflow,
                "text": text,
                "step": happening.step,
                "status": happening.status,
                "at": crate::clock::now(),
            });
            if happening.reminder > 0 {
                body["reminder"] = json!(happening.reminder);
            }
            if let Some(url) = &happening.review_url {
                body["review_url"] = json!(url);
            }
            body
        }
    }
}

/// One POST of `body` to the channel: the status it answered, or why it failed (never with the
/// URL, which may be the channel's secret).
pub(super) async fn post(
    clients: &Clients,
    target: &Target,
    event: &str,
    body: &str,
) -> Result<String, String> {
    let client = clients.for_url(&target.url).await?;
    let mut request = client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("ralph-loop/", env!("CARGO_PKG_VERSION")));
    if target.kind == Kind::Webhook {
        request = request.header("x-ralph-event", event);
        if let Some(secret) = &target.secret {
            request = request.header(super::sign::HEADER, super::sign::signature(secret, body.as_bytes()));
        }
    }
    for (header, value) in &target.headers {
        request = request.header(header, value);
    }
    match request.body(body.to_owned()).send().await.and_then(reqwest::Response::error_for_status) {
        Ok(response) => Ok(response.status().as_u16().to_string()),
        Err(e) => Err(error_text(&e)),
    }
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

    fn happening() -> Happening {
        Happening {
            run_id: "r1".into(),
            workflow: "w".into(),
            text: "run `r1` started".into(),
            ..Happening::default()
        }
    }

    fn slack() -> Target {
        Target {
            kind: Kind::Slack,
            url: String::new(),
            slack_channel: Some("#builds".into()),
            headers: Vec::new(),
            secret: None,
            email: None,
        }
    }

    #[test]
    fn a_slack_body_carries_the_text_and_the_channel_a_review_may_override() {
        let route = Route::default();
        let body = body(&slack(), &route, "on_start", &happening(), "@here run `r1` started");
        assert_eq!(body, json!({"text": "@here run `r1` started", "channel": "#builds"}));
        let route = Route { slack_channel: Some("#reviews".into()), ..Route::default() };
        let body = super::body(&slack(), &route, "on_start", &happening(), "t");
        assert_eq!(body["channel"], "#reviews");
    }
}
