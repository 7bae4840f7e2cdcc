//! The saga executor: steps in order; when one fails, the compensations of the steps that
//! completed run latest first, then `compensation.on_failure`. The run reports what was
//! compensated and whether every compensation succeeded.

use petgraph::stable_graph::NodeIndex;

use super::core::event::RunStatus;
use super::core::outcome::FailureClass;
use super::runner::Runner;
use crate::plan::EdgeKind;

impl Runner {
    pub(super) async fn run_saga(&mut self) -> (RunStatus, String) {
        let mut current = self.plan.initial;
        while let Some(step) = current {
            let outcome = self.perform(step, false, true).await;
            if outcome.class == Some(FailureClass::Stopped) {
                // Stopped by a budget or the breaker: the steps done so far stay as they are.
                return (RunStatus::Stopped, outcome.error.unwrap_or_default());
            }
            if !outcome.success {
                let id = self.plan.graph[step].id.clone();
                return self.compensate(step, &id).await;
            }
            current = self.follow(step, EdgeKind::Forward);
        }
        (RunStatus::Succeeded, "every step succeeded".into())
    }

    fn follow(&self, node: NodeIndex, kind: EdgeKind) -> Option<NodeIndex> {
        self.plan.outgoing(node).into_iter().find(|(_, e)| e.kind == kind).map(|(t, _)| t)
    }

    /// Runs the compensations of the steps before `failed`, latest first.
    async fn compensate(&mut self, failed: NodeIndex, id: &str) -> (RunStatus, String) {
        let mut next = self.follow(failed, EdgeKind::Compensate);
        let mut done = Vec::new();
        let mut broken = Vec::new();
        while let Some(node) = next {
            let outcome = self.perform(node, false, true).await;
            let name = self.plan.graph[node].id.clone();
            if outcome.success {
                done.push(name);
            } else {
                broken.push(name);
            }
            next = self.follow(node, EdgeKind::Rollback);
        }
        let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        if broken.is_empty() {
            (RunStatus::Failed, format!("step `{id}` failed; compensated: {}", list(&done)))
        } else {
            (
                RunStatus::Failed,
                format!(
                    "step `{id}` failed; compensated: {}; compensation FAILED: {}",
                    list(&done),
                    list(&broken)
                ),
            )
        }
    }
}
