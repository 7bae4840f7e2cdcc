//! The scheduler's worked examples, one where each factor decides the order, and its
//! properties over generated task lists.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::task::{TaskFile, TaskSource};

/// Noon on 2026-01-01: the examples' "now".
fn now() -> SystemTime {
    humantime::parse_rfc3339("2026-01-01T12:00:00Z").unwrap()
}

/// The queue of a `tasks.json` text at noon, as `(id, total)`.
fn ranked(text: &str) -> Vec<(String, i64)> {
    let file = TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap();
    file.queue(now()).iter().map(|r| (r.task.id.clone(), r.score.total)).collect()
}

/// A worked example: the factor it shows, a `tasks.json`, and the queue as `(id, total)`.
type Example = (&'static str, &'static str, &'static [(&'static str, i64)]);

/// Worked examples: a task list, and the queue with each total worked out by hand. In each,
/// one factor alone puts the tasks in an order that file order (and every other factor) does
/// not.
#[test]
fn each_factor_decides_the_order_in_a_worked_example() {
    let cases: &[Example] = &[
        (
            "priority",
            // b: 0×10 + (6−1)×2 + 0 − 0 + 60 = 70; a: 1×10 + (6−5)×2 + 60 = 72. The simpler, earlier
            // task loses to one priority step.
            r#"[{"id": "b", "title": "B", "complexity": 1},
                {"id": "a", "title": "A", "priority": 1, "complexity": 5}]"#,
            &[("a", 72), ("b", 70)],
        ),
        (
            "complexity",
            // a: (6−4)×2 + 60 = 64; b: (6−2)×2 + 60 = 68.
            r#"[{"id": "a", "title": "A", "complexity": 4},
                {"id": "b", "title": "B", "complexity": 2}]"#,
            &[("b", 68), ("a", 64)],
        ),
        (
            "fan-out",
            // a: (6−3)×2 + 60 = 66 (no complexity: 3); b: 66 + 1×5 = 71, as c waits on it; c is
            // not ready; d is done and depends on a, which does not count.
            r#"[{"id": "a", "title": "A"},
                {"id": "b", "title": "B"},
                {"id": "c", "title": "C", "depends_on": ["b"]},
                {"id": "d", "title": "D", "depends_on": ["a"], "status": "done"}]"#,
            &[("b", 71), ("a", 66)],
        ),
        (
            "failed attempts",
            // a: 6 − 1×3 + 60 (two hours idle: the cap) = 63; b: 6 + 60 (never attempted) = 66.
            r#"[{"id": "a", "title": "A", "failed_attempts": 1, "last_attempt_at": "2026-01-01T10:00:00Z"},
                {"id": "b", "title": "B"}]"#,
            &[("b", 66), ("a", 63)],
        ),
        (
            "idle time",
            // a: 6 + 10 (ten minutes) = 16; b: 6 + 45 = 51; c: 6 + 60 (never attempted) = 66.
            r#"[{"id": "a", "title": "A", "last_attempt_at": "2026-01-01T11:50:00Z"},
                {"id": "b", "title": "B", "last_attempt_at": "2026-01-01T11:15:00Z"},
                {"id": "c", "title": "C"}]"#,
            &[("c", 66), ("b", 51), ("a", 16)],
        ),
        (
            "file order",
            // b: 0 + 6 + 2×5 + 60 = 76; a: 1×10 + 6 + 60 = 76. Equal: b is first in the file.
            r#"[{"id": "b", "title": "B"},
                {"id": "a", "title": "A", "priority": 1},
                {"id": "x", "title": "X", "depends_on": ["b"]},
                {"id": "y", "title": "Y", "depends_on": ["b"]}]"#,
            &[("b", 76), ("a", 76)],
        ),
    ];
    for (factor, text, expected) in cases {
        let expected: Vec<(String, i64)> =
            expected.iter().map(|(id, total)| ((*id).to_owned(), *total)).collect();
        assert_eq!(ranked(text), expected, "the example where {factor} decides");
    }
}

#[test]
fn the_parts_say_what_they_were_computed_from() {
    let text = r#"[{"id": "a", "title": "A", "priority": 2, "complexity": 1, "failed_attempts": 2,
                    "last_attempt_at": "2026-01-01T11:30:30Z"},
                   {"id": "b", "title": "B", "depends_on": ["a"]}]"#;
    let file = TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap();
    let queue = file.queue(now());
    assert_eq!(queue.len(), 1);
    let score = queue[0].score;
    let part = |value: i64, points: i64| Part { value: Some(value), points };
    assert_eq!(score.priority, part(2, 20));
    assert_eq!(score.complexity, part(1, 10));
    assert_eq!(score.fan_out, part(1, 5));
    assert_eq!(score.failed_attempts, part(2, -6));
    // 29½ minutes: whole minutes count.
    assert_eq!(score.idle, part(29, 29));
    assert_eq!(score.total, 20 + 10 + 5 - 6 + 29);
}

#[test]
fn idle_time_is_capped_and_a_future_attempt_counts_as_none() {
    let task = |at: Option<&str>| Task {
        last_attempt_at: at.map(str::to_owned),
        ..TaskFile::parse("t.json", TaskSource::Json, r#"[{"id": "a", "title": "A"}]"#).unwrap().tasks()[0]
            .clone()
    };
    let idle = |at| score(&task(at), 0, now()).idle;
    assert_eq!(idle(None), Part { value: None, points: 60 });
    assert_eq!(idle(Some("2026-01-01T11:59:59Z")), Part { value: Some(0), points: 0 });
    assert_eq!(idle(Some("2026-01-01T11:01:00Z")), Part { value: Some(59), points: 59 });
    assert_eq!(idle(Some("2025-12-01T00:00:00Z")).points, 60);
    assert_eq!(idle(Some("2026-01-01T13:00:00Z")), Part { value: Some(0), points: 0 });
}

#[test]
fn an_interrupted_task_is_taken_up_before_any_score() {
    let text = r#"[{"id": "a", "title": "A", "priority": 9},
                   {"id": "b", "title": "B", "status": "in_progress", "priority": -5}]"#;
    assert_eq!(ranked(text)[0].0, "b");
}

#[test]
fn complexity_outside_one_to_five_is_refused() {
    for bad in ["0", "6", "2.5", "\"easy\""] {
        let text = format!(r#"[{{"id": "a", "title": "A", "complexity": {bad}}}]"#);
        let error = TaskFile::parse("tasks.json", TaskSource::Json, &text).unwrap_err().to_string();
        assert!(
            error.contains("`complexity` must be an integer from 1 (trivial) to 5 (hard)"),
            "{bad}: {error}"
        );
    }
    let text = r#"[{"id": "a", "title": "A", "last_attempt_at": "yesterday"}]"#;
    let error = TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap_err().to_string();
    assert!(error.contains("`last_attempt_at` must be an RFC 3339 time"), "{error}");
}

/// One generated task: status, priority, complexity, failures, minutes since the last attempt,
/// and dependencies on earlier tasks (by offset back), so the list has no cycle.
type Gen = (TaskStatus, Option<i64>, Option<u8>, u32, Option<u64>, Vec<usize>);

fn gen_tasks() -> impl Strategy<Value = Vec<Gen>> {
    let status = prop::sample::select(TaskStatus::ALL.to_vec());
    let one = (
        status,
        prop::option::of(-3i64..4),
        prop::option::of(1u8..=5),
        0u32..4,
        prop::option::of(0u64..200),
        prop::collection::vec(1usize..6, 0..3),
    );
    prop::collection::vec(one, 0..24)
}

fn build(generated: &[Gen]) -> Vec<Task> {
    let base = TaskFile::parse("t.json", TaskSource::Json, r#"[{"id": "x", "title": "X"}]"#).unwrap().tasks()
        [0]
    .clone();
    generated
        .iter()
        .enumerate()
        .map(|(i, (status, priority, complexity, failures, minutes, back))| {
            let mut depends_on: Vec<String> =
                back.iter().filter(|&&b| b <= i).map(|b| format!("t{}", i - b)).collect();
            depends_on.dedup();
            Task {
                id: format!("t{i}"),
                status: *status,
                priority: *priority,
                complexity: *complexity,
                failed_attempts: *failures,
                last_attempt_at: minutes.map(|m| crate::clock::rfc3339(now() - Duration::from_secs(m * 60))),
                depends_on,
                line: u32::try_from(i + 1).unwrap(),
                ..base.clone()
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn only_ready_tasks_are_ranked_in_a_total_order_of_their_scores(generated in gen_tasks()) {
        let tasks = build(&generated);
        let queue = queue(&tasks, &[], now());
        let done = |id: &String| tasks.iter().any(|t| &t.id == id && t.status == TaskStatus::Done);
        let ready: Vec<&str> = tasks
            .iter()
            .filter(|t| t.status.is_open() && t.depends_on.iter().all(done))
            .map(|t| t.id.as_str())
            .collect();
        let mut ranked: Vec<&str> = queue.iter().map(|r| r.task.id.as_str()).collect();
        ranked.sort_unstable();
        let mut expected = ready.clone();
        expected.sort_unstable();
        prop_assert_eq!(ranked, expected);
        for r in &queue {
            // The total is the formula, worked out again here.
            let t = r.task;
            let dependents = tasks
                .iter()
                .filter(|d| d.status != TaskStatus::Done && d.depends_on.contains(&t.id))
                .count();
            let minutes = generated[r.index].4;
            let expected = t.priority.unwrap_or(0) * 10
                + (6 - i64::from(t.complexity.unwrap_or(3))) * 2
                + i64::try_from(dependents).unwrap() * 5
                - i64::from(t.failed_attempts) * 3
                + minutes.map_or(60, |m| i64::try_from(m.min(60)).unwrap());
            prop_assert_eq!(r.score.total, expected);
            prop_assert_eq!(
                r.score.total,
                r.score.priority.points + r.score.complexity.points + r.score.fan_out.points
                    + r.score.failed_attempts.points + r.score.idle.points
            );
        }
        for pair in queue.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let a_resumed = a.task.status == TaskStatus::InProgress;
            let b_resumed = b.task.status == TaskStatus::InProgress;
            // In progress first; then higher score; then file order; never two at one place.
            prop_assert!(
                (a_resumed && !b_resumed)
                    || (a_resumed == b_resumed
                        && (a.score.total > b.score.total || (a.score.total == b.score.total && a.index < b.index)))
            );
        }
    }
}
