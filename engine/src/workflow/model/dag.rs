//! DAG nodes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, OneOrMany, PolicyRef};

/// A node of a DAG workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DagNode {
    /// The node's id, used by `depends_on`.
    pub id: String,
    /// The agent or chain that performs the node. Defaults to the agent named like the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// What the node does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The nodes that must finish first.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub depends_on: OneOrMany<String>,
    /// Run the node only when this holds (evaluated when its dependencies are done); otherwise
    /// it is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The node's retry policy: a policy name or an inline policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<PolicyRef>,
    /// How long the node may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// When the nodes that depend on this one still run: after its `failure`, after it was
    /// `skipped`, or `always`. By default they run only after it succeeded.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub continue_on: OneOrMany<ContinueOn>,
}

/// When dependents of a node still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContinueOn {
    /// Dependents run even when this node failed.
    Failure,
    /// Dependents run even when this node was skipped.
    Skipped,
    /// Dependents run whatever happened to this node.
    Always,
}
