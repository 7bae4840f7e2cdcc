//! The DAG executor: every node whose dependencies are satisfied runs, up to `--jobs` at once;
//! a failure skips its descendants unless `continue_on` says otherwise; every node ends
//! succeeded, failed, skipped or (when the run stops early) cancelled.

use std::collections::VecDeque;

use petgraph::stable_graph::NodeIndex;
use tokio::task::JoinSet;

use super::core::event::{Event, RunStatus};
use super::core::outcome::Outcome;
use super::core::projection::StepStatus;
use super::dag::{DagScheduler, NodeEnd};
use super::resume::Replay;
use super::runner::{Runner, Started, Ticket};

impl Runner {
    pub(super) async fn run_dag(&mut self) -> (RunStatus, String) {
        let (mut scheduler, ready) = DagScheduler::new(&self.plan);
        let mut queue: VecDeque<NodeIndex> = ready.into();
        let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
        let mut tickets: Vec<Option<Ticket>> = Vec::new();
        let jobs = self.options.jobs.max(1);
        let mut exhausted = false;
        let mut refused = 0;
        let mut pending: Vec<(u64, NodeIndex, NodeEnd)> = Vec::new();
        let mut durable_watch = self.durability.watch();
        // Nodes a person interrupted, with the attempt they run again as.
        let mut reruns: std::collections::HashMap<NodeIndex, u32> = Default::default();
        loop {
            while running.len() < jobs && !exhausted {
                // Signals are taken before each start; a paused loop starts nothing and, once
                // the running nodes have finished, waits.
                if let Some(by) = self.poll_control().await {
                    self.interrupt_dag(&mut running, &mut tickets, &mut queue, &mut reruns, &by).await;
                }
                if self.state.paused.is_some() {
                    if !running.is_empty() {
                        break;
                    }
                    self.checkpoint().await;
                }
                let Some(node) = queue.pop_front() else { break };
                let id = self.plan.graph[node].id.clone();
                // A resumed run: a node the journal shows ended is released with its end; one
                // that was running or waiting for its retry runs (again).
                let mut attempt = reruns.remove(&node).unwrap_or(1);
                match self.take_replay(node) {
                    Some(Replay::Done(outcome)) => {
                        let end = if outcome.success { NodeEnd::Succeeded } else { NodeEnd::Failed };
                        self.release(&mut scheduler, &mut queue, node, end);
                        continue;
                    }
                    Some(Replay::Skipped) => {
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                        continue;
                    }
                    Some(Replay::Rerun(again)) => attempt = again,
                    None => {}
                }
                if let Some(condition) = self.plan.graph[node].condition.clone() {
                    let scope = self.scope(node, &Outcome { success: true, ..Outcome::default() });
                    let holds = self.evaluator.holds(&condition, &scope).unwrap_or(false);
                    if !holds {
                        let reason = format!("condition `{}` does not hold", condition.source);
                        self.emit(&Event::StepSkipped { step: id, reason });
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                        continue;
                    }
                }
                if self.state.invocations >= self.max_invocations() || self.admit(node).await.is_err() {
                    queue.push_front(node);
                    exhausted = true;
                    break;
                }
                if let Err(reason) = self.agent_admit(node) {
                    // Its agent's breaker is open: the node fails without running.
                    self.emit(&Event::StepSkipped { step: id, reason });
                    self.release(&mut scheduler, &mut queue, node, NodeEnd::Failed);
                    refused += 1;
                    continue;
                }
                match self.start(node, false, true, attempt, std::time::Duration::ZERO) {
                    Started::Skipped(reason) => {
                        self.emit(&Event::StepSkipped { step: id, reason });
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                    }
                    Started::Running(ticket, step) => {
                        let slot = match tickets.iter().position(Option::is_none) {
                            Some(free) => free,
                            None => {
                                tickets.push(None);
                                tickets.len() - 1
                            }
                        };
                        tickets[slot] = Some(ticket);
                        running.spawn(async move { (slot, step.await) });
                    }
                }
            }
            // What waits for a job slot once the slots are filled.
            self.telemetry.ready_queue(queue.len());
            // Finished nodes release their dependents once their outcomes are durable; one
            // flush serves every node that finished meanwhile (group commit).
            let durable = self.durability.durable();
            if pending.iter().any(|(ticket, _, _)| *ticket <= durable) && self.is_durable(durable) {
                let (ready, waiting): (Vec<_>, Vec<_>) =
                    pending.drain(..).partition(|(ticket, _, _)| *ticket <= durable);
                pending = waiting;
                for (_, node, end) in ready {
                    self.release(&mut scheduler, &mut queue, node, end);
                }
                continue;
            }
            if running.is_empty() && pending.is_empty() {
                break;
            }
            if running.is_empty() && self.journal_broken() {
                // The journal broke: nothing more will become durable, or be acted on.
                break;
            }
            if running.is_empty() && !pending.is_empty() {
                // Nothing runs until these are durable.
                self.durability.hurry();
            }
            let joined = tokio::select! {
                Some(joined) = running.join_next(), if !running.is_empty() => joined,
                Some(report) = self.signals_rx.recv() => {
                    self.on_signal(report);
                    continue;
                }
                Some(order) = self.live.orders.recv() => {
                    if let Some(by) = self.take_order(order).await {
                        self.interrupt_dag(&mut running, &mut tickets, &mut queue, &mut reruns, &by).await;
                    }
                    continue;
                }
                _ = durable_watch.changed(), if !pending.is_empty() => continue,
            };
            let (slot, outcome) = match joined {
                Ok(done) => done,
                // A panicking step task is a bug; the run stops rather than guessing.
                Err(e) => return (RunStatus::Failed, format!("internal error: {e}")),
            };
            let Some(ticket) = tickets[slot].take() else { continue };
            let (node, attempt) = (ticket.node, ticket.attempt);
            let end = if outcome.success { NodeEnd::Succeeded } else { NodeEnd::Failed };
            self.finish(ticket, outcome.clone());
            if self.escalation.is_some() {
                self.escalate().await;
            }
            exhausted |= self.halt.is_some();
            if let Some(delay) = self.retry_after(node, attempt, &outcome).filter(|_| self.halt.is_none()) {
                // The retry takes the freed slot at once and waits out its delay there.
                if let Started::Running(ticket, step) = self.start(node, false, true, attempt + 1, delay) {
                    tickets[slot] = Some(ticket);
                    running.spawn(async move { (slot, step.await) });
                    continue;
                }
            }
            if end == NodeEnd::Failed {
                self.route_failure(node).await;
            }
            pending.push((self.durability.request(), node, end));
        }
        if let Some((status, reason)) = self.halt.clone() {
            for node in queue {
                let step = self.plan.graph[node].id.clone();
                self.emit(&Event::StepSkipped { step, reason: format!("cancelled: {reason}") });
            }
            return (status, reason);
        }
        if !queue.is_empty() {
            let left = queue.len();
            for node in queue {
                let step = self.plan.graph[node].id.clone();
                self.emit(&Event::StepSkipped { step, reason: "cancelled: max_iterations reached".into() });
            }
            return (
                RunStatus::Stopped,
                format!("max_iterations ({}) reached with {left} node(s) ready", self.max_invocations()),
            );
        }
        let failed = self.state.count(StepStatus::Failed) + refused;
        if failed == 0 {
            (RunStatus::Succeeded, "every node finished".to_owned())
        } else {
            (RunStatus::Failed, format!("{failed} node(s) failed"))
        }
    }

    /// `interrupt`: every running node is stopped (dropping its task kills its agents' process
    /// groups), finished as `interrupted`, and queued to run again as the same attempt when the
    /// loop is resumed. A node that happened to finish in the same instant is treated alike:
    /// its outcome was not journaled, so running it again repeats nothing recorded.
    async fn interrupt_dag(
        &mut self,
        running: &mut JoinSet<(usize, Outcome)>,
        tickets: &mut [Option<Ticket>],
        queue: &mut VecDeque<NodeIndex>,
        reruns: &mut std::collections::HashMap<NodeIndex, u32>,
        by: &str,
    ) {
        running.abort_all();
        while running.join_next().await.is_some() {}
        for ticket in tickets.iter_mut().filter_map(Option::take) {
            let (node, attempt) = (ticket.node, ticket.attempt);
            self.finish(ticket, super::live::interrupted(by));
            reruns.insert(node, attempt);
            queue.push_front(node);
        }
        self.settle().await;
    }

    fn release(
        &mut self,
        scheduler: &mut DagScheduler,
        queue: &mut VecDeque<NodeIndex>,
        node: NodeIndex,
        end: NodeEnd,
    ) {
        let released = scheduler.finish(&self.plan, node, end);
        for (skipped, reason) in released.skipped {
            let step = self.plan.graph[skipped].id.clone();
            // A resumed run has journaled some of these already.
            if self.replaying() && self.replayable.remove(&step) {
                continue;
            }
            self.emit(&Event::StepSkipped { step, reason });
        }
        queue.extend(released.ready);
    }
}
