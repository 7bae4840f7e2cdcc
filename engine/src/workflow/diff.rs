//! What changed between two workflow definitions, as field paths a person can read:
//! `~ workflow.states[verify].agent: "verifier" → "strict_verifier"`.
//!
//! Definitions are compared as their validated documents (JSON), so formatting, comments and
//! key order do not count — only what the engine would run differently. Lists of things with
//! an `id` or `name` (states, nodes, steps) are matched by it, so inserting a state shows as
//! one added state rather than every later state changed.

use serde_json::Value;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Present only in the new definition.
    Added(String, Value),
    /// Present only in the old one.
    Removed(String, Value),
    /// Different.
    Changed(String, Value, Value),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(path, new) => write!(f, "+ {path}: {}", short(new)),
            Change::Removed(path, old) => write!(f, "- {path}: {}", short(old)),
            Change::Changed(path, old, new) => write!(f, "~ {path}: {} → {}", short(old), short(new)),
        }
    }
}

/// A value on one line, cut at 80 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(77).collect();
    format!("{cut}…")
}

/// The changes from `old` to `new`, in document order.
pub fn changes(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// The `id` (or `name`) a list element is known by.
fn identity(value: &Value) -> Option<&str> {
    value.get("id").or_else(|| value.get("name")).and_then(Value::as_str)
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => walk(&join(path, key), value, other, out),
                    None => out.push(Change::Removed(join(path, key), value.clone())),
                }
            }
            for (key, value) in b {
                if !a.contains_key(key) {
                    out.push(Change::Added(join(path, key), value.clone()));
                }
            }
        }
        (Value::Array(a), Value::Array(b))
            if a.iter().chain(b).all(|v| identity(v).is_some()) && !(a.is_empty() && b.is_empty()) =>
        {
            for item in a {
                let id = identity(item).unwrap_or_default();
                let here = format!("{path}[{id}]");
                match b.iter().find(|other| identity(other) == Some(id)) {
                    Some(other) => walk(&here, item, other, out),
                    None => out.push(Change::Removed(here, item.clone())),
                }
            }
            for item in b {
                let id = identity(item).unwrap_or_default();
                if !a.iter().any(|other| identity(other) == Some(id)) {
                    out.push(Change::Added(format!("{path}[{id}]"), item.clone()));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let here = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(&here, x, y, out),
                    (Some(x), None) => out.push(Change::Removed(here, x.clone())),
                    (None, Some(y)) => out.push(Change::Added(here, y.clone())),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(Change::Changed(path.to_owned(), a.clone(), b.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn states_are_matched_by_id_and_values_compared_by_path() {
        let old = json!({"workflow": {"states": [{"id": "build", "agent": "b"}, {"id": "verify", "agent": "v"}]},
                         "loop": {"max_iterations": 5}});
        let new = json!({"workflow": {"states": [{"id": "plan", "agent": "p"}, {"id": "build", "agent": "b"},
                                                 {"id": "verify", "agent": "strict"}]},
                         "agents": {"p": {"command": "true"}}});
        let lines: Vec<String> = changes(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                r#"~ workflow.states[verify].agent: "v" → "strict""#,
                r#"+ workflow.states[plan]: {"id":"plan","agent":"p"}"#,
                r#"- loop: {"max_iterations":5}"#,
                r#"+ agents: {"p":{"command":"true"}}"#,
            ]
        );
        assert!(changes(&new, &new).is_empty());
    }

    #[test]
    fn plain_lists_are_compared_by_position_and_long_values_are_cut() {
        let old = json!({"x": [1, 2], "y": "a".repeat(200)});
        let new = json!({"x": [1, 3, 4], "y": "b"});
        let lines: Vec<String> = changes(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(lines[0], "~ x[1]: 2 → 3");
        assert_eq!(lines[1], "+ x[2]: 4");
        assert_eq!(lines[2], format!("~ y: \"{}… → \"b\"", "a".repeat(76)));
    }
}
