//! Retry policies: which failures are tried again, how many times, and after what delay.
//!
//! `max_attempts` counts the first attempt: `max_attempts: 3` is the first try and up to two
//! retries; `max_attempts: 1` never retries. Delays follow the strategy: `exponential_backoff`
//! starts at `base_delay` (Temporal's `initial_interval`, default 1 s) and multiplies by
//! `backoff_coefficient` (default 2) up to `max_delay` (`max_interval`, default 60 s); `linear`
//! waits `delay`, 2×`delay`, 3×`delay`, … up to `max_delay`; `fixed` waits `delay` every time.
//! `jitter` (0 to 1) spreads each delay randomly by that fraction either way.
//!
//! A failure is retried when its class is not `non_retryable` and, if `retry_on` is given, is in
//! it. Classes and their aliases are `workflow::vocabulary::FAILURE_CLASSES`. Some classes are
//! never retried whatever the policy says: `usage_limit` (the loop waits for the provider's reset
//! instead), `cancelled`, `plugin_veto`, and a `stop` action.
//!
//! Which policy a step uses: its own `retry:` (state, node or saga step), else its agent's
//! `retry_policy`, else its agent's `max_retries` (with the `default` policy's spacing), else the
//! policy named `default`, else none (one attempt).

use std::time::Duration;

use backoff::backoff::Backoff as _;

use crate::workflow::model::{Document, PolicyRef, RetryPolicy, Strategy};
use crate::workflow::vocabulary;

/// Failure classes no policy retries.
const NEVER_RETRIED: &[&str] = &["usage_limit", "cancelled", "plugin_veto", "stopped", "circuit_open"];

/// A retry policy, resolved and ready to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// The policy's name (`inline` for one written in place).
    pub name: String,
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    strategy: Strategy,
    initial: Duration,
    max: Duration,
    step: Duration,
    multiplier: f64,
    jitter: f64,
    retry_on: Vec<&'static str>,
    non_retryable: Vec<&'static str>,
}

impl Default for Retry {
    fn default() -> Self {
        Self::none()
    }
}

impl Retry {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self::from_policy("none", &RetryPolicy { max_attempts: Some(1), ..RetryPolicy::default() })
    }

    /// Resolves a policy as written.
    pub fn from_policy(name: &str, policy: &RetryPolicy) -> Self {
        let classes = |names: &[String]| -> Vec<&'static str> {
            names.iter().filter_map(|n| vocabulary::failure_class(n)).collect()
        };
        let seconds = |d: Option<crate::workflow::model::Duration>| d.map(|d| d.0);
        Retry {
            name: name.to_owned(),
            max_attempts: policy.max_attempts.unwrap_or(3).max(1),
            // A policy with only `delay` is `fixed`, as the language reference says.
            strategy: policy.strategy.unwrap_or(
                if policy.delay.is_some() && policy.base_delay.is_none() && policy.initial_interval.is_none()
                {
                    Strategy::Fixed
                } else {
                    Strategy::ExponentialBackoff
                },
            ),
            initial: seconds(policy.base_delay.or(policy.initial_interval))
                .or(seconds(policy.delay))
                .unwrap_or(Duration::from_secs(1)),
            max: seconds(policy.max_delay.or(policy.max_interval)).unwrap_or(Duration::from_secs(60)),
            step: seconds(policy.delay).or(seconds(policy.base_delay)).unwrap_or(Duration::from_secs(1)),
            multiplier: policy.backoff_coefficient.unwrap_or(2.0).max(1.0),
            jitter: policy.jitter.unwrap_or(0.0).clamp(0.0, 1.0),
            retry_on: classes(&policy.retry_on),
            non_retryable: classes(&policy.non_retryable),
        }
    }

    /// The policy of a step, by the order in the module docs.
    pub fn for_step(doc: &Document, step_policy: Option<&PolicyRef>, agent: Option<&str>) -> Self {
        let named = |name: &str| -> Option<Retry> {
            let section = doc.retry.as_ref()?;
            section.policies().into_iter().find(|(n, _)| *n == name).map(|(n, p)| Retry::from_policy(n, p))
        };
        let resolve = |reference: &PolicyRef| match reference {
            PolicyRef::Named(name) => named(name),
            PolicyRef::Inline(policy) => Some(Retry::from_policy("inline", policy)),
        };
        if let Some(retry) = step_policy.and_then(resolve) {
            return retry;
        }
        let agent = agent.and_then(|a| doc.agents.get(a));
        if let Some(retry) = agent.and_then(|a| a.retry_policy.as_ref()).and_then(resolve) {
            return retry;
        }
        if let Some(retries) = agent.and_then(|a| a.max_retries) {
            let mut retry = named("default")
                .unwrap_or_else(|| Retry::from_policy("max_retries", &RetryPolicy::default()));
            retry.max_attempts = retries + 1;
            return retry;
        }
        named("default").unwrap_or_else(Retry::none)
    }

    /// Whether a failure of `class` is tried again under this policy (attempts aside).
    pub fn retries_class(&self, class: Option<&str>) -> bool {
        let class = class.and_then(vocabulary::failure_class).or(class).unwrap_or("agent_error");
        if NEVER_RETRIED.contains(&class) || self.non_retryable.contains(&class) {
            return false;
        }
        self.retry_on.is_empty() || self.retry_on.contains(&class)
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` (from 1) failed with
    /// `class`, or `None` when there is no further attempt.
    pub fn next_delay(&self, attempt: u32, class: Option<&str>) -> Option<Duration> {
        if attempt >= self.max_attempts || !self.retries_class(class) {
            return None;
        }
        Some(self.delays().nth(attempt as usize - 1).unwrap_or(self.max))
    }

    /// The delays between attempts, in order (without end; `next_delay` stops at
    /// `max_attempts`).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut exponential = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(self.initial)
            .with_multiplier(match self.strategy {
                Strategy::ExponentialBackoff => self.multiplier,
                _ => 1.0,
            })
            .with_randomization_factor(self.jitter)
            .with_max_interval(self.max)
            // No overall deadline: attempts are what is bounded.
            .with_max_elapsed_time(None)
            .build();
        let mut n = 0u32;
        std::iter::from_fn(move || {
            n += 1;
            Some(match self.strategy {
                Strategy::ExponentialBackoff => exponential.next_backoff().unwrap_or(self.max),
                Strategy::Fixed => jittered(
                    self.step,
                    self.jitter,
                    exponential.next_backoff().unwrap_or(self.initial),
                    self.initial,
                ),
                Strategy::Linear => {
                    let linear = self.step.saturating_mul(n).min(self.max);
                    jittered(
                        linear,
                        self.jitter,
                        exponential.next_backoff().unwrap_or(self.initial),
                        self.initial,
                    )
                }
            })
        })
    }
}

/// Applies the random spread the backoff crate drew for its base interval (`drawn` around
/// `base`) to another delay, so every strategy shares one source of jitter.
fn jittered(delay: Duration, jitter: f64, drawn: Duration, base: Duration) -> Duration {
    if jitter == 0.0 || base.is_zero() {
        return delay;
    }
    delay.mul_f64(drawn.as_secs_f64() / base.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> Retry {
        Retry::from_policy("p", &serde_yaml::from_str(yaml).unwrap())
    }

    fn secs(retry: &Retry, n: usize) -> Vec<f64> {
        retry.delays().take(n).map(|d| d.as_secs_f64()).collect()
    }

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let r = policy("{strategy: exponential_backoff, max_attempts: 8, base_delay: 1s, max_delay: 10s}");
        assert_eq!(secs(&r, 6), [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        let temporal = policy("{initial_interval: 2s, backoff_coefficient: 3, max_interval: 60s}");
        assert_eq!(secs(&temporal, 4), [2.0, 6.0, 18.0, 54.0]);
    }

    #[test]
    fn linear_and_fixed() {
        assert_eq!(
            secs(&policy("{strategy: linear, delay: 5s, max_delay: 12s}"), 4),
            [5.0, 10.0, 12.0, 12.0]
        );
        assert_eq!(secs(&policy("{strategy: fixed, delay: 3s}"), 3), [3.0, 3.0, 3.0]);
        assert_eq!(secs(&policy("{delay: 3s}"), 2), [3.0, 3.0], "only `delay`: fixed");
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let r = policy("{strategy: exponential_backoff, base_delay: 10s, max_delay: 1000s, jitter: 0.1}");
        for (i, d) in r.delays().take(5).enumerate() {
            let nominal = 10.0 * 2f64.powi(i as i32);
            let d = d.as_secs_f64();
            assert!(d >= nominal * 0.9 - 1e-6 && d <= nominal * 1.1 + 1e-6, "{i}: {d}");
        }
        let linear = policy("{strategy: linear, delay: 10s, max_delay: 1000s, jitter: 0.2}");
        for (i, d) in linear.delays().take(5).enumerate() {
            let nominal = 10.0 * (i as f64 + 1.0);
            assert!((d.as_secs_f64() - nominal).abs() <= nominal * 0.2 + 1e-6, "{i}: {d:?}");
        }
    }

    #[test]
    fn max_attempts_counts_the_first_attempt() {
        let r = policy("{strategy: fixed, max_attempts: 3, delay: 1s}");
        assert_eq!(r.next_delay(1, Some("nonzero_exit")), Some(Duration::from_secs(1)));
        assert_eq!(r.next_delay(2, Some("nonzero_exit")), Some(Duration::from_secs(1)));
        assert_eq!(r.next_delay(3, Some("nonzero_exit")), None);
        assert_eq!(policy("{max_attempts: 1}").next_delay(1, None), None);
    }

    #[test]
    fn classes_and_aliases_choose_what_is_retried() {
        let r = policy("{max_attempts: 5, retry_on: [TimeoutError, ConnectionError]}");
        assert!(r.next_delay(1, Some("timeout")).is_some());
        assert!(r.next_delay(1, Some("connection_error")).is_some());
        assert!(r.next_delay(1, Some("nonzero_exit")).is_none());
        let r = policy("{max_attempts: 5, non_retryable: [check_failed]}");
        assert!(r.next_delay(1, Some("check_failed")).is_none());
        assert!(r.next_delay(1, Some("timeout")).is_some());
        assert!(r.next_delay(1, Some("usage_limit")).is_none(), "a usage limit waits, it is not retried");
    }

    #[test]
    fn a_step_finds_its_policy_in_order() {
        let doc: Document = serde_yaml::from_str(
            "retry:\n  default: {max_attempts: 2, strategy: fixed, delay: 1s}\n  transient_errors: {max_attempts: 5}\nagents:\n  a: {command: x, retry_policy: transient_errors}\n  b: {command: x, max_retries: 3}\n  c: {command: x}\n",
        )
        .unwrap();
        let named = PolicyRef::Named("transient_errors".into());
        assert_eq!(Retry::for_step(&doc, Some(&named), Some("c")).max_attempts, 5);
        assert_eq!(Retry::for_step(&doc, None, Some("a")).name, "transient_errors");
        let b = Retry::for_step(&doc, None, Some("b"));
        assert_eq!((b.name.as_str(), b.max_attempts), ("default", 4));
        assert_eq!(Retry::for_step(&doc, None, Some("c")).name, "default");
        let bare: Document = serde_yaml::from_str("agents: {c: {command: x}}").unwrap();
        assert_eq!(Retry::for_step(&bare, None, Some("c")).max_attempts, 1);
    }
}
