//! Control signals: what a person (or a script, or the loop's own actions) asks a running loop
//! to do. They travel over the control socket and are journaled as `control` events, so they
//! belong to the pure core: the projection applies them.

use serde::{Deserialize, Serialize};

/// A control signal: what a person (or a script, or the loop's own actions) asks a running
/// loop to do. Journaled as the `control` event before it takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Signal {
    /// Finish the current step, then wait.
    Pause,
    /// Go on after a pause.
    Resume,
    /// Kill the running agents now, keep the context, and pause.
    Interrupt,
    /// State machines: the next state is `to`.
    Redirect {
        /// The state.
        to: String,
    },
    /// A hint for the next agent's prompt.
    Hint {
        /// The hint.
        text: String,
    },
    /// Raise this run's `max_iterations` by `n`.
    AddIterations {
        /// How many.
        n: u64,
    },
    /// Approve the step waiting for review.
    Approve {
        /// The reviewer's comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// Approved on condition that the comment's changes are made.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        with_changes: bool,
    },
    /// Reject the step waiting for review.
    Reject {
        /// The reviewer's comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// Add a task to the run's task file (`ralph-loop task add`, from a person or from inside
    /// a step). Journaled as `task_added` or `task_refused`, never as a `control` event: it
    /// steers nothing, so agents may send it.
    AddTask {
        /// The task.
        task: Box<ralph_plugin_sdk::NewTask>,
    },
}

/// Who sent a signal, for people: the OS user, with the name they gave beside it
/// (`ana (as Ana Lima)`), or `someone` when nothing says.
pub fn sender(by: Option<&str>, display_name: Option<&str>) -> String {
    let by = by.unwrap_or("someone");
    match display_name {
        Some(name) if name != by => format!("{by} (as {name})"),
        _ => by.to_owned(),
    }
}

impl Signal {
    /// The signal's name (`pause`, `add_iterations`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Signal::Pause => "pause",
            Signal::Resume => "resume",
            Signal::Interrupt => "interrupt",
            Signal::Redirect { .. } => "redirect",
            Signal::Hint { .. } => "hint",
            Signal::AddIterations { .. } => "add_iterations",
            Signal::Approve { .. } => "approve",
            Signal::Reject { .. } => "reject",
            Signal::AddTask { .. } => "add_task",
        }
    }

    /// The signal with its argument, for people (`redirect to `fix``).
    pub fn describe(&self) -> String {
        match self {
            Signal::Redirect { to } => format!("redirect to `{to}`"),
            Signal::Hint { text } => format!("hint \"{text}\""),
            Signal::AddIterations { n } => format!("add {n} iteration(s)"),
            Signal::Approve { comment: Some(c), .. } | Signal::Reject { comment: Some(c) } => {
                format!("{} (\"{c}\")", self.name())
            }
            other => other.name().to_owned(),
        }
    }

    /// The packet vocabulary's signal (`control.signal`).
    pub fn packet_signal(&self) -> ralph_plugin_sdk::Signal {
        use ralph_plugin_sdk::Signal as S;
        match self {
            Signal::Pause => S::Pause,
            Signal::Resume => S::Resume,
            Signal::Interrupt => S::Interrupt,
            Signal::Redirect { .. } => S::Redirect,
            // Raising the limit changes nothing an agent must do.
            Signal::AddIterations { .. } => S::Continue,
            Signal::Hint { .. } => S::Hint,
            Signal::Approve { .. } => S::Approve,
            Signal::Reject { .. } => S::Reject,
            Signal::AddTask { .. } => S::Continue,
        }
    }
}

impl Signal {
    /// How a packet's `control.signals` lists the signal.
    pub fn record(&self, by: Option<&str>, at: &str) -> ralph_plugin_sdk::SignalRecord {
        ralph_plugin_sdk::SignalRecord {
            signal: self.packet_signal(),
            name: self.name().into(),
            detail: match self {
                Signal::Redirect { to } => Some(to.clone()),
                Signal::Hint { text } => Some(text.clone()),
                Signal::AddIterations { n } => Some(n.to_string()),
                Signal::Approve { comment, .. } | Signal::Reject { comment } => comment.clone(),
                _ => None,
            },
            by: by.map(str::to_owned),
            at: at.to_owned(),
        }
    }
}
