//! Resuming a run from its journal (`ralph-loop resume`).
//!
//! The journal is the run: its events are applied again, in order, to a fresh state (the same
//! `RunState::apply` that applied them the first time), and the packet context is rebuilt from
//! them. Then the run goes on from where the journal ends:
//!
//! - **finished steps are not run again**: a DAG node or saga step with a recorded outcome is
//!   released with it; a state machine takes the transition its state's recorded outcome
//!   chooses (or, if the journal ends with a transition, enters the next state);
//! - a step that was **running** when the run stopped is journaled `step_interrupted` and runs
//!   again as the same attempt — the crash was the engine's, not the agent's;
//! - a step that failed and was **waiting for its retry** runs its next attempt;
//! - after the last iteration, the task-file mark and commit that the journal does not show are
//!   done (marking is idempotent; a commit of a clean tree is nothing).
//!
//! Nothing outside the journal is trusted for decisions: it is written durably before any
//! transition, task mark or commit acts on an outcome.

use petgraph::stable_graph::NodeIndex;

use super::core::event::{Event, RunStatus, TaskRef};
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::core::projection::StepStatus;
use super::runner::Runner;
use crate::store::{Journal, JournalError};
use crate::workflow::model::WorkflowKind;

/// The encoded beginnings of the events whose application changes nothing (see
/// `RunState::apply`): the tag is the first field serde writes.
const IGNORED: &[&[u8]] = &[br#"{"event":"signal","#, br#"{"event":"waiting","#];

/// Where the journal of a resumed run ends.
#[derive(Debug, Clone, Default)]
pub struct ResumePoint {
    /// The last event's sequence number.
    pub from_seq: u64,
    /// The last iteration started (0: none).
    pub iteration: u32,
    /// How it ended, when it did.
    pub iteration_end: Option<(RunStatus, String)>,
    /// Its task.
    pub task: Option<TaskRef>,
    /// Every task an iteration was started for.
    pub tried: Vec<String>,
    /// The last iteration's task was marked in its file.
    pub marked: bool,
    /// The last iteration's work was committed.
    pub committed: bool,
}

/// What a journaled step record means for the resumed run.
#[derive(Debug, Clone)]
pub(super) enum Replay {
    /// It ended with this outcome: use it.
    Done(Box<Outcome>),
    /// It was skipped.
    Skipped,
    /// Run it (again), as this attempt.
    Rerun(u32),
}

impl Runner {
    /// Applies a run's journal again and sets up where the run goes on.
    pub(super) fn restore(&mut self, journal: &Journal) -> Result<(), JournalError> {
        let mut point = ResumePoint::default();
        for item in journal.scan(1) {
            let (seq, bytes) = item?;
            point.from_seq = seq;
            // Signals and waits change nothing a resumed run needs, and a long run's journal is
            // mostly signals (heartbeats, progress): they are not decoded at all.
            if IGNORED.iter().any(|tag| bytes.starts_with(tag)) {
                continue;
            }
            let event: Event = journal.decode(seq, &bytes)?;
            match &event {
                Event::IterationStarted { iteration, task, .. } => {
                    point.iteration = *iteration;
                    point.iteration_end = None;
                    point.task.clone_from(task);
                    point.marked = false;
                    point.committed = false;
                    if let Some(task) = task {
                        point.tried.push(task.id.clone());
                    }
                    self.context.iteration = *iteration;
                    self.node_results.clear();
                    self.iteration_changed_files = false;
                }
                // A stopped iteration (a signal, the breaker, a budget) is taken up again.
                Event::IterationFinished { status, reason, .. } if *status != RunStatus::Stopped => {
                    point.iteration_end = Some((*status, reason.clone()));
                }
                Event::TaskMarked { task, status } => {
                    point.marked = true;
                    if status == "done" {
                        self.context.completed_tasks.push(task.id.clone());
                    }
                }
                Event::Committed { .. } => point.committed = true,
                // The next packet lists the signals since the previous one.
                Event::Control { signal, by, at } => {
                    self.live.since_packet.push(super::live::signal_record(signal, by.as_deref(), at));
                }
                Event::StepStarted { .. } => self.live.since_packet.clear(),
                Event::StepFinished { step, outcome, .. } => {
                    let task = self.state.task.as_ref().map(|t| t.id.clone()).unwrap_or_default();
                    self.remember_outcome(step, outcome, task);
                }
                _ => {}
            }
            self.state.apply(&event);
        }
        if point.iteration_end.is_none() {
            // Steps recorded in the unfinished iteration are replayed, not run again. A state
            // machine revisits states, so only its current state's record counts.
            self.replayable = match self.plan.kind {
                WorkflowKind::StateMachine => self.state.current.iter().cloned().collect(),
                _ => self.state.steps.keys().cloned().collect(),
            };
            if self.plan.kind == WorkflowKind::StateMachine {
                self.resume_at = self
                    .state
                    .current
                    .as_deref()
                    .and_then(|id| self.plan.node(id))
                    .map(|node| (node, self.state.after_transition));
            }
        }
        self.resumed = Some(point);
        Ok(())
    }

    /// What a finished step leaves in the packet context and the DAG's node results, for
    /// `finish` and for the journal's replay alike; `task` is the iteration's task id.
    pub(super) fn remember_outcome(&mut self, step: &str, outcome: &Outcome, task: String) {
        if outcome.evidence.test_results.is_some() {
            self.context.evidence.test_results.clone_from(&outcome.evidence.test_results);
        }
        let interrupted = outcome.class == Some(FailureClass::Interrupted);
        if !outcome.success && outcome.class != Some(FailureClass::UsageLimit) && !interrupted {
            let attempt = {
                let count = self.context.failures_per_task.entry(task.clone()).or_default();
                *count += 1;
                *count
            };
            let history = &mut self.context.failure_history;
            if history.len() >= super::packet::FAILURE_HISTORY {
                history.drain(..=history.len() - super::packet::FAILURE_HISTORY);
            }
            history.push(ralph_plugin_sdk::Failure {
                task,
                attempt,
                error: outcome.error.clone().unwrap_or_else(|| "failed".into()),
                step: Some(step.to_owned()),
                class: outcome.class.map(|c| c.as_str().to_owned()),
            });
        }
        self.iteration_changed_files |= !outcome.evidence.files_changed.is_empty();
        if self.plan.kind == WorkflowKind::Dag {
            self.node_results.insert(
                step.to_owned(),
                serde_json::json!({"success": outcome.success, "result": outcome.result}),
            );
        }
    }

    /// The steps that were running when the run stopped: journaled as interrupted.
    pub(super) fn interrupt_running(&mut self) -> Vec<String> {
        let running: Vec<(String, u32)> = self
            .state
            .steps
            .iter()
            .filter(|(id, r)| r.status == StepStatus::Running && self.replayable.contains(*id))
            .map(|(id, r)| (id.clone(), r.attempts))
            .collect();
        for (step, attempt) in &running {
            self.emit(&Event::StepInterrupted { step: step.clone(), attempt: *attempt });
        }
        running.into_iter().map(|(s, _)| s).collect()
    }

    /// The journaled record of `node`, once: what the resumed run does with it.
    pub(super) fn take_replay(&mut self, node: NodeIndex) -> Option<Replay> {
        if self.replayable.is_empty() {
            return None;
        }
        let id = &self.plan.graph[node].id;
        if !self.replayable.remove(id) {
            return None;
        }
        let record = self.state.steps.get(id)?;
        Some(match record.status {
            // Cancelled when the run stopped: it never ran.
            StepStatus::Skipped
                if record.skip_reason.as_deref().is_some_and(|r| r.starts_with("cancelled")) =>
            {
                Replay::Rerun(1)
            }
            StepStatus::Skipped => Replay::Skipped,
            StepStatus::Failed if record.retrying => Replay::Rerun(record.attempts + 1),
            // A person interrupted it: it runs again, as the same attempt.
            StepStatus::Failed
                if record.outcome.as_ref().and_then(|o| o.class) == Some(FailureClass::Interrupted) =>
            {
                Replay::Rerun(record.attempts.max(1))
            }
            StepStatus::Running => Replay::Rerun(record.attempts + 1),
            StepStatus::Succeeded | StepStatus::Failed => match &record.outcome {
                Some(outcome) => Replay::Done(Box::new(outcome.clone())),
                None => Replay::Rerun(record.attempts + 1),
            },
        })
    }

    /// Whether a step's record came from the journal and has not been replayed yet.
    pub(super) fn replaying(&self) -> bool {
        !self.replayable.is_empty()
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
        let finished = Event::StepFinished { step: "s".into(), outcome: Box::default(), at: String::new() };
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
