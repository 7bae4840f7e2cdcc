//! The DAG executor: every node whose dependencies are satisfied runs, up to `--jobs` at once;
//! a failure skips its descendants unless `continue_on` says otherwise; every node ends
//! succeeded, failed, skipped or (when the run stops early) cancelled.
//!
//! A pass that is under way (a resumed run) goes on from the state: the nodes that ended are
//! released with their ends as the scheduler reaches them, and those that were running or
//! waiting for a retry run again.

use std::collections::VecDeque;

use petgraph::stable_graph::NodeIndex;
use tokio::task::JoinSet;

use super::core::event::{Event, RunStatus};
use super::core::outcome::{FailureClass, Outcome};
use super::core::projection::StepStatus;
use super::dag::{DagScheduler, NodeEnd};
use super::resume::Standing;
use super::runner::Runner;
use super::steps::{Started, Ticket};

/// How many steps the scheduler starts before it takes the ends of those that finished: with
/// `--jobs` in the thousands, starting them all before looking back would leave finished steps
/// (and their memory) waiting for the last start.
const START_BATCH: usize = 64;

impl Runner {
    pub(super) async fn run_dag(&mut self) -> (RunStatus, String) {
        let (mut scheduler, ready) = DagScheduler::new(&self.plan);
        let mut queue: VecDeque<NodeIndex> = ready.into();
        let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
        let mut tickets: Vec<Option<Ticket>> = Vec::new();
        let jobs = self.options.jobs.max(1);
        let mut exhausted = false;
        let mut refused = 0;
        // Ends were taken without waiting (see `more` below): the others that are there are
        // taken before anything more starts, so finished steps never pile up behind starts.
        let mut reaping = false;
        loop {
            let mut started = 0;
            while running.len() < jobs && !exhausted && started < START_BATCH && !reaping {
                // Signals are taken before each start; a paused loop starts nothing and, once
                // the running nodes have finished, waits. A node the state shows ended starts
                // nothing: it is released without a look for signals, as it was when it ended.
                let next = queue.front().map(|n| self.plan.graph[*n].id.clone());
                // A retry that was due, or cut short, starts at once, as retries do (it takes
                // its slot without a look for signals or the guards).
                let ended = next.as_deref().is_some_and(|id| {
                    matches!(self.standing(id), Standing::Done(_) | Standing::Skipped | Standing::Retry(..))
                        || matches!(self.standing(id), Standing::Cut(attempt) if attempt > 1)
                });
                // With nothing queued there is nothing to look for signals before: orders still
                // arrive below while the loop waits, and the files are looked at before the
                // next start (a chain looks once per step, not after each start and end too).
                if ended || next.is_none() {
                } else if let Some(by) = self.poll_control(next.as_deref()).await {
                    self.interrupt_dag(&mut running, &mut tickets, &mut queue, &by).await;
                }
                if self.state.paused.is_some() && !ended {
                    if !running.is_empty() {
                        break;
                    }
                    self.checkpoint(next.as_deref()).await;
                }
                let Some(node) = queue.pop_front() else { break };
                let id = self.plan.graph[node].id.clone();
                let iteration = self.state.iteration;
                // A node the state shows ended is released with its end; one that was running,
                // interrupted or waiting for its retry runs (again).
                // A retry not started yet (journaled, or decided just now) meets the budget
                // when it would start, as the run's retries do (see below).
                let mut unstarted_retry = false;
                let (attempt, delay) = match self.standing(&id) {
                    Standing::Done(outcome) => {
                        // The decisions after its end are taken as the run would have: a failed
                        // node whose retry was not journaled yet is tried again.
                        let attempt = self.state.pass().and_then(|p| p.step(&id)).map_or(1, |r| r.attempts);
                        match self.after_node(node, attempt, &outcome).await {
                            Some(delay) => {
                                unstarted_retry = true;
                                (attempt + 1, delay)
                            }
                            None => {
                                // Released as a node that just finished is.
                                let end = if outcome.success { NodeEnd::Succeeded } else { NodeEnd::Failed };
                                self.release(&mut scheduler, &mut queue, node, end);
                                continue;
                            }
                        }
                    }
                    Standing::Skipped => {
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                        continue;
                    }
                    Standing::Again(attempt) | Standing::Cut(attempt) => (attempt, std::time::Duration::ZERO),
                    Standing::Retry(attempt, delay) => {
                        unstarted_retry = true;
                        (attempt, delay.max(std::time::Duration::from_millis(1)))
                    }
                    Standing::New => (1, std::time::Duration::ZERO),
                };
                if unstarted_retry && self.budget_spent() {
                    // Held back by the budget, as the run held it.
                    queue.push_front(node);
                    exhausted = true;
                    break;
                }
                // A retry the state shows due starts at once, as it would have (a retry is not
                // admitted again); anything else is checked first.
                // A retry (the only way past a first attempt, unless a person interrupted it)
                // starts without the checks a first attempt gets.
                let retry = attempt > 1 && !matches!(self.standing(&id), Standing::Again(_));
                if !retry {
                    if let Some(condition) = self.plan.graph[node].condition.clone() {
                        let scope = self.scope(node, &Outcome { success: true, ..Outcome::default() });
                        let holds = self.evaluator.holds(&condition, &scope).unwrap_or(false);
                        if !holds {
                            let reason = format!("condition `{}` does not hold", condition.source);
                            self.emit(&Event::StepSkipped { step: id, reason, iteration });
                            self.release(&mut scheduler, &mut queue, node, NodeEnd::Skipped);
                            continue;
                        }
                    }
                    if self.budget_spent() || self.admit(node).await.is_err() {
                        queue.push_front(node);
                        exhausted = true;
                        break;
                    }
                    // A pause taken while it was admitted acts before it starts, as it would
                    // on a resumed run, which sees it journaled.
                    if self.state.paused.is_some() {
                        queue.push_front(node);
                        continue;
                    }
                    if let Err(reason) = self.agent_admit(node) {
                        // Its agent's breaker is open: the node fails without running.
                        self.emit(&Event::StepSkipped { step: id, reason, iteration });
                        self.release(&mut scheduler, &mut queue, node, NodeEnd::Failed);
                        refused += 1;
                        continue;
                    }
                }
                if self.acts_for_good(node) {
                    // What it does cannot be taken back: what it follows is on disk first.
                    self.settle().await;
                }
                match self.start(node, false, true, attempt, delay).await {
                    Started::Skipped(reason) => {
                        self.emit(&Event::StepSkipped { step: id, reason, iteration });
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
                        started += 1;
                    }
                }
            }
            // What waits for a job slot once the slots are filled.
            self.telemetry.ready_queue(queue.len());
            if running.is_empty() {
                break;
            }
            // More could start at once: take the ends that are there without waiting for one.
            let more = (started == START_BATCH || reaping) && running.len() < jobs && !queue.is_empty();
            let joined = if more {
                if !reaping {
                    tokio::task::yield_now().await;
                }
                match running.try_join_next() {
                    Some(joined) => {
                        reaping = true;
                        joined
                    }
                    None => {
                        reaping = false;
                        continue;
                    }
                }
            } else {
                reaping = false;
                self.publish_pending();
                tokio::select! {
                    Some(joined) = running.join_next(), if !running.is_empty() => joined,
                    Some(report) = self.signals_rx.recv() => {
                        self.on_signal(report);
                        continue;
                    }
                    Some(spawned) = self.spawned_rx.recv() => {
                        self.on_spawned(spawned);
                        continue;
                    }
                    Some(report) = self.notifier.reports.recv() => {
                        self.on_notification(report);
                        continue;
                    }
                    Some(order) = self.live.orders.recv() => {
                        if let Some(by) = self.take_order(order).await {
                            self.interrupt_dag(&mut running, &mut tickets, &mut queue, &by).await;
                        }
                        continue;
                    }
                }
            };
            let (slot, outcome) = match joined {
                Ok(done) => done,
                // A panicking step task is a bug; the run stops rather than guessing.
                Err(e) => return (RunStatus::Failed, format!("internal error: {e}")),
            };
            let Some(ticket) = tickets[slot].take() else { continue };
            let (node, attempt) = (ticket.node, ticket.attempt);
            // The outcome as finished: a plugin's veto after the step fails it.
            let outcome = self.finish(ticket, outcome).await;
            let end = if outcome.success { NodeEnd::Succeeded } else { NodeEnd::Failed };
            if self.halt_class() == Some(FailureClass::Environment) {
                // An agent that cannot work here: the others are stopped now, not waited for.
                self.interrupt_dag(
                    &mut running,
                    &mut tickets,
                    &mut queue,
                    "the run (its environment failed)",
                )
                .await;
                exhausted = true;
            }
            let retry = self.after_node(node, attempt, &outcome).await;
            exhausted |= self.halted().is_some();
            if retry.is_some() && self.budget_spent() {
                // The budget is spent: the retry waits with the nodes the budget holds back
                // (cancelled when the pass ends, run by a resume with more iterations).
                queue.push_front(node);
                exhausted = true;
                continue;
            }
            if let Some(delay) = retry {
                // The retry takes the freed slot at once and waits out its delay there.
                if let Started::Running(ticket, step) =
                    self.start(node, false, true, attempt + 1, delay).await
                {
                    tickets[slot] = Some(ticket);
                    running.spawn(async move { (slot, step.await) });
                    continue;
                }
            }
            // Its dependents start now, while its outcome is written (group commit): the
            // journal keeps their events after it, so a kill before the flush loses a suffix —
            // the node and whatever started after it run again, as interrupted steps do — and
            // what acts on an outcome for good (a task mark, a commit, the run's end) waits
            // for the disk.
            self.log.request();
            self.release(&mut scheduler, &mut queue, node, end);
        }
        if let Some((status, reason)) = self.halted() {
            self.cancel(queue, &format!("cancelled: {reason}"));
            return (status, reason);
        }
        if !queue.is_empty() {
            let left = queue.len();
            self.cancel(queue, "cancelled: max_iterations reached");
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

    /// The nodes that were ready when the pass stopped are skipped as cancelled (they run when a
    /// resumed run goes on); one the state already shows cancelled so is not journaled twice.
    fn cancel(&mut self, queue: VecDeque<NodeIndex>, reason: &str) {
        let iteration = self.state.iteration;
        for node in queue {
            let step = self.plan.graph[node].id.clone();
            let cancelled =
                self.state.pass().and_then(|p| p.step(&step)).is_some_and(|r| {
                    r.status == StepStatus::Skipped && r.skip_reason.as_deref() == Some(reason)
                });
            if !cancelled {
                self.emit(&Event::StepSkipped { step, reason: reason.to_owned(), iteration });
            }
        }
    }

    /// The decisions after a node's end, whether it just finished or the state shows it ended:
    /// an escalation that is due, then its retry (the delay, when it runs again) or, when it
    /// failed for good, the planner.
    async fn after_node(
        &mut self,
        node: NodeIndex,
        attempt: u32,
        outcome: &Outcome,
    ) -> Option<std::time::Duration> {
        if self.state.escalation.is_some() {
            self.escalate().await;
        }
        if outcome.success {
            return None;
        }
        if let Some(delay) = self.retry_after(node, attempt, outcome).filter(|_| self.halted().is_none()) {
            return Some(delay);
        }
        self.route_failure(node).await;
        None
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
        by: &str,
    ) {
        running.abort_all();
        while running.join_next().await.is_some() {}
        for ticket in tickets.iter_mut().filter_map(Option::take) {
            let node = ticket.node;
            let _ = self.finish(ticket, super::live::interrupted(by)).await;
            queue.push_front(node);
        }
        self.settle().await;
    }

    /// Whether `node`'s step acts beyond the work tree's files, for good: a built-in action (a
    /// commit, a reset), a person asked for a review, or plugins, which may notify anyone.
    fn acts_for_good(&self, node: NodeIndex) -> bool {
        let prep = &self.nodes[node.index()];
        let builtin = |units: &Vec<Vec<super::agents::StepAgent>>| {
            units.iter().flatten().any(|a| matches!(a.backing, super::agents::Backing::Builtin(_)))
        };
        self.has_plugins()
            || prep.human.is_some()
            || [&prep.units, &prep.on_enter, &prep.on_exit].into_iter().any(builtin)
    }

    fn release(
        &mut self,
        scheduler: &mut DagScheduler,
        queue: &mut VecDeque<NodeIndex>,
        node: NodeIndex,
        end: NodeEnd,
    ) {
        let released = scheduler.finish(&self.plan, node, end);
        let iteration = self.state.iteration;
        for (skipped, reason) in released.skipped {
            let step = self.plan.graph[skipped].id.clone();
            // A resumed run has journaled some of these already.
            if matches!(self.standing(&step), Standing::Skipped) {
                continue;
            }
            self.emit(&Event::StepSkipped { step, reason, iteration });
        }
        queue.extend(released.ready);
    }
}
