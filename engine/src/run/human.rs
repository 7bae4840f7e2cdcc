//! Human review: a human state (or `escalate_to_human`) waits for `ralph-loop approve` or
//! `reject`, reminding the reviewer every `reminder_interval` (through the notification
//! channels, see [`super::notify::Reminder`]), until its `timeout`.
//!
//! A decision reaches the waiting step only from the runner, which takes it from the control
//! socket (where the sender is known by its OS user, and refused when it is an agent), journals
//! it, and lays it on the run's [`Desk`]. Nothing is read from files: an agent runs as the user
//! in the work tree and could write any file the engine would read.
//!
//! The `waiting` file in the run's directory only tells other processes (`status`) which step
//! waits; nothing reads a decision from it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::action;

/// The file in the run's `inbox/` that names the step waiting for review, while one waits.
pub const WAITING: &str = "waiting";

/// A decision on a review, as the runner lays it on the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `approved`, `approved_with_changes` or `rejected`.
    pub decision: String,
    /// The reviewer's comment.
    pub comment: Option<String>,
    /// The OS user who decided (the control socket's peer).
    pub by: String,
    /// The name they gave beside it (`--as NAME`).
    pub display_name: Option<String>,
}

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// A person decided.
    Decided(Decision),
    /// Nobody decided in time.
    TimedOut,
}

/// Where the runner lays decisions for the steps waiting for review, by step. A decision is
/// laid only for a review the run's state says is waiting; one left from an earlier review of
/// the same step is cleared when the next review opens.
#[derive(Debug, Clone, Default)]
pub struct Desk {
    decisions: Arc<Mutex<HashMap<String, Decision>>>,
    laid: Arc<Notify>,
}

impl Desk {
    /// A review of `step` opens: nothing decided before counts for it.
    pub fn open(&self, step: &str) {
        self.lock().remove(step);
    }

    /// Lays a decision for the review of `step`.
    pub fn lay(&self, step: &str, decision: Decision) {
        self.lock().insert(step.to_owned(), decision);
        self.laid.notify_waiters();
    }

    fn take(&self, step: &str) -> Option<Decision> {
        self.lock().remove(step)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Decision>> {
        // A panic while holding the map leaves a map, still usable.
        self.decisions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until a decision on `step` is laid, and takes it.
    async fn decision(&self, step: &str) -> Decision {
        loop {
            let laid = self.laid.notified();
            tokio::pin!(laid);
            // Registered before the look, so a decision laid in between still wakes it.
            laid.as_mut().enable();
            if let Some(decision) = self.take(step) {
                return decision;
            }
            laid.await;
        }
    }
}

/// The decision a signal carries (`approve`, with or without changes, or `reject`).
pub fn decision_name(signal: &crate::control::Signal) -> Option<&'static str> {
    match signal {
        crate::control::Signal::Approve { with_changes: true, .. } => Some("approved_with_changes"),
        crate::control::Signal::Approve { .. } => Some("approved"),
        crate::control::Signal::Reject { .. } => Some("rejected"),
        _ => None,
    }
}

fn marker(run_dir: &Path) -> std::path::PathBuf {
    run_dir.join("inbox").join(WAITING)
}

/// Marks the run as waiting for a review of `step`, for `status` to show. The runner marks
/// before it announces the review.
pub fn mark_waiting(run_dir: &Path, step: &str) {
    let marker = marker(run_dir);
    if let Some(dir) = marker.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(marker, step);
}

/// The step of the run kept in `run_dir` that waits for review, if any (for people only).
pub fn waiting(run_dir: &Path) -> Option<String> {
    std::fs::read_to_string(marker(run_dir)).ok()
}

/// Every how long to remind the reviewer, and the message to send then (none: only the line in
/// `notifications.log`).
pub type Reminders = (Duration, Option<super::notify::Reminder>);

/// Waits for a decision on `step`, laid on `desk`.
pub async fn wait(
    desk: &Desk,
    run_dir: &Path,
    step: &str,
    timeout: Option<Duration>,
    reminders: Option<Reminders>,
) -> Review {
    let started = tokio::time::Instant::now();
    mark_waiting(run_dir, step);
    let review = wait_for_decision(desk, run_dir, step, started, timeout, reminders).await;
    let _ = std::fs::remove_file(marker(run_dir));
    review
}

async fn wait_for_decision(
    desk: &Desk,
    run_dir: &Path,
    step: &str,
    started: tokio::time::Instant,
    timeout: Option<Duration>,
    reminders: Option<Reminders>,
) -> Review {
    let deadline = timeout.map(|t| started + t);
    let (reminder_every, remind) = match reminders {
        Some((every, remind)) => (Some(every), remind),
        None => (None, None),
    };
    let mut next_reminder = reminder_every.map(|every| started + every);
    let mut sent = 0;
    let decision = desk.decision(step);
    tokio::pin!(decision);
    loop {
        // The next moment something is due: the timeout or a reminder, whichever is first.
        let due = match (deadline, next_reminder) {
            (Some(d), Some(r)) => Some(d.min(r)),
            (d, r) => d.or(r),
        };
        let wake = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            decided = &mut decision => return Review::Decided(decided),
            () = wake => {}
        }
        let now = tokio::time::Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Review::TimedOut;
        }
        if let (Some(at), Some(every)) = (next_reminder, reminder_every) {
            if now >= at {
                let _ = action::record_notification(
                    run_dir,
                    step,
                    &format!("reminder: `{step}` is waiting for review (ralph-loop approve | reject)"),
                );
                sent += 1;
                if let Some(remind) = &remind {
                    remind.remind(sent, now - started);
                }
                next_reminder = Some(at + every);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approved() -> Decision {
        Decision {
            decision: "approved_with_changes".into(),
            comment: Some("looks good".into()),
            by: "ana".into(),
            display_name: Some("Ana".into()),
        }
    }

    #[tokio::test]
    async fn a_review_ends_with_the_decision_laid_for_it_or_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk::default();
        desk.lay("review", approved());
        let review = wait(&desk, dir.path(), "review", None, None).await;
        assert_eq!(review, Review::Decided(approved()));
        // A decision on another step, or one laid before the review opened, does not count.
        desk.lay("other", approved());
        desk.lay("review", approved());
        desk.open("review");
        let review = wait(
            &desk,
            dir.path(),
            "review",
            Some(Duration::from_millis(500)),
            Some((Duration::from_millis(150), None)),
        )
        .await;
        assert_eq!(review, Review::TimedOut);
        let log = std::fs::read_to_string(dir.path().join("notifications.log")).unwrap();
        assert!(log.contains("reminder: `review`"), "{log}");
        assert!(waiting(dir.path()).is_none(), "the mark goes when the review ends");
    }

    #[tokio::test]
    async fn a_decision_laid_while_the_review_waits_wakes_it() {
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk::default();
        let waiter = {
            let (desk, dir) = (desk.clone(), dir.path().to_owned());
            tokio::spawn(async move { wait(&desk, &dir, "review", None, None).await })
        };
        while waiting(dir.path()).is_none() {
            tokio::task::yield_now().await;
        }
        desk.lay("review", approved());
        assert_eq!(waiter.await.unwrap(), Review::Decided(approved()));
    }
}
