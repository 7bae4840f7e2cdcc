//! What guards a loop's money and time: budgets checked before each AI invocation, the
//! circuit breakers (the loop's and each agent's), `max_runtime`, and the ledger file that
//! carries spend and breakers across runs.
//!
//! The decisions read the run's state — its ledger is the one the run started from with the
//! run's own events folded in (`core::ledger`) — and every decision is journaled: a breaker's
//! move, a halt, a pause, an escalation. A budget is checked *before* the invocation that
//! would exceed it: the next invocation is estimated at the average spend of the AI
//! invocations so far (over all runs), and when the spend plus that estimate is over a
//! budget, the run stops and says which budget and by how much. `calls_per_hour` and
//! `cooldown` make the loop wait instead.

use std::time::Duration;

use petgraph::stable_graph::NodeIndex;

use super::core::event::{Event, RunStatus};
use super::core::ledger::{Ledger, Moved};
use super::core::outcome::FailureClass;
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
        let Some(breaker) = self.state.ledger.agents.get(&agent) else { return Ok(()) };
        match breaker.clone().admit(&config, self.clock.unix()) {
            Ok(Some(Change::HalfOpened)) => {
                self.emit(&Event::Breaker {
                    state: "half_open".into(),
                    reason: Some(format!("agent `{agent}`")),
                    agent: Some(agent),
                    all: false,
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
        self.emit(&Event::Breaker {
            state: "half_open".into(),
            reason: Some(reason),
            agent: None,
            all: true,
        });
    }

    /// The breaker opened and `on_open` names agents to escalate to: hand them the failures,
    /// once per opening. When every one succeeds the breaker goes half-open and the run goes
    /// on — its next step is the probe, and a probe that fails opens the breaker for good
    /// (no second escalation until it has closed). Otherwise the run stops as it would have.
    /// Returns whether the run goes on.
    pub(super) async fn escalate(&mut self) -> bool {
        let Some(reason) = self.state.escalation.clone() else { return false };
        let node = self.state.last_step.as_deref().and_then(|s| self.plan.node(s)).or(self.plan.initial);
        let Some(node) = node else { return false };
        let instructions = format!(
            "The circuit breaker of the `{}` workflow opened: {reason}. The loop is stuck. Read the failure history, find out why, and fix it so the next attempt can succeed.",
            self.options.workflow
        );
        let mut names = Vec::new();
        let mut succeeded = true;
        for (name, unit) in self.escalations.clone() {
            names.push(name.clone());
            let outcome = self.consult(node, "on_open", name, unit, instructions.clone()).await;
            if !outcome.success {
                succeeded = false;
                break;
            }
        }
        self.emit(&Event::Escalated { agents: names.clone(), succeeded });
        if succeeded {
            let named: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            self.half_open_all(format!("escalated to {}; the next step is the probe", named.join(", ")));
        }
        succeeded
    }

    /// Whether the next step may start; waits for `cooldown` and `calls_per_hour`. An error
    /// ends the pass (and the run) with the reason.
    pub(super) async fn admit(&mut self, node: NodeIndex) -> Result<(), (RunStatus, String)> {
        if self.state.escalation.is_some() {
            self.escalate().await;
        }
        if let Some(halt) = self.halted() {
            return Err(halt);
        }
        let elapsed = crate::clock::between(&self.state.started_at, &self.now());
        if let Some(limit) = self.max_runtime.filter(|l| elapsed >= *l) {
            return Err(self.stop(format!("max_runtime ({}) reached", humantime::format_duration(limit))));
        }
        if let Some(config) = self.breaker.clone() {
            match self.state.ledger.breaker.clone().admit(&config, self.clock.unix()) {
                Ok(Some(Change::HalfOpened)) => {
                    self.emit(&Event::Breaker {
                        state: "half_open".into(),
                        reason: None,
                        agent: None,
                        all: false,
                    });
                }
                Ok(_) => {}
                Err(reason) => return Err(self.stop(reason)),
            }
        }
        // A script spends nothing and waits for nothing it does not script.
        if !self.nodes[node.index()].ai {
            return Ok(());
        }
        if let Some(reason) = self.over_budget() {
            if self.state.halt.is_none() {
                self.notify_budget(&reason);
            }
            return Err(self.stop(reason));
        }
        let wait = rate_wait(&self.budget, &self.state.ledger, self.clock.unix());
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
        Ok(())
    }

    fn stop(&mut self, reason: String) -> (RunStatus, String) {
        self.halt(RunStatus::Stopped, reason, None);
        self.halted().unwrap_or((RunStatus::Stopped, String::new()))
    }

    /// The budget the next AI invocation would exceed, and by how much.
    fn over_budget(&self) -> Option<String> {
        let ledger = &self.state.ledger;
        let (avg_tokens, avg_cost) = ledger.average();
        let b = &self.budget;
        if let Some(max) = b.max_tokens {
            let next = ledger.tokens + avg_tokens;
            if ledger.tokens >= max || next > max {
                return Some(format!(
                    "budget `max_tokens` ({max}) would be exceeded: {} used, the next invocation is estimated at {avg_tokens} (the average so far), {} over",
                    ledger.tokens,
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
        if let Some(reason) = b.max_cost_usd.and_then(|max| dollars("max_cost_usd", max, ledger.cost_usd)) {
            return Some(reason);
        }
        let today = crate::clock::rfc3339(self.clock.now())[..10].to_owned();
        let spent_today = ledger.daily_cost_usd.get(&today).copied().unwrap_or(0.0);
        b.daily_cost_usd.and_then(|max| dollars("daily_cost_usd", max, spent_today))
    }

    /// Writes the ledger file when the run's ledger moved (after the event `seq`): the file
    /// says which of this run's events it holds, so a resumed run counts the rest and nothing
    /// twice. A ledger that cannot be written is a budget a restart would forget: the run
    /// stops, as for any disk the run cannot write.
    pub(super) fn save_ledger(&mut self, seq: u64) {
        let Some(path) = self.ledger_path.clone() else { return };
        if self.state.ledger == self.ledger_saved {
            return;
        }
        let mut file = self.state.ledger.clone();
        file.counted_to(&self.state.run_id, seq);
        match super::ledger::save(&path, &file) {
            Ok(()) => {
                self.ledger_saved = self.state.ledger.clone();
                self.telemetry.ledger(&self.state.ledger, &self.budget);
            }
            Err(e) => {
                // Not again for every event: the halt stands, and the run ends.
                self.ledger_path = None;
                let reason = format!(
                    "the ledger `{}` cannot be written ({e}); the run stops so that its spend is not forgotten — free the disk, then `ralph-loop resume`",
                    path.display()
                );
                self.halt(RunStatus::Stopped, reason, Some(FailureClass::Environment));
            }
        }
    }

    /// The breakers an event moved: each is announced, and the loop's opening and closing act
    /// as `on_open`/`on_close` say (a halt, a pause, an escalation; a resume).
    pub(super) fn breakers_moved(&mut self, moved: Vec<Moved>) {
        for Moved { agent, change } in moved {
            let (state, reason) = match &change {
                Change::Opened(reason) => ("open", Some(reason.clone())),
                // A half-open breaker was announced by the event that moved it.
                Change::HalfOpened => continue,
                Change::Closed => ("closed", None),
            };
            if let Some(agent) = agent {
                let reason = match &change {
                    Change::Opened(reason) => format!("agent `{agent}`: {reason}"),
                    _ => format!("agent `{agent}`"),
                };
                self.emit(&Event::Breaker {
                    state: state.into(),
                    reason: Some(reason),
                    agent: Some(agent),
                    all: false,
                });
                continue;
            }
            self.emit(&Event::Breaker {
                state: state.into(),
                reason: reason.clone(),
                agent: None,
                all: false,
            });
            self.notify_breaker(state, reason.as_deref());
            let escalates = !self.escalations.is_empty() && !self.state.escalated;
            let actions = match change {
                // `pause_loop`: the loop waits instead of stopping, until a person resumes it or
                // the breaker's timeout lets its probe through.
                Change::Opened(reason) if self.on_open.iter().any(|a| a.name() == "pause_loop") => {
                    if self.state.paused.is_none() {
                        self.journal_signal(crate::control::Signal::Pause, super::live::BREAKER);
                    }
                    if escalates {
                        self.emit(&Event::Escalating { reason });
                    }
                    self.on_open.clone()
                }
                Change::Opened(opened) => {
                    let halt = format!("{}: {opened}", super::core::projection::BREAKER_HALT);
                    self.halt(RunStatus::Stopped, halt, None);
                    if escalates {
                        self.emit(&Event::Escalating { reason: opened });
                    }
                    self.on_open.clone()
                }
                Change::Closed => {
                    let resumes = self.on_close.iter().any(|a| a.name() == "resume_loop");
                    if resumes && self.state.paused.is_some() {
                        self.journal_signal(crate::control::Signal::Resume, super::live::BREAKER);
                    }
                    self.on_close.clone()
                }
                Change::HalfOpened => Vec::new(),
            };
            // Notifications are recorded at once; `pause_loop` and `resume_loop` were taken above.
            if self.performer.is_script() {
                continue;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script whose every step fails.
    struct Failing;

    impl super::super::performer::Script for Failing {
        fn outcome(
            &mut self,
            _: &super::super::performer::Perform<'_>,
        ) -> Option<super::super::core::outcome::Outcome> {
            Some(super::super::core::outcome::Outcome::failed(FailureClass::NonzeroExit, "no"))
        }
    }

    struct Quiet;

    impl super::super::runner::EventSink for Quiet {
        fn event(&mut self, _: &Event, _: &super::super::core::projection::RunState) {}
    }

    // See: issue 13, finding 6 — the ledger's save error was dropped: a budget that cannot be
    // saved is a budget a restart forgets.
    #[tokio::test]
    async fn a_ledger_that_cannot_be_written_stops_the_run_as_the_environments_failure() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "circuit_breaker:\n  failure_threshold: 5\nworkflow:\n  nodes:\n    - id: a\n      agent: t\n    - id: b\n      agent: t\n      depends_on: [a]\n      continue_on: failure\nagents:\n  t:\n    command: \"true\"\n";
        std::fs::write(dir.path().join("w.yaml"), yaml).unwrap();
        let options = crate::workflow::validate::Options {
            config: None,
            project_dir: dir.path().to_owned(),
            strict: true,
            inert_errors: false,
        };
        let validation = crate::workflow::validate::validate(&dir.path().join("w.yaml"), &options).unwrap();
        let (doc, plan) = (validation.document.unwrap(), validation.plan.unwrap());
        let mut options = super::super::runner::RunOptions::new(
            dir.path().to_owned(),
            dir.path().join("state"),
            "w".into(),
        );
        options.performer = super::super::performer::Performer::Script(Box::new(Failing));
        options.log = super::super::runner::LogChoice::Memory(Default::default());
        options.control = false;
        let mut runner = Runner::new(&doc, plan, options, Box::new(Quiet)).unwrap();
        // Under a regular file: the directory cannot be made, so the ledger cannot be written.
        std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
        runner.ledger_path = Some(dir.path().join("not-a-dir/ledger.json"));
        let state = runner.run_once().await;
        assert_eq!(state.end_class, Some(FailureClass::Environment), "{:?}", state.reason);
        assert!(
            state
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("the ledger") && r.contains("cannot be written")),
            "{:?}",
            state.reason
        );
        assert_eq!(state.invocations, 1, "nothing runs after the ledger failed");
    }

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
