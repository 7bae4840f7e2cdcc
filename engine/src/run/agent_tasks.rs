//! Tasks agents add while the loop runs: through a step's result file (`"tasks": [...]`) or
//! `ralph-loop task add` sent over the control channel (from inside a step or by a person).
//!
//! The loop is the one writer of its task file while it runs, so an add from anywhere is
//! checked against the file as it is now and written by the same process that marks tasks.
//! A refused add changes nothing and stops nothing: it is journaled (`task_refused`) and its
//! reason goes into the next agent's packet (`context.task_refusals`), where the agent that
//! tried can read why. Every added task is journaled (`task_added`) with the step that added it.

use ralph_plugin_sdk::NewTask;

use super::core::event::{Event, TaskRef};
use super::core::outcome::Outcome;
use super::runner::Runner;
use crate::task::TaskFile;
use crate::task::add;

/// The most tasks one step may add through its result file; the rest are refused, so a
/// runaway ideas agent cannot flood the file in one step.
pub const MAX_ADDED_PER_STEP: usize = 50;

/// How a refused task is named: its id, else its title.
fn label(task: &NewTask) -> String {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let mut label = text(&task.id).or_else(|| text(&task.title)).or_else(|| text(&task.description));
    if let Some(l) = &mut label {
        super::core::bounded::cap_text(l, 200);
    }
    label.unwrap_or_else(|| "(a task without id or title)".into())
}

impl Runner {
    /// Adds `task` to the run's task file and journals it; `Err` is the reason it was refused
    /// (journaled too, for the next packet). `step` is the step that added it, `by` who sent
    /// it over the control channel.
    pub(super) fn add_task(
        &mut self,
        task: &NewTask,
        step: Option<&str>,
        by: Option<&str>,
    ) -> Result<String, String> {
        let iteration = self.state.iteration;
        let added = match self.options.record.tasks.clone() {
            None => Err("this run has no task file to add tasks to".to_owned()),
            Some(path) => TaskFile::open(&path)
                .and_then(|mut file| {
                    let id = file.add(task)?;
                    let title = file.task(&id).map(|t| t.title.clone()).unwrap_or_default();
                    Ok(TaskRef { id, title })
                })
                .map_err(|e| add::reason(&e)),
        };
        let at = self.now();
        let (step, by) = (step.map(str::to_owned), by.map(str::to_owned));
        match added {
            Ok(task) => {
                let id = task.id.clone();
                self.emit(&Event::TaskAdded { task, step, by, iteration, at });
                Ok(id)
            }
            Err(reason) => {
                self.emit(&Event::TaskRefused {
                    task: label(task),
                    reason: reason.clone(),
                    step,
                    by,
                    iteration,
                    at,
                });
                Err(reason)
            }
        }
    }

    /// After a step: the tasks its result file adds, in order (a script replays the journal's
    /// own `task_added` events instead, and writes nothing).
    pub(super) fn add_step_tasks(&mut self, step: &str, outcome: &Outcome) {
        if outcome.tasks.is_empty() || self.performer.is_script() {
            return;
        }
        for (i, task) in outcome.tasks.iter().enumerate() {
            if i >= MAX_ADDED_PER_STEP {
                let at = self.now();
                let iteration = self.state.iteration;
                self.emit(&Event::TaskRefused {
                    task: label(task),
                    reason: format!("a step may add at most {MAX_ADDED_PER_STEP} tasks at once"),
                    step: Some(step.to_owned()),
                    by: None,
                    iteration,
                    at,
                });
                continue;
            }
            let _ = self.add_task(task, Some(step), None);
        }
    }
}

impl Runner {
    /// After an iteration, before the task file is marked or read again: tasks an agent wrote
    /// into the file by hand that keep it from loading are taken out again (`task::repair`),
    /// each journaled as refused for the next packet, their text kept in the run's
    /// `refused-tasks.jsonl`. `Err` when the file is broken in a way no added task explains.
    pub(super) fn repair_task_file(&mut self, tasks: &mut super::task_loop::TaskLoop) -> Result<(), String> {
        let known: std::collections::HashSet<String> =
            tasks.file.tasks().iter().map(|t| t.id.clone()).collect();
        let removed =
            tasks.file.repair_additions(&known).map_err(|e| format!("the task file cannot be read: {e}"))?;
        if removed.is_empty() {
            return Ok(());
        }
        let kept = self.run_dir.join("refused-tasks.jsonl");
        let lines: String = removed
            .iter()
            .map(|r| format!("{}\n", serde_json::json!({"id": r.id, "reason": r.reason, "text": r.text})))
            .collect();
        let saved = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&kept)
            .and_then(|mut f| std::io::Write::write_all(&mut f, lines.as_bytes()));
        let iteration = self.state.iteration;
        for r in removed {
            let at = self.now();
            self.emit(&Event::TaskRefused {
                task: r.id,
                reason: format!("written into the task file by hand, and taken out again: {}", r.reason),
                // Which of the iteration's steps wrote it cannot be told.
                step: None,
                by: None,
                iteration,
                at,
            });
        }
        match saved {
            Ok(()) => self.warn(format!(
                "tasks written into `{}` by hand that it cannot hold were taken out again; their text is in `{}`",
                tasks.file.path().display(),
                kept.display()
            )),
            Err(e) => self.warn(format!("the refused tasks' text could not be kept in `{}`: {e}", kept.display())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_task_is_named_by_its_id_else_its_title() {
        let with_id = NewTask { id: Some("t-9".into()), title: Some("x".into()), ..NewTask::default() };
        assert_eq!(label(&with_id), "t-9");
        assert_eq!(label(&NewTask { title: Some(" Add login ".into()), ..NewTask::default() }), "Add login");
        assert_eq!(label(&NewTask::default()), "(a task without id or title)");
    }
}
