//! A run's journal read as its history: its iterations, every execution of a step (one per
//! `step_started`: a retry or a second visit of a state is another execution), and the
//! decisions the runner took after each.
//!
//! The journal is written by one runner in the order things happened, so an event that names no
//! step (a breaker move, a task mark, the run's end) follows from the step that finished last,
//! and is told as that step's consequence. That is the journal's own order, not a guess: a state
//! machine settles a step's outcome before it takes a transition, and a DAG releases a node's
//! dependents only after its outcome is durable.

use std::collections::HashMap;

use serde::Serialize;

use crate::run::core::event::Via;
use crate::run::core::event::{Event, RunStatus, TaskRef};
use crate::run::core::outcome::Outcome;

/// One iteration: one pass of the workflow, for one task when the run has a task file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Iteration {
    /// Its number, from 1.
    pub iteration: u32,
    /// The task it worked on.
    pub task: Option<TaskRef>,
    /// When it began.
    pub started_at: String,
    /// When it ended, if it did.
    pub finished_at: Option<String>,
    /// How it ended, if it did.
    pub status: Option<RunStatus>,
    /// Why, for people.
    pub reason: Option<String>,
    /// Who did its task's work, when its role, routing or an escalation chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::run::core::event::Route>,
}

/// How an execution of a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// It finished successfully.
    Succeeded,
    /// It finished unsuccessfully.
    Failed,
    /// The run stopped (a crash, a kill) while it ran; `resume` ran it again.
    Interrupted,
    /// The journal ends while it runs: the run crashed, or it is running now.
    Unfinished,
}

/// One execution of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// The journal sequence number of its `step_started`.
    pub seq: u64,
    /// The run's agent invocations so far, this one included: its files are numbered by it
    /// (`steps/0007-build.log`).
    pub invocation: u64,
    /// The iteration it belongs to.
    pub iteration: u32,
    /// The state, node or saga step.
    pub step: String,
    /// Who performed it: an agent, a chain (`a → b`), parallel agents (`a, b`), `a person`.
    pub agent: String,
    /// The attempt, from 1.
    pub attempt: u32,
    /// When it began.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How it stands.
    pub status: ExecutionStatus,
    /// What it produced, when it finished.
    pub outcome: Option<Outcome>,
    /// The message-level signals it sent.
    pub signals: Vec<SignalNote>,
    /// What the runner did after it (and while it ran: a review's decision).
    pub decisions: Vec<Decision>,
    /// The plugins called about it: before it (`phase.before_*`, `agent.on_invoke`) and after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugin_calls: Vec<PluginCall>,
}

/// A plugin's call at a hook: a span of the run's trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginCall {
    /// The plugin.
    pub plugin: String,
    /// The hook.
    pub hook: String,
    /// The iteration it was called in (0 before the first).
    pub iteration: u32,
    /// What it answered, when it answered.
    pub decision: Option<String>,
    /// How it failed, if it did.
    pub error: Option<String>,
    /// When the hook was reached.
    pub at: String,
    /// How long the call took, in microseconds.
    pub duration_us: u64,
    /// The notes it gave (`annotate`), for the step's packet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Execution {
    /// Its wall time, when it finished.
    pub fn duration_ms(&self) -> Option<u64> {
        self.outcome.as_ref().map(|o| o.duration_ms)
    }

    /// The tokens its agents reported.
    pub fn tokens(&self) -> Option<u64> {
        self.outcome.as_ref().and_then(|o| o.evidence.metrics.total_tokens())
    }

    /// The US dollars its agents reported.
    pub fn cost_usd(&self) -> Option<f64> {
        self.outcome.as_ref().and_then(|o| o.evidence.metrics.cost_usd)
    }
}

/// A signal an agent sent while it ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalNote {
    /// Which signal.
    pub signal: ralph_plugin_sdk::MessageSignal,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its other fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// When it arrived.
    pub at: String,
}

/// A decision the runner took, as the journal records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A plugin vetoed, failed, was disabled, or was ignored.
    Plugin {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// What (`veto`, `veto_ignored`, `error`, `disabled`, ...).
        what: String,
        /// The detail.
        message: String,
    },
    /// The state machine moved.
    Transition {
        /// The state entered.
        to: String,
        /// Which edge was taken.
        edge: Via,
    },
    /// The step will be tried again.
    Retry {
        /// The next attempt.
        next_attempt: u32,
        /// After this long.
        delay_ms: u64,
        /// The retry policy.
        policy: String,
        /// The failure class that was retried.
        #[serde(skip_serializing_if = "Option::is_none")]
        class: Option<String>,
    },
    /// Another step started next (a DAG's released nodes, a saga's next step).
    Started {
        /// The step.
        step: String,
    },
    /// A step will not run.
    Skipped {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
    /// A hook's action or agent ran (`on_enter`, `on_exit`, `on_timeout`, the planner
    /// `on_failure`, the breaker's escalation `on_open`).
    Hook {
        /// The hook.
        hook: String,
        /// The action or agent.
        action: String,
        /// Whether it succeeded.
        success: bool,
        /// Its error.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A person (or `on_timeout`) decided a review.
    Review {
        /// `approved`, `rejected`, …
        decision: String,
        /// Who.
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Their comment.
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A circuit breaker moved.
    Breaker {
        /// `open`, `half_open` or `closed`.
        state: String,
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The loop waited before a step.
    Waiting {
        /// The step that waited.
        step: String,
        /// How long, in seconds.
        seconds: u64,
        /// Why.
        reason: String,
    },
    /// The iteration ended.
    IterationEnded {
        /// How.
        status: RunStatus,
        /// Why.
        reason: String,
    },
    /// The task was marked in its file.
    TaskMarked {
        /// The task's id.
        task: String,
        /// `done` or `failed`.
        status: String,
    },
    /// The iteration's work was committed.
    Committed {
        /// The commit id.
        commit: String,
        /// Its message.
        message: String,
    },
    /// The run ended.
    RunEnded {
        /// How.
        status: RunStatus,
        /// Why.
        reason: String,
    },
    /// The run was set to end after the steps in flight (a budget, the breaker, an agent that
    /// cannot work here).
    Halted {
        /// Why.
        reason: String,
    },
    /// The breaker's escalation agents ran.
    Escalated {
        /// The agents.
        agents: Vec<String>,
        /// Every one succeeded: the run goes on with a probe.
        succeeded: bool,
    },
    /// A person, a file, the breaker or an action steered the live run (`pause`, `hint`, …).
    Control {
        /// The signal, for people.
        signal: String,
        /// Who sent it.
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

fn edge_word(edge: Via) -> &'static str {
    match edge {
        Via::Transition => "transition",
        Via::Else => "else",
        Via::Next => "next state",
        Via::Timeout => "on_timeout",
        Via::Redirect => "redirected",
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Transition { to, edge } => write!(f, "→ `{to}` ({})", edge_word(*edge)),
            Decision::Plugin { plugin, hook, what, message } => {
                write!(f, "plugin `{plugin}` {}", what.replace('_', " "))?;
                if !hook.is_empty() {
                    write!(f, " at {hook}")?;
                }
                write!(f, ": {message}")
            }
            Decision::Retry { next_attempt, delay_ms, policy, class } => {
                let class = class.as_deref().map(|c| format!(", {c}")).unwrap_or_default();
                write!(
                    f,
                    "retry: attempt {next_attempt} in {} (policy `{policy}`{class})",
                    crate::inspect::human_ms(*delay_ms)
                )
            }
            Decision::Started { step } => write!(f, "started `{step}`"),
            Decision::Skipped { step, reason } => write!(f, "skipped `{step}`: {reason}"),
            Decision::Hook { hook, action, success, error } => {
                let how = if *success { "ok".to_owned() } else { "failed".to_owned() };
                let error = error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                write!(f, "{hook}: `{action}` {how}{error}")
            }
            Decision::Review { decision, by, comment } => {
                let by = by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
                let comment = comment.as_deref().map(|c| format!(": “{c}”")).unwrap_or_default();
                write!(f, "review {decision}{by}{comment}")
            }
            Decision::Breaker { state, reason } => {
                let reason = reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                write!(f, "circuit breaker {state}{reason}")
            }
            Decision::Waiting { step, seconds, reason } => {
                write!(f, "waited {} before `{step}`: {reason}", crate::inspect::human_ms(seconds * 1000))
            }
            Decision::IterationEnded { status, reason } => {
                write!(f, "iteration {}: {reason}", status.as_str())
            }
            Decision::TaskMarked { task, status } => write!(f, "task {task} marked {status}"),
            Decision::Committed { commit, message } => {
                write!(f, "committed {} “{message}”", &commit[..commit.len().min(10)])
            }
            Decision::RunEnded { status, reason } => write!(f, "run {}: {reason}", status.as_str()),
            Decision::Halted { reason } => write!(f, "the run stops: {reason}"),
            Decision::Escalated { agents, succeeded } => {
                let how = if *succeeded { "the next step is the probe" } else { "it failed" };
                write!(f, "escalated to {}: {how}", agents.join(", "))
            }
            Decision::Control { signal, by } => {
                let by = by.as_deref().map(|b| format!(" (from {b})")).unwrap_or_default();
                write!(f, "{signal}{by}")
            }
        }
    }
}

/// A step that did not run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    /// The iteration.
    pub iteration: u32,
    /// The step.
    pub step: String,
    /// Why.
    pub reason: String,
}

/// What a run's journal says happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct History {
    /// When the run began.
    pub started_at: Option<String>,
    /// The last time the journal names.
    pub last_at: Option<String>,
    /// Its iterations, in order.
    pub iterations: Vec<Iteration>,
    /// Every execution of a step, in the order they began.
    pub executions: Vec<Execution>,
    /// Steps that did not run.
    pub skips: Vec<Skip>,
    /// Times it was resumed.
    pub resumed: u32,
    /// How the run ended, if the journal says.
    pub end: Option<(RunStatus, String)>,
    /// Plugin calls about no step (`workflow.*`, `state.on_change`), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugin_calls: Vec<PluginCall>,
}

impl History {
    /// Reads a journal.
    pub fn from_events(events: &[(u64, Event)]) -> History {
        let mut h = History::default();
        let mut iteration = 0;
        // The latest execution of each step in the current iteration.
        let mut current: HashMap<String, usize> = HashMap::new();
        // The execution that finished last: what events naming no step follow from.
        let mut last_finished: Option<usize> = None;
        // Calls about a step that has not started yet (`phase.before_*`): its next execution's.
        let mut before: HashMap<String, Vec<PluginCall>> = HashMap::new();
        for (seq, event) in events {
            if let Some(at) = event.at() {
                h.last_at = Some(at.to_owned());
            }
            // The execution an event about `step` belongs to, else the one that finished last.
            let about = |step: &str| current.get(step).copied().or(last_finished);
            let mut note: Option<(Option<usize>, Decision)> = None;
            match event {
                Event::RunStarted { at, .. } => h.started_at = Some(at.clone()),
                Event::Resumed { .. } => h.resumed += 1,
                Event::IterationStarted { iteration: n, task, at, .. } => {
                    iteration = *n;
                    current.clear();
                    last_finished = None;
                    h.iterations.push(Iteration {
                        iteration: *n,
                        task: task.clone(),
                        started_at: at.clone(),
                        finished_at: None,
                        status: None,
                        reason: None,
                        route: None,
                    });
                }
                Event::TaskRouted(route) => {
                    if let Some(it) = h.iterations.iter_mut().rev().find(|i| i.iteration == route.iteration) {
                        it.route = Some((**route).clone());
                    }
                }
                Event::IterationFinished { iteration: n, status, reason, at, .. } => {
                    if let Some(it) = h.iterations.iter_mut().rev().find(|i| i.iteration == *n) {
                        it.finished_at = Some(at.clone());
                        it.status = Some(*status);
                        it.reason = Some(reason.clone());
                    }
                    note = Some((
                        last_finished,
                        Decision::IterationEnded { status: *status, reason: reason.clone() },
                    ));
                }
                Event::StepStarted { step, agent, attempt, at, .. } => {
                    let index = h.executions.len();
                    // What the last step's end let start next, unless a transition said it.
                    if let Some(last) = last_finished.map(|i| &mut h.executions[i]) {
                        let moved = last.decisions.iter().any(|d| matches!(d, Decision::Transition { .. }));
                        if !moved && last.step != *step {
                            last.decisions.push(Decision::Started { step: step.clone() });
                        }
                    }
                    h.executions.push(Execution {
                        seq: *seq,
                        invocation: index as u64 + 1,
                        iteration,
                        step: step.clone(),
                        agent: agent.clone(),
                        attempt: *attempt,
                        started_at: at.clone(),
                        finished_at: None,
                        status: ExecutionStatus::Unfinished,
                        outcome: None,
                        signals: Vec::new(),
                        decisions: Vec::new(),
                        plugin_calls: before.remove(step).unwrap_or_default(),
                    });
                    current.insert(step.clone(), index);
                }
                Event::StepFinished { step, outcome, at, .. } => {
                    if let Some(&i) = current.get(step) {
                        let e = &mut h.executions[i];
                        e.status = if outcome.success {
                            ExecutionStatus::Succeeded
                        } else {
                            ExecutionStatus::Failed
                        };
                        e.outcome = Some((**outcome).clone());
                        e.finished_at = Some(at.clone());
                        last_finished = Some(i);
                    }
                }
                Event::StepInterrupted { step, .. } => {
                    if let Some(&i) = current.get(step) {
                        h.executions[i].status = ExecutionStatus::Interrupted;
                    }
                }
                Event::StepRetrying { step, attempt, delay_ms, class, policy, .. } => {
                    let retry = Decision::Retry {
                        next_attempt: attempt + 1,
                        delay_ms: *delay_ms,
                        policy: policy.clone(),
                        class: class.map(|c| c.as_str().to_owned()),
                    };
                    note = Some((about(step), retry));
                }
                Event::ActionFinished { step, hook, action, outcome, .. } => {
                    // `on_enter` runs before the state's step starts: it follows from the move
                    // into the state, that is from the step that finished last.
                    let owner = if hook == "on_enter" { last_finished } else { about(step) };
                    let hook = Decision::Hook {
                        hook: hook.clone(),
                        action: action.clone(),
                        success: outcome.success,
                        error: outcome.error.clone(),
                    };
                    note = Some((owner, hook));
                }
                Event::ReviewDecided { step, decision, comment, by, display_name } => {
                    let review = Decision::Review {
                        decision: decision.clone(),
                        by: by
                            .as_ref()
                            .map(|b| crate::run::core::signal::sender(Some(b), display_name.as_deref())),
                        comment: comment.clone(),
                    };
                    note = Some((about(step), review));
                }
                Event::Signal { step, signal, message, data, at } => {
                    if let Some(&i) = current.get(step) {
                        h.executions[i].signals.push(SignalNote {
                            signal: *signal,
                            message: message.clone(),
                            data: data.clone(),
                            at: at.clone(),
                        });
                    }
                }
                Event::Breaker { state, reason, .. } => {
                    note = Some((
                        last_finished,
                        Decision::Breaker { state: state.clone(), reason: reason.clone() },
                    ));
                }
                Event::Waiting { step, seconds, reason } => {
                    let waiting =
                        Decision::Waiting { step: step.clone(), seconds: *seconds, reason: reason.clone() };
                    note = Some((last_finished, waiting));
                }
                Event::StepSkipped { step, reason, .. } => {
                    h.skips.push(Skip { iteration, step: step.clone(), reason: reason.clone() });
                    note = Some((
                        last_finished,
                        Decision::Skipped { step: step.clone(), reason: reason.clone() },
                    ));
                }
                Event::Transition { from, to, kind, .. } => {
                    note = Some((about(from), Decision::Transition { to: to.clone(), edge: *kind }));
                }
                Event::TaskMarked { task, status, .. } => {
                    let marked =
                        Decision::TaskMarked { task: task.id.clone(), status: status.as_str().to_owned() };
                    note = Some((last_finished, marked));
                }
                Event::Committed { commit, message, .. } => {
                    let committed = Decision::Committed { commit: commit.clone(), message: message.clone() };
                    note = Some((last_finished, committed));
                }
                Event::RunFinished { status, reason, .. } => {
                    h.end = Some((*status, reason.clone()));
                    note =
                        Some((last_finished, Decision::RunEnded { status: *status, reason: reason.clone() }));
                }
                Event::Control { signal, by, display_name, .. } => {
                    let by = by
                        .as_ref()
                        .map(|b| crate::run::core::signal::sender(Some(b), display_name.as_deref()));
                    let control = Decision::Control { signal: signal.describe(), by };
                    note = Some((last_finished, control));
                }
                Event::ControlRefused { signal, by, pid, reason, .. } => {
                    let pid = pid.map(|p| format!(", pid {p}")).unwrap_or_default();
                    let control = Decision::Control {
                        signal: format!("{} refused: {reason}", signal.describe()),
                        by: Some(format!("{by}{pid}")),
                    };
                    note = Some((last_finished, control));
                }
                // Log lines, metrics and notes are the plugin's business; what it decided or how
                // it failed is the run's.
                Event::Plugin { plugin, hook, kind, message, step } => {
                    if kind == "annotate" {
                        // A note follows the call that gave it: the latest of that plugin there.
                        let calls = match step {
                            Some(s) if before.contains_key(s) => before.get_mut(s),
                            Some(s) => current.get(s).map(|&i| &mut h.executions[i].plugin_calls),
                            None => Some(&mut h.plugin_calls),
                        };
                        let call = calls.and_then(|c| {
                            c.iter_mut().rev().find(|c| c.plugin == *plugin && c.hook == *hook)
                        });
                        if let Some(call) = call {
                            call.notes.push(message.clone());
                        }
                    }
                    if !matches!(kind.as_str(), "log" | "metric" | "annotate" | "notify") {
                        let at = step.as_deref().map_or(last_finished, about);
                        let decision = Decision::Plugin {
                            plugin: plugin.clone(),
                            hook: hook.clone(),
                            what: kind.clone(),
                            message: message.clone(),
                        };
                        note = Some((at, decision));
                    }
                }
                // A run made from another (`replay`, `retry`) starts with that run's events,
                // then says so; its own `resumed` follows.
                Event::Halt { reason, .. } => {
                    note = Some((last_finished, Decision::Halted { reason: reason.clone() }));
                }
                Event::Escalated { agents, succeeded } => {
                    let decision = Decision::Escalated { agents: agents.clone(), succeeded: *succeeded };
                    note = Some((last_finished, decision));
                }
                Event::PluginCalled {
                    plugin,
                    hook,
                    step,
                    iteration: n,
                    decision,
                    error,
                    duration_us,
                    at,
                } => {
                    let call = PluginCall {
                        plugin: plugin.clone(),
                        hook: hook.clone(),
                        iteration: *n,
                        decision: decision.clone(),
                        error: error.clone(),
                        at: at.clone(),
                        duration_us: *duration_us,
                        notes: Vec::new(),
                    };
                    match step {
                        // A step that is running: a call after it (or about its agent).
                        Some(step)
                            if current
                                .get(step)
                                .is_some_and(|&i| h.executions[i].status == ExecutionStatus::Unfinished) =>
                        {
                            h.executions[current[step]].plugin_calls.push(call);
                        }
                        Some(step) => before.entry(step.clone()).or_default().push(call),
                        None => h.plugin_calls.push(call),
                    }
                }
                Event::Forked { .. }
                | Event::ReviewRequested { .. }
                | Event::HintsDelivered { .. }
                | Event::CommitIntended { .. }
                | Event::AgentStarted { .. }
                | Event::Escalating { .. }
                | Event::Notification { .. }
                | Event::LearningReported { .. }
                | Event::TaskAdded { .. }
                | Event::TaskRefused { .. }
                | Event::TaskSentBack { .. }
                | Event::Warning { .. } => {}
            }
            if let Some((Some(i), decision)) = note {
                h.executions[i].decisions.push(decision);
            }
        }
        h
    }

    /// The executions of one iteration.
    pub fn iteration(&self, n: u32) -> impl Iterator<Item = &Execution> {
        self.executions.iter().filter(move |e| e.iteration == n)
    }

    /// The numbers of the run's iterations.
    pub fn iteration_numbers(&self) -> Vec<u32> {
        let mut numbers: Vec<u32> = self.iterations.iter().map(|i| i.iteration).collect();
        numbers.dedup();
        numbers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(success: bool) -> Box<Outcome> {
        Box::new(Outcome { success, duration_ms: 1200, ..Outcome::default() })
    }

    fn started(step: &str, attempt: u32) -> Event {
        Event::StepStarted {
            step: step.into(),
            agent: "a".into(),
            attempt,
            at: "2026-01-01T00:00:01Z".into(),
            ai: false,
            human: false,
            iteration: 1,
        }
    }

    fn finished(step: &str, success: bool) -> Event {
        Event::StepFinished {
            step: step.into(),
            outcome: outcome(success),
            at: "2026-01-01T00:00:02Z".into(),
            iteration: 1,
        }
    }

    #[test]
    fn decisions_follow_the_step_they_come_from() {
        let at = || "2026-01-01T00:00:00Z".to_owned();
        let events = [
            Event::RunStarted {
                run_id: "r".into(),
                workflow: "w".into(),
                kind: "state_machine".into(),
                at: at(),
                ledger: None,
            },
            Event::IterationStarted {
                iteration: 1,
                task: None,
                at: at(),
                detail: None,
                completed: Vec::new(),
            },
            started("build", 1),
            finished("build", false),
            Event::StepRetrying {
                step: "build".into(),
                attempt: 1,
                delay_ms: 10,
                class: Some(crate::run::core::outcome::FailureClass::NonzeroExit),
                error: None,
                policy: "default".into(),
                iteration: 1,
            },
            started("build", 2),
            finished("build", true),
            Event::Transition {
                from: "build".into(),
                to: "verify".into(),
                kind: Via::Transition,
                iteration: 1,
            },
            started("verify", 1),
            finished("verify", true),
            Event::IterationFinished {
                iteration: 1,
                status: RunStatus::Succeeded,
                reason: "done".into(),
                at: at(),
                files: Vec::new(),
            },
            Event::RunFinished { status: RunStatus::Succeeded, reason: "done".into(), class: None, at: at() },
        ];
        let events: Vec<(u64, Event)> =
            events.into_iter().enumerate().map(|(i, e)| (i as u64 + 1, e)).collect();
        let h = History::from_events(&events);
        assert_eq!(h.executions.len(), 3);
        assert_eq!(h.executions.iter().map(|e| e.invocation).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(matches!(h.executions[0].decisions[..], [Decision::Retry { next_attempt: 2, .. }]));
        // The retry's start is not "started next": the retry said so.
        assert!(
            matches!(&h.executions[1].decisions[..], [Decision::Transition { to, .. }] if to == "verify")
        );
        assert!(matches!(
            h.executions[2].decisions[..],
            [Decision::IterationEnded { .. }, Decision::RunEnded { .. }]
        ));
        assert_eq!(h.iteration_numbers(), [1]);
        assert_eq!(h.end.as_ref().map(|e| e.0), Some(RunStatus::Succeeded));
    }

    #[test]
    fn an_interrupted_step_is_told_apart_from_one_still_running() {
        let events = [
            (
                1,
                Event::IterationStarted {
                    iteration: 1,
                    task: None,
                    at: "2026-01-01T00:00:00Z".into(),
                    detail: None,
                    completed: Vec::new(),
                },
            ),
            (2, started("a", 1)),
            (3, Event::StepInterrupted { step: "a".into(), attempt: 1, iteration: 1 }),
            (4, started("a", 1)),
        ];
        let h = History::from_events(&events);
        assert_eq!(h.executions[0].status, ExecutionStatus::Interrupted);
        assert_eq!(h.executions[1].status, ExecutionStatus::Unfinished);
    }
}
