//! When the runner notifies: the run's start and end, an iteration's end, a step waiting for
//! review (with its reminders), the circuit breaker opening and closing, a budget stop and a
//! provider's usage limit, turned into the events of the `notifications:` section
//! ([`super::notify`] delivers them); and every delivery attempt journaled as it comes back.

use super::core::event::{Event, RunStatus};
use super::notify::{Attempt, Happening, Reminder, Report};
use super::runner::Runner;

impl Runner {
    /// What every message of this run carries.
    fn happening(&self, text: &str, step: Option<&str>, status: Option<RunStatus>) -> Happening {
        Happening {
            run_id: self.state.run_id.clone(),
            workflow: self.options.workflow.clone(),
            text: format!("ralph-loop: {text}"),
            step: step.map(str::to_owned),
            status: status.map(|s| s.as_str().to_owned()),
            reminder: 0,
            review_url: None,
        }
    }

    /// Sends a run-wide event (`on_start`, `on_complete`, …) with `text`.
    pub(super) fn notify_run(&mut self, event: &str, text: &str, status: Option<RunStatus>) {
        if !self.notifier.wants(event) {
            return;
        }
        let happening = self.happening(text, None, status);
        self.notifier.notify(event, &happening);
    }

    /// The run's end: `on_complete` when it succeeded, `on_failure` when it failed. A stopped
    /// run (`stop`, a signal) was ended by a person, who needs no message about it.
    pub(super) fn notify_end(&mut self, status: RunStatus, reason: &str) {
        let id = self.state.run_id.clone();
        let workflow = self.options.workflow.clone();
        match status {
            RunStatus::Succeeded => {
                self.notify_run(
                    "on_complete",
                    &format!("run `{id}` of `{workflow}` completed: {reason}"),
                    Some(status),
                );
            }
            RunStatus::Failed => {
                self.notify_run(
                    "on_failure",
                    &format!("run `{id}` of `{workflow}` failed: {reason}"),
                    Some(status),
                );
            }
            RunStatus::Stopped | RunStatus::Running => {}
        }
    }

    /// A step waits for a person (a human state, `escalate_to_human`): `on_human_review_needed`
    /// and the state's own `notification:`, with the commands that decide it and, when the loop
    /// serves a dashboard, the form's address. Returns the
    /// reminders to send while it waits.
    pub(super) fn notify_review(&mut self, step: &str) -> Option<Reminder> {
        if self.performer.is_script() {
            return None;
        }
        let id = self.state.run_id.clone();
        let mut happening = self.happening(
            &format!(
                "`{step}` of run `{id}` is waiting for review: `ralph-loop approve {id}` or `ralph-loop reject {id}`{}",
                super::notify::review_link(self.review_url.as_deref())
            ),
            Some(step),
            None,
        );
        happening.review_url = self.review_url.clone();
        self.notifier.review(step, &happening)
    }

    /// The loop's circuit breaker opened or closed: `on_circuit_open`, `on_circuit_close`.
    pub(super) fn notify_breaker(&mut self, state: &str, reason: Option<&str>) {
        let event = match state {
            "open" => "on_circuit_open",
            "closed" => "on_circuit_close",
            _ => return,
        };
        let id = self.state.run_id.clone();
        let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
        self.notify_run(event, &format!("the circuit breaker of run `{id}` is {state}{why}"), None);
    }

    /// A budget stops the run: `on_budget_exceeded`.
    pub(super) fn notify_budget(&mut self, reason: &str) {
        let id = self.state.run_id.clone();
        self.notify_run(
            "on_budget_exceeded",
            &format!("run `{id}` stops: {reason}"),
            Some(RunStatus::Stopped),
        );
    }

    /// A provider's usage limit: the loop waits `seconds` before `step` (`on_usage_limit`).
    pub(super) fn notify_usage_limit(&mut self, step: &str, seconds: u64, reason: &str) {
        if !self.notifier.wants("on_usage_limit") {
            return;
        }
        let id = self.state.run_id.clone();
        let wait = humantime::format_duration(std::time::Duration::from_secs(seconds));
        let happening = self.happening(
            &format!(
                "run `{id}` reached a usage limit at `{step}` and waits {wait} before trying again: {reason}"
            ),
            Some(step),
            None,
        );
        self.notifier.notify("on_usage_limit", &happening);
    }

    /// An iteration ended: `on_iteration`.
    pub(super) fn notify_iteration(&mut self, iteration: u32, status: RunStatus, reason: &str) {
        if !self.notifier.wants("on_iteration") {
            return;
        }
        let id = self.state.run_id.clone();
        let happening = self.happening(
            &format!("iteration {iteration} of run `{id}` {}: {reason}", status.as_str()),
            None,
            Some(status),
        );
        self.notifier.notify("on_iteration", &happening);
    }

    /// A send reported back: an attempt is journaled (masked, like every event).
    pub(super) fn on_notification(&mut self, report: Report) {
        if let Some(attempt) = self.notifier.take(report) {
            self.journal_attempt(attempt);
        }
    }

    /// Takes the reports that came back, without waiting for any.
    pub(super) fn drain_notifications(&mut self) {
        while let Ok(report) = self.notifier.reports.try_recv() {
            self.on_notification(report);
        }
    }

    fn journal_attempt(&mut self, attempt: Attempt) {
        let at = self.now();
        self.emit(&Event::Notification {
            notification: attempt.event,
            channel: attempt.channel,
            attempt: attempt.attempt,
            attempts: attempt.attempts,
            delivered: attempt.delivered,
            detail: attempt.detail,
            at,
        });
    }

    /// The run ends: the sends in flight are waited for (briefly), their attempts journaled,
    /// and each channel that stayed down is one warning.
    pub(super) async fn notifications_finished(&mut self) {
        let (attempts, warnings) = self.notifier.finish().await;
        for attempt in attempts {
            self.journal_attempt(attempt);
        }
        for warning in warnings {
            self.warn(warning);
        }
    }
}
