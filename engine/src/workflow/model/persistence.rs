//! The `state:` section: where runs are kept, snapshots and retention.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, EnvString};

/// Persistence of runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// The store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    /// Snapshots of runs, for replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<Snapshots>,
    /// How long runs and snapshots are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}

/// The kind of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersistenceKind {
    /// The embedded store under `.ralph/state` (the default).
    Sled,
    /// The embedded database at `url` (a path or `file://` URL).
    Database,
}

/// The store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Persistence {
    /// `sled` (default) or `database`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PersistenceKind>,
    /// Where the database is; may use `${VAR}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<EnvString>,
    /// The directory of the store (default `.ralph/state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Snapshot settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshots {
    /// Whether snapshots are taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Take a snapshot at least this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// When to take one: `phase_complete`, `iteration_complete`, `before_human_review`,
    /// `state_change`, `run_complete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    /// How long snapshots are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}

/// Retention: an age (`30d`), or a count and an age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Retention {
    /// Keep for this long.
    Age(Duration),
    /// Keep at most `count`, none older than `age`.
    Policy(RetentionPolicy),
}

/// Retention by count and age.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Keep none older than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<Duration>,
}
