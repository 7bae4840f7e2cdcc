//! Control signals (carried in a packet's `control.signal`) and message-level signals
//! (sent by an agent or plugin while a step runs).

use serde::{Deserialize, Serialize};

use crate::error::named_enum;

/// A control message from the engine or a person to a step: what the step should do now.
///
/// Serialized in snake_case: `"continue"`, `"redirect"`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Carry on with the current step (the normal case).
    #[default]
    Continue,
    /// Begin a step that has not run yet.
    Start,
    /// Suspend the run until it is resumed or approved (see `control.wait_for`).
    Pause,
    /// Continue a paused run, optionally from `control.from_checkpoint`.
    Resume,
    /// Stop the running step now (see `control.preserve_context`).
    Interrupt,
    /// Change direction: go to `control.new_phase` (see `control.keep_evidence`).
    Redirect,
    /// Deliver a hint from a person without stopping the step (see `control.hints`).
    Hint,
    /// A person approved the work waiting for review.
    Approve,
    /// A person rejected the work waiting for review.
    Reject,
}

named_enum!(Signal, "signal", [
    Continue => "continue",
    Start => "start",
    Pause => "pause",
    Resume => "resume",
    Interrupt => "interrupt",
    Redirect => "redirect",
    Hint => "hint",
    Approve => "approve",
    Reject => "reject",
]);

impl Signal {
    /// Whether this signal stops or suspends the step that is running.
    pub const fn halts_step(self) -> bool {
        matches!(self, Signal::Pause | Signal::Interrupt | Signal::Redirect)
    }
}

/// A message-level signal: how an agent or plugin reports on a step while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageSignal {
    /// The agent is alive.
    Heartbeat,
    /// A percentage-complete update.
    Progress,
    /// A point at which state was (or should be) persisted.
    Checkpoint,
    /// A branch point was reached.
    Decision,
    /// A failure, with context.
    Error,
    /// The task is finished.
    Complete,
}

named_enum!(MessageSignal, "message signal", [
    Heartbeat => "heartbeat",
    Progress => "progress",
    Checkpoint => "checkpoint",
    Decision => "decision",
    Error => "error",
    Complete => "complete",
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_through_serde_and_from_str() {
        for &signal in Signal::ALL {
            let json = serde_json::to_string(&signal).unwrap();
            assert_eq!(json, format!("\"{}\"", signal.as_str()));
            assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), signal);
            assert_eq!(signal.as_str().parse::<Signal>().unwrap(), signal);
        }
        assert_eq!(Signal::ALL.len(), 9);
        assert_eq!(Signal::default(), Signal::Continue);
    }

    #[test]
    fn unknown_signal_is_rejected_with_its_name() {
        let err = "stop".parse::<Signal>().unwrap_err();
        assert_eq!(err.name(), "stop");
        assert!(err.to_string().contains("interrupt"));
        assert!(serde_json::from_str::<Signal>("\"stop\"").is_err());
    }

    #[test]
    fn halting_signals() {
        let halting: Vec<_> = Signal::ALL.iter().filter(|s| s.halts_step()).collect();
        assert_eq!(halting, [&Signal::Pause, &Signal::Interrupt, &Signal::Redirect]);
    }

    #[test]
    fn message_signals_round_trip() {
        for &signal in MessageSignal::ALL {
            let json = serde_json::to_string(&signal).unwrap();
            assert_eq!(serde_json::from_str::<MessageSignal>(&json).unwrap(), signal);
            assert_eq!(signal.to_string().parse::<MessageSignal>().unwrap(), signal);
        }
        assert_eq!(
            MessageSignal::NAMES,
            ["heartbeat", "progress", "checkpoint", "decision", "error", "complete"]
        );
    }
}
