//! The plan: a validated workflow compiled into a petgraph graph.
//!
//! States, DAG nodes and saga steps (and their compensations) are graph nodes; transitions,
//! dependencies and compensation order are edges that carry their conditions. The runtime
//! executes this graph and `visualize` draws it: nothing else re-derives the workflow's shape.
//!
//! **Architecture invariant:** the plan knows nothing about agents' processes or the store.

mod compile;
mod dot;
mod mermaid;

use std::collections::HashMap;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde::Serialize;

pub use compile::compile;
pub use dot::render as render_dot;
pub use mermaid::render as render_mermaid;

use crate::workflow::condition::Condition;
use crate::workflow::model::{ContinueOn, StateKind, WorkflowKind};

/// What a node of the plan is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum NodeRole {
    /// A state of a state machine.
    State {
        /// Agent, human, parallel or terminal.
        kind: StateKind,
        /// Whether the run ends after this state.
        terminal: bool,
        /// Several agents: whether all must succeed (otherwise any one).
        require_all: bool,
        /// Several agents: whether they run at once (otherwise one after another).
        parallel: bool,
    },
    /// The built-in `stop` target: the run ends unsuccessfully.
    Stop,
    /// A DAG node.
    Node {
        /// When dependents still run after this node.
        continue_on: Vec<ContinueOn>,
    },
    /// A saga step.
    Step,
    /// The compensation of a saga step.
    Compensation {
        /// The step it undoes.
        step: String,
    },
    /// The workflow-level `compensation.on_failure` actions.
    FinalCompensation,
}

/// A node of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanNode {
    /// Unique within the plan: the state id, node id, step name, or `<step>.compensate`.
    pub id: String,
    /// What the node is.
    #[serde(flatten)]
    pub role: NodeRole,
    /// Who performs it, in order (several for parallel states; actions for compensations).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// DAG nodes: run only when this holds.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "condition_source")]
    pub condition: Option<Condition>,
}

/// What an edge means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A transition, taken when its condition holds (success when it has none).
    Transition,
    /// The state's fallback, taken when no transition holds.
    Else,
    /// The implicit transition of a state without transitions to the next listed state.
    Next,
    /// Taken when the state's `timeout` passes.
    Timeout,
    /// A DAG dependency: the source must finish before the target runs.
    Dependency,
    /// The next saga step.
    Forward,
    /// From a failed saga step to the compensation of the step before it.
    Compensate,
    /// From a compensation to the one before it.
    Rollback,
}

/// An edge of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEdge {
    /// What it means.
    pub kind: EdgeKind,
    /// When it is taken.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "condition_source")]
    pub condition: Option<Condition>,
    /// Evaluation order among the edges leaving the same node (file order of transitions).
    pub order: usize,
}

fn condition_source<S: serde::Serializer>(c: &Option<Condition>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(&c.source),
        None => s.serialize_none(),
    }
}

/// A compiled workflow.
#[derive(Debug, Clone)]
pub struct Plan {
    /// State machine, DAG or saga.
    pub kind: WorkflowKind,
    /// The graph.
    pub graph: StableDiGraph<PlanNode, PlanEdge>,
    /// Where a state machine starts.
    pub initial: Option<NodeIndex>,
    index: HashMap<String, NodeIndex>,
}

impl Plan {
    fn new(kind: WorkflowKind) -> Self {
        Plan { kind, graph: StableDiGraph::new(), initial: None, index: HashMap::new() }
    }

    fn add(&mut self, node: PlanNode) -> NodeIndex {
        let id = node.id.clone();
        let index = self.graph.add_node(node);
        self.index.insert(id, index);
        index
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }

    /// Nodes in insertion (file) order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeIndex, &PlanNode)> {
        self.graph.node_indices().map(|i| (i, &self.graph[i]))
    }

    /// Every edge as `(from, to, edge)`, in a stable order: by source in file order, then by
    /// evaluation order.
    pub fn edges(&self) -> Vec<(&PlanNode, &PlanNode, &PlanEdge)> {
        let mut edges: Vec<_> =
            (&self.graph).edge_references().map(|e| (e.source(), e.target(), e.weight())).collect();
        edges.sort_by_key(|(s, t, e)| (s.index(), e.order, t.index()));
        edges.into_iter().map(|(s, t, e)| (&self.graph[s], &self.graph[t], e)).collect()
    }

    /// Edges leaving `node`, in evaluation order.
    pub fn outgoing(&self, node: NodeIndex) -> Vec<(NodeIndex, &PlanEdge)> {
        let mut out: Vec<_> = self.graph.edges(node).map(|e| (e.target(), e.weight())).collect();
        out.sort_by_key(|(t, e)| (e.order, t.index()));
        out
    }

    /// The plan as JSON: nodes and edges, for `visualize --format json` and tests.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes: Vec<_> =
            self.nodes().map(|(_, n)| serde_json::to_value(n).expect("plan nodes serialize")).collect();
        let edges: Vec<_> = self
            .edges()
            .into_iter()
            .map(|(s, t, e)| {
                let mut v = serde_json::to_value(e).expect("plan edges serialize");
                v["from"] = s.id.clone().into();
                v["to"] = t.id.clone().into();
                v
            })
            .collect();
        serde_json::json!({
            "kind": self.kind.as_str(),
            "initial": self.initial.map(|i| self.graph[i].id.clone()),
            "nodes": nodes,
            "edges": edges,
        })
    }
}

/// The label an edge is drawn with: its condition, or what kind of edge it is.
pub fn edge_label(edge: &PlanEdge) -> Option<String> {
    match edge.kind {
        EdgeKind::Else => Some("else".into()),
        EdgeKind::Timeout => Some("timeout".into()),
        EdgeKind::Compensate => Some("on failure".into()),
        _ => edge.condition.as_ref().map(|c| c.source.trim().to_owned()),
    }
}
