//! The `email` channel: a plain-text message over SMTP (`lettre`), with STARTTLS when the server
//! offers it (required when the channel has credentials, so a password never crosses in clear),
//! AUTH PLAIN or LOGIN when `username`/`password` are set, to one or many recipients.
//!
//! The TLS settings (the system's certificate authorities, and the channel's `ca_file`) are
//! made once per channel on a blocking thread, and only when the channel uses TLS. Depends on
//! `lettre`, the workflow model and this module's parent only.

use std::path::Path;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::OnceCell;

use super::Happening;
use crate::workflow::model::{Channel, EnvString, TlsMode};

/// How long one SMTP conversation may take (connecting, TLS, AUTH, the message).
const SMTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The sender when the channel names none.
const DEFAULT_FROM: &str = "ralph-loop@localhost";

/// An email channel's resolved settings.
pub(super) struct Settings {
    host: String,
    port: u16,
    username: Option<String>,
    /// Never shown: the notifier adds it to the run's secrets.
    pub(super) password: Option<String>,
    from: Mailbox,
    to: Vec<Mailbox>,
    mode: TlsMode,
    /// The PEM of `ca_file`, read when the run starts.
    ca: Option<Vec<u8>>,
    /// The TLS settings, made on first use.
    tls: OnceCell<Result<TlsParameters, String>>,
}

impl std::fmt::Debug for Settings {
    // By hand: the password is left out, and lettre's TLS settings do not print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads a channel's SMTP settings; `base` is where a relative `ca_file` is found.
    pub(super) fn resolve(
        name: &str,
        channel: &Channel,
        expand: &dyn Fn(&str, &EnvString) -> Result<String, String>,
        base: Option<&Path>,
    ) -> Result<Settings, String> {
        let Some(server) = &channel.smtp else {
            return Err(format!(
                "notification channel `{name}` has no `smtp`: set the server (`smtp: host` or `host:port`) to send its mail"
            ));
        };
        let server = expand("smtp", server)?;
        let tls = channel.tls.clone().unwrap_or_default();
        let credentials = channel.username.is_some() || channel.password.is_some();
        let mode = tls.mode.unwrap_or(TlsMode::Starttls);
        let default_port = if mode == TlsMode::Implicit { 465 } else { 587 };
        let (host, port) = match server.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !host.ends_with(':') => {
                let port = port.parse::<u16>().map_err(|_| {
                    format!("notification channel `{name}`: `smtp`: `{port}` is not a port number")
                })?;
                (host.trim_start_matches('[').trim_end_matches(']').to_owned(), port)
            }
            _ => (server.clone(), channel.port.unwrap_or(default_port)),
        };
        if host.is_empty() {
            return Err(format!("notification channel `{name}`: `smtp` is empty: set the server's name"));
        }
        let mailbox = |what: &str, address: &str| {
            address.parse::<Mailbox>().map_err(|e| {
                format!("notification channel `{name}`: `{what}`: `{address}` is not an email address ({e})")
            })
        };
        let from = mailbox("from", channel.from.as_deref().unwrap_or(DEFAULT_FROM))?;
        let to = channel.to.as_slice().iter().map(|a| mailbox("to", a)).collect::<Result<Vec<_>, _>>()?;
        let username = channel.username.as_ref().map(|u| expand("username", u)).transpose()?;
        let password = channel.password.as_ref().map(|p| expand("password", p)).transpose()?;
        if credentials && (username.is_none() || password.is_none()) {
            return Err(format!(
                "notification channel `{name}` has only one of `username` and `password`: set both to log in, or neither"
            ));
        }
        let ca = match &tls.ca_file {
            Some(file) => {
                let path = base.map_or_else(|| Path::new(file).to_owned(), |b| b.join(file));
                let pem = std::fs::read(&path).map_err(|e| {
                    format!(
                        "notification channel `{name}`: `tls.ca_file` `{}` cannot be read: {e}",
                        path.display()
                    )
                })?;
                Certificate::from_pem(&pem).map_err(|e| {
                    format!(
                        "notification channel `{name}`: `tls.ca_file` `{}` holds no PEM certificate: {e}",
                        path.display()
                    )
                })?;
                Some(pem)
            }
            None => None,
        };
        Ok(Settings { host, port, username, password, from, to, mode, ca, tls: OnceCell::new() })
    }

    /// The TLS settings, made once (on a blocking thread: loading the system's certificate
    /// authorities takes a while).
    async fn tls(&self) -> Result<TlsParameters, String> {
        if !self.tls.initialized() {
            // A dead server costs no certificate loading.
            super::reachable(&self.host, self.port).await?;
        }
        let made = self
            .tls
            .get_or_init(|| async {
                let (host, ca) = (self.host.clone(), self.ca.clone());
                tokio::task::spawn_blocking(move || {
                    crate::tls::ensure_provider();
                    let mut builder = TlsParameters::builder(host);
                    if let Some(pem) = ca {
                        let cert = Certificate::from_pem(&pem).map_err(|e| format!("`tls.ca_file`: {e}"))?;
                        builder = builder.add_root_certificate(cert);
                    }
                    builder.build_rustls().map_err(|e| format!("cannot set up TLS: {e}"))
                })
                .await
                .unwrap_or_else(|e| Err(format!("cannot set up TLS: {e}")))
            })
            .await;
        made.clone()
    }
}

/// An email to send.
#[derive(Debug, Clone)]
pub(super) struct Mail {
    pub(super) event: String,
    subject: String,
    body: String,
    /// Recipients instead of the channel's (a human state's `notification.email`).
    to: Option<Vec<String>>,
}

impl Mail {
    pub(super) fn new(event: &str, happening: &Happening, text: &str, to: Option<&[String]>) -> Mail {
        let subject = text.strip_prefix("ralph-loop: ").unwrap_or(text);
        let subject: String = subject.chars().take(150).collect();
        let mut body = format!("{text}\n\n");
        let mut line = |name: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                body.push_str(&format!("{name}: {value}\n"));
            }
        };
        line("event", Some(event));
        line("run", Some(&happening.run_id));
        line("workflow", Some(&happening.workflow));
        line("step", happening.step.as_deref());
        line("status", happening.status.as_deref());
        line("review form", happening.review_url.as_deref());
        body.push_str("\n-- \nsent by ralph-loop\n");
        Mail {
            event: event.to_owned(),
            subject: format!("[ralph-loop] {subject}"),
            body,
            to: to.map(<[String]>::to_vec),
        }
    }
}

/// One SMTP conversation: the server's answer to the message, or why it failed.
pub(super) async fn send(settings: &Settings, mail: &Mail) -> Result<String, String> {
    let to = match &mail.to {
        Some(to) => to
            .iter()
            .map(|a| a.parse::<Mailbox>().map_err(|e| format!("`{a}` is not an email address ({e})")))
            .collect::<Result<Vec<_>, _>>()?,
        None => settings.to.clone(),
    };
    if to.is_empty() {
        return Err("no recipient: set the channel's `to`".to_owned());
    }
    let mut message = lettre::Message::builder().from(settings.from.clone()).subject(mail.subject.clone());
    for mailbox in to {
        message = message.to(mailbox);
    }
    let message = message
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| format!("cannot write the message: {e}"))?;
    let credentials = settings.username.clone().zip(settings.password.clone());
    let tls = match settings.mode {
        TlsMode::None => Tls::None,
        // A password is never sent in clear: with credentials, STARTTLS is required.
        TlsMode::Starttls if credentials.is_none() => Tls::Opportunistic(settings.tls().await?),
        TlsMode::Starttls | TlsMode::Required => Tls::Required(settings.tls().await?),
        TlsMode::Implicit => Tls::Wrapper(settings.tls().await?),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
        .port(settings.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT))
        .hello_name(hello_name());
    if let Some((user, password)) = credentials {
        transport = transport
            .credentials(Credentials::new(user, password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    match transport.build().send(message).await {
        Ok(response) => {
            let said = response.message().next().unwrap_or("").trim();
            Ok(format!("{} {said}", response.code()).trim_end().to_owned())
        }
        Err(e) => Err(error_text(&e)),
    }
}

/// The name the client greets the server with: this machine's, as RFC 5321 asks.
fn hello_name() -> ClientId {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .map_or_else(ClientId::default, ClientId::Domain)
}

/// An SMTP error as a person reads it: the error and its deepest cause.
fn error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    if let Some(deepest) = deepest.filter(|d| !text.contains(d.as_str())) {
        text.push_str(": ");
        text.push_str(&deepest);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::OneOrMany;

    fn expand(_: &str, v: &EnvString) -> Result<String, String> {
        Ok(v.0.clone())
    }

    #[test]
    fn the_server_may_carry_its_port_and_defaults_to_submission() {
        let mut channel = Channel {
            smtp: Some(EnvString("mail.example.com".into())),
            to: OneOrMany::One("a@example.com".into()),
            ..Channel::default()
        };
        let s = Settings::resolve("email", &channel, &expand, None).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("mail.example.com", 587));
        channel.smtp = Some(EnvString("127.0.0.1:2525".into()));
        let s = Settings::resolve("email", &channel, &expand, None).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 2525));
        channel.smtp = Some(EnvString("mail.example.com".into()));
        channel.port = Some(2526);
        let s = Settings::resolve("email", &channel, &expand, None).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("mail.example.com", 2526), "`port` when `smtp` names none");
        channel.port = None;
        channel.smtp = Some(EnvString("mail.example.com".into()));
        channel.tls =
            Some(crate::workflow::model::ChannelTls { mode: Some(TlsMode::Implicit), ca_file: None });
        assert_eq!(Settings::resolve("email", &channel, &expand, None).unwrap().port, 465);
    }

    #[test]
    fn bad_settings_are_named() {
        let channel = Channel { smtp: Some(EnvString("h:x".into())), ..Channel::default() };
        let err = Settings::resolve("email", &channel, &expand, None).unwrap_err();
        assert!(err.contains("`x` is not a port number"), "{err}");
        let channel = Channel {
            smtp: Some(EnvString("h".into())),
            to: OneOrMany::One("not an address".into()),
            ..Channel::default()
        };
        let err = Settings::resolve("email", &channel, &expand, None).unwrap_err();
        assert!(err.contains("`to`: `not an address` is not an email address"), "{err}");
        let channel = Channel {
            smtp: Some(EnvString("h".into())),
            username: Some(EnvString("u".into())),
            ..Channel::default()
        };
        let err = Settings::resolve("email", &channel, &expand, None).unwrap_err();
        assert!(err.contains("set both"), "{err}");
        let err = Settings::resolve("email", &Channel::default(), &expand, None).unwrap_err();
        assert!(err.contains("has no `smtp`"), "{err}");
    }

    #[test]
    fn a_mail_says_what_happened_in_its_subject_and_body() {
        let happening = Happening {
            run_id: "r1".into(),
            workflow: "w".into(),
            step: Some("review".into()),
            ..Happening::default()
        };
        let mail = Mail::new("on_human_review_needed", &happening, "ralph-loop: `review` waits", None);
        assert_eq!(mail.subject, "[ralph-loop] `review` waits");
        assert!(mail.body.starts_with("ralph-loop: `review` waits\n\n"), "{}", mail.body);
        assert!(mail.body.contains("run: r1\n") && mail.body.contains("step: review\n"), "{}", mail.body);
    }
}
