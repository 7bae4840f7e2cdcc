//! The control protocol: one JSON object per line each way. A client sends a [`Request`]; the
//! loop answers with one [`Reply`] (for `subscribe` and `journal`, a stream of `event` replies
//! ended by `end`), then reads the connection's next request.
//!
//! Besides signals and the live run's status, the loop answers read requests from its store
//! (`runs`, `journal`, `snapshots`, `definition`): while it runs it holds the store, and these
//! are how the read-only verbs see it. Records travel as the store keeps them (JSON), so this
//! module needs no store types.

use serde::{Deserialize, Serialize};

pub use crate::run::core::signal::Signal;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Deliver a signal; answered once the loop has journaled it (or refused it).
    Signal {
        /// The signal.
        #[serde(flatten)]
        signal: Signal,
        /// A name the sender gives, shown beside the OS user the loop finds on the other end
        /// of the socket (`approve --as NAME`); never recorded in place of that user.
        #[serde(default, alias = "by", rename = "as", skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    /// The loop's status now.
    Status,
    /// The run's events: the journal from `from` on, then each new event as it happens, until
    /// the run ends.
    Subscribe {
        /// The first sequence number wanted (1: everything).
        #[serde(default = "one")]
        from: u64,
        /// Keep sending new events until the run ends; otherwise `end` after the journal so far.
        #[serde(default = "yes")]
        follow: bool,
    },
    /// Every run's record in the loop's store, oldest first: answered by `runs`.
    Runs,
    /// A run's journal (any run in the store, not only the live one) from `from` on: answered
    /// by its `event`s, then `end`.
    Journal {
        /// The run.
        run: String,
        /// The first sequence number wanted (1: everything).
        #[serde(default = "one")]
        from: u64,
    },
    /// The snapshots of a run, or of every run: answered by `snapshots`.
    Snapshots {
        /// Only this run's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
    },
    /// A stored workflow definition by its hash: answered by `definition`.
    Definition {
        /// The definition's hash (a run record's `definition_hash`).
        hash: String,
    },
}

fn one() -> u64 {
    1
}

fn yes() -> bool {
    true
}

/// What the loop answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The signal was journaled and takes effect.
    Accepted {
        /// What it does, for people.
        message: String,
    },
    /// The signal was refused (an unknown state, nothing waiting for review, …).
    Refused {
        /// Why, for people.
        message: String,
    },
    /// The status.
    Status {
        /// It.
        status: Box<LiveStatus>,
    },
    /// One journaled event.
    Event {
        /// Its sequence number in the journal.
        seq: u64,
        /// The event.
        event: serde_json::Value,
    },
    /// The subscriber fell behind and missed events (read them with `ralph-loop logs`).
    Lagged {
        /// How many.
        missed: u64,
    },
    /// The run ended, or the journal asked for is all sent: no more events.
    End,
    /// The run records, oldest first.
    Runs {
        /// Each as the store keeps it.
        runs: Vec<serde_json::Value>,
        /// The run this loop is running (its record says `running`, and it is).
        live: String,
    },
    /// The snapshots, oldest first.
    Snapshots {
        /// Each as the store keeps it.
        snapshots: Vec<serde_json::Value>,
    },
    /// A stored definition, if the store holds one with that hash.
    Definition {
        /// It.
        definition: Option<serde_json::Value>,
    },
    /// The loop could not read what was asked from its store.
    Unreadable {
        /// Why, for people.
        message: String,
    },
}

/// A running loop's status, as `ralph-loop status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveStatus {
    /// The loop's process.
    pub pid: u32,
    /// The run.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// `state_machine`, `dag` or `saga`.
    pub kind: String,
    /// The current state or step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The current iteration.
    pub iteration: u32,
    /// Its task (`id: title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// How many steps are running now.
    pub running: usize,
    /// Whether the loop is paused (or pauses after its current step), and by whom.
    pub paused: bool,
    /// Who or what paused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_by: Option<String>,
    /// The step waiting for a person's review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_review: Option<String>,
    /// The circuit breaker: `closed`, `open` or `half_open`.
    pub breaker: String,
    /// Why it opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_reason: Option<String>,
    /// Agent invocations so far, and the limit (`max_iterations` plus `add-iterations`).
    pub invocations: u64,
    /// The limit.
    pub max_iterations: u64,
    /// This run's tokens and dollars.
    pub tokens: u64,
    /// Dollars.
    pub cost_usd: f64,
    /// Spend over every run (the ledger) and the budgets, as configured.
    pub budget: serde_json::Value,
    /// Hints waiting for the next prompt.
    pub pending_hints: usize,
    /// A redirect waiting to be taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// The last signal, for people (`pause by ana at …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_signal: Option<String>,
    /// The last request refused because an agent sent it, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refused: Option<String>,
    /// The task file the run works through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_file: Option<std::path::PathBuf>,
    /// What the run's pace is computed from, when it is asked for (`status` computes it with
    /// the time of the asking, so a stall grows between the loop's events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_log: Option<crate::run::core::pace::PaceLog>,
    /// Who does the current iteration's work, when its role, routing or an escalation chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::run::core::event::Route>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_are_flat_json_lines() {
        let request = Request::Signal {
            signal: Signal::Redirect { to: "fix".into() },
            display_name: Some("ana".into()),
        };
        let line = serde_json::to_string(&request).unwrap();
        assert_eq!(line, r#"{"request":"signal","signal":"redirect","to":"fix","as":"ana"}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);
        let add: Request =
            serde_json::from_str(r#"{"request":"signal","signal":"add_iterations","n":5}"#).unwrap();
        assert_eq!(add, Request::Signal { signal: Signal::AddIterations { n: 5 }, display_name: None });
        let sub: Request = serde_json::from_str(r#"{"request":"subscribe"}"#).unwrap();
        assert_eq!(sub, Request::Subscribe { from: 1, follow: true });
        let reply = Reply::Refused { message: "no".into() };
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
        let journal: Request = serde_json::from_str(r#"{"request":"journal","run":"r"}"#).unwrap();
        assert_eq!(journal, Request::Journal { run: "r".into(), from: 1 });
        assert_eq!(
            serde_json::to_string(&Request::Snapshots { run: None }).unwrap(),
            r#"{"request":"snapshots"}"#
        );
    }
}
