//! DAG scheduling over the plan: which nodes are ready, and which will never run.
//!
//! Pure bookkeeping, linear in nodes and edges: each node counts its unfinished dependencies;
//! a dependency that failed (or was skipped) dooms its dependents unless its `continue_on`
//! says otherwise, and a doomed node is skipped as soon as its last dependency finishes.

use petgraph::Direction;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::NodeIndexable;

use crate::plan::{NodeRole, Plan};
use crate::workflow::model::ContinueOn;

/// How a node ended, for its dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeEnd {
    /// It succeeded.
    Succeeded,
    /// It failed.
    Failed,
    /// It did not run.
    Skipped,
}

/// Tracks a DAG run's dependencies.
#[derive(Debug)]
pub struct DagScheduler {
    waiting: Vec<usize>,
    doomed: Vec<Option<String>>,
}

/// What finishing a node released.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Nodes whose dependencies are all done: run them (after their own condition).
    pub ready: Vec<NodeIndex>,
    /// Nodes that will not run, with the reason.
    pub skipped: Vec<(NodeIndex, String)>,
}

impl DagScheduler {
    /// A scheduler for `plan`, and the nodes ready at the start (in file order).
    pub fn new(plan: &Plan) -> (Self, Vec<NodeIndex>) {
        let size = plan.graph.node_bound();
        let mut waiting = vec![0; size];
        let mut ready = Vec::new();
        for (index, _) in plan.nodes() {
            waiting[index.index()] = plan.graph.neighbors_directed(index, Direction::Incoming).count();
            if waiting[index.index()] == 0 {
                ready.push(index);
            }
        }
        (DagScheduler { waiting, doomed: vec![None; size] }, ready)
    }

    /// Records that `node` ended, and returns what that releases — skips cascade.
    pub fn finish(&mut self, plan: &Plan, node: NodeIndex, end: NodeEnd) -> Released {
        let mut released = Released::default();
        let mut work = vec![(node, end)];
        while let Some((node, end)) = work.pop() {
            let continue_on: &[ContinueOn] = match &plan.graph[node].role {
                NodeRole::Node { continue_on } => continue_on,
                _ => &[],
            };
            let passes = match end {
                NodeEnd::Succeeded => true,
                NodeEnd::Failed => {
                    continue_on.iter().any(|c| matches!(c, ContinueOn::Failure | ContinueOn::Always))
                }
                NodeEnd::Skipped => {
                    continue_on.iter().any(|c| matches!(c, ContinueOn::Skipped | ContinueOn::Always))
                }
            };
            let mut dependents: Vec<NodeIndex> =
                plan.graph.neighbors_directed(node, Direction::Outgoing).collect();
            dependents.sort_unstable();
            dependents.dedup();
            for dependent in dependents {
                let i = dependent.index();
                let edges = plan.graph.edges_connecting(node, dependent).count();
                self.waiting[i] = self.waiting[i].saturating_sub(edges);
                if !passes && self.doomed[i].is_none() {
                    let what = if end == NodeEnd::Failed { "failed" } else { "was skipped" };
                    self.doomed[i] = Some(format!("dependency `{}` {what}", plan.graph[node].id));
                }
                if self.waiting[i] == 0 {
                    match self.doomed[i].take() {
                        Some(reason) => {
                            released.skipped.push((dependent, reason));
                            work.push((dependent, NodeEnd::Skipped));
                        }
                        None => released.ready.push(dependent),
                    }
                }
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::Document;

    fn plan(yaml: &str) -> Plan {
        let root =
            crate::workflow::yaml::parse(&crate::source::SourceFile::new("t.yaml", yaml)).root.unwrap();
        let doc: Document = crate::workflow::yaml::deserialize(&root).unwrap();
        crate::plan::compile(&doc).unwrap()
    }

    fn ids(plan: &Plan, nodes: &[NodeIndex]) -> Vec<String> {
        nodes.iter().map(|n| plan.graph[*n].id.clone()).collect()
    }

    const DIAMOND: &str = "workflow:\n  nodes:\n    - id: lint\n    - id: test\n      depends_on: [lint]\n    - id: security\n      depends_on: [lint]\n    - id: build\n      depends_on: [test, security]\n    - id: verify\n      depends_on: [build]\n";

    #[test]
    fn nodes_become_ready_when_all_their_dependencies_succeed() {
        let plan = plan(DIAMOND);
        let (mut s, ready) = DagScheduler::new(&plan);
        assert_eq!(ids(&plan, &ready), ["lint"]);
        let r = s.finish(&plan, plan.node("lint").unwrap(), NodeEnd::Succeeded);
        assert_eq!(ids(&plan, &r.ready), ["test", "security"]);
        assert!(s.finish(&plan, plan.node("test").unwrap(), NodeEnd::Succeeded).ready.is_empty());
        let r = s.finish(&plan, plan.node("security").unwrap(), NodeEnd::Succeeded);
        assert_eq!(ids(&plan, &r.ready), ["build"]);
    }

    #[test]
    fn a_failure_skips_every_descendant() {
        let plan = plan(DIAMOND);
        let (mut s, _) = DagScheduler::new(&plan);
        s.finish(&plan, plan.node("lint").unwrap(), NodeEnd::Succeeded);
        assert!(s.finish(&plan, plan.node("test").unwrap(), NodeEnd::Failed).skipped.is_empty());
        let r = s.finish(&plan, plan.node("security").unwrap(), NodeEnd::Succeeded);
        let skipped: Vec<_> =
            r.skipped.iter().map(|(n, why)| (plan.graph[*n].id.clone(), why.clone())).collect();
        assert_eq!(
            skipped,
            [
                ("build".to_owned(), "dependency `test` failed".to_owned()),
                ("verify".to_owned(), "dependency `build` was skipped".to_owned())
            ]
        );
    }

    #[test]
    fn continue_on_failure_lets_dependents_run() {
        let plan = plan(
            "workflow:\n  nodes:\n    - id: audit\n      continue_on: failure\n    - id: build\n      depends_on: audit\n",
        );
        let (mut s, _) = DagScheduler::new(&plan);
        let r = s.finish(&plan, plan.node("audit").unwrap(), NodeEnd::Failed);
        assert_eq!(ids(&plan, &r.ready), ["build"]);
    }
}
