//! The circuit breaker's settings from a workflow's `circuit_breaker:` section. The breaker
//! itself is pure state in the run's core (`run::core::breaker`), folded from events.

pub use crate::run::core::breaker::{Breaker, BreakerConfig, BreakerState, Change};
use crate::workflow::model::CircuitBreaker;

/// The settings of a `circuit_breaker:` section, or none when it is absent or disabled.
pub fn config(section: Option<&CircuitBreaker>) -> Option<BreakerConfig> {
    let s = section.filter(|s| s.enabled != Some(false))?;
    Some(BreakerConfig {
        failure_threshold: s.failure_threshold.unwrap_or(5).max(1),
        timeout: s.timeout.map(|d| d.0),
        half_open_max_calls: s.half_open_max_calls.unwrap_or(1).max(1),
        half_open_timeout: s.half_open_timeout.map(|d| d.0),
        same_error_threshold: s.same_error_threshold,
        no_progress_iterations: s.no_progress_iterations,
        failure_rate: s.failure_rate,
        window: s.window.unwrap_or(10).max(1),
        output_shrink: s.output_shrink,
    })
}
