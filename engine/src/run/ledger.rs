//! The ledger: what a project's loops have spent and how their circuit breaker stands, kept in
//! `.ralph/ledger.json` across runs so that a restarted loop keeps counting (and a breaker that
//! opened stays open until its timeout).
//!
//! It is written atomically (temporary file, fsync, rename) when it changes, which for command
//! agents (no tokens, no cost) is only when the breaker moves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::breaker::Breaker;

/// Spend and counters of a project, over all its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    /// Tokens reported by agents.
    pub tokens: u64,
    /// US dollars reported (or priced) for agents.
    pub cost_usd: f64,
    /// US dollars per UTC day (`YYYY-MM-DD`).
    pub daily_cost_usd: BTreeMap<String, f64>,
    /// Invocations of AI agents (the spend estimate of the next one is the average).
    pub ai_invocations: u64,
    /// Unix times (seconds) of the invocations of the last hour.
    pub recent_calls: Vec<u64>,
    /// The loop's circuit breaker.
    pub breaker: Breaker,
    /// Each agent's own circuit breaker, by agent name.
    pub agents: BTreeMap<String, Breaker>,
}

/// The ledger file of a project.
pub fn path(project_dir: &Path) -> PathBuf {
    project_dir.join(".ralph").join("ledger.json")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Today's UTC date.
pub fn today() -> String {
    crate::run::core::event::now()[..10].to_owned()
}

impl Ledger {
    /// Reads the ledger; a missing file is an empty ledger, an unreadable one an error.
    pub fn load(path: &Path) -> Result<Ledger, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "the ledger `{}` is not valid: {e} (move it away to start counting anew)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(e) => Err(format!("cannot read the ledger `{}`: {e}", path.display())),
        }
    }

    /// Writes the ledger atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::atomic_file::write(path, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)
    }

    /// Records an agent's spend.
    pub fn spend(&mut self, tokens: u64, cost_usd: f64) {
        self.tokens += tokens;
        self.cost_usd += cost_usd;
        *self.daily_cost_usd.entry(today()).or_default() += cost_usd;
        // Only the last week of days is worth keeping.
        while self.daily_cost_usd.len() > 7 {
            let oldest = self.daily_cost_usd.keys().next().cloned().unwrap_or_default();
            self.daily_cost_usd.remove(&oldest);
        }
    }

    /// Records an invocation now, forgetting those older than an hour.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_survives_a_round_trip_and_counts_days_and_calls() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        let mut ledger = Ledger::load(&file).unwrap();
        ledger.spend(1000, 0.5);
        ledger.ai_invocations += 2;
        ledger.call(10_000);
        ledger.call(10_000 + 3700);
        ledger.save(&file).unwrap();
        let again = Ledger::load(&file).unwrap();
        assert_eq!(again, ledger);
        assert_eq!(again.recent_calls, [13_700], "calls older than an hour are forgotten");
        assert_eq!(again.daily_cost_usd[&today()], 0.5);
        assert_eq!(again.average(), (500, 0.25));
        std::fs::write(&file, "{not json").unwrap();
        assert!(Ledger::load(&file).unwrap_err().contains("not valid"));
    }
}
