//! What guards a loop's money and time: budgets checked before each AI invocation, spend
//! recorded after it, the circuit breaker fed with every step, and `max_runtime`.
//!
//! A budget is checked *before* the invocation that would exceed it: the next invocation is
//! estimated at the average spend of the AI invocations so far (over all runs), and when the
//! spend plus that estimate is over a budget, the run stops and says which budget and by how
//! much. `calls_per_hour` and `cooldown` make the loop wait instead.

use std::time::Duration;

use petgraph::stable_graph::NodeIndex;

use super::core::event::{Event, RunStatus};
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::ledger::Ledger;
use super::ledger::unix_now;
use super::runner::Runner;
use crate::policy::breaker::Change;
use crate::workflow::model::Budget;

/// How long to wait before the next invocation for `cooldown` and `calls_per_hour`.
fn rate_wait(budget: &Budget, ledger: &Ledger, now: u64) -> Duration {
    let mut wait = 0;
    if let (Some(cooldown), Some(last)) = (budget.cooldown, ledger.recent_calls.last()) {
        wait = wait.max((last + cooldown.0.as_secs()).saturating_sub(now));
    }
    if let Some(limit) = budget.calls_per_hour {
        let recent: Vec<u64> =
            ledger.recent_calls.iter().copied().filter(|t| now.saturating_sub(*t) < 3600).collect();
        if recent.len() >= limit as usize {
            // Wait until the call that fills the hour is an hour old.
            let oldest = recent[recent.len() - limit as usize];
            wait = wait.max((oldest + 3600).saturating_sub(now));
        }
    }
    Duration::from_secs(wait)
}

impl Runner {
    /// Whether the agent of `node` may be called: its own breaker (same settings as the loop's)
    /// may be open. The error is why not; the step then fails with class `circuit_open`
    /// without running, and the workflow's transitions decide where to go (a fallback agent,
    /// say) — the loop goes on.
    pub(super) fn agent_admit(&mut self, node: NodeIndex) -> Result<(), String> {
        let (Some(config), Some(agent)) =
            (self.breaker.clone(), self.plan.graph[node].agents.first().cloned())
        else {
            return Ok(());
        };
        let breaker = self.ledger.agents.entry(agent.clone()).or_default();
        let before = breaker.clone();
        let admitted = breaker.admit(&config, unix_now());
        let changed = *breaker != before;
        if changed {
            self.save_ledger();
        }
        match admitted {
            Ok(Some(Change::HalfOpened)) => {
                self.emit(&Event::Breaker {
                    state: "half_open".into(),
                    reason: Some(format!("agent `{agent}`")),
                });
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(reason) => Err(format!("agent `{agent}`: {reason}")),
        }
    }

    /// Every open breaker — the loop's and the agents', or the probe could not reach the agent
    /// that was stuck — goes half-open, so the next step is the probe (after an escalation, or a
    /// person resuming a loop the breaker paused).
    pub(super) fn half_open_all(&mut self, reason: String) {
        self.ledger.breaker.escalated();
        for breaker in self.ledger.agents.values_mut() {
            breaker.escalated();
        }
        self.save_ledger();
        self.emit(&Event::Breaker { state: "half_open".into(), reason: Some(reason) });
    }

    /// The breaker opened and `on_open` names agents to escalate to: hand them the failures,
    /// once per opening. When every one succeeds the breaker goes half-open and the run goes
    /// on — its next step is the probe, and a probe that fails opens the breaker for good
    /// (no second escalation until it has closed). Otherwise the run stops as it would have.
    /// Returns whether the run goes on.
    pub(super) async fn escalate(&mut self) -> bool {
        let Some(reason) = self.escalation.take() else { return false };
        let Some(node) = self.last_node.or(self.plan.initial) else { return false };
        self.escalated = true;
        let instructions = format!(
            "The circuit breaker of the `{}` workflow opened: {reason}. The loop is stuck. Read the failure history, find out why, and fix it so the next attempt can succeed.",
            self.options.workflow
        );
        let mut names = Vec::new();
        for (name, unit) in self.escalations.clone() {
            names.push(format!("`{name}`"));
            let outcome = self.consult(node, "on_open", name, unit, instructions.clone()).await;
            if !outcome.success {
                return false;
            }
        }
        self.half_open_all(format!("escalated to {}; the next step is the probe", names.join(", ")));
        self.halt = None;
        true
    }

    /// Whether the next step may start; waits for `cooldown` and `calls_per_hour`. An error
    /// ends the pass (and the run) with the reason.
    pub(super) async fn admit(&mut self, node: NodeIndex) -> Result<(), (RunStatus, String)> {
        if self.escalation.is_some() {
            self.escalate().await;
        }
        if let Some(halt) = &self.halt {
            return Err(halt.clone());
        }
        if let Some(limit) = self.max_runtime.filter(|l| self.started.elapsed() >= *l) {
            return Err(self.stop(format!("max_runtime ({}) reached", humantime::format_duration(limit))));
        }
        if let Some(config) = self.breaker.clone() {
            let before = self.ledger.breaker.clone();
            match self.ledger.breaker.admit(&config, unix_now()) {
                Ok(Some(change)) => self.breaker_changed(change),
                Ok(None) => {}
                Err(reason) => return Err(self.stop(reason)),
            }
            if self.ledger.breaker != before {
                self.save_ledger();
            }
        }
        // A check (`replay --check`) spends nothing and waits for nothing.
        if !self.nodes[node.index()].ai || self.oracle.is_some() {
            return Ok(());
        }
        if let Some(reason) = self.over_budget() {
            return Err(self.stop(reason));
        }
        let wait = rate_wait(&self.budget, &self.ledger, unix_now());
        if !wait.is_zero() {
            let step = self.plan.graph[node].id.clone();
            self.emit(&Event::Waiting {
                step,
                seconds: wait.as_secs(),
                reason: "calls_per_hour / cooldown".into(),
            });
            // An hour's wait for `calls_per_hour` still takes signals.
            let _ = self.with_control(tokio::time::sleep(wait), false).await;
        }
        self.ledger.call(unix_now());
        if self.budget.calls_per_hour.is_some() || self.budget.cooldown.is_some() {
            self.save_ledger();
        }
        Ok(())
    }

    fn stop(&mut self, reason: String) -> (RunStatus, String) {
        let halt = (RunStatus::Stopped, reason);
        self.halt = Some(halt.clone());
        halt
    }

    /// The budget the next AI invocation would exceed, and by how much.
    fn over_budget(&self) -> Option<String> {
        let (avg_tokens, avg_cost) = self.ledger.average();
        let b = &self.budget;
        if let Some(max) = b.max_tokens {
            let next = self.ledger.tokens + avg_tokens;
            if self.ledger.tokens >= max || next > max {
                return Some(format!(
                    "budget `max_tokens` ({max}) would be exceeded: {} used, the next invocation is estimated at {avg_tokens} (the average so far), {} over",
                    self.ledger.tokens,
                    next.saturating_sub(max).max(1)
                ));
            }
        }
        let dollars = |name: &str, max: f64, spent: f64| -> Option<String> {
            let next = spent + avg_cost;
            (spent >= max || next > max).then(|| {
                format!(
                    "budget `{name}` (${max}) would be exceeded: ${spent:.4} spent, the next invocation is estimated at ${avg_cost:.4} (the average so far), ${:.4} over",
                    (next - max).max(0.0)
                )
            })
        };
        if let Some(reason) =
            b.max_cost_usd.and_then(|max| dollars("max_cost_usd", max, self.ledger.cost_usd))
        {
            return Some(reason);
        }
        let today = self.ledger.daily_cost_usd.get(&super::ledger::today()).copied().unwrap_or(0.0);
        b.daily_cost_usd.and_then(|max| dollars("daily_cost_usd", max, today))
    }

    pub(super) fn save_ledger(&self) {
        // A ledger that cannot be written must not stop the work it is counting; the next
        // successful write carries the counts.
        let _ = self.ledger.save(&self.ledger_path);
        self.telemetry.ledger(&self.ledger, &self.budget);
    }

    /// Records an AI invocation's spend (priced from `budget.prices` when the backend reported
    /// tokens but no cost) in the ledger; the caller saves it.
    pub(super) fn charge(&mut self, node: NodeIndex, outcome: &mut Outcome) {
        let metrics = &mut outcome.evidence.metrics;
        if metrics.cost_usd.is_none() {
            let price = self.nodes[node.index()].model.as_ref().and_then(|m| self.budget.prices.get(m));
            if let (Some(price), Some(input), Some(output)) =
                (price, metrics.input_tokens, metrics.output_tokens)
            {
                metrics.cost_usd = Some((input as f64 * price.input + output as f64 * price.output) / 1e6);
            }
        }
        self.ledger.spend(metrics.total_tokens().unwrap_or(0), metrics.cost_usd.unwrap_or(0.0));
        self.ledger.ai_invocations += 1;
    }

    /// Records a finished step: spend (priced from `budget.prices` when the backend reported
    /// tokens but no cost) and the breaker.
    pub(super) fn account(&mut self, node: NodeIndex, outcome: &mut Outcome) {
        self.last_node = Some(node);
        let ai = self.nodes[node.index()].ai;
        let mut changed = false;
        if ai {
            self.charge(node, outcome);
            changed = true;
        }
        // A usage limit is a wait, not a failure; an interrupt is a person's decision.
        let limited = matches!(outcome.class, Some(FailureClass::UsageLimit | FailureClass::Interrupted));
        if let Some(config) = self.breaker.clone().filter(|_| !limited) {
            let (now, error) = (unix_now(), outcome.error.as_deref());
            let tests = outcome.evidence.test_results.as_ref().map(|t| (t.passed, t.failed));
            // The agent's own breaker: when it opens the loop goes on, and the agent's steps
            // fail fast from then on.
            if let Some(agent) = self.plan.graph[node].agents.first().cloned() {
                let breaker = self.ledger.agents.entry(agent.clone()).or_default();
                let before = breaker.clone();
                let change = breaker.record(&config, now, outcome.success, error, tests);
                changed |= *breaker != before;
                let shown = match change {
                    Some(Change::Opened(reason)) => Some(("open", format!("agent `{agent}`: {reason}"))),
                    Some(Change::Closed) => Some(("closed", format!("agent `{agent}`"))),
                    _ => None,
                };
                if let Some((state, reason)) = shown {
                    self.emit(&Event::Breaker { state: state.into(), reason: Some(reason) });
                }
            }
            let before = self.ledger.breaker.clone();
            let mut change = self.ledger.breaker.record(&config, now, outcome.success, error, tests);
            if let (true, None, Some(output)) = (ai, &change, outcome.evidence.metrics.output_tokens) {
                change = self.ledger.breaker.output(&config, now, output);
            }
            changed |= self.ledger.breaker != before;
            if let Some(change) = change {
                self.breaker_changed(change);
            }
        }
        if changed {
            self.save_ledger();
        }
    }

    /// Progress outside a step (a task done, a commit) and the end of an iteration.
    pub(super) fn iteration_ended(&mut self, progressed: bool, changed_anything: bool) {
        let Some(config) = self.breaker.clone() else { return };
        let before = self.ledger.breaker.clone();
        let mut change = if progressed { self.ledger.breaker.progress() } else { None };
        if change.is_none() {
            change = self.ledger.breaker.iteration(&config, unix_now(), changed_anything || progressed);
        }
        if let Some(change) = change {
            self.breaker_changed(change);
        }
        if self.ledger.breaker != before {
            self.save_ledger();
        }
    }

    fn breaker_changed(&mut self, change: Change) {
        let (state, reason) = match &change {
            Change::Opened(reason) => ("open", Some(reason.clone())),
            Change::HalfOpened => ("half_open", None),
            Change::Closed => ("closed", None),
        };
        self.emit(&Event::Breaker { state: state.into(), reason: reason.clone() });
        let actions = match change {
            // `pause_loop`: the loop waits instead of stopping, until a person resumes it or the
            // breaker's timeout lets its probe through.
            Change::Opened(reason) if self.on_open.iter().any(|a| a.name() == "pause_loop") => {
                if self.state.paused.is_none() {
                    self.journal_signal(crate::control::Signal::Pause, super::live::BREAKER);
                }
                if !self.escalations.is_empty() && !self.escalated {
                    self.escalation = Some(reason);
                }
                self.on_open.clone()
            }
            Change::Opened(reason) => {
                self.halt = Some((RunStatus::Stopped, format!("the circuit breaker opened: {reason}")));
                if !self.escalations.is_empty() && !self.escalated {
                    self.escalation = Some(reason);
                }
                self.on_open.clone()
            }
            Change::Closed => {
                self.escalated = false;
                let resumes = self.on_close.iter().any(|a| a.name() == "resume_loop");
                if resumes && self.state.paused.is_some() {
                    self.journal_signal(crate::control::Signal::Resume, super::live::BREAKER);
                }
                self.on_close.clone()
            }
            Change::HalfOpened => Vec::new(),
        };
        // Notifications are recorded at once; `pause_loop` and `resume_loop` were taken above.
        for action in actions {
            if action.name().starts_with("notify") || action.name().starts_with("log") {
                let _ = super::action::record_notification(
                    &self.run_dir,
                    "circuit_breaker",
                    &format!(
                        "{}: the circuit breaker is {state}{}",
                        action.name(),
                        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_and_calls_per_hour_make_the_loop_wait() {
        let budget: Budget = serde_yaml::from_str("{cooldown: 30s, calls_per_hour: 3}").unwrap();
        let mut ledger = Ledger::default();
        assert_eq!(rate_wait(&budget, &ledger, 1000), Duration::ZERO);
        ledger.call(1000);
        assert_eq!(rate_wait(&budget, &ledger, 1010), Duration::from_secs(20), "cooldown");
        assert_eq!(rate_wait(&budget, &ledger, 1030), Duration::ZERO);
        ledger.call(1100);
        ledger.call(1200);
        // Three calls in the hour: wait until the first is an hour old.
        assert_eq!(rate_wait(&budget, &ledger, 1300), Duration::from_secs(3300));
        assert_eq!(rate_wait(&budget, &ledger, 4600), Duration::ZERO);
    }
}
