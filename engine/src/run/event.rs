//! The events of a run. Every change of a run's state is one of these, applied in one place
//! ([`super::state::RunState::apply`]); the durable-state issue journals exactly these.

use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use crate::plan::EdgeKind;

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running.
    Running,
    /// Every step it needed succeeded.
    Succeeded,
    /// A step failed and nothing recovered it.
    Failed,
    /// Ended by `stop` or a signal.
    Stopped,
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// The workflow's name.
        workflow: String,
        /// `state_machine`, `dag` or `saga`.
        kind: String,
        /// When, RFC 3339.
        at: String,
    },
    /// A step began.
    StepStarted {
        /// The state, node or step id.
        step: String,
        /// Who performs it.
        agent: String,
        /// The attempt number, from 1.
        attempt: u32,
        /// When.
        at: String,
    },
    /// A step ended.
    StepFinished {
        /// The step.
        step: String,
        /// What it produced.
        outcome: Box<Outcome>,
        /// When.
        at: String,
    },
    /// A step will not run.
    StepSkipped {
        /// The step.
        step: String,
        /// Why, for people.
        reason: String,
    },
    /// A state machine moved.
    Transition {
        /// The state left.
        from: String,
        /// The state entered.
        to: String,
        /// Which kind of edge was taken.
        kind: EdgeKind,
    },
    /// The run ended.
    RunFinished {
        /// How.
        status: RunStatus,
        /// Why, for people.
        reason: String,
        /// When.
        at: String,
    },
}

/// The current time as RFC 3339 with seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
