//! The state-machine executor: enter a state, run its `on_enter`, its step (its agents, in
//! parallel with `require_all` when it has several, or a person's review), its `on_exit`, then
//! take the first outgoing transition whose condition holds, else its `else` edge. A terminal
//! state ends the pass; `stop` ends it unsuccessfully.

use petgraph::stable_graph::NodeIndex;

use super::core::event::Via;
use super::core::event::{Event, RunStatus};
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::resume::Replay;
use super::runner::{Runner, Started};
use crate::plan::{EdgeKind, NodeRole};

impl Runner {
    /// Awaits a step while showing the signals it sends and taking control signals; an
    /// interrupt drops the step (killing its agents) and makes its outcome `interrupted`.
    pub(super) async fn await_step(&mut self, step: impl Future<Output = Outcome>) -> Outcome {
        let started = std::time::Instant::now();
        self.with_control(step, true).await.unwrap_or_else(|by| Outcome {
            duration_ms: started.elapsed().as_millis() as u64,
            ..super::live::interrupted(&by)
        })
    }

    /// Runs a node's step to its end: started, awaited, finished. A step whose agents' conditions
    /// all fail is skipped, which counts as success.
    /// A failed step is tried again as its retry policy says.
    pub(super) async fn perform(&mut self, node: NodeIndex, parallel: bool, require_all: bool) -> Outcome {
        let (mut attempt, mut delay) = (1, std::time::Duration::ZERO);
        match self.take_replay(node) {
            Some(Replay::Done(outcome)) => return *outcome,
            Some(Replay::Skipped) => return Outcome { success: true, ..Outcome::default() },
            Some(Replay::Rerun(again)) => attempt = again,
            None => {}
        }
        loop {
            // A paused loop waits here, before the step starts.
            self.checkpoint().await;
            if self.state.redirect.is_some()
                && self.plan.kind == crate::workflow::model::WorkflowKind::StateMachine
            {
                return Outcome::failed(FailureClass::Redirected, "redirected before the step started");
            }
            if let Err((_, reason)) = self.admit(node).await {
                return Outcome::failed(FailureClass::Stopped, reason);
            }
            if let Err(reason) = self.agent_admit(node) {
                let step = self.plan.graph[node].id.clone();
                self.emit(&Event::StepSkipped { step, reason: reason.clone() });
                return Outcome::failed(FailureClass::CircuitOpen, reason);
            }
            match self.start(node, parallel, require_all, attempt, delay) {
                Started::Skipped(reason) => {
                    let step = self.plan.graph[node].id.clone();
                    self.emit(&Event::StepSkipped { step, reason });
                    return Outcome { success: true, ..Outcome::default() };
                }
                Started::Running(ticket, future) => {
                    let outcome = self.await_step(future).await;
                    self.finish(ticket, outcome.clone());
                    // The outcome is durable before the transition it causes.
                    self.settle().await;
                    if outcome.class == Some(FailureClass::Interrupted) {
                        // The loop is paused; when it goes on, the step runs again, as the same
                        // attempt, with whatever hints came meanwhile (or the run is redirected).
                        continue;
                    }
                    if self.escalation.is_some() {
                        self.escalate().await;
                    }
                    if let Some((_, reason)) = &self.halt {
                        // The breaker opened on this step: the pass ends here.
                        return Outcome {
                            class: Some(FailureClass::Stopped),
                            error: Some(reason.clone()),
                            ..outcome
                        };
                    }
                    match self.retry_after(node, attempt, &outcome) {
                        Some(next) => (attempt, delay) = (attempt + 1, next),
                        None => {
                            if !outcome.success {
                                self.route_failure(node).await;
                            }
                            return outcome;
                        }
                    }
                }
            }
        }
    }

    pub(super) async fn run_state_machine(&mut self) -> (RunStatus, String) {
        let Some(mut current) = self.plan.initial else {
            return (RunStatus::Failed, "the workflow has no states".into());
        };
        // A resumed run goes on in the state its journal ends in; that state's `on_enter` ran
        // already unless the journal ends with the transition into it.
        let mut entered = false;
        if let Some((node, to_enter)) = self.resume_at.take() {
            current = node;
            entered = !to_enter;
        }
        loop {
            let id = self.plan.graph[current].id.clone();
            // Between states: a paused loop waits, a redirect is taken before the state is entered.
            self.checkpoint().await;
            if let Some(target) = self.take_redirect(&id) {
                current = target;
                entered = false;
                continue;
            }
            let (terminal, require_all, parallel) = match self.plan.graph[current].role {
                NodeRole::Stop => return (RunStatus::Stopped, "reached `stop`".into()),
                NodeRole::State { terminal, require_all, parallel, .. } => (terminal, require_all, parallel),
                _ => return (RunStatus::Failed, format!("`{id}` is not a state")),
            };
            let prep = &self.nodes[current.index()];
            let has_step = !prep.units.is_empty() || prep.human.is_some();
            let enter =
                if std::mem::take(&mut entered) { None } else { self.run_hook(current, "on_enter").await };
            if let Some(failed) = enter.filter(|o| !o.success) {
                if failed.class == Some(FailureClass::Stopped) {
                    return (RunStatus::Stopped, failed.error.unwrap_or_default());
                }
                return (
                    RunStatus::Failed,
                    format!("`on_enter` of `{id}` failed: {}", failed.error.unwrap_or_default()),
                );
            }
            if terminal && !has_step {
                if let Some(stop) = self.exit_hook(current, &id).await {
                    return stop;
                }
                return (RunStatus::Succeeded, format!("reached the terminal state `{id}`"));
            }
            if self.state.invocations >= self.max_invocations() {
                return (
                    RunStatus::Stopped,
                    format!("max_iterations ({}) reached in `{id}`", self.max_invocations()),
                );
            }
            let mut outcome = self.perform(current, parallel, require_all).await;
            if self.state.redirect.is_some() {
                // A person redirected the run while this state ran (or waited to run): its
                // `on_exit` runs, then the run goes where they said, whatever the outcome.
                if let Some(stop) = self.exit_hook(current, &id).await {
                    return stop;
                }
                if let Some(target) = self.take_redirect(&id) {
                    current = target;
                    continue;
                }
            }
            if outcome.class == Some(FailureClass::Timeout) {
                if let Some(decided) = self.run_hook(current, "on_timeout").await {
                    outcome = decided;
                }
            }
            if outcome.class == Some(FailureClass::Stopped) {
                return (RunStatus::Stopped, outcome.error.unwrap_or_else(|| format!("stopped in `{id}`")));
            }
            if let Some(stop) = self.exit_hook(current, &id).await {
                return stop;
            }
            let success = outcome.success;
            if terminal {
                return if success {
                    (RunStatus::Succeeded, format!("reached the terminal state `{id}`"))
                } else {
                    (RunStatus::Failed, format!("the terminal state `{id}` failed"))
                };
            }
            // `on_timeout` of a review may name the state to move to.
            if let Some(goto) = &outcome.goto {
                let Some(target) = self.plan.node(goto) else {
                    return (RunStatus::Failed, format!("`{id}` moves to the unknown state `{goto}`"));
                };
                self.emit(&Event::Transition { from: id, to: goto.clone(), kind: Via::Timeout });
                current = target;
                continue;
            }
            let scope = self.scope(current, &outcome);
            let mut next = None;
            for (target, edge) in self.plan.outgoing(current) {
                let holds = match edge.kind {
                    EdgeKind::Else => true,
                    EdgeKind::Transition | EdgeKind::Next => match &edge.condition {
                        Some(c) => match self.evaluator.holds(c, &scope) {
                            Ok(holds) => holds,
                            Err(e) => return (RunStatus::Failed, format!("in `{id}`: {e}")),
                        },
                        None => success,
                    },
                    _ => false,
                };
                if holds {
                    let via = match edge.kind {
                        EdgeKind::Else => Via::Else,
                        EdgeKind::Next => Via::Next,
                        _ => Via::Transition,
                    };
                    next = Some((target, via));
                    break;
                }
            }
            let Some((target, kind)) = next else {
                let result = scope.result.map(|r| format!(", result `{r}`")).unwrap_or_default();
                let how = if success { "succeeded" } else { "failed" };
                let error = outcome.error.map(|e| format!(": {e}")).unwrap_or_default();
                return (
                    RunStatus::Failed,
                    format!("no transition from `{id}` holds (the step {how}{result}){error}"),
                );
            };
            let to = self.plan.graph[target].id.clone();
            self.emit(&Event::Transition { from: id, to, kind });
            current = target;
        }
    }

    /// Takes a pending redirect: journals the transition to its state and returns it.
    fn take_redirect(&mut self, from: &str) -> Option<NodeIndex> {
        let to = self.state.redirect.clone()?;
        let target = self.plan.node(&to)?;
        self.emit(&Event::Transition { from: from.to_owned(), to, kind: Via::Redirect });
        Some(target)
    }

    /// Runs `on_exit`; a failure or `stop` there ends the pass.
    async fn exit_hook(&mut self, node: NodeIndex, id: &str) -> Option<(RunStatus, String)> {
        let failed = self.run_hook(node, "on_exit").await.filter(|o| !o.success)?;
        Some(if failed.class == Some(FailureClass::Stopped) {
            (RunStatus::Stopped, failed.error.unwrap_or_default())
        } else {
            (RunStatus::Failed, format!("`on_exit` of `{id}` failed: {}", failed.error.unwrap_or_default()))
        })
    }
}
