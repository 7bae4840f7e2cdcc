//! One log line, for people (`human`) or machines (`json`): the seed's structured log record —
//! timestamp, level, trace and span ids, the event, and the event's own fields.

use serde_json::{Map, Value};

use crate::workflow::model::{LogFormat, LogLevel};

/// What a line says.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// RFC 3339 with milliseconds.
    pub timestamp: &'a str,
    /// How much it matters.
    pub level: LogLevel,
    /// The event's name (`step_finished`, ...).
    pub event: &'a str,
    /// The trace it belongs to, 32 hex digits.
    pub trace_id: Option<&'a str>,
    /// The span it was logged in, 16 hex digits.
    pub span_id: Option<&'a str>,
    /// Its fields.
    pub fields: &'a Map<String, Value>,
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "TRACE",
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO",
        LogLevel::Warn => "WARN",
        LogLevel::Error => "ERROR",
    }
}

/// The line, without its newline.
pub fn format(record: &Record<'_>, format: LogFormat) -> String {
    match format {
        LogFormat::Json => {
            let mut line = Map::new();
            line.insert("timestamp".into(), record.timestamp.into());
            line.insert("level".into(), level_name(record.level).into());
            if let Some(id) = record.trace_id {
                line.insert("trace_id".into(), id.into());
            }
            if let Some(id) = record.span_id {
                line.insert("span_id".into(), id.into());
            }
            line.insert("event".into(), record.event.into());
            for (key, value) in record.fields {
                // The record's own keys are not overwritten by a field of the same name.
                line.entry(key.clone()).or_insert_with(|| value.clone());
            }
            Value::Object(line).to_string()
        }
        LogFormat::Human => {
            let mut line = format!("{} {:<5} {}", record.timestamp, level_name(record.level), record.event);
            for (key, value) in record.fields {
                let text = match value {
                    Value::String(s)
                        if s.is_empty() || s.contains(char::is_whitespace) || s.contains('"') =>
                    {
                        Value::String(s.clone()).to_string()
                    }
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                line.push_str(&format!(" {key}={text}"));
            }
            if let Some(id) = record.trace_id {
                line.push_str(&format!(" trace_id={id}"));
            }
            if let Some(id) = record.span_id {
                line.push_str(&format!(" span_id={id}"));
            }
            // A line is one line, whatever a message holds.
            line.replace('\n', "\\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Map<String, Value> {
        json!({"phase": "build", "agent": "builder", "duration_ms": 45000, "success": true, "reason": "two words\nand a line"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn json_lines_are_the_seeds_structured_record() {
        let fields = fields();
        let record = Record {
            timestamp: "2024-03-08T10:30:15.000Z",
            level: LogLevel::Info,
            event: "phase_complete",
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            span_id: Some("00f067aa0ba902b7"),
            fields: &fields,
        };
        let line = format(&record, LogFormat::Json);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(v["span_id"], "00f067aa0ba902b7");
        assert_eq!(v["event"], "phase_complete");
        assert_eq!(v["duration_ms"], 45000);
        assert!(
            line.starts_with("{\"timestamp\":\"2024-03-08T10:30:15.000Z\",\"level\":\"INFO\",\"trace_id\"")
        );
    }

    #[test]
    fn human_lines_are_one_line_of_key_values() {
        let fields = fields();
        let record = Record {
            timestamp: "2024-03-08T10:30:15.000Z",
            level: LogLevel::Warn,
            event: "step_finished",
            trace_id: None,
            span_id: None,
            fields: &fields,
        };
        let line = format(&record, LogFormat::Human);
        assert_eq!(
            line,
            "2024-03-08T10:30:15.000Z WARN  step_finished phase=build agent=builder duration_ms=45000 success=true reason=\"two words\\nand a line\""
        );
    }
}
