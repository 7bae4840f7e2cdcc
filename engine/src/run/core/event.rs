//! The events of a run. Every change of a run's state is one of these, applied in one place
//! ([`super::projection::RunState::apply`]) live and on resume alike; the journal keeps exactly
//! these, in order.
//!
//! Events of a step's life name the iteration they belong to, so a journal can interleave the
//! passes of several iterations in flight; an event from an older journal without that field
//! (`iteration: 0`) belongs to the latest iteration started.

use serde::{Deserialize, Serialize};

use super::ledger::Ledger;
use super::outcome::{FailureClass, Outcome};
use super::signal::Signal;

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

impl RunStatus {
    /// Its name, as written in events and run records.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }
}

/// How a state machine moved: the kind of the plan edge it took, or a person's redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A transition whose condition held (success when it has none).
    Transition,
    /// The state's fallback, when no transition held.
    Else,
    /// The implicit move of a state without transitions to the next listed state.
    Next,
    /// The state's `timeout` passed (or a review's `on_timeout` named the state).
    Timeout,
    /// A person's `ralph-loop redirect`.
    Redirect,
}

impl Via {
    /// Its name, as journaled.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Transition => "transition",
            Via::Else => "else",
            Via::Next => "next",
            Via::Timeout => "timeout",
            Via::Redirect => "redirect",
        }
    }
}

/// How a task's mark in its file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The task is done.
    Done,
    /// The task failed.
    Failed,
    /// The task was put back as it was before the iteration (its environment failed, not it).
    Reopened,
}

impl Mark {
    /// Its name, for people and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Done => "done",
            Mark::Failed => "failed",
            Mark::Reopened => "reopened",
        }
    }
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
        /// The project's spend and breakers when it began: budgets count from here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ledger: Option<Box<Ledger>>,
        /// When, RFC 3339.
        at: String,
    },
    /// The run was resumed (`ralph-loop resume`) after a crash or a stop.
    Resumed {
        /// The run's id (the same as before, or a new run's made by `replay` or `retry`).
        #[serde(default)]
        run_id: String,
        /// The last journal event before the resumption.
        from_seq: u64,
        /// The steps that were running when it stopped: they run again.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        interrupted: Vec<String>,
        /// The project's spend and breakers as the resumed run goes on: the ledger file with
        /// this run's events it had not counted yet (another run may have spent meanwhile).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ledger: Option<Box<Ledger>>,
        /// When.
        at: String,
    },
    /// The run was started from another run's journal (`replay --from-state`, `retry --from`):
    /// the events before this one are that run's, up to `from_seq`.
    Forked {
        /// The run it came from.
        from_run: String,
        /// The last event of that run it took (retries leave some of the step's events out).
        from_seq: u64,
        /// Why: `snapshot <id>` or `retry from <step>`.
        why: String,
        /// The definition it runs: `stored` or `current`.
        definition: String,
        /// When.
        at: String,
    },
    /// A step was running when the run stopped (a crash, a kill); it runs again, and the
    /// interruption does not use up an attempt of its retry policy.
    StepInterrupted {
        /// The step.
        step: String,
        /// The attempt that was cut short.
        attempt: u32,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// An iteration began: one pass of the workflow, for one task when there is a task source.
    IterationStarted {
        /// The iteration, from 1.
        iteration: u32,
        /// The task it works on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskRef>,
        /// The task as its steps' packets show it (acceptance criteria, references).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<Box<ralph_plugin_sdk::Task>>,
        /// The tasks the task file had done when it began, for the packets' `completed_tasks`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        completed: Vec<String>,
        /// When.
        at: String,
    },
    /// An iteration ended.
    IterationFinished {
        /// The iteration.
        iteration: u32,
        /// How its pass of the workflow ended.
        status: RunStatus,
        /// Why, for people.
        reason: String,
        /// The files the pass changed, when the run looked (for `--commit` and the breaker's
        /// progress check); its steps' own lists count too.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        /// When.
        at: String,
    },
    /// A task's status was written back to its file.
    TaskMarked {
        /// The task.
        task: TaskRef,
        /// How: `done`, `failed`, or `reopened` (put back as it was).
        status: Mark,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// The loop is about to commit an iteration's work (`--commit`): journaled durably before
    /// the commit is made, so a run killed in between finds out whether it was.
    CommitIntended {
        /// The iteration.
        iteration: u32,
        /// The task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskRef>,
        /// The commit `HEAD` was at: the new commit's parent (none in a repository without one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
        /// Its message.
        message: String,
        /// The paths it commits: those the iteration changed, and nothing that predates it.
        paths: Vec<String>,
    },
    /// The work of an iteration was committed.
    Committed {
        /// The task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskRef>,
        /// The commit id.
        commit: String,
        /// Its message.
        message: String,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// A step began.
    StepStarted {
        /// The state, node or step id.
        step: String,
        /// Who performs it.
        agent: String,
        /// The attempt number, from 1.
        attempt: u32,
        /// An AI agent performs it (budgets and rate limits count it).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ai: bool,
        /// A person performs it (a human review): no agent is invoked, so it does not count
        /// against `max_iterations`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        human: bool,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
        /// When.
        at: String,
    },
    /// An agent's process group started for a step: a loop that dies leaves it behind, and the
    /// next one ends it before anything runs again.
    AgentStarted {
        /// The step.
        step: String,
        /// The process group.
        pgid: i32,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// A step ended.
    StepFinished {
        /// The step.
        step: String,
        /// What it produced.
        outcome: Box<Outcome>,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
        /// When.
        at: String,
    },
    /// A built-in action or hook agent ran for a step (`on_enter`, `on_exit`, `on_timeout`,
    /// `compensation.on_failure`; `on_failure` for the planner, `on_open` for an escalation).
    ActionFinished {
        /// The step it ran for.
        step: String,
        /// The hook (`on_enter`, …).
        hook: String,
        /// The action or agent.
        action: String,
        /// What it produced.
        outcome: Box<Outcome>,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
        /// When.
        #[serde(default)]
        at: String,
    },
    /// A message-level signal from a running step.
    Signal {
        /// The step.
        step: String,
        /// Which signal.
        signal: ralph_plugin_sdk::MessageSignal,
        /// Its message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Its other fields.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
        /// When it arrived.
        at: String,
    },
    /// A person was asked to review (a human state, or `escalate_to_human`).
    ReviewRequested {
        /// The step waiting.
        step: String,
        /// How long the review may take, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u64>,
        /// When.
        at: String,
    },
    /// The review was decided.
    ReviewDecided {
        /// The step.
        step: String,
        /// `approved`, `approved_with_changes`, `rejected`, or what `on_timeout` decided.
        decision: String,
        /// The reviewer's comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// Who decided: the OS user who sent the decision (`on_timeout` for a timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// The name the reviewer gave beside their OS user (`approve --as NAME`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    /// A failed step will be tried again after a delay, as its retry policy says.
    StepRetrying {
        /// The step.
        step: String,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// How long until the next attempt, in milliseconds.
        delay_ms: u64,
        /// The failure class of the failed attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<FailureClass>,
        /// Its error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The policy's name.
        policy: String,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// A circuit breaker changed state: the loop's, or an agent's own.
    Breaker {
        /// `open`, `half_open` or `closed`.
        state: String,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The agent whose own breaker it is (none: the loop's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        /// `half_open` only: every open breaker goes half-open (an escalation took the failures
        /// on, or a person resumed a loop the breaker paused).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
    /// The loop waits before a step (rate limits, a provider's usage limit).
    Waiting {
        /// The step that waits.
        step: String,
        /// How long, in seconds.
        seconds: u64,
        /// Why.
        reason: String,
    },
    /// A step will not run.
    StepSkipped {
        /// The step.
        step: String,
        /// Why, for people.
        reason: String,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// A state machine moved.
    Transition {
        /// The state left.
        from: String,
        /// The state entered.
        to: String,
        /// Which kind of edge was taken.
        kind: Via,
        /// The iteration.
        #[serde(default)]
        iteration: u32,
    },
    /// A control signal (`ralph-loop pause`, `hint`, `.ralph/pause`, `pause_loop`, …), journaled
    /// before it takes effect.
    Control {
        /// The signal and its argument.
        #[serde(flatten)]
        signal: Signal,
        /// Who sent it: the OS user on the other end of the control socket, a plain file,
        /// the circuit breaker, an action.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// The name the sender gave beside its OS user (`approve --as NAME`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        /// When.
        at: String,
    },
    /// A control request was refused because of who sent it: an agent of the run (a process
    /// the engine started for a step) that the workflow does not make an `approver`, or a
    /// sender whose process could not be placed. Nothing else changes: the review still waits.
    ControlRefused {
        /// The signal asked for.
        #[serde(flatten)]
        signal: Signal,
        /// The OS user on the other end of the socket.
        by: String,
        /// The sending process.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
        /// The step whose agent sent it, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_step: Option<String>,
        /// Why, for people.
        reason: String,
        /// When.
        at: String,
    },
    /// The signals since the last packet, and the pending hints, went into a step's packet and
    /// prompt (and the hints to `.ralph/hints/`).
    HintsDelivered {
        /// The step.
        step: String,
        /// How many hints (the oldest pending ones).
        count: usize,
        /// How many signals the packet listed (the oldest undelivered ones).
        #[serde(default)]
        signals: usize,
        /// How many refused task additions the packet reported (the oldest pending ones).
        #[serde(default, skip_serializing_if = "is_zero")]
        refusals: usize,
    },
    /// The run ends after the steps in flight: a budget, the circuit breaker, `max_runtime`, a
    /// plugin, an agent that cannot work here.
    Halt {
        /// How the run ends.
        status: RunStatus,
        /// Why, for people.
        reason: String,
        /// The failure class that stopped it, if one did (`environment`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<FailureClass>,
    },
    /// The circuit breaker opened and `on_open` names agents to hand the failures to: they run
    /// before the run goes on or stops.
    Escalating {
        /// Why the breaker opened.
        reason: String,
    },
    /// The escalation agents ran; when every one succeeded the run goes on with a probe.
    Escalated {
        /// The agents, in order.
        agents: Vec<String>,
        /// Every one succeeded.
        succeeded: bool,
    },
    /// Something a person should know that is not a decision (a dirty work tree at the start,
    /// a path left out of a commit, a snapshot that could not be recorded).
    Warning {
        /// What, for people.
        message: String,
        /// When.
        at: String,
    },
    /// One attempt to deliver a notification (the `notifications:` section's events) to a
    /// channel, and its result. It changes nothing of the run: it is the record that a person
    /// was (or was not) told.
    Notification {
        /// The notification event (`on_start`, `on_human_review_needed`, …).
        notification: String,
        /// The channel.
        channel: String,
        /// Which attempt, from 1.
        attempt: u32,
        /// How many attempts a send gets.
        attempts: u32,
        /// Whether this attempt delivered it.
        delivered: bool,
        /// The server's answer (`200`, `250 OK`) or why it failed, masked.
        detail: String,
        /// When.
        at: String,
    },
    /// A plugin did something the run records: a veto (and whether it took effect), a change of
    /// the packet, a note, a metric, a log line, a failure, being disabled.
    Plugin {
        /// The plugin.
        plugin: String,
        /// The hook it was called at.
        hook: String,
        /// What: `veto`, `veto_ignored`, `modify`, `modify_ignored`, `annotate`, `metric`,
        /// `log`, `error`, `disabled`, `refused`, `notify`, `load_error`, `missing`.
        kind: String,
        /// The detail, for people.
        message: String,
        /// The step it was about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// A plugin was called at a hook: a span of the run's trace (`plugin {plugin} {hook}`),
    /// which `traces` shows as an OpenTelemetry export does. What the call did besides is in
    /// `plugin` events.
    PluginCalled {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The step it was about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The iteration it was called in (0 before the first).
        iteration: u32,
        /// What it answered: `continue`, `veto`, `modify`, `annotate`, `metrics`; none when it
        /// failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decision: Option<String>,
        /// How it failed (`timeout`, `out_of_fuel`, `trapped`, …), if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// How long it took, instantiation included, in microseconds.
        duration_us: u64,
        /// When the hook was reached.
        at: String,
    },
    /// An agent reported a learning in a step (through its result file's `learnings` or a
    /// bullet it appended to `.ralph/learnings.md`); it is kept in the project's
    /// `.ralph/learnings.json` under `id`.
    LearningReported {
        /// The step that reported it.
        step: String,
        /// The task the step worked on, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
        /// Its id in the project's store (a repeat keeps the first report's id); empty when the
        /// store could not be written.
        #[serde(default)]
        id: String,
        /// What was learnt.
        text: String,
        /// When.
        at: String,
    },
    /// A task joined the task file: from an agent's result file (`step` is the step), or from
    /// `ralph-loop task add` over the control channel (from inside a step, `step` names it).
    TaskAdded {
        /// The task.
        task: TaskRef,
        /// The step that added it, when a step did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Who sent it over the control channel (the OS user), when someone did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// The iteration it was added in.
        iteration: u32,
        /// When.
        at: String,
    },
    /// A task could not be added; the reason goes into the next agent's packet.
    TaskRefused {
        /// Its id, or its title when it had none.
        task: String,
        /// Why.
        reason: String,
        /// The step that tried to add it, when a step did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Who sent it over the control channel, when someone did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// The iteration.
        iteration: u32,
        /// When.
        at: String,
    },
    /// Who does the work of this iteration's task, and why: its role, a routing entry, or the
    /// escalation of a stuck loop. Journaled before the iteration's first step, so a resumed
    /// run keeps the choice. (Boxed: events are built on the stack everywhere.)
    TaskRouted(Box<Route>),
    /// An evaluator task sent a task it depends on back for more work, with its review.
    TaskSentBack {
        /// The task sent back.
        task: TaskRef,
        /// The evaluator task.
        by: String,
        /// The review.
        review: String,
        /// The iteration of the evaluator task.
        iteration: u32,
    },
    /// The run ended.
    RunFinished {
        /// How.
        status: RunStatus,
        /// Why, for people.
        reason: String,
        /// What stopped it, when a step's failure class did: `environment` when an agent could
        /// not work at all (the CLI exits with status 4 then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<FailureClass>,
        /// When.
        at: String,
    },
}

impl Event {
    /// The step an event is about, if any (a transition is about the state it leaves).
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step, .. }
            | Event::StepFinished { step, .. }
            | Event::AgentStarted { step, .. }
            | Event::ActionFinished { step, .. }
            | Event::Signal { step, .. }
            | Event::HintsDelivered { step, .. }
            | Event::ReviewRequested { step, .. }
            | Event::ReviewDecided { step, .. }
            | Event::StepRetrying { step, .. }
            | Event::StepInterrupted { step, .. }
            | Event::Waiting { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::LearningReported { step, .. } => Some(step),
            Event::Transition { from, .. } => Some(from),
            _ => None,
        }
    }

    /// When it happened, for the events that say.
    pub fn at(&self) -> Option<&str> {
        match self {
            Event::RunStarted { at, .. }
            | Event::Resumed { at, .. }
            | Event::IterationStarted { at, .. }
            | Event::IterationFinished { at, .. }
            | Event::StepStarted { at, .. }
            | Event::StepFinished { at, .. }
            | Event::Signal { at, .. }
            | Event::ReviewRequested { at, .. }
            | Event::Control { at, .. }
            | Event::ControlRefused { at, .. }
            | Event::Warning { at, .. }
            | Event::PluginCalled { at, .. }
            | Event::Notification { at, .. }
            | Event::LearningReported { at, .. }
            | Event::TaskAdded { at, .. }
            | Event::TaskRefused { at, .. }
            | Event::RunFinished { at, .. } => Some(at),
            Event::ActionFinished { at, .. } if !at.is_empty() => Some(at),
            _ => None,
        }
    }
}

/// Who does an iteration's work instead of the workflow's work agent (`task_routed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The iteration.
    pub iteration: u32,
    /// The work agent the workflow names (`builder`).
    pub work_agent: String,
    /// What takes its place: the key of the runner's prepared choice (`role:ideas`,
    /// `routing:planning`, `escalation`, `human`).
    pub choice: String,
    /// The agent that does the work.
    pub agent: String,
    /// Its backend, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Its model, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why, for people.
    pub reason: String,
    /// Whether this is an escalation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
    /// The role whose own workflow the iteration runs instead of the loop's, when its role
    /// names one (`roles.<role>.workflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A task, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::{Mark, RunStatus, Via};

    #[test]
    fn names_are_how_they_are_serialized() {
        for status in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Stopped] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for via in [Via::Transition, Via::Else, Via::Next, Via::Timeout, Via::Redirect] {
            assert_eq!(serde_json::to_value(via).unwrap(), via.as_str());
        }
        for mark in [Mark::Done, Mark::Failed, Mark::Reopened] {
            assert_eq!(serde_json::to_value(mark).unwrap(), mark.as_str());
        }
    }
}
