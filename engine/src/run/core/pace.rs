//! A run's pace, as PyWiggum's dashboard tracks it: tasks done and remaining, the success rate,
//! the average task duration, the recent velocity, an ETA for the remaining tasks, drift against
//! the run's own baseline, and a stall warning for a task that takes too long.
//!
//! Two halves, both pure. [`PaceLog`] is a fold over the journal (`apply(&Event)`), small and
//! bounded, kept in the run's state so the live loop and a replay of its journal hold the same
//! one; [`PaceLog::pace`] turns it into a [`Pace`] given the task file's counts and, for a run
//! that is still going, the time now. The clock and the task file are the caller's: this module
//! reads neither.
//!
//! The definitions (docs/dashboard.md, "Pace", says the same for users):
//!
//! - a task's *duration* is the wall time of the iterations that worked on it in the run, summed,
//!   counted when it is marked `done` (a failed attempt that was retried counts toward it; a task
//!   marked `failed` is not a completion);
//! - *average task* is the mean duration of every task completed in the run;
//! - *recent* is the last [`RECENT_TASKS`] completions: `recent_ms` their mean duration, and the
//!   *velocity* their number over the wall time from the first one's start to the last one's end,
//!   per hour (with `--jobs` tasks overlap, and velocity counts that);
//! - *ETA* is the remaining tasks ÷ the velocity — remaining × the recent average in a loop that
//!   takes one task at a time — none before a task is completed or without a task file;
//! - *drift* compares the recent average with the *baseline*, the mean of the run's first
//!   [`BASELINE_TASKS`] completions, once a completion falls outside the baseline; a ratio above
//!   [`DRIFT_WARNING`] is the warning (behind schedule);
//! - a *stall* is a running task whose time so far exceeds [`STALL_FACTOR`] × the average task.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::event::{Event, Mark, RunStatus};

/// How many of the latest completions the recent average and the velocity are taken over.
pub const RECENT_TASKS: usize = 5;
/// How many of the run's first completions make its baseline.
pub const BASELINE_TASKS: usize = 3;
/// The ratio of the recent average to the baseline above which drift is a warning.
pub const DRIFT_WARNING: f64 = 1.5;
/// How many times the average task a running task may take before it is called stalled.
pub const STALL_FACTOR: u64 = 3;

/// One completed task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// Its iterations' wall time, summed, in milliseconds.
    pub duration_ms: u64,
    /// When its first iteration began, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When it was completed, in milliseconds since the Unix epoch.
    pub finished_ms: u64,
}

/// A task worked on in the run and not completed yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Work {
    /// Its finished iterations' wall time, summed.
    spent_ms: u64,
    /// When its first iteration began.
    started_ms: u64,
    /// When its latest iteration ended.
    finished_ms: u64,
    /// It was marked done while its iteration still ran: it completes when the iteration ends.
    done: bool,
}

/// The journal folded into what the pace is computed from. Bounded: a few completions, the
/// iterations in flight, and the tasks worked on but not yet completed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceLog {
    /// When the run began (ms since the epoch).
    started_ms: Option<u64>,
    /// The latest time the journal names.
    last_ms: Option<u64>,
    /// Iterations that ended, and those of them that succeeded.
    iterations_finished: u32,
    iterations_succeeded: u32,
    /// Tasks marked done and failed in the run.
    tasks_done: u32,
    tasks_failed: u32,
    /// Completions in the run, and their durations summed.
    completed: u32,
    total_ms: u64,
    /// The first [`BASELINE_TASKS`] completions' durations.
    baseline: Vec<u64>,
    /// The latest [`RECENT_TASKS`] completions.
    recent: VecDeque<Completion>,
    /// Iterations in flight with a task: the iteration, the task's id and when it began (a
    /// list, not a map: it travels as JSON, whose keys are strings).
    running: Vec<(u32, String, u64)>,
    /// Tasks worked on and not completed.
    work: BTreeMap<String, Work>,
    /// The latest iteration begun (events of older journals name iteration 0: this one).
    latest: u32,
}

fn ms(at: &str) -> Option<u64> {
    let time = humantime::parse_rfc3339_weak(at).ok()?;
    u64::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

impl PaceLog {
    /// Folds one event in.
    pub fn apply(&mut self, event: &Event) {
        let at = event.at().and_then(ms);
        if let Some(at) = at {
            self.last_ms = Some(self.last_ms.map_or(at, |last| last.max(at)));
        }
        match event {
            Event::RunStarted { .. } => self.started_ms = self.started_ms.or(at),
            Event::IterationStarted { iteration, task, .. } => {
                self.latest = *iteration;
                if let (Some(task), Some(at)) = (task, at) {
                    self.running.retain(|(n, _, _)| n != iteration);
                    self.running.push((*iteration, task.id.clone(), at));
                    self.work.entry(task.id.clone()).or_insert(Work { started_ms: at, ..Work::default() });
                }
            }
            Event::IterationFinished { iteration, status, .. } => {
                self.iterations_finished += 1;
                if *status == RunStatus::Succeeded {
                    self.iterations_succeeded += 1;
                }
                let iteration = if *iteration == 0 { self.latest } else { *iteration };
                let ended = self.running.iter().position(|(n, _, _)| *n == iteration);
                if let (Some((_, task, began)), Some(at)) = (ended.map(|i| self.running.remove(i)), at) {
                    let done = self.work.get_mut(&task).is_some_and(|work| {
                        work.spent_ms += at.saturating_sub(began);
                        work.finished_ms = at;
                        work.done
                    });
                    if done {
                        self.complete(&task);
                    }
                }
            }
            Event::TaskMarked { task, status, iteration } => {
                let iteration = if *iteration == 0 { self.latest } else { *iteration };
                let in_flight = self.running.iter().any(|(n, id, _)| *n == iteration && *id == task.id);
                match status {
                    Mark::Done => {
                        self.tasks_done += 1;
                        if in_flight {
                            if let Some(work) = self.work.get_mut(&task.id) {
                                work.done = true;
                            }
                        } else {
                            self.complete(&task.id);
                        }
                    }
                    Mark::Failed => {
                        self.tasks_failed += 1;
                        if !in_flight {
                            self.work.remove(&task.id);
                        }
                    }
                    Mark::Reopened => {}
                }
            }
            _ => {}
        }
    }

    /// A folded journal.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> PaceLog {
        let mut log = PaceLog::default();
        for event in events {
            log.apply(event);
        }
        log
    }

    fn complete(&mut self, task: &str) {
        let Some(work) = self.work.remove(task) else { return };
        let completion = Completion {
            duration_ms: work.spent_ms,
            started_ms: work.started_ms,
            finished_ms: work.finished_ms,
        };
        self.completed += 1;
        self.total_ms += completion.duration_ms;
        if self.baseline.len() < BASELINE_TASKS {
            self.baseline.push(completion.duration_ms);
        }
        if self.recent.len() == RECENT_TASKS {
            self.recent.pop_front();
        }
        self.recent.push_back(completion);
    }

    /// The pace: `tasks` is the task file's counts when the run has one; `now` is the time now
    /// for a run that is still going (an ETA's time and a stall are told only then), `None` for
    /// one that ended, whose elapsed time ends at its journal's last event.
    pub fn pace(&self, tasks: Option<TaskCounts>, now: Option<SystemTime>) -> Pace {
        let now_ms = now.and_then(|t| u64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok());
        let end = now_ms.or(self.last_ms);
        let elapsed_ms = match (self.started_ms, end) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => 0,
        };
        let average_task_ms = (self.completed > 0).then(|| self.total_ms / u64::from(self.completed));
        let recent_ms = mean(self.recent.iter().map(|c| c.duration_ms));
        let velocity_per_hour = match (self.recent.front(), self.recent.back()) {
            (Some(first), Some(last)) => {
                // A window of tasks that took no measurable time has no meaningful rate.
                let span = last.finished_ms.saturating_sub(first.started_ms).max(1);
                Some(self.recent.len() as f64 * 3_600_000.0 / span as f64)
            }
            _ => None,
        };
        let tasks_remaining = tasks.map(|t| t.remaining);
        let eta_ms = match (tasks_remaining, velocity_per_hour) {
            (Some(remaining), Some(velocity)) => {
                Some((f64::from(remaining) * 3_600_000.0 / velocity).round() as u64)
            }
            _ => None,
        };
        let eta_at = match (eta_ms, now) {
            (Some(eta), Some(now)) => {
                Some(humantime::format_rfc3339_millis(now + Duration::from_millis(eta)).to_string())
            }
            _ => None,
        };
        let drift = match (mean(self.baseline.iter().copied()), recent_ms) {
            (Some(baseline_ms), Some(recent_ms)) if self.completed as usize > BASELINE_TASKS => {
                let ratio = recent_ms as f64 / baseline_ms.max(1) as f64;
                Some(Drift { baseline_ms, recent_ms, ratio: round2(ratio), warning: ratio > DRIFT_WARNING })
            }
            _ => None,
        };
        let stall = now_ms.and_then(|now| {
            let (task, running_ms) = self
                .running
                .iter()
                .map(|(_, task, began)| {
                    let spent = self.work.get(task).map_or(0, |w| w.spent_ms);
                    (task.clone(), spent + now.saturating_sub(*began))
                })
                .max_by_key(|(_, running)| *running)?;
            let threshold_ms = average_task_ms.map(|a| a * STALL_FACTOR);
            let warning = threshold_ms.is_some_and(|t| running_ms > t);
            Some(Stall { task, running_ms, threshold_ms, warning })
        });
        Pace {
            tasks_done: tasks.map_or(self.tasks_done, |t| t.done),
            tasks_remaining,
            tasks_done_in_run: self.tasks_done,
            tasks_failed_in_run: self.tasks_failed,
            iterations_finished: self.iterations_finished,
            success_rate: (self.iterations_finished > 0)
                .then(|| round2(f64::from(self.iterations_succeeded) / f64::from(self.iterations_finished))),
            elapsed_ms,
            average_task_ms,
            recent_ms,
            velocity_per_hour: velocity_per_hour.map(round2),
            eta_ms,
            eta_at,
            drift,
            stall,
        }
    }
}

fn mean(values: impl Iterator<Item = u64>) -> Option<u64> {
    let (sum, n) = values.fold((0u64, 0u64), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What the task file says: tasks done, and tasks still to do (`pending` or `in_progress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Done.
    pub done: u32,
    /// Still to do.
    pub remaining: u32,
}

/// A run's pace, as `status --json` (and `/api/status`) gives it under `pace`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pace {
    /// Tasks done: the task file's count, or the run's marks when it has no task file.
    pub tasks_done: u32,
    /// Tasks still to do in the task file (none without one).
    pub tasks_remaining: Option<u32>,
    /// Tasks the run marked done.
    pub tasks_done_in_run: u32,
    /// Tasks the run marked failed.
    pub tasks_failed_in_run: u32,
    /// Iterations that ended.
    pub iterations_finished: u32,
    /// The share of those that succeeded, 0 to 1 (none before one ended).
    pub success_rate: Option<f64>,
    /// From the run's start to now (to its last event, for a run that ended).
    pub elapsed_ms: u64,
    /// The mean duration of the tasks completed in the run.
    pub average_task_ms: Option<u64>,
    /// The mean duration of the last [`RECENT_TASKS`] completions.
    pub recent_ms: Option<u64>,
    /// Tasks per hour over the last [`RECENT_TASKS`] completions.
    pub velocity_per_hour: Option<f64>,
    /// How long the remaining tasks will take at the recent velocity.
    pub eta_ms: Option<u64>,
    /// When they will be done, for a run that is going (RFC 3339).
    pub eta_at: Option<String>,
    /// The recent average against the baseline, once there is a baseline to compare with.
    pub drift: Option<Drift>,
    /// The task running longest, for a run that is going.
    pub stall: Option<Stall>,
}

/// The recent average task against the run's first tasks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Drift {
    /// The mean duration of the run's first [`BASELINE_TASKS`] completions.
    pub baseline_ms: u64,
    /// The mean duration of the last [`RECENT_TASKS`].
    pub recent_ms: u64,
    /// `recent_ms / baseline_ms`, to two decimals.
    pub ratio: f64,
    /// The ratio is above [`DRIFT_WARNING`]: the run is behind its own schedule.
    pub warning: bool,
}

/// The task running longest against the average task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stall {
    /// Its id.
    pub task: String,
    /// Its time so far in the run: its earlier iterations and the running one.
    pub running_ms: u64,
    /// [`STALL_FACTOR`] × the average task (none before a task is completed).
    pub threshold_ms: Option<u64>,
    /// It has run longer than the threshold.
    pub warning: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::core::event::TaskRef;

    const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn at(ms: u64) -> String {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    }

    fn time(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    /// A journal: the run starts at T0, then each `(task, start, end, mark)` is an iteration
    /// from `T0 + start` to `T0 + end` (seconds) marked so; `None` as the end leaves it running.
    fn journal(iterations: &[(&str, u64, Option<u64>, Option<Mark>)]) -> Vec<Event> {
        let mut events = vec![Event::RunStarted {
            run_id: "r".into(),
            workflow: "w".into(),
            kind: "state_machine".into(),
            ledger: None,
            at: at(T0),
        }];
        for (i, (task, start, end, mark)) in iterations.iter().enumerate() {
            let iteration = u32::try_from(i).unwrap() + 1;
            let task_ref = TaskRef { id: (*task).into(), title: format!("task {task}") };
            events.push(Event::IterationStarted {
                iteration,
                task: Some(task_ref.clone()),
                detail: None,
                completed: Vec::new(),
                at: at(T0 + start * 1000),
            });
            let Some(end) = end else { continue };
            let status = if *mark == Some(Mark::Done) { RunStatus::Succeeded } else { RunStatus::Failed };
            events.push(Event::IterationFinished {
                iteration,
                status,
                reason: String::new(),
                files: Vec::new(),
                at: at(T0 + end * 1000),
            });
            if let Some(mark) = mark {
                events.push(Event::TaskMarked { task: task_ref, status: *mark, iteration });
            }
        }
        events
    }

    fn counts(done: u32, remaining: u32) -> Option<TaskCounts> {
        Some(TaskCounts { done, remaining })
    }

    #[test]
    fn an_empty_history_has_no_averages_no_eta_and_no_warnings() {
        let pace = PaceLog::default().pace(counts(0, 4), Some(time(T0)));
        assert_eq!(pace.tasks_done, 0);
        assert_eq!(pace.tasks_remaining, Some(4));
        assert_eq!(pace.success_rate, None);
        assert_eq!(pace.elapsed_ms, 0);
        assert_eq!(
            (pace.average_task_ms, pace.velocity_per_hour, pace.eta_ms, pace.eta_at),
            (None, None, None, None)
        );
        assert_eq!((pace.drift, pace.stall), (None, None));
        let started = PaceLog::from_events(&journal(&[]));
        assert_eq!(started.pace(None, Some(time(T0 + 90_000))).elapsed_ms, 90_000);
    }

    #[test]
    fn eta_is_the_remaining_tasks_at_the_recent_velocity() {
        // Three tasks of 60 s, 60 s and 120 s back to back: 3 tasks in 240 s is 45 an hour, and
        // two remaining take 160 s (two at the recent average of 80 s).
        let done = Some(Mark::Done);
        let log = PaceLog::from_events(&journal(&[
            ("1", 0, Some(60), done),
            ("2", 60, Some(120), done),
            ("3", 120, Some(240), done),
        ]));
        let now = T0 + 250_000;
        let pace = log.pace(counts(3, 2), Some(time(now)));
        assert_eq!(pace.average_task_ms, Some(80_000));
        assert_eq!(pace.recent_ms, Some(80_000));
        assert_eq!(pace.velocity_per_hour, Some(45.0));
        assert_eq!(pace.eta_ms, Some(160_000));
        assert_eq!(pace.eta_at.as_deref(), Some(at(now + 160_000).as_str()));
        assert_eq!(pace.elapsed_ms, 250_000);
        assert_eq!(pace.success_rate, Some(1.0));
        // A run that ended: elapsed to its last event, an ETA's length but no time, no stall.
        let ended = log.pace(counts(3, 2), None);
        assert_eq!(
            (ended.elapsed_ms, ended.eta_ms, ended.eta_at, ended.stall),
            (240_000, Some(160_000), None, None)
        );
        // No task file: nothing remaining is known, so no ETA.
        let untracked = log.pace(None, Some(time(now)));
        assert_eq!((untracked.tasks_done, untracked.tasks_remaining, untracked.eta_ms), (3, None, None));
    }

    #[test]
    fn a_failed_attempt_counts_toward_its_task_and_against_the_success_rate() {
        // Task 1 fails its first iteration (30 s, not marked: the loop retries it), then is done
        // in 30 s more; task 2 is marked failed and is no completion.
        let log = PaceLog::from_events(&journal(&[
            ("1", 0, Some(30), None),
            ("1", 30, Some(60), Some(Mark::Done)),
            ("2", 60, Some(70), Some(Mark::Failed)),
        ]));
        let pace = log.pace(counts(1, 0), None);
        assert_eq!(pace.average_task_ms, Some(60_000));
        assert_eq!((pace.tasks_done_in_run, pace.tasks_failed_in_run), (1, 1));
        assert_eq!(pace.success_rate, Some(0.33));
        assert_eq!(pace.eta_ms, Some(0));
    }

    #[test]
    fn drift_warns_when_recent_tasks_take_more_than_one_and_a_half_times_the_baseline() {
        let done = Some(Mark::Done);
        // Baseline: three tasks of 10 s. Then tasks of 20 s: the recent five average 14 s, 1.4×.
        let steady = PaceLog::from_events(&journal(&[
            ("1", 0, Some(10), done),
            ("2", 10, Some(20), done),
            ("3", 20, Some(30), done),
            ("4", 30, Some(50), done),
            ("5", 50, Some(70), done),
        ]));
        let drift = steady.pace(None, None).drift.unwrap();
        assert_eq!(
            (drift.baseline_ms, drift.recent_ms, drift.ratio, drift.warning),
            (10_000, 14_000, 1.4, false)
        );
        // One more of 40 s: the recent five (10, 10, 20, 20, 40) average 20 s, 2×.
        let mut behind = steady;
        behind.apply(&Event::IterationStarted {
            iteration: 6,
            task: Some(TaskRef { id: "6".into(), title: String::new() }),
            detail: None,
            completed: Vec::new(),
            at: at(T0 + 70_000),
        });
        behind.apply(&Event::IterationFinished {
            iteration: 6,
            status: RunStatus::Succeeded,
            reason: String::new(),
            files: Vec::new(),
            at: at(T0 + 110_000),
        });
        behind.apply(&Event::TaskMarked {
            task: TaskRef { id: "6".into(), title: String::new() },
            status: Mark::Done,
            iteration: 6,
        });
        let drift = behind.pace(None, None).drift.unwrap();
        assert_eq!(
            (drift.baseline_ms, drift.recent_ms, drift.ratio, drift.warning),
            (10_000, 20_000, 2.0, true)
        );
    }

    #[test]
    fn drift_is_not_told_while_every_completion_is_in_the_baseline() {
        let done = Some(Mark::Done);
        let log = PaceLog::from_events(&journal(&[("1", 0, Some(10), done), ("2", 10, Some(100), done)]));
        assert_eq!(log.pace(None, None).drift, None);
    }

    #[test]
    fn a_task_running_longer_than_three_times_the_average_is_a_stall() {
        let done = Some(Mark::Done);
        let log = PaceLog::from_events(&journal(&[
            ("1", 0, Some(10), done),
            ("2", 10, Some(20), done),
            ("3", 20, None, None),
        ]));
        // Task 3 began at 20 s; the average is 10 s, so the threshold is 30 s.
        let calm = log.pace(counts(2, 2), Some(time(T0 + 50_000))).stall.unwrap();
        assert_eq!(
            calm,
            Stall { task: "3".into(), running_ms: 30_000, threshold_ms: Some(30_000), warning: false }
        );
        let stalled = log.pace(counts(2, 2), Some(time(T0 + 50_001))).stall.unwrap();
        assert!(stalled.warning, "{stalled:?}");
        // A run that ended has nothing running now.
        assert_eq!(log.pace(counts(2, 2), None).stall, None);
        // Before any task is completed there is no average to compare with.
        let first = PaceLog::from_events(&journal(&[("1", 0, None, None)]));
        let stall = first.pace(None, Some(time(T0 + 3_600_000))).stall.unwrap();
        assert_eq!((stall.threshold_ms, stall.warning), (None, false));
    }

    #[test]
    fn a_stall_counts_the_tasks_earlier_attempts() {
        let log = PaceLog::from_events(&journal(&[
            ("1", 0, Some(10), Some(Mark::Done)),
            ("2", 10, Some(30), None),
            ("2", 30, None, None),
        ]));
        // 20 s in its failed attempt and 11 s in this one: 31 s, more than 3 × 10 s.
        let stall = log.pace(None, Some(time(T0 + 41_000))).stall.unwrap();
        assert_eq!((stall.task.as_str(), stall.running_ms, stall.warning), ("2", 31_000, true));
    }

    #[test]
    fn velocity_is_taken_over_the_last_five_completions_only() {
        let done = Some(Mark::Done);
        // Five slow tasks of 100 s, then five fast ones of 10 s: only the fast ones count.
        let mut iterations = Vec::new();
        for i in 0..5u64 {
            iterations.push((i * 100, i * 100 + 100));
        }
        for i in 0..5u64 {
            iterations.push((500 + i * 10, 510 + i * 10));
        }
        let ids: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        let rows: Vec<(&str, u64, Option<u64>, Option<Mark>)> =
            iterations.iter().zip(&ids).map(|((s, e), id)| (id.as_str(), *s, Some(*e), done)).collect();
        let pace = PaceLog::from_events(&journal(&rows)).pace(counts(10, 1), None);
        assert_eq!(pace.recent_ms, Some(10_000));
        assert_eq!(pace.velocity_per_hour, Some(360.0));
        assert_eq!(pace.eta_ms, Some(10_000));
        assert_eq!(pace.average_task_ms, Some(55_000));
        assert!(pace.drift.unwrap().ratio < 1.0);
    }

    proptest::proptest! {
        /// In a loop that takes one task at a time, back to back, the ETA is the remaining tasks
        /// times the recent average, the velocity its inverse, and folding is the same whether
        /// the journal is read whole or event by event.
        #[test]
        fn back_to_back_tasks_give_eta_remaining_times_the_recent_average(
            durations in proptest::collection::vec(1u64..100_000, 1..12),
            remaining in 0u32..20,
        ) {
            let done = Some(Mark::Done);
            let ids: Vec<String> = (0..durations.len()).map(|i| i.to_string()).collect();
            let mut start = 0;
            let mut rows = Vec::new();
            for (id, d) in ids.iter().zip(&durations) {
                rows.push((id.as_str(), start, Some(start + d), done));
                start += d;
            }
            let events = journal(&rows);
            let log = PaceLog::from_events(&events);
            let mut stepwise = PaceLog::default();
            for event in &events {
                stepwise.apply(event);
            }
            proptest::prop_assert_eq!(&log, &stepwise);
            let pace = log.pace(counts(0, remaining), None);
            let recent: Vec<u64> = durations.iter().rev().take(RECENT_TASKS).map(|d| d * 1000).collect();
            let recent_sum: u64 = recent.iter().sum();
            // remaining × span / k, where the span of back-to-back tasks is their sum.
            let expected = (f64::from(remaining) * recent_sum as f64 / recent.len() as f64).round() as u64;
            let eta = pace.eta_ms.unwrap();
            proptest::prop_assert!(eta.abs_diff(expected) <= 1, "{} vs {}", eta, expected);
            proptest::prop_assert_eq!(pace.recent_ms, Some(recent_sum / recent.len() as u64));
            proptest::prop_assert_eq!(pace.tasks_done_in_run as usize, durations.len());
        }
    }
}
