//! The ledger: what a project's loops have spent and how their circuit breakers stand, across
//! runs. A run starts from the ledger file's contents (journaled in `run_started`) and folds
//! its own events into it here — the same fold live and on resume — so budgets and breakers
//! are decided from the journal, and a restart neither forgets nor counts twice what was
//! spent. The file itself is the shell's business (`run::ledger`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::breaker::{Breaker, BreakerConfig, BreakerState, Change};
use super::event::{Event, RunStatus};
use super::outcome::FailureClass;

/// How many runs' high-water marks the ledger keeps (a resumed run finds its own; older runs
/// are not resumed in practice, and the file must not grow without bound).
const COUNTED_RUNS: usize = 32;

/// Spend and breakers of a project, over all its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    /// Tokens reported by agents.
    pub tokens: u64,
    /// US dollars reported (or priced) for agents.
    pub cost_usd: f64,
    /// US dollars per UTC day (`YYYY-MM-DD`).
    pub daily_cost_usd: BTreeMap<String, f64>,
    /// Invocations of AI agents that reported their usage (the spend estimate of the next
    /// one is the average).
    pub ai_invocations: u64,
    /// Unix times (seconds) of the AI invocations of the last hour.
    pub recent_calls: Vec<u64>,
    /// The loop's circuit breaker.
    pub breaker: Breaker,
    /// Each agent's own circuit breaker, by agent name.
    pub agents: BTreeMap<String, Breaker>,
    /// For each recent run, the last journal event whose spend and breaker moves the file
    /// holds: resuming a run counts only its events after it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counted: BTreeMap<String, u64>,
}

/// The settings a ledger is folded with: the breaker's, and which agent's own breaker each
/// step feeds (its first agent).
#[derive(Debug, Clone, Default)]
pub struct LedgerRules {
    /// The circuit breaker's settings (none: no breaker).
    pub breaker: Option<BreakerConfig>,
    /// Each step's first agent, whose own breaker the step feeds.
    pub agents: BTreeMap<String, String>,
}

/// A breaker that moved while an event was folded: what the runner announces and acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The agent whose own breaker moved (none: the loop's).
    pub agent: Option<String>,
    /// How.
    pub change: Change,
}

/// Seconds since the Unix epoch of an RFC 3339 time (0 when it cannot be read).
pub fn unix_secs(at: &str) -> u64 {
    humantime::parse_rfc3339_weak(at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl Ledger {
    /// Records an agent's spend on the UTC day `date` (`YYYY-MM-DD`).
    pub fn spend(&mut self, tokens: u64, cost_usd: f64, date: &str) {
        self.tokens += tokens;
        self.cost_usd += cost_usd;
        if date.len() >= 10 {
            *self.daily_cost_usd.entry(date[..10].to_owned()).or_default() += cost_usd;
        }
        // Only the last week of days is worth keeping.
        while self.daily_cost_usd.len() > 7 {
            let oldest = self.daily_cost_usd.keys().next().cloned().unwrap_or_default();
            self.daily_cost_usd.remove(&oldest);
        }
    }

    /// Records an invocation at `now`, forgetting those older than an hour.
    pub fn call(&mut self, now: u64) {
        self.recent_calls.retain(|t| now.saturating_sub(*t) < 3600);
        self.recent_calls.push(now);
    }

    /// The average spend of one AI invocation so far: (tokens, dollars).
    pub fn average(&self) -> (u64, f64) {
        if self.ai_invocations == 0 {
            return (0, 0.0);
        }
        (self.tokens / self.ai_invocations, self.cost_usd / self.ai_invocations as f64)
    }

    /// Notes that the ledger holds run `run`'s events up to `seq`.
    pub fn counted_to(&mut self, run: &str, seq: u64) {
        self.counted.insert(run.to_owned(), seq);
        while self.counted.len() > COUNTED_RUNS {
            // Run ids sort by their start time: the oldest goes.
            let oldest = self.counted.keys().next().cloned().unwrap_or_default();
            self.counted.remove(&oldest);
        }
    }

    /// Every open breaker goes half-open: the next call is the probe.
    fn half_open_all(&mut self) -> Vec<Moved> {
        let mut moved = Vec::new();
        if self.breaker.state == BreakerState::Open {
            self.breaker.escalated();
            moved.push(Moved { agent: None, change: Change::HalfOpened });
        }
        for (name, breaker) in &mut self.agents {
            if breaker.state == BreakerState::Open {
                breaker.escalated();
                moved.push(Moved { agent: Some(name.clone()), change: Change::HalfOpened });
            }
        }
        moved
    }

    /// Folds one event of a run into the ledger: spend, rate-limit calls, and the breakers.
    /// `changed` says whether the iteration an `iteration_finished` ends changed anything.
    /// Returns the breakers that moved. Times come from the events, never from a clock.
    pub fn apply(&mut self, event: &Event, rules: &LedgerRules, changed: bool) -> Vec<Moved> {
        let mut moved = Vec::new();
        match event {
            Event::StepStarted { step, ai, at, .. } => {
                if *ai {
                    self.call(unix_secs(at));
                }
                // A half-open breaker lets its probes through one by one.
                if let Some(config) = &rules.breaker {
                    if self.breaker.state == BreakerState::HalfOpen {
                        self.breaker.probes = (self.breaker.probes + 1).min(config.half_open_max_calls);
                    }
                    if let Some(agent) = rules.agents.get(step) {
                        if let Some(b) =
                            self.agents.get_mut(agent).filter(|b| b.state == BreakerState::HalfOpen)
                        {
                            b.probes = (b.probes + 1).min(config.half_open_max_calls);
                        }
                    }
                }
            }
            Event::StepFinished { step, outcome, at, .. } => {
                let metrics = &outcome.evidence.metrics;
                let tokens = metrics.total_tokens();
                if tokens.is_some() || metrics.cost_usd.is_some() {
                    self.spend(tokens.unwrap_or(0), metrics.cost_usd.unwrap_or(0.0), at);
                    self.ai_invocations += 1;
                }
                // A usage limit is a wait, an interrupt a person's decision, an environment
                // failure the machine's: none says anything about the work.
                let counts = outcome.class.is_none_or(FailureClass::is_the_steps_fault);
                if let (Some(config), true) = (&rules.breaker, counts) {
                    let now = unix_secs(at);
                    let error = outcome.error.as_deref();
                    let tests = outcome.evidence.test_results.as_ref().map(|t| (t.passed, t.failed));
                    if let Some(agent) = rules.agents.get(step) {
                        let breaker = self.agents.entry(agent.clone()).or_default();
                        if let Some(change) = breaker.record(config, now, outcome.success, error, tests) {
                            moved.push(Moved { agent: Some(agent.clone()), change });
                        }
                    }
                    let mut change = self.breaker.record(config, now, outcome.success, error, tests);
                    if let (None, Some(output)) = (&change, metrics.output_tokens) {
                        change = self.breaker.output(config, now, output);
                    }
                    if let Some(change) = change {
                        moved.push(Moved { agent: None, change });
                    }
                }
            }
            Event::ActionFinished { outcome, at, .. } => {
                let metrics = &outcome.evidence.metrics;
                let tokens = metrics.total_tokens();
                if tokens.is_some() || metrics.cost_usd.is_some() {
                    self.spend(tokens.unwrap_or(0), metrics.cost_usd.unwrap_or(0.0), at);
                    self.ai_invocations += 1;
                }
            }
            // A pass that got its task done is progress; one that ended otherwise is an idle
            // iteration unless it changed something.
            Event::IterationFinished { status, at, .. } if *status != RunStatus::Stopped => {
                if let Some(config) = &rules.breaker {
                    let change = if *status == RunStatus::Succeeded {
                        self.breaker
                            .progress()
                            .or_else(|| self.breaker.iteration(config, unix_secs(at), true))
                    } else {
                        self.breaker.iteration(config, unix_secs(at), changed)
                    };
                    if let Some(change) = change {
                        moved.push(Moved { agent: None, change });
                    }
                }
            }
            Event::Committed { .. } => {
                if rules.breaker.is_some() {
                    if let Some(change) = self.breaker.progress() {
                        moved.push(Moved { agent: None, change });
                    }
                }
            }
            // Time passing is journaled as the breaker's own `half_open`; an escalation or a
            // person resuming moves every open breaker at once.
            Event::Breaker { state, agent, all, reason } if state == "half_open" => {
                let legacy_all =
                    reason.as_deref().is_some_and(|r| r.starts_with("escalated") || r.starts_with("resumed"));
                if *all || (agent.is_none() && legacy_all) {
                    moved.extend(self.half_open_all());
                } else {
                    let breaker = match agent {
                        Some(name) => self.agents.entry(name.clone()).or_default(),
                        None => &mut self.breaker,
                    };
                    if breaker.state == BreakerState::Open {
                        breaker.state = BreakerState::HalfOpen;
                        breaker.probes = 0;
                    }
                }
            }
            _ => {}
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_is_counted_by_day_and_the_average_is_per_reporting_invocation() {
        let mut ledger = Ledger::default();
        ledger.spend(1000, 0.5, "2026-12-04T10:00:00.000Z");
        ledger.ai_invocations += 2;
        assert_eq!(ledger.daily_cost_usd["2026-12-04"], 0.5);
        assert_eq!(ledger.average(), (500, 0.25));
        ledger.call(10_000);
        ledger.call(10_000 + 3700);
        assert_eq!(ledger.recent_calls, [13_700], "calls older than an hour are forgotten");
    }

    #[test]
    fn times_are_read_from_rfc3339() {
        assert_eq!(unix_secs("1970-01-01T00:01:40.250Z"), 100);
        assert_eq!(unix_secs("not a time"), 0);
    }
}
