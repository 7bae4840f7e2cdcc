//! Evaluator tasks: a task whose role is `evaluator` reviews the work of the tasks it depends
//! on — its packet lists them (`context.review_of`: title, status, files, commit, summary) —
//! and may send one back through its result file (`"send_back": [{"task", "review"}]`).
//!
//! A task sent back is marked `pending` again and its review goes into its next packet
//! (`context.reviews`, and the prompt); the evaluator task is reopened too (it depends on the
//! task, so it runs again once the task is done again, on the new work). Both are taken up in
//! the same run. A task is sent back at most `roles.evaluator.max_send_backs` times in a run
//! (default 2): after that a review is kept as a warning and the task stays done, so two agents
//! that never agree cannot loop until the budget runs out.

use ralph_plugin_sdk::{ReviewedTask, SendBack, SteeringPacket};

use super::core::event::{Event, Mark, TaskRef};
use super::runner::Runner;
use super::task_loop::TaskLoop;
use crate::task::TaskStatus;
use crate::workflow::model::EVALUATOR_ROLE;

/// How many times one task may be sent back in a run when the configuration does not say.
pub const DEFAULT_MAX_SEND_BACKS: u32 = 2;

impl Runner {
    /// Whether the latest pass's task is an evaluator task.
    fn evaluating(&self) -> bool {
        self.state.pass().and_then(|p| p.detail.as_ref()).and_then(|t| t.role.as_deref())
            == Some(EVALUATOR_ROLE)
    }

    /// An evaluator's packet: the work of the tasks its task depends on.
    pub(super) fn add_review_of(&self, packet: &mut SteeringPacket) {
        if !self.evaluating() {
            return;
        }
        let Some(task) = self.state.pass().and_then(|p| p.detail.as_ref()) else { return };
        packet.context.review_of = task
            .depends_on
            .iter()
            .map(|id| {
                self.state.task_work.get(id).cloned().unwrap_or_else(|| ReviewedTask {
                    id: id.clone(),
                    status: "done before this run".into(),
                    ..ReviewedTask::default()
                })
            })
            .collect();
    }

    /// After a successful evaluator pass: sends back what its steps asked to, and says whether
    /// the evaluator task itself was reopened (then it is not marked done).
    pub(super) fn send_back(&mut self, tasks: &mut TaskLoop, evaluator: &TaskRef) -> bool {
        if !self.evaluating() {
            return false;
        }
        let Some(pass) = self.state.pass() else { return false };
        let asked: Vec<SendBack> = pass
            .steps
            .values()
            .filter_map(|s| s.outcome.as_ref())
            .flat_map(|o| o.send_back.iter().cloned())
            .collect();
        let depends_on = pass.detail.as_ref().map(|t| t.depends_on.clone()).unwrap_or_default();
        let max = self.routing.rules.max_send_backs;
        let iteration = self.state.iteration;
        let mut reopened = false;
        for back in asked {
            let id = back.task.trim().to_owned();
            if !depends_on.contains(&id) {
                self.warn(format!(
                    "evaluator task {} sent back `{id}`, which it does not depend on; only the tasks it reviews ({}) can be sent back",
                    evaluator.id,
                    if depends_on.is_empty() { "none".to_owned() } else { depends_on.join(", ") }
                ));
                continue;
            }
            let times = self.state.reviews.get(&id).map_or(0, Vec::len);
            if u32::try_from(times).unwrap_or(u32::MAX) >= max {
                self.warn(format!(
                    "evaluator task {} sent `{id}` back again, after {times} time(s) in this run (the most `roles.evaluator.max_send_backs` allows); it stays done — the review: {}",
                    evaluator.id, back.review
                ));
                continue;
            }
            let title = tasks.file.task(&id).map(|t| t.title.clone()).unwrap_or_default();
            if let Err(e) = tasks.file.mark(&id, TaskStatus::Pending, None) {
                self.warn(format!("task `{id}` could not be sent back: {e}"));
                continue;
            }
            let review =
                if back.review.trim().is_empty() { "(no review given)".to_owned() } else { back.review };
            self.emit(&Event::TaskSentBack {
                task: TaskRef { id, title },
                by: evaluator.id.clone(),
                review,
                iteration,
            });
            reopened = true;
        }
        // Reopened only when the file says so: else it is marked done as usual.
        let reopened = reopened && tasks.file.mark(&evaluator.id, TaskStatus::Pending, None).is_ok();
        if reopened {
            self.emit(&Event::TaskMarked { task: evaluator.clone(), status: Mark::Reopened, iteration });
        }
        reopened
    }
}
