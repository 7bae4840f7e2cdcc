//! The scheduler of the agent-swarm seed (`TaskScheduler`): which ready task runs next, by a
//! score with five parts. Pure: it reads tasks and a time, and knows nothing about files, runs
//! or agents.
//!
//! # The formula
//!
//! Only **ready** tasks are ranked (open, every dependency `done`, every blocking milestone
//! finished; see the module docs of [`crate::task`]). Each gets
//!
//! ```text
//! score = priority × 10
//!       + (6 − complexity) × 2        inverted complexity: 5 for the simplest, 1 for the hardest
//!       + fan-out × 5                 tasks not yet done that list it in `depends_on`
//!       − failed_attempts × 3
//!       + idle                        1 point per whole minute since `last_attempt_at`, at most 60
//! ```
//!
//! and the highest score runs first; equal scores go in file order.
//!
//! - **priority** is the task's integer priority, higher sooner, 0 when absent (names map to
//!   -1..2: `low`, `medium`, `high`, `critical`), as the loop has always read it.
//! - **complexity** is an integer from 1 (trivial) to 5 (hard); a task without one counts as 3,
//!   the middle, so it neither gains nor loses against rated tasks on average.
//! - **fan-out** counts the tasks that depend on this one *directly* and are not `done`: the
//!   work it unblocks next. Transitive counts would let one deep chain outweigh every priority.
//! - **idle**: a task never attempted (no `last_attempt_at`) gets the full 60 — it has waited
//!   longest of all; one attempted gets a point per whole minute since, up to 60 after an hour,
//!   so a task that just failed and was reset waits behind its peers for a while. A time in the
//!   future counts as 0 minutes.
//!
//! One rule comes before the score: a task `in_progress` (its iteration was interrupted, and its
//! half-done work is in the tree) is taken up again before any `pending` one.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use super::graph::Waits;
use super::{Milestone, Task, TaskStatus};

/// The simplest complexity.
pub const COMPLEXITY_MIN: u8 = 1;
/// The hardest complexity.
pub const COMPLEXITY_MAX: u8 = 5;
/// The complexity of a task that does not say.
pub const COMPLEXITY_DEFAULT: u8 = 3;
/// Points per unit of priority.
pub const PRIORITY_WEIGHT: i64 = 10;
/// Points per unit of inverted complexity.
pub const COMPLEXITY_WEIGHT: i64 = 2;
/// Points per task unblocked.
pub const FAN_OUT_WEIGHT: i64 = 5;
/// Points taken per failed attempt.
pub const FAILURE_WEIGHT: i64 = 3;
/// The most points idle time gives (one per minute).
pub const IDLE_MAX: i64 = 60;

/// One part of a score: what it was computed from and the points it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Part {
    /// The input: the priority, the complexity used, the tasks unblocked, the failures, or the
    /// whole minutes since the last attempt (`null` for a task never attempted).
    pub value: Option<i64>,
    /// The points it adds (negative for failures).
    pub points: i64,
}

/// A task's score, with its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Score {
    /// The sum of the parts' points.
    pub total: i64,
    /// Priority × 10.
    pub priority: Part,
    /// (6 − complexity) × 2.
    pub complexity: Part,
    /// Direct dependents not done × 5.
    pub fan_out: Part,
    /// − failed attempts × 3.
    pub failed_attempts: Part,
    /// Minutes since the last attempt, at most 60; 60 when never attempted.
    pub idle: Part,
}

/// The score of `task`, which `fan_out` open tasks depend on directly, at time `now`.
pub fn score(task: &Task, fan_out: usize, now: SystemTime) -> Score {
    let priority = task.priority.unwrap_or(0);
    let complexity = task.complexity.unwrap_or(COMPLEXITY_DEFAULT).clamp(COMPLEXITY_MIN, COMPLEXITY_MAX);
    let fan_out = i64::try_from(fan_out).unwrap_or(i64::MAX);
    let failures = i64::from(task.failed_attempts);
    let minutes = task.last_attempt_at.as_deref().map(|at| idle_minutes(at, now));
    let parts = [
        Part { value: Some(priority), points: priority.saturating_mul(PRIORITY_WEIGHT) },
        Part {
            value: Some(i64::from(complexity)),
            points: i64::from(COMPLEXITY_MAX + 1 - complexity) * COMPLEXITY_WEIGHT,
        },
        Part { value: Some(fan_out), points: fan_out.saturating_mul(FAN_OUT_WEIGHT) },
        Part { value: Some(failures), points: -failures * FAILURE_WEIGHT },
        Part { value: minutes, points: minutes.map_or(IDLE_MAX, |m| m.min(IDLE_MAX)) },
    ];
    Score {
        total: parts.iter().fold(0i64, |sum, part| sum.saturating_add(part.points)),
        priority: parts[0],
        complexity: parts[1],
        fan_out: parts[2],
        failed_attempts: parts[3],
        idle: parts[4],
    }
}

/// Whole minutes from the RFC 3339 time `at` to `now`: 0 when `at` is later or unreadable
/// (the task files refuse unreadable times).
fn idle_minutes(at: &str, now: SystemTime) -> i64 {
    humantime::parse_rfc3339_weak(at)
        .ok()
        .and_then(|at| now.duration_since(at).ok())
        .map_or(0, |idle| i64::try_from(idle.as_secs() / 60).unwrap_or(i64::MAX))
}

/// A ready task with its place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked<'a> {
    /// The task.
    pub task: &'a Task,
    /// Its position in the file (0-based), which breaks ties.
    pub index: usize,
    /// Its score.
    pub score: Score,
}

impl Ranked<'_> {
    /// The key the queue is sorted by, smallest first: an interrupted task first, then the
    /// highest score, then file order.
    fn key(&self) -> (bool, std::cmp::Reverse<i64>, usize) {
        (self.task.status != TaskStatus::InProgress, std::cmp::Reverse(self.score.total), self.index)
    }
}

/// How many tasks not yet `done` depend directly on each task id.
pub fn fan_outs(tasks: &[Task]) -> HashMap<&str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for task in tasks.iter().filter(|t| t.status != TaskStatus::Done) {
        let mut seen: Vec<&str> = Vec::new();
        for dependency in &task.depends_on {
            if !seen.contains(&dependency.as_str()) {
                seen.push(dependency);
                *counts.entry(dependency.as_str()).or_default() += 1;
            }
        }
    }
    counts
}

/// The ready tasks, in the order they run: an interrupted (`in_progress`) one first, then by
/// score, highest first, then by file order.
pub fn queue<'a>(tasks: &'a [Task], milestones: &'a [Milestone], now: SystemTime) -> Vec<Ranked<'a>> {
    let waits = Waits::new(tasks, milestones);
    let fan_outs = fan_outs(tasks);
    let mut ranked: Vec<Ranked<'a>> = tasks
        .iter()
        .enumerate()
        .filter(|(_, task)| task.status.is_open() && waits.is_clear(task))
        .map(|(index, task)| Ranked {
            task,
            index,
            score: score(task, fan_outs.get(task.id.as_str()).copied().unwrap_or(0), now),
        })
        .collect();
    ranked.sort_by_key(Ranked::key);
    ranked
}

#[cfg(test)]
mod tests;
