//! When the runner notifies: the run's start and end and a step waiting for review, turned into
//! the events of the `notifications:` section ([`super::notify`] delivers them).

use super::core::event::RunStatus;
use super::notify::Happening;
use super::runner::Runner;

impl Runner {
    /// Sends a run-wide event (`on_start`, `on_complete`, `on_failure`) with `text`.
    pub(super) fn notify_run(&mut self, event: &str, text: &str, status: Option<RunStatus>) {
        if !self.notifier.wants(event) {
            return;
        }
        let happening = Happening {
            run_id: self.state.run_id.clone(),
            workflow: self.options.workflow.clone(),
            text: format!("ralph-loop: {text}"),
            step: None,
            status: status.map(|s| s.as_str().to_owned()),
        };
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

    /// A step waits for a person: `on_human_review_needed`, with the commands that decide it.
    pub(super) fn notify_review(&mut self, step: &str) {
        if !self.notifier.wants("on_human_review_needed") {
            return;
        }
        let id = self.state.run_id.clone();
        let happening = Happening {
            run_id: id.clone(),
            workflow: self.options.workflow.clone(),
            text: format!(
                "ralph-loop: `{step}` of run `{id}` is waiting for review: `ralph-loop approve {id}` or `ralph-loop reject {id}`"
            ),
            step: Some(step.to_owned()),
            status: None,
        };
        self.notifier.notify("on_human_review_needed", &happening);
    }
}
