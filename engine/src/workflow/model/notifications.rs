//! The `notifications:` section: channels and the events routed to them.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EnvString, OneOrMany};

/// Notification channels and routing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Channels by name, e.g. `slack`, `email`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub channels: IndexMap<String, Channel>,
    /// Events and the channels they go to: `on_start`, `on_iteration`, `on_complete`,
    /// `on_failure`, `on_human_review_needed`, `on_circuit_open`, `on_circuit_close`,
    /// `on_budget_exceeded`, `on_usage_limit`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub events: IndexMap<String, Vec<ChannelRef>>,
}

/// A notification channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// `slack`, `email` or `webhook`; defaults to the channel's name.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Slack or generic webhook URL; usually `${SLACK_WEBHOOK_URL}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<EnvString>,
    /// Generic webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<EnvString>,
    /// Slack channel, e.g. `#builds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// SMTP server, `host` or `host:port`; usually `${SMTP_SERVER}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<EnvString>,
    /// SMTP port when `smtp` names none; default 587 (submission), 465 with `tls: {mode: implicit}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// SMTP user name for AUTH (PLAIN or LOGIN); usually `${SMTP_USER}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<EnvString>,
    /// SMTP password for AUTH; usually `${SMTP_PASSWORD}`. Never written anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<EnvString>,
    /// Sender address; default `ralph-loop@localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Recipient addresses.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub to: OneOrMany<String>,
    /// How an `email` channel uses TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ChannelTls>,
    /// Extra HTTP headers of a `webhook` channel, e.g. `Authorization: Bearer ${TOKEN}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, EnvString>,
    /// A `webhook` channel's signing key, usually `${WEBHOOK_SECRET}`: each request carries
    /// `X-Ralph-Signature-256: sha256=<hex>`, the HMAC-SHA256 of its exact body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<EnvString>,
}

/// TLS of an `email` channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelTls {
    /// `starttls` (the default: STARTTLS when the server offers it, and required when
    /// `username`/`password` are set, so a password never crosses in clear), `required`
    /// (STARTTLS or no mail), `implicit` (TLS from the first byte, port 465), `none` (plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TlsMode>,
    /// A PEM file of certificate authorities to trust besides the system's (a company CA, a
    /// test server's own certificate); relative to the project directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// How an `email` channel uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// STARTTLS when the server offers it (required when credentials are set).
    Starttls,
    /// STARTTLS, or the message is not sent.
    Required,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS.
    None,
}

/// A channel named in an event's list, alone (`- slack`) or with options (`- slack: {mention: "@here"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ChannelRef {
    /// The channel's name.
    Name(String),
    /// The channel's name with per-event options.
    WithOptions(IndexMap<String, ChannelOptions>),
}

/// Per-event options of a channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelOptions {
    /// Who to mention, e.g. `@here`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
}

impl ChannelRef {
    /// The channel names this reference uses.
    pub fn names(&self) -> Vec<&str> {
        match self {
            ChannelRef::Name(name) => vec![name.as_str()],
            ChannelRef::WithOptions(map) => map.keys().map(String::as_str).collect(),
        }
    }
}
