//! `notifier`: a ralph-loop plugin that tells people what a run does.
//!
//! At `workflow.on_start`, `workflow.on_complete`, `workflow.on_failure` and
//! `state.on_change` it always writes a log line, and — when its `webhook` setting is set —
//! asks the engine to POST a Slack-compatible JSON body to it:
//!
//! ```json
//! {"text": "❌ Run r-42 of `default` failed after 7 iterations: tests keep failing",
//!  "hook": "workflow.on_failure", "run_id": "r-42", "workflow": "default", "status": "failed"}
//! ```
//!
//! At `state.on_change` it also adds a note to the next step's prompt saying which state the
//! run entered and why. Posting needs the `notify` capability; when the engine refuses (not
//! granted, or not an `http(s)` URL) it logs a warning and carries on: a notifier never stops
//! a run.
//!
//! Configuration (`config:` in `ralph.yaml`), all optional:
//!
//! - `webhook`: the URL to POST to (e.g. a Slack incoming webhook; `${SLACK_WEBHOOK}` works);
//! - `events`: comma-separated (or a list of) hooks that post, e.g.
//!   `workflow.on_failure, workflow.on_complete` (short forms `on_failure` work too); default:
//!   all four. The others still log.
//! - `annotate`: `false` to leave state changes out of the prompt (default `true`).
#![deny(missing_docs)]

use ralph_plugin_sdk::{
    Decision, Descriptor, Plugin, Reply, StateContext, WorkflowContext, host, register_plugin,
};
use serde_json::json;

/// The plugin: see the crate documentation.
#[derive(Debug, Default)]
pub struct Notifier;

register_plugin!(Notifier);

/// The hooks it listens to.
pub const HOOKS: [&str; 4] =
    ["workflow.on_start", "workflow.on_complete", "workflow.on_failure", "state.on_change"];

impl Plugin for Notifier {
    fn describe() -> Descriptor {
        Descriptor::new("notifier", "1.0.0")
            .description("Logs run events and posts them to a webhook (Slack-compatible)")
            .hooks(HOOKS)
            .capabilities(["notify"])
    }

    fn on_start(&self, context: &WorkflowContext) -> Reply {
        send(&Event::workflow("workflow.on_start", context, "started"));
        Ok(Decision::Continue)
    }

    fn on_complete(&self, context: &WorkflowContext) -> Reply {
        send(&Event::workflow("workflow.on_complete", context, "completed"));
        Ok(Decision::Continue)
    }

    fn on_failure(&self, context: &WorkflowContext) -> Reply {
        send(&Event::workflow("workflow.on_failure", context, "failed"));
        Ok(Decision::Continue)
    }

    fn on_state_change(&self, context: &StateContext) -> Reply {
        send(&Event::state(context));
        if host::config("annotate").is_some_and(|v| v.trim() == "false") {
            return Ok(Decision::Continue);
        }
        let trigger = if context.trigger.is_empty() {
            String::new()
        } else {
            format!(" (trigger: `{}`)", context.trigger)
        };
        Ok(Decision::Annotate {
            notes: vec![format!(
                "The run moved from `{}` to `{}`{trigger}.",
                context.from_state, context.to_state
            )],
        })
    }
}

/// One thing to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The hook, e.g. `workflow.on_failure`.
    pub hook: &'static str,
    /// The message for people.
    pub text: String,
    /// The run's id (none at `state.on_change`).
    pub run_id: Option<String>,
    /// The workflow's name (none at `state.on_change`).
    pub workflow: Option<String>,
    /// `started`, `completed`, `failed`, `stopped`, …, or the state entered.
    pub status: String,
}

impl Event {
    /// The event of a `workflow.*` hook; `default_status` when the context has none.
    pub fn workflow(hook: &'static str, context: &WorkflowContext, default_status: &str) -> Event {
        let status =
            context.status.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| default_status.to_owned());
        let run = if context.run_id.is_empty() {
            format!("A run of `{}`", context.workflow_name)
        } else {
            format!("Run {} of `{}`", context.run_id, context.workflow_name)
        };
        let iterations = plural(context.iteration, "iteration", "iterations");
        let spent = context
            .spend
            .as_ref()
            .filter(|s| s.cost_usd > 0.0 || s.tokens > 0)
            .map(|s| format!(" (${:.2}, {})", s.cost_usd, plural(s.tokens, "token", "tokens")))
            .unwrap_or_default();
        let text = match hook {
            "workflow.on_start" => format!("▶️ {run} started"),
            "workflow.on_complete" => format!("✅ {run} {status} after {iterations}{spent}"),
            _ => {
                let error = context.error.as_deref().map(|e| format!(": {}", e.trim())).unwrap_or_default();
                format!("❌ {run} {status} after {iterations}{spent}{error}")
            }
        };
        Event {
            hook,
            text,
            run_id: Some(context.run_id.clone()).filter(|r| !r.is_empty()),
            workflow: Some(context.workflow_name.clone()).filter(|w| !w.is_empty()),
            status,
        }
    }

    /// The event of `state.on_change`.
    pub fn state(context: &StateContext) -> Event {
        let trigger =
            if context.trigger.is_empty() { String::new() } else { format!(" on `{}`", context.trigger) };
        Event {
            hook: "state.on_change",
            text: format!("🔀 `{}` → `{}`{trigger}", context.from_state, context.to_state),
            run_id: None,
            workflow: None,
            status: context.to_state.clone(),
        }
    }

    /// The webhook's JSON body: Slack reads `text`, other receivers the rest.
    pub fn body(&self) -> String {
        json!({
            "text": self.text,
            "hook": self.hook,
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status,
        })
        .to_string()
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// Whether the `events` setting lets `hook` post: absent or empty lets all; entries are hook
/// names or their part after the dot.
pub fn posts(events: Option<&str>, hook: &str) -> bool {
    let Some(events) = events.map(str::trim).filter(|e| !e.is_empty()) else { return true };
    let list: Vec<String> = if events.starts_with('[') {
        serde_json::from_str(events).unwrap_or_default()
    } else {
        events.split(',').map(str::to_owned).collect()
    };
    let short = hook.split_once('.').map_or(hook, |(_, s)| s);
    list.iter().map(|e| e.trim()).any(|e| e == hook || e == short)
}

/// Logs the event and posts it when a webhook is set and `events` lets it.
/// Whether it was posted.
fn send(event: &Event) -> bool {
    host::info(&event.text);
    let Some(webhook) = host::config("webhook").map(|w| w.trim().to_owned()).filter(|w| !w.is_empty()) else {
        return false;
    };
    if !posts(host::config("events").as_deref(), event.hook) {
        return false;
    }
    match host::notify(&webhook, &event.body()) {
        Ok(()) => true,
        Err(error) => {
            host::warn(&format!("notifier: the {} notification was not sent: {error}", event.hook));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_plugin_sdk::dispatch_json;
    use serde_json::Value;

    fn workflow_context(extra: Value) -> WorkflowContext {
        let mut context = json!({
            "workflow_name": "default", "iteration": 7, "started_at": "2024-03-08T10:30:15Z", "run_id": "r-42"
        });
        if let Value::Object(extra) = extra {
            context.as_object_mut().unwrap().extend(extra);
        }
        serde_json::from_value(context).unwrap()
    }

    fn call(hook: &str, context: &Value) -> Decision {
        serde_json::from_str(&dispatch_json::<Notifier>(hook, &context.to_string()).unwrap()).unwrap()
    }

    #[test]
    fn describes_itself() {
        let d = Notifier::describe();
        assert_eq!((d.name.as_str(), d.version.as_str()), ("notifier", "1.0.0"));
        assert_eq!(d.hooks, HOOKS);
        assert_eq!(d.capabilities, ["notify"]);
    }

    #[test]
    fn failure_event_and_slack_body() {
        let context = workflow_context(json!({
            "status": "failed", "error": "tests keep failing\n",
            "spend": {"cost_usd": 1.5, "tokens": 42000, "invocations": 9}
        }));
        let event = Event::workflow("workflow.on_failure", &context, "failed");
        assert_eq!(
            event.text,
            "❌ Run r-42 of `default` failed after 7 iterations ($1.50, 42000 tokens): tests keep failing"
        );
        let body: Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            body,
            json!({"text": event.text, "hook": "workflow.on_failure", "run_id": "r-42",
                   "workflow": "default", "status": "failed"})
        );
    }

    #[test]
    fn start_complete_and_stopped() {
        let start =
            Event::workflow("workflow.on_start", &workflow_context(json!({"iteration": 1})), "started");
        assert_eq!(
            (start.text.as_str(), start.status.as_str()),
            ("▶️ Run r-42 of `default` started", "started")
        );
        let done =
            Event::workflow("workflow.on_complete", &workflow_context(json!({"iteration": 1})), "completed");
        assert_eq!(done.text, "✅ Run r-42 of `default` completed after 1 iteration");
        let stopped = Event::workflow(
            "workflow.on_failure",
            &workflow_context(json!({"status": "stopped", "run_id": ""})),
            "failed",
        );
        assert_eq!(stopped.text, "❌ A run of `default` stopped after 7 iterations");
        assert_eq!(stopped.run_id, None);
        assert_eq!(serde_json::from_str::<Value>(&stopped.body()).unwrap()["run_id"], Value::Null);
    }

    #[test]
    fn state_change_annotates_and_logs() {
        host::set_config("annotate", "");
        let context = json!({"kind": "state", "from_state": "planning", "to_state": "building",
                             "trigger": "plan_complete", "timestamp": "2024-03-08T10:30:15Z"});
        assert_eq!(
            call("state.on_change", &context),
            Decision::Annotate {
                notes: vec!["The run moved from `planning` to `building` (trigger: `plan_complete`).".into()]
            }
        );
        let event = Event::state(&serde_json::from_value(context.clone()).unwrap());
        assert_eq!(event.text, "🔀 `planning` → `building` on `plan_complete`");
        assert_eq!(event.status, "building");
        host::set_config("annotate", "false");
        assert_eq!(call("state.on_change", &context), Decision::Continue);
        host::set_config("annotate", "");
    }

    #[test]
    fn workflow_hooks_continue_even_when_notify_is_refused() {
        // Natively `host::notify` always refuses, like an engine without the capability.
        host::set_config("webhook", "https://hooks.slack.com/services/T/B/X");
        let context = json!({"kind": "workflow", "workflow_name": "w", "iteration": 2,
                             "started_at": "2024-03-08T10:30:15Z", "error": "boom"});
        for hook in ["workflow.on_start", "workflow.on_complete", "workflow.on_failure"] {
            assert_eq!(call(hook, &context), Decision::Continue, "{hook}");
        }
        let event =
            Event::workflow("workflow.on_failure", &serde_json::from_value(context).unwrap(), "failed");
        assert!(!send(&event));
        host::set_config("webhook", "");
    }

    #[test]
    fn events_filter() {
        assert!(posts(None, "workflow.on_start"));
        assert!(posts(Some(" "), "state.on_change"));
        let events = Some("workflow.on_failure, on_complete");
        assert!(posts(events, "workflow.on_failure"));
        assert!(posts(events, "workflow.on_complete"));
        assert!(!posts(events, "workflow.on_start"));
        assert!(!posts(events, "state.on_change"));
        assert!(posts(Some(r#"["state.on_change"]"#), "state.on_change"));
        assert!(!posts(Some(r#"["state.on_change"]"#), "workflow.on_failure"));
    }
}
