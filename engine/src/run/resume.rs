//! Resuming a run (`ralph-loop resume`, `replay`, `retry`): its journal is applied, in order, to
//! a fresh state — the same [`RunState::apply`] that applied each event the first time — and
//! the run goes on from that state. There is no second interpreter: the executors decide from
//! the state as they always do, and a state rebuilt from a journal is the state the run had.
//!
//! What the state says about each step (see [`Standing`]):
//! - a step that **ended** is not run again: its recorded outcome stands;
//! - a step that was **running** when the run stopped is journaled `step_interrupted` and runs
//!   again as the same attempt — the crash was the engine's, not the agent's;
//! - a step that failed and was **waiting for its retry** runs its next attempt;
//! - a state machine's hooks that ran in the current visit are not run again.

use super::core::event::Event;
use super::core::ledger::Ledger;
use super::core::outcome::{FailureClass, Outcome};
use super::core::projection::StepStatus;
use super::runner::{RunError, Runner};
use crate::workflow::model::WorkflowKind;

/// The encoded beginnings of the events whose application changes nothing (see
/// `RunState::apply`): a long run's journal is mostly agents' progress signals, and resuming
/// does not decode them at all.
const IGNORED: &[&[u8]] = &[br#"{"event":"signal","#, br#"{"event":"waiting","#];

/// Where a step of the current pass stands, for the executor about to run it.
#[derive(Debug, Clone)]
pub(super) enum Standing {
    /// It has not started in this pass (for a state machine: in this visit).
    New,
    /// It ended with this outcome: use it.
    Done(Box<Outcome>),
    /// It was skipped.
    Skipped,
    /// Run it again, as this attempt: a person interrupted it, or it was cancelled.
    Again(u32),
    /// It was running when the run stopped (a crash): it runs again, as this attempt.
    Cut(u32),
    /// It failed and its retry is due: this attempt, after this delay.
    Retry(u32, std::time::Duration),
}

impl Runner {
    /// A resumed run (its options name its id): applies its journal to the fresh state, and
    /// works out the ledger it goes on with — the ledger file, plus this run's events the file
    /// does not hold yet (a run killed before it wrote them).
    pub(super) fn restore(&mut self, file: Ledger) -> Result<(), RunError> {
        if self.options.record.run_id.is_empty() {
            return Ok(());
        }
        // The file holds this run's events up to its mark; a run made from another's journal
        // (`replay`, `retry`) starts with that run's events, whose spend the file holds too.
        let mut counted = file.counted.get(&self.state.run_id).copied().unwrap_or(0);
        let rules = self.state.rules();
        let mut ledger = file;
        let state = &mut self.state;
        let skip = |bytes: &[u8]| IGNORED.iter().any(|tag| bytes.starts_with(tag));
        let last = self
            .log
            .replay(&skip, |seq, event| {
                let changed = state.changed_by(&event);
                state.apply(&event);
                if matches!(event, Event::Forked { .. }) {
                    counted = counted.max(seq);
                } else if seq > counted {
                    ledger.apply(&event, &rules, changed);
                }
            })
            .map_err(RunError::Journal)?;
        self.state.take_moved();
        self.resuming = Some(last);
        self.ledger_saved = Ledger::default();
        self.resumed_ledger = Some(ledger);
        Ok(())
    }

    /// Ends the agents' process groups a dead loop of run `run` left running: those its
    /// journal names (for the latest pass) and any other process whose environment says it
    /// is the run's. A group is ended only if a living member carries the run's id, so a pid
    /// the system gave to someone else is never touched. What was ended is said.
    pub(super) fn end_orphans(&mut self, run: &str) {
        if self.performer.is_script() {
            return;
        }
        let mut groups: Vec<(i32, Option<String>)> = Vec::new();
        if run == self.state.run_id {
            if let Some(pass) = self.state.pass() {
                groups.extend(pass.agents.iter().map(|(pgid, step)| (*pgid, Some(step.clone()))));
            }
        }
        match crate::agent::orphans::find_groups(run) {
            Ok(found) => {
                for (pgid, step) in found {
                    if !groups.iter().any(|(g, _)| *g == pgid) {
                        groups.push((pgid, step));
                    }
                }
            }
            Err(e) => {
                self.warn(format!("the agents a dead loop may have left running cannot be looked for: {e}"));
            }
        }
        for (pgid, step) in groups {
            let grace = std::time::Duration::from_secs(5);
            let end = || crate::agent::orphans::end_group(pgid, run, step.as_deref(), grace);
            // Nothing runs yet while a dead loop's agents are ended: on the loop's one thread
            // the wait is the loop's; a worker of a pool steps aside for it.
            let ended = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(end),
                _ => end(),
            };
            let what = step.as_deref().map(|s| format!("of step `{s}` ")).unwrap_or_default();
            match ended {
                Ok(crate::agent::orphans::Ended::Terminated | crate::agent::orphans::Ended::Killed) => {
                    self.warn(format!("ended the agent {what}(process group {pgid}) that the dead loop of run {run} left running"));
                }
                Ok(_) => {}
                Err(e) => self.warn(format!(
                    "the agent {what}(process group {pgid}) of run {run} could not be ended: {e}"
                )),
            }
        }
    }

    /// The runs the store says are running while this loop holds it: they crashed.
    pub(super) fn crashed_runs(&self) -> Vec<String> {
        match &self.log {
            super::log::RunLog::Store { store, .. } => store
                .runs()
                .map(|runs| {
                    runs.into_iter()
                        .filter(|r| r.status == "running" && r.run_id != self.state.run_id)
                        .map(|r| r.run_id)
                        .collect()
                })
                .unwrap_or_default(),
            super::log::RunLog::Memory { .. } => Vec::new(),
        }
    }

    /// The steps of the latest pass that were running when the run stopped, with their attempts.
    fn running(&self) -> Vec<(String, u32)> {
        let Some(pass) = self.state.pass().filter(|p| p.ended().is_none()) else { return Vec::new() };
        pass.steps
            .iter()
            .filter(|(_, r)| r.status == StepStatus::Running)
            .map(|(id, r)| (id.clone(), r.attempts))
            .collect()
    }

    /// The names of the steps that were running when the run stopped.
    pub(super) fn running_steps(&self) -> Vec<String> {
        self.running().into_iter().map(|(step, _)| step).collect()
    }

    /// The steps that were running when the run stopped: journaled as interrupted.
    pub(super) fn interrupt_running(&mut self) {
        let iteration = self.state.iteration;
        for (step, attempt) in self.running() {
            self.emit(&Event::StepInterrupted { step, attempt, iteration });
        }
    }

    /// Where step `id` of the current pass stands. In a state machine only the current state's
    /// visit counts, and only once the visit has begun (a transition into a state revisits it).
    pub(super) fn standing(&self, id: &str) -> Standing {
        let Some(pass) = self.state.pass() else { return Standing::New };
        if self.plan.kind == WorkflowKind::StateMachine
            && (pass.current.as_deref() != Some(id) || pass.after_transition)
        {
            return Standing::New;
        }
        let Some(record) = pass.step(id) else { return Standing::New };
        match record.status {
            // Cancelled when the run stopped: it never ran, or its retry never started.
            StepStatus::Skipped
                if record.skip_reason.as_deref().is_some_and(|r| r.starts_with("cancelled")) =>
            {
                match record.retrying {
                    true => Standing::Retry(
                        record.attempts + 1,
                        std::time::Duration::from_millis(record.retry_delay_ms),
                    ),
                    false => Standing::Again(1),
                }
            }
            StepStatus::Skipped => Standing::Skipped,
            StepStatus::Running => Standing::Cut(record.attempts.max(1)),
            StepStatus::Failed if record.retrying => {
                Standing::Retry(record.attempts + 1, std::time::Duration::from_millis(record.retry_delay_ms))
            }
            // A person interrupted it: it runs again, as the same attempt.
            StepStatus::Failed
                if record.outcome.as_ref().and_then(|o| o.class) == Some(FailureClass::Interrupted) =>
            {
                Standing::Again(record.attempts.max(1))
            }
            StepStatus::Succeeded | StepStatus::Failed => match &record.outcome {
                Some(outcome) => Standing::Done(Box::new(outcome.clone())),
                None => Standing::Again(record.attempts + 1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skipped_tags_are_how_signals_and_waits_are_encoded_and_nothing_else() {
        let signal = Event::Signal {
            step: "s".into(),
            signal: ralph_plugin_sdk::MessageSignal::Progress,
            message: None,
            data: None,
            at: String::new(),
        };
        let waiting = Event::Waiting { step: "s".into(), seconds: 1, reason: String::new() };
        let finished = Event::StepFinished {
            step: "s".into(),
            outcome: Box::default(),
            iteration: 1,
            at: String::new(),
        };
        let encoded = |e: &Event| serde_json::to_vec(e).unwrap();
        let skipped = |bytes: &[u8]| IGNORED.iter().any(|tag| bytes.starts_with(tag));
        assert!(skipped(&encoded(&signal)) && skipped(&encoded(&waiting)));
        assert!(!skipped(&encoded(&finished)));
        // Applying them changes nothing, which is why they can be skipped.
        let mut state = super::super::core::projection::RunState::new();
        let before = state.clone();
        state.apply(&signal);
        state.apply(&waiting);
        assert_eq!(state, before);
    }
}
