//! The typed workflow language. Every struct here is what a YAML file may say, nothing more:
//! unknown keys are refused, and the JSON Schema of `ralph-loop schema` is generated from these
//! types, so the schema, the editor completion and the checker can never disagree.
//!
//! The doc comments become the schema's descriptions: write them for the person editing YAML.

mod agent;
mod budget;
mod dag;
mod document;
mod notifications;
mod observability;
mod persistence;
mod plugins;
mod policy;
mod saga;
mod settings;
mod states;
mod tasks;
mod values;
mod workflow;

pub use agent::{Agent, AgentKind, Backend, Notification, OnFailure, backend_alias};
pub use budget::{Budget, Price};
pub use dag::{ContinueOn, DagNode};
pub use document::Document;
pub use notifications::{Channel, ChannelRef, ChannelTls, Notifications, TlsMode};
pub use observability::{
    Dashboard, ExporterSpec, LogsSettings, MetricsSettings, Observability, Rotation, Toggle, TracesSettings,
};
pub use persistence::{Persistence, PersistenceKind, Retention, Snapshots, StateSettings};
pub use plugins::{
    InstalledPlugin, OnPluginError, PluginEntry, PluginRegistry, PluginsSection, RegistrySource,
};
pub use policy::{
    Action, ActionSpec, CircuitBreaker, Compensation, PolicyRef, RetryPolicy, RetrySection, Strategy,
};
pub use saga::SagaStep;
pub use settings::{LogFormat, LogLevel, Logging, LoopSettings, Project};
pub use states::{State, StateDef, StateKind, Transition, UiKind, UiSpec};
pub use tasks::{
    DEFAULT_ROLE, DEFAULT_WORK_AGENT, EVALUATOR_ROLE, Escalation, ModelChoice, RoleSpec, RoleTarget, Roles,
    RouteTarget, Routing,
};
pub use values::{Duration, EnvString, FORMAT_KEY, OneOrMany, Size, ValueError};
pub use workflow::{Workflow, WorkflowKind};
