//! The state-machine executor: enter a state, run its `on_enter`, its step (its agents, in
//! parallel with `require_all` when it has several, or a person's review), its `on_exit`, then
//! take the first outgoing transition whose condition holds, else its `else` edge. A terminal
//! state ends the pass; `stop` ends it unsuccessfully.

use petgraph::stable_graph::NodeIndex;

use super::core::event::{Event, RunStatus, Via};
use super::core::outcome::{FailureClass, Outcome};
use super::resume::Standing;
use super::runner::Runner;
use super::steps::Started;
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
    /// all fail is skipped, which counts as success. A failed step is tried again as its retry
    /// policy says. The state says where the step stands: a resumed run does not run a step
    /// that ended again — it takes the same decisions after it (escalation, halt, retry, the
    /// planner) that the run would have taken — and runs one that was cut short as the attempt
    /// it was.
    pub(super) async fn perform(&mut self, node: NodeIndex, parallel: bool, require_all: bool) -> Outcome {
        let (mut attempt, mut delay) = (1, std::time::Duration::ZERO);
        let mut ended = None;
        match self.standing(&self.plan.graph[node].id) {
            Standing::Done(outcome) => {
                attempt = self
                    .state
                    .pass()
                    .and_then(|p| p.step(&self.plan.graph[node].id))
                    .map_or(1, |r| r.attempts);
                ended = Some(*outcome);
            }
            Standing::Skipped => return Outcome { success: true, ..Outcome::default() },
            Standing::Again(again) | Standing::Cut(again) => attempt = again,
            // A retry goes through the checks every attempt does, here as live.
            Standing::Retry(again, wait) => (attempt, delay) = (again, wait),
            Standing::New => {}
        }
        loop {
            let outcome = match ended.take() {
                Some(outcome) => outcome,
                None => match self.run_step(node, parallel, require_all, attempt, delay).await {
                    Ok(outcome) => outcome,
                    Err(done) => return done,
                },
            };
            if outcome.class == Some(FailureClass::Interrupted) {
                // The loop is paused; when it goes on, the step runs again, as the same
                // attempt, with whatever hints came meanwhile (or the run is redirected).
                delay = std::time::Duration::ZERO;
                continue;
            }
            if self.state.escalation.is_some() {
                self.escalate().await;
            }
            if let Some((_, reason)) = self.halted() {
                // The breaker opened on this step, or its agent cannot work here: the pass ends
                // here.
                return Outcome { class: Some(FailureClass::Stopped), error: Some(reason), ..outcome };
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

    /// Runs one attempt of a step: admitted, started, awaited, finished and durable. `Err` is
    /// the outcome that ends `perform` without the step running (stopped, skipped, redirected).
    async fn run_step(
        &mut self,
        node: NodeIndex,
        parallel: bool,
        require_all: bool,
        attempt: u32,
        delay: std::time::Duration,
    ) -> Result<Outcome, Outcome> {
        let redirects = self.plan.kind == crate::workflow::model::WorkflowKind::StateMachine;
        loop {
            // A paused loop waits here, before the step starts.
            let next = self.plan.graph[node].id.clone();
            self.checkpoint(Some(&next)).await;
            if self.state.redirect.is_some() && redirects {
                return Err(Outcome::failed(FailureClass::Redirected, "redirected before the step started"));
            }
            if let Err((_, reason)) = self.admit(node).await {
                return Err(Outcome::failed(FailureClass::Stopped, reason));
            }
            // Signals taken while it was admitted (a rate limit's wait, an escalation) act
            // before it starts, as they would on a resumed run, which sees them journaled.
            if self.state.paused.is_none() && !(self.state.redirect.is_some() && redirects) {
                break;
            }
        }
        if let Err(reason) = self.agent_admit(node) {
            let (step, iteration) = (self.plan.graph[node].id.clone(), self.state.iteration);
            self.emit(&Event::StepSkipped { step, reason: reason.clone(), iteration });
            return Err(Outcome::failed(FailureClass::CircuitOpen, reason));
        }
        match self.start(node, parallel, require_all, attempt, delay).await {
            Started::Skipped(reason) => {
                let (step, iteration) = (self.plan.graph[node].id.clone(), self.state.iteration);
                self.emit(&Event::StepSkipped { step, reason, iteration });
                Err(Outcome { success: true, ..Outcome::default() })
            }
            Started::Running(ticket, future) => {
                let outcome = self.await_step(future).await;
                let outcome = self.finish(ticket, outcome).await;
                // The outcome is durable before the transition it causes.
                self.settle().await;
                Ok(outcome)
            }
        }
    }

    pub(super) async fn run_state_machine(&mut self) -> (RunStatus, String) {
        let Some(initial) = self.plan.initial else {
            return (RunStatus::Failed, "the workflow has no states".into());
        };
        // The pass goes on in the state it is in (a resumed run), else from the initial one.
        let mut current = self
            .state
            .pass()
            .and_then(|p| p.current.as_deref())
            .and_then(|id| self.plan.node(id))
            .unwrap_or(initial);
        loop {
            let id = self.plan.graph[current].id.clone();
            // Between states: a paused loop waits, a redirect is taken before the state is entered.
            self.checkpoint(None).await;
            if let Some(target) = self.take_redirect(&id) {
                current = target;
                continue;
            }
            let (terminal, require_all, parallel) = match self.plan.graph[current].role {
                NodeRole::Stop => return (RunStatus::Stopped, "reached `stop`".into()),
                NodeRole::State { terminal, require_all, parallel, .. } => (terminal, require_all, parallel),
                _ => return (RunStatus::Failed, format!("`{id}` is not a state")),
            };
            let prep = &self.nodes[current.index()];
            let has_step = !prep.units.is_empty() || prep.human.is_some();
            // Hook actions that already ran in this visit are not run again.
            let enter = self.run_hook(current, "on_enter").await;
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
            if self.budget_spent() && matches!(self.standing(&id), Standing::New) {
                return (
                    RunStatus::Stopped,
                    format!("max_iterations ({}) reached in `{id}`", self.max_invocations()),
                );
            }
            let parallel = parallel && self.options.parallel_agents;
            let mut outcome = self.perform(current, parallel, require_all).await;
            if self.state.redirect.is_some() {
                // A person redirected the run while this state ran: its `on_exit` runs, then
                // the run goes where they said, whatever the outcome. Redirected before its step
                // started, the state was never performed: the run moves on at once, as it does
                // between states (and as a resumed run, which cannot tell the two apart, does).
                if outcome.class != Some(FailureClass::Redirected) {
                    if let Some(stop) = self.exit_hook(current, &id).await {
                        return stop;
                    }
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
                let iteration = self.state.iteration;
                self.emit(&Event::Transition { from: id, to: goto.clone(), kind: Via::Timeout, iteration });
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
            let (to, iteration) = (self.plan.graph[target].id.clone(), self.state.iteration);
            self.emit(&Event::Transition { from: id, to, kind, iteration });
            current = target;
        }
    }

    /// Takes a pending redirect: journals the transition to its state and returns it.
    fn take_redirect(&mut self, from: &str) -> Option<NodeIndex> {
        let to = self.state.redirect.clone()?;
        let target = self.plan.node(&to)?;
        let iteration = self.state.iteration;
        self.emit(&Event::Transition { from: from.to_owned(), to, kind: Via::Redirect, iteration });
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
