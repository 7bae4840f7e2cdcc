//! The loop's circuit breaker: CLOSED while work goes well or makes progress, OPEN when it keeps
//! failing without progress, HALF_OPEN after its `timeout` to let `half_open_max_calls` probe
//! calls through; a probe that succeeds closes it, one that fails opens it again.
//!
//! **What opens it** (each with a reason a person can read): `failure_threshold` consecutive
//! failed steps (default 5); `same_error_threshold` failures in a row with the same error;
//! `no_progress_iterations` iterations in a row that changed no file and no task.
//!
//! **Progress keeps it closed**: a step that succeeds, a task marked done, a commit by the loop,
//! and a failed step whose test counts differ from the last ones seen (a loop whose checks still
//! fail but whose passing-test count moves is getting somewhere). A commit made inside a failed
//! step is not progress by itself: only its test counts are.
//!
//! The state is plain data kept in the ledger, so it survives a restart, and it is pure: times
//! come from the events that move it, so replaying a journal moves it the same way.

use serde::{Deserialize, Serialize};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    #[default]
    Closed,
    /// Calls are refused until the timeout has passed.
    Open,
    /// A few probe calls go through.
    HalfOpen,
}

/// The breaker's settings, with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// How long it stays open (none: until someone resets it).
    pub timeout: Option<std::time::Duration>,
    /// Probe calls while half-open.
    pub half_open_max_calls: u32,
    /// How long a probe may take.
    pub half_open_timeout: Option<std::time::Duration>,
    /// The same error this many times in a row opens it.
    pub same_error_threshold: Option<u32>,
    /// This many iterations without a file or task change open it.
    pub no_progress_iterations: Option<u32>,
    /// A failure rate (0 to 1) over the last `window` steps that opens it.
    pub failure_rate: Option<f64>,
    /// The number of steps the failure rate is computed over (default 10).
    pub window: u32,
    /// Output below this fraction of the average so far opens it.
    pub output_shrink: Option<f64>,
}

/// A change of the breaker's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It opened, for this reason.
    Opened(String),
    /// It went half-open: probes may go through.
    HalfOpened,
    /// It closed.
    Closed,
}

/// The breaker's state and counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Breaker {
    /// Where it stands.
    pub state: BreakerState,
    /// Why it opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it opened (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<u64>,
    /// Failed steps in a row without progress.
    pub consecutive_failures: u32,
    /// The last error, and how many times in a row it was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// How many failures in a row had `last_error`.
    pub same_error_count: u32,
    /// Iterations in a row without a file or task change.
    pub idle_iterations: u32,
    /// Probe calls let through while half-open.
    pub probes: u32,
    /// The last test counts seen (passed, failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tests: Option<(u64, u64)>,
    /// The last steps, oldest first: whether each went well (for `failure_rate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<bool>,
    /// The average output (tokens) of the AI steps so far, and how many there were.
    pub output_average: f64,
    /// How many AI steps the average is over.
    pub output_samples: u32,
}

impl Breaker {
    /// Whether a run may start at `now`: an open breaker whose timeout has not passed refuses
    /// (the error says why and until when); nothing changes.
    pub fn check(&self, config: &BreakerConfig, now: u64) -> Result<(), String> {
        match self.state {
            BreakerState::Open => self.clone().admit(config, now).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Whether a call may go through at `now` (Unix seconds). An open breaker whose timeout has
    /// passed goes half-open. The error says why not, and until when.
    pub fn admit(&mut self, config: &BreakerConfig, now: u64) -> Result<Option<Change>, String> {
        match self.state {
            BreakerState::Closed => Ok(None),
            BreakerState::Open => {
                let opened = self.opened_at.unwrap_or(now);
                let reason = self.reason.clone().unwrap_or_default();
                match config.timeout {
                    Some(t) if now >= opened + t.as_secs() => {
                        self.state = BreakerState::HalfOpen;
                        self.probes = 1;
                        Ok(Some(Change::HalfOpened))
                    }
                    Some(t) => Err(format!(
                        "the circuit breaker is open: {reason}; it lets a probe through in {}s",
                        opened + t.as_secs() - now
                    )),
                    None => Err(format!(
                        "the circuit breaker is open: {reason}; it stays open until reset (`circuit_breaker.timeout` is not set; delete .ralph/ledger.json's `breaker` to reset)"
                    )),
                }
            }
            BreakerState::HalfOpen if self.probes < config.half_open_max_calls => {
                self.probes += 1;
                Ok(None)
            }
            BreakerState::HalfOpen => Err(format!(
                "the circuit breaker is half-open and its {} probe call(s) are in flight",
                config.half_open_max_calls
            )),
        }
    }

    fn open(&mut self, reason: String, now: u64) -> Option<Change> {
        self.state = BreakerState::Open;
        self.reason = Some(reason.clone());
        self.opened_at = Some(now);
        self.probes = 0;
        Some(Change::Opened(reason))
    }

    /// An escalation agent took the failures on: an open breaker goes half-open at once, so
    /// the next call is the probe.
    pub fn escalated(&mut self) {
        if self.state == BreakerState::Open {
            self.state = BreakerState::HalfOpen;
            self.probes = 0;
        }
    }

    fn reset(&mut self) -> Option<Change> {
        self.consecutive_failures = 0;
        self.same_error_count = 0;
        self.last_error = None;
        if self.state == BreakerState::Closed {
            return None;
        }
        self.state = BreakerState::Closed;
        self.recent.clear();
        self.reason = None;
        self.opened_at = None;
        self.probes = 0;
        Some(Change::Closed)
    }

    /// An AI step's output size (tokens): output shrinking sharply against the average so far
    /// opens the breaker, whatever the step's success (an agent that stops saying anything is
    /// stuck even if its exit status is 0).
    pub fn output(&mut self, config: &BreakerConfig, now: u64, tokens: u64) -> Option<Change> {
        let average = self.output_average;
        let shrank = config.output_shrink.is_some_and(|ratio| {
            self.output_samples >= 3 && (tokens as f64) < ratio * average && self.state != BreakerState::Open
        });
        self.output_samples += 1;
        self.output_average += (tokens as f64 - average) / f64::from(self.output_samples);
        if shrank {
            return self.open(
                format!("the agent's output shrank to {tokens} tokens from an average of {average:.0}"),
                now,
            );
        }
        None
    }

    /// Progress outside a step: a task marked done, a commit.
    pub fn progress(&mut self) -> Option<Change> {
        self.idle_iterations = 0;
        self.reset()
    }

    /// A step ended.
    pub fn record(
        &mut self,
        config: &BreakerConfig,
        now: u64,
        success: bool,
        error: Option<&str>,
        tests: Option<(u64, u64)>,
    ) -> Option<Change> {
        let tests_moved = tests.is_some() && self.last_tests.is_some() && tests != self.last_tests;
        if tests.is_some() {
            self.last_tests = tests;
        }
        self.recent.push(success || tests_moved);
        if self.recent.len() > config.window as usize {
            self.recent.remove(0);
        }
        if success || tests_moved {
            return self.reset();
        }
        if self.state == BreakerState::HalfOpen {
            return self.open(format!("the probe failed: {}", error.unwrap_or("failed")), now);
        }
        self.consecutive_failures += 1;
        let error = error.unwrap_or("failed").to_owned();
        if self.last_error.as_deref() == Some(error.as_str()) {
            self.same_error_count += 1;
        } else {
            self.last_error = Some(error.clone());
            self.same_error_count = 1;
        }
        if let Some(n) = config.same_error_threshold.filter(|n| self.same_error_count >= *n) {
            return self.open(format!("the same error {n} times in a row: {error}"), now);
        }
        if let Some(rate) = config.failure_rate.filter(|_| self.recent.len() >= config.window as usize) {
            let failed = self.recent.iter().filter(|ok| !**ok).count();
            if failed as f64 >= rate * self.recent.len() as f64 {
                return self.open(
                    format!("{failed} of the last {} steps failed (failure_rate {rate})", self.recent.len()),
                    now,
                );
            }
        }
        if self.consecutive_failures >= config.failure_threshold {
            return self.open(
                format!(
                    "{} consecutive failures without progress (last: {error})",
                    self.consecutive_failures
                ),
                now,
            );
        }
        None
    }

    /// An iteration ended; `changed` says whether it changed a file or a task.
    pub fn iteration(&mut self, config: &BreakerConfig, now: u64, changed: bool) -> Option<Change> {
        if changed {
            self.idle_iterations = 0;
            return None;
        }
        self.idle_iterations += 1;
        match config.no_progress_iterations {
            Some(n) if self.idle_iterations >= n && self.state != BreakerState::Open => {
                self.open(format!("{n} iterations in a row changed no file and no task"), now)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            timeout: Some(std::time::Duration::from_secs(300)),
            half_open_max_calls: 1,
            half_open_timeout: None,
            same_error_threshold: None,
            no_progress_iterations: Some(2),
            failure_rate: None,
            window: 10,
            output_shrink: Some(0.1),
        }
    }

    #[test]
    fn output_shrinking_sharply_opens_it() {
        let (c, mut b) = (config(), Breaker::default());
        for tokens in [1000, 1200, 800] {
            assert_eq!(b.output(&c, 0, tokens), None);
        }
        assert_eq!(b.output(&c, 0, 150), None, "15% of the average is not sharp enough");
        let opened = b.output(&c, 5, 40);
        assert!(
            matches!(opened, Some(Change::Opened(ref r)) if r.contains("shrank to 40 tokens")),
            "{opened:?}"
        );
    }

    #[test]
    fn a_failure_rate_over_a_full_window_opens_it() {
        let c = BreakerConfig { failure_threshold: 100, failure_rate: Some(0.5), window: 4, ..config() };
        let mut b = Breaker::default();
        // ok, fail, ok, fail: 2 of 4 = 0.5 opens it once the window is full.
        assert_eq!(b.record(&c, 0, true, None, None), None);
        assert_eq!(b.record(&c, 0, false, Some("x"), None), None);
        assert_eq!(b.record(&c, 0, true, None, None), None);
        let opened = b.record(&c, 0, false, Some("x"), None);
        assert_eq!(opened, Some(Change::Opened("2 of the last 4 steps failed (failure_rate 0.5)".into())));
    }

    #[test]
    fn consecutive_failures_open_it_and_its_timeout_half_opens_it() {
        let (c, mut b) = (config(), Breaker::default());
        assert_eq!(b.record(&c, 0, false, Some("a"), None), None);
        assert_eq!(b.record(&c, 0, false, Some("b"), None), None);
        let opened = b.record(&c, 100, false, Some("c"), None);
        assert!(
            matches!(opened, Some(Change::Opened(ref r)) if r.contains("3 consecutive failures")),
            "{opened:?}"
        );
        assert!(b.admit(&c, 200).unwrap_err().contains("in 200s"));
        assert_eq!(b.admit(&c, 400), Ok(Some(Change::HalfOpened)));
        assert!(b.admit(&c, 401).is_err(), "one probe at a time");
        // The probe fails: open again, from now.
        assert!(matches!(b.record(&c, 402, false, Some("d"), None), Some(Change::Opened(_))));
        assert_eq!(b.opened_at, Some(402));
        assert_eq!(b.admit(&c, 702), Ok(Some(Change::HalfOpened)));
        assert_eq!(b.record(&c, 703, true, None, None), Some(Change::Closed));
        assert_eq!(b.admit(&c, 704), Ok(None));
    }

    #[test]
    fn moving_test_counts_are_progress_and_stalled_ones_are_not() {
        let (c, mut b) = (config(), Breaker::default());
        for (i, passed) in [1, 2, 3, 4, 5].into_iter().enumerate() {
            assert_eq!(b.record(&c, i as u64, false, Some("check failed"), Some((passed, 3))), None, "{i}");
        }
        assert_eq!(b.consecutive_failures, 0);
        assert_eq!(b.record(&c, 10, false, Some("check failed"), Some((5, 3))), None);
        assert_eq!(b.record(&c, 11, false, Some("check failed"), Some((5, 3))), None);
        assert!(matches!(
            b.record(&c, 12, false, Some("check failed"), Some((5, 3))),
            Some(Change::Opened(_))
        ));
        assert_eq!(b.progress(), Some(Change::Closed), "a task done closes it");
    }

    #[test]
    fn the_same_error_and_idle_iterations_open_it_with_a_reason() {
        let c = BreakerConfig { same_error_threshold: Some(2), failure_threshold: 10, ..config() };
        let mut b = Breaker::default();
        b.record(&c, 0, false, Some("E1"), None);
        let opened = b.record(&c, 0, false, Some("E1"), None);
        assert_eq!(opened, Some(Change::Opened("the same error 2 times in a row: E1".into())));
        let mut b = Breaker::default();
        assert_eq!(b.iteration(&c, 0, false), None);
        assert!(
            matches!(b.iteration(&c, 0, false), Some(Change::Opened(ref r)) if r.contains("changed no file"))
        );
        let none = BreakerConfig { timeout: None, ..c };
        assert!(b.admit(&none, 10_000).unwrap_err().contains("until reset"));
    }
}
