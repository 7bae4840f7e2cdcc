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
    /// Events (`on_start`, `on_failure`, `on_complete`, `on_human_review_needed`, …) and the
    /// channels they go to.
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
    /// SMTP server; usually `${SMTP_SERVER}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<EnvString>,
    /// Sender address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Recipient addresses.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub to: OneOrMany<String>,
    /// Extra HTTP headers of a `webhook` channel, e.g. `Authorization: Bearer ${TOKEN}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, EnvString>,
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
