//! Durations that cannot be zero: a `timeout: 0` parses (it is a duration) but makes no
//! sense — the step would fail "timed out after 0ns" before its agent could start. Each such
//! field is an error here, at its place in the file, with what to write instead.
//!
//! Zero stays allowed where it means "no wait": retry delays, the breaker's time open,
//! `budget.cooldown`.
//!
//! **Architecture invariant:** reads the typed document only; knows nothing of running it.

use super::model::{Document, Duration, PluginsSection, StateDef};
use super::path::FieldPath;
use crate::diagnostic::Diagnostic;

/// What a zero would do, and the value suggested instead, per kind of field.
struct Field {
    /// The key, as written.
    key: &'static str,
    /// What zero would do.
    effect: &'static str,
    /// A sensible value.
    instead: &'static str,
    /// What leaving the field out does.
    without: &'static str,
}

const STEP_TIMEOUT: Field = Field {
    key: "timeout",
    effect: "every step it limits would time out before its agent starts",
    instead: "30m",
    without: "remove it to have no time limit",
};
const HEARTBEAT: Field = Field {
    key: "heartbeat_timeout",
    effect: "the agent would count as hung before it can print anything",
    instead: "5m",
    without: "remove it to wait for output without a limit",
};
const REMINDER: Field = Field {
    key: "reminder_interval",
    effect: "the reminder would be sent without pause",
    instead: "1h",
    without: "remove it to send no reminders",
};
const MAX_RUNTIME: Field = Field {
    key: "max_runtime",
    effect: "the loop would stop before its first step",
    instead: "8h",
    without: "remove it to have no time limit",
};
const HALF_OPEN: Field = Field {
    key: "half_open_timeout",
    effect: "every probe of the half-open breaker would time out",
    instead: "5m",
    without: "remove it to give probes the step's own time limit",
};
const SNAPSHOT_INTERVAL: Field = Field {
    key: "interval",
    effect: "a snapshot would be taken without pause",
    instead: "10m",
    without: "remove it to take snapshots at the triggers only",
};
const PLUGIN_TIMEOUT: Field = Field {
    key: "timeout",
    effect: "every call of the plugin would time out",
    instead: "5s",
    without: "remove it to have the default time limit",
};

/// Every duration of `doc` that is zero where zero is absurd, as an error at its field.
pub fn check(doc: &Document) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let root = FieldPath::root();
    for (name, timeout) in &doc.timeouts {
        if timeout.0.is_zero() {
            let path = root.key("timeouts").key(name);
            out.push(zero(path, &format!("timeouts.{name}"), name, &STEP_TIMEOUT));
        }
    }
    let mut at = |value: Option<&Duration>, path: FieldPath, field: &Field| {
        if value.is_some_and(|d| d.0.is_zero()) {
            out.push(zero(path, field.key, field.key, field));
        }
    };
    if let Some(settings) = &doc.loop_settings {
        at(settings.max_runtime.as_ref(), root.key("loop").key(MAX_RUNTIME.key), &MAX_RUNTIME);
    }
    for (name, agent) in &doc.agents {
        let path = root.key("agents").key(name);
        at(agent.timeout.as_ref(), path.key(STEP_TIMEOUT.key), &STEP_TIMEOUT);
        at(agent.heartbeat_timeout.as_ref(), path.key(HEARTBEAT.key), &HEARTBEAT);
    }
    if let Some(workflow) = &doc.workflow {
        let path = root.key("workflow");
        for (i, state) in workflow.states.iter().enumerate() {
            if let StateDef::Full(state) = state {
                let path = path.key("states").index(i);
                at(state.timeout.as_ref(), path.key(STEP_TIMEOUT.key), &STEP_TIMEOUT);
                at(state.reminder_interval.as_ref(), path.key(REMINDER.key), &REMINDER);
            }
        }
        for (i, node) in workflow.nodes.iter().enumerate() {
            at(node.timeout.as_ref(), path.key("nodes").index(i).key(STEP_TIMEOUT.key), &STEP_TIMEOUT);
        }
        for (i, step) in workflow.steps.iter().enumerate() {
            at(step.timeout.as_ref(), path.key("steps").index(i).key(STEP_TIMEOUT.key), &STEP_TIMEOUT);
        }
    }
    if let Some(breaker) = &doc.circuit_breaker {
        at(breaker.half_open_timeout.as_ref(), root.key("circuit_breaker").key(HALF_OPEN.key), &HALF_OPEN);
    }
    if let Some(snapshots) = doc.state.as_ref().and_then(|s| s.snapshots.as_ref()) {
        let path = root.key("state").key("snapshots").key(SNAPSHOT_INTERVAL.key);
        at(snapshots.interval.as_ref(), path, &SNAPSHOT_INTERVAL);
    }
    match &doc.plugins {
        Some(PluginsSection::List(entries)) => {
            for (i, entry) in entries.iter().enumerate() {
                let path = root.key("plugins").index(i).key(PLUGIN_TIMEOUT.key);
                at(entry.timeout.as_ref(), path, &PLUGIN_TIMEOUT);
            }
        }
        Some(PluginsSection::Managed(managed)) => {
            for (i, plugin) in managed.installed.iter().enumerate() {
                let path = root.key("plugins").key("installed").index(i).key(PLUGIN_TIMEOUT.key);
                at(plugin.timeout.as_ref(), path, &PLUGIN_TIMEOUT);
            }
        }
        None => {}
    }
    out
}

/// The error for a zero at `path`, called `name` in the message, whose key is `key` (an
/// agent's name under `timeouts:`).
fn zero(path: FieldPath, name: &str, key: &str, field: &Field) -> Diagnostic {
    Diagnostic::error("zero-duration", format!("`{name}` cannot be zero: {}", field.effect))
        .at(path)
        .expected("a duration above zero, such as `30s`, `10m` or `2h`")
        .suggest(Some(format!("{key}: {}", field.instead)))
        .note(field.without)
}
