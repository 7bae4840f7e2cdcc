//! The `control` section of a steering packet: the signal in force and what it allows.

use serde::{Deserialize, Serialize};

use crate::error::named_enum;
use crate::signal::Signal;

/// How urgently a control message must be handled.
///
/// Ordered from least to most urgent, so `Priority::Urgent > Priority::Normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Handle when convenient.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Handle before normal work.
    High,
    /// Handle immediately.
    Urgent,
}

named_enum!(Priority, "priority", [
    Low => "low",
    Normal => "normal",
    High => "high",
    Urgent => "urgent",
]);

/// A hint a person sent to the run (`ralph-loop hint "…"`), delivered to the next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    /// The hint, as the person wrote it.
    pub text: String,
    /// When it was sent (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl Hint {
    /// A hint with no timestamp.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), at: None }
    }
}

/// A signal the run received since the previous packet (`ralph-loop pause`, `hint`, …), as
/// the next packet's `control.signals` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRecord {
    /// The signal, in the packet's vocabulary.
    pub signal: Signal,
    /// The engine's name for it (`add_iterations` is `continue` in the packet's vocabulary).
    pub name: String,
    /// Its argument: the state of a redirect, a hint's text, a reviewer's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// The `control` section: the signal in force for the step and its parameters.
///
/// Missing fields take their [`Default`] values: signal `continue`, priority `normal`, and
/// both `can_interrupt` and `can_redirect` true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Control {
    /// The signal in force.
    pub signal: Signal,
    /// How urgently it must be handled.
    pub priority: Priority,
    /// The step's time limit, or how long a pause waits, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Whether the step may be interrupted mid-flight.
    pub can_interrupt: bool,
    /// Whether the step may be redirected to another phase.
    pub can_redirect: bool,
    /// Why the signal was sent (e.g. `"Human override"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `redirect`: the phase to go to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_phase: Option<String>,
    /// For `redirect`: whether the evidence gathered so far is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_evidence: Option<bool>,
    /// For `interrupt`: whether the step's context is kept for the next step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preserve_context: Option<bool>,
    /// For `pause`: what the run waits for (e.g. `"human_approval"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<String>,
    /// For `resume`: the checkpoint to continue from (e.g. `"iteration-5-phase-building"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_checkpoint: Option<String>,
    /// Hints from people, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
    /// The signals the run received since the previous packet, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalRecord>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            signal: Signal::Continue,
            priority: Priority::Normal,
            timeout: None,
            can_interrupt: true,
            can_redirect: true,
            reason: None,
            new_phase: None,
            keep_evidence: None,
            preserve_context: None,
            wait_for: None,
            from_checkpoint: None,
            hints: Vec::new(),
            signals: Vec::new(),
        }
    }
}

impl Control {
    /// A default control section carrying `signal`.
    pub fn new(signal: Signal) -> Self {
        Self { signal, ..Self::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_ordered() {
        assert!(Priority::Low < Priority::Normal);
        assert!(Priority::Normal < Priority::High);
        assert!(Priority::High < Priority::Urgent);
        assert_eq!("urgent".parse::<Priority>().unwrap(), Priority::Urgent);
        assert!("critical".parse::<Priority>().is_err());
    }

    #[test]
    fn empty_object_takes_defaults() {
        let control: Control = serde_json::from_str("{}").unwrap();
        assert_eq!(control, Control::default());
        assert!(control.can_interrupt && control.can_redirect);
        assert_eq!(
            serde_json::to_value(&control).unwrap(),
            serde_json::json!({
                "signal": "continue",
                "priority": "normal",
                "can_interrupt": true,
                "can_redirect": true
            })
        );
    }

    // The four control examples of the spec's "Real-Time Steering Capabilities".
    #[test]
    fn spec_control_examples_parse() {
        let interrupt: Control = serde_json::from_str(
            r#"{"signal": "interrupt", "reason": "Human override", "preserve_context": true}"#,
        )
        .unwrap();
        assert_eq!(interrupt.signal, Signal::Interrupt);
        assert_eq!(interrupt.preserve_context, Some(true));

        let redirect: Control = serde_json::from_str(
            r#"{"signal": "redirect", "new_phase": "planning",
                "reason": "Implementation approach flawed", "keep_evidence": true}"#,
        )
        .unwrap();
        assert_eq!(redirect.new_phase.as_deref(), Some("planning"));
        assert_eq!(redirect.keep_evidence, Some(true));

        let pause: Control =
            serde_json::from_str(r#"{"signal": "pause", "wait_for": "human_approval", "timeout": 86400}"#)
                .unwrap();
        assert_eq!(pause.wait_for.as_deref(), Some("human_approval"));
        assert_eq!(pause.timeout, Some(86_400));

        let resume: Control =
            serde_json::from_str(r#"{"signal": "resume", "from_checkpoint": "iteration-5-phase-building"}"#)
                .unwrap();
        assert_eq!(resume.from_checkpoint.as_deref(), Some("iteration-5-phase-building"));
    }

    #[test]
    fn hints_round_trip() {
        let mut control = Control::new(Signal::Hint);
        control.hints.push(Hint {
            text: "use the existing JWT helper".into(),
            at: Some("2024-03-08T10:31:00Z".into()),
        });
        control.hints.push(Hint::new("keep the API stable"));
        let json = serde_json::to_string(&control).unwrap();
        assert_eq!(serde_json::from_str::<Control>(&json).unwrap(), control);
        assert!(!json.contains("\"at\":null"));
    }
}
