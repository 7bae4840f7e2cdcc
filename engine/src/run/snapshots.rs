//! When a run takes snapshots (`state.snapshots`), and taking them.
//!
//! A snapshot names a journal position (see `store::snapshot`), so taking one is one small
//! record — cheap enough to take after every step when `phase_complete` asks for it. Without a
//! `state.snapshots` section, runs take them at `iteration_complete`, `before_human_review`
//! and `run_complete`, and keep the newest 100 for 30 days.

use std::time::{Duration, Instant};

use super::core::event::Event;
use super::core::projection::StepStatus;
use super::runner::Runner;
use crate::store::{Retention, Snapshot};
use crate::workflow::model::{Document, Retention as RetentionSetting};

const DEFAULT_TRIGGERS: &[&str] = &["iteration_complete", "before_human_review", "run_complete"];
const DEFAULT_COUNT: usize = 100;
const DEFAULT_AGE: u64 = 30 * 24 * 3600;

/// A run's snapshot settings.
#[derive(Debug, Clone)]
pub(super) struct SnapshotPolicy {
    triggers: Vec<String>,
    interval: Option<Duration>,
    pub(super) retention: Retention,
    last: Instant,
    taken: usize,
}

impl SnapshotPolicy {
    /// The document's settings; `None` when snapshots are disabled.
    pub(super) fn from_doc(doc: &Document) -> Option<SnapshotPolicy> {
        let state = doc.state.as_ref();
        let settings = state.and_then(|s| s.snapshots.as_ref());
        if settings.and_then(|s| s.enabled) == Some(false) {
            return None;
        }
        let mut triggers: Vec<String> = settings.map(|s| s.triggers.clone()).unwrap_or_default();
        if triggers.is_empty() {
            triggers = DEFAULT_TRIGGERS.iter().map(|t| (*t).to_owned()).collect();
        }
        let retention = match settings
            .and_then(|s| s.retention.as_ref())
            .or(state.and_then(|s| s.retention.as_ref()))
        {
            None => Retention { count: Some(DEFAULT_COUNT), age_secs: Some(DEFAULT_AGE) },
            Some(RetentionSetting::Age(age)) => Retention { count: None, age_secs: Some(age.0.as_secs()) },
            Some(RetentionSetting::Policy(p)) => {
                Retention { count: p.count.map(|c| c as usize), age_secs: p.age.map(|a| a.0.as_secs()) }
            }
        };
        Some(SnapshotPolicy {
            triggers,
            interval: settings.and_then(|s| s.interval).map(|d| d.0),
            retention,
            last: Instant::now(),
            taken: 0,
        })
    }

    /// The trigger an event meets, if it is one this run snapshots at.
    fn trigger(&self, event: &Event) -> Option<&'static str> {
        let names: &[&'static str] = match event {
            Event::StepFinished { .. } => &["phase_complete", "step_complete"],
            Event::Transition { .. } => &["state_change"],
            Event::IterationFinished { .. } => &["iteration_complete"],
            Event::ReviewRequested { .. } => &["before_human_review"],
            Event::RunFinished { .. } => &["run_complete"],
            _ => &[],
        };
        if let Some(name) = names.iter().find(|n| self.triggers.iter().any(|t| t == *n)) {
            return Some(name);
        }
        self.interval.filter(|i| self.last.elapsed() >= *i).map(|_| "interval")
    }
}

impl Runner {
    /// Takes a snapshot at journal position `seq` if `event` is one of the run's triggers.
    pub(super) fn maybe_snapshot(&mut self, event: &Event, seq: u64) {
        let Some(policy) = &mut self.snapshots else { return };
        let Some(trigger) = policy.trigger(event) else { return };
        policy.last = Instant::now();
        policy.taken += 1;
        // Retention is applied as the run goes (every `count` snapshots), not only at its end,
        // so a long run taking one per step does not pile them up.
        let trim = policy.retention.count.is_some_and(|c| policy.taken % c.max(1) == 0);
        let retention = policy.retention;
        let phase = match event {
            Event::StepFinished { step, .. } | Event::ReviewRequested { step, .. } => Some(step.clone()),
            _ => self.state.current().map(str::to_owned),
        };
        let run_id = self.state.run_id.clone();
        let snapshot = Snapshot {
            id: format!("{run_id}@{seq}"),
            run_id,
            seq,
            trigger: trigger.into(),
            at: self.now(),
            at_unix: self.clock.unix(),
            definition_hash: self.options.record.definition_hash.clone(),
            iteration: self.state.iteration,
            phase,
            task: self.state.task().map(|t| t.id.clone()),
            steps_finished: self.state.count(StepStatus::Succeeded) + self.state.count(StepStatus::Failed),
        };
        // A snapshot is a convenience: failing to record one is said, and the run goes on.
        if let Err(e) = self.log.put_snapshot(&snapshot) {
            self.warn(format!("snapshot {} could not be recorded: {e}", snapshot.id));
        }
        if trim {
            self.trim_snapshots(retention);
        }
    }

    /// Drops the snapshots beyond the retention.
    pub(super) fn trim_snapshots(&mut self, retention: Retention) {
        if let Err(e) = self.log.apply_retention(retention, self.clock.unix()) {
            self.notice(format!("old snapshots could not be dropped: {e}"));
        }
    }
}
