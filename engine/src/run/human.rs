//! Human review: a human state (or `escalate_to_human`) waits for `ralph-loop approve` or
//! `reject`, reminding the reviewer every `reminder_interval`, until its `timeout`.
//!
//! The decision arrives through the run's control inbox ([`super::inbox`]); the wait polls it
//! every [`POLL`], which costs one directory read and keeps the mechanism a plain file drop that
//! works from any shell.

use std::path::Path;
use std::time::Duration;

use super::action;
use super::inbox;

/// The file in the inbox that names the step waiting for review, while one waits.
pub const WAITING: &str = "waiting";

/// How often the inbox is read while waiting.
pub const POLL: Duration = Duration::from_millis(200);

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// A person decided: `approved`, `approved_with_changes` or `rejected`.
    Decided {
        /// The decision.
        decision: String,
        /// Their comment.
        comment: Option<String>,
        /// Who.
        by: Option<String>,
    },
    /// Nobody decided in time.
    TimedOut,
}

/// The decision a message carries, if it is one.
pub fn decision(message: &inbox::Message) -> Option<&'static str> {
    match message.signal.as_str() {
        "approve" if message.with_changes => Some("approved_with_changes"),
        "approve" => Some("approved"),
        "reject" => Some("rejected"),
        _ => None,
    }
}

/// Marks the run as waiting for a review of `step`: `approve` and `reject` find the runs that
/// wait by this file. The runner marks before it announces the review, so whoever reacts to
/// the announcement finds the mark.
pub fn mark_waiting(run_dir: &Path, step: &str) {
    let _ = std::fs::create_dir_all(inbox::dir(run_dir));
    let _ = std::fs::write(inbox::dir(run_dir).join(WAITING), step);
}

/// The step of the run kept in `run_dir` that waits for review, if any.
pub fn waiting(run_dir: &Path) -> Option<String> {
    std::fs::read_to_string(inbox::dir(run_dir).join(WAITING)).ok()
}

/// Waits for a decision on `step`.
pub async fn wait(
    run_dir: &Path,
    step: &str,
    timeout: Option<Duration>,
    reminder_every: Option<Duration>,
) -> Review {
    let started = tokio::time::Instant::now();
    mark_waiting(run_dir, step);
    let marker = inbox::dir(run_dir).join(WAITING);
    let review = wait_for_decision(run_dir, step, started, timeout, reminder_every).await;
    let _ = std::fs::remove_file(&marker);
    review
}

async fn wait_for_decision(
    run_dir: &Path,
    step: &str,
    started: tokio::time::Instant,
    timeout: Option<Duration>,
    reminder_every: Option<Duration>,
) -> Review {
    let mut next_reminder = reminder_every.map(|every| started + every);
    loop {
        while let Some(message) = inbox::take(run_dir) {
            if let Some(decision) = decision(&message) {
                return Review::Decided {
                    decision: decision.to_owned(),
                    comment: message.comment,
                    by: message.by,
                };
            }
        }
        let now = tokio::time::Instant::now();
        if timeout.is_some_and(|t| now >= started + t) {
            return Review::TimedOut;
        }
        if let (Some(at), Some(every)) = (next_reminder, reminder_every) {
            if now >= at {
                let _ = action::record_notification(
                    run_dir,
                    step,
                    &format!("reminder: `{step}` is waiting for review (ralph-loop approve | reject)"),
                );
                next_reminder = Some(at + every);
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(signal: &str, with_changes: bool) -> inbox::Message {
        inbox::Message {
            signal: signal.into(),
            comment: Some("looks good".into()),
            with_changes,
            by: Some("ana".into()),
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn a_review_ends_with_the_first_decision_or_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        inbox::send(dir.path(), &message("approve", true)).unwrap();
        let review = wait(dir.path(), "review", None, None).await;
        assert_eq!(
            review,
            Review::Decided {
                decision: "approved_with_changes".into(),
                comment: Some("looks good".into()),
                by: Some("ana".into())
            }
        );
        let review =
            wait(dir.path(), "review", Some(Duration::from_millis(500)), Some(Duration::from_millis(150)))
                .await;
        assert_eq!(review, Review::TimedOut);
        let log = std::fs::read_to_string(dir.path().join("notifications.log")).unwrap();
        assert!(log.contains("reminder: `review`"), "{log}");
    }
}
