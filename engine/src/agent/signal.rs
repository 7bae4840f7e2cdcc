//! Message-level signals an agent sends while it works (heartbeat, progress, checkpoint,
//! decision, error, complete).
//!
//! A command agent sends one by printing a line that is a JSON object with a `signal` field
//! naming one of them, e.g. `{"signal": "progress", "percent": 40, "message": "parsed 4 of 10"}`;
//! the other fields travel with it. Such lines are structured on purpose: the engine reads
//! signals from JSON objects, never from prose. Agent CLIs send a heartbeat while their event
//! stream is active (at most one per [`HEARTBEAT_EVERY`]).

use std::time::Duration;

use ralph_plugin_sdk::MessageSignal;
use serde_json::Value;

/// The shortest time between two heartbeats of one step.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// A signal from a running step.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalReport {
    /// The step that sent it.
    pub step: String,
    /// Which signal.
    pub signal: MessageSignal,
    /// Its `message`, if any.
    pub message: Option<String>,
    /// Its other fields.
    pub data: Option<Value>,
}

/// Where a running step sends its signals.
pub type SignalSender = tokio::sync::mpsc::UnboundedSender<SignalReport>;

/// The longest line read as a signal: each signal is journaled, and a signal is a short
/// message, not a transcript (the step's log keeps longer lines).
pub const MAX_SIGNAL_LINE: usize = 64 * 1024;

/// Reads a signal line: a JSON object whose `signal` names a message-level signal, of at most
/// [`MAX_SIGNAL_LINE`] bytes.
pub fn parse_line(step: &str, line: &[u8]) -> Option<SignalReport> {
    let trimmed = line.trim_ascii();
    if trimmed.len() > MAX_SIGNAL_LINE {
        return None;
    }
    // Cheap test first: most lines are not JSON objects at all.
    if !trimmed.starts_with(b"{") || !trimmed.ends_with(b"}") {
        return None;
    }
    let Value::Object(mut object) = serde_json::from_slice::<Value>(trimmed).ok()? else { return None };
    let signal = object.get("signal")?.as_str()?.parse::<MessageSignal>().ok()?;
    object.remove("signal");
    let message = object.remove("message").and_then(|m| m.as_str().map(str::to_owned));
    let data = (!object.is_empty()).then_some(Value::Object(object));
    Some(SignalReport { step: step.to_owned(), signal, message, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_lines_are_json_objects_naming_a_signal() {
        let report =
            parse_line("build", br#"  {"signal": "progress", "percent": 40, "message": "half"}  "#).unwrap();
        assert_eq!(report.signal, MessageSignal::Progress);
        assert_eq!(report.message.as_deref(), Some("half"));
        assert_eq!(report.data, Some(serde_json::json!({"percent": 40})));
        assert_eq!(parse_line("b", br#"{"signal": "checkpoint"}"#).unwrap().data, None);
        for line in [
            &b"progress: 40%"[..],
            br#"{"signal": "launch"}"#,
            br#"{"type": "progress"}"#,
            b"{not json}",
            b"\xff\xfe{",
            format!(r#"{{"signal": "progress", "message": "{}"}}"#, "x".repeat(MAX_SIGNAL_LINE)).as_bytes(),
        ] {
            assert_eq!(parse_line("b", line), None, "{}", String::from_utf8_lossy(line));
        }
    }
}
