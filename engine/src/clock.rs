//! The wall clock, behind a trait: a run reads the time only through its [`Clock`], so a test
//! can run it on a clock of its own (tokio's paused time, from a fixed epoch) and get the same
//! times on every run. Code outside runs uses [`now`].
//!
//! **Architecture invariant:** this module depends on nothing else in the crate.

use std::time::{Duration, SystemTime};

/// Where a run gets the time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time as RFC 3339 with milliseconds, as events carry it.
    fn stamp(&self) -> String {
        rfc3339(self.now())
    }

    /// Seconds since the Unix epoch.
    fn unix(&self) -> u64 {
        self.now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that starts at `epoch` and moves with tokio's clock: under a paused tokio runtime
/// (tests), sleeps advance it instantly and the same run gets the same times every time.
#[derive(Debug, Clone)]
pub struct TokioClock {
    epoch: SystemTime,
    base: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `epoch` now (call it inside the runtime whose time it follows).
    pub fn starting_at(epoch: SystemTime) -> TokioClock {
        TokioClock { epoch, base: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.epoch + tokio::time::Instant::now().duration_since(self.base)
    }
}

/// A time as RFC 3339 with milliseconds: run records sort by it (two runs may start in the same
/// second), and spans and durations read from the journal need better than seconds.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// The current time as RFC 3339 with milliseconds.
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemClock.unix()
}

/// The time between two RFC 3339 times (zero when `to` is earlier or either is unreadable).
pub fn between(from: &str, to: &str) -> Duration {
    let parse = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    match (parse(from), parse(to)) {
        (Some(from), Some(to)) => to.duration_since(from).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_paused_time() {
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = TokioClock::starting_at(epoch);
        assert_eq!(clock.unix(), 1_000_000);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.unix(), 1_000_090);
        assert_eq!(between("1970-01-12T13:46:40Z", &clock.stamp()), Duration::from_secs(90));
    }
}
