//! The live progress display on stderr: a line per finished step, and on a terminal a status
//! line kept at the bottom — iteration, task, state, elapsed time, and a bar for DAGs —
//! redrawn on every event and twice a second by a ticker thread (so the clock moves while an
//! agent works quietly).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::diagnostic::Styles;
use crate::run::core::event::Event;
use crate::run::core::projection::{RunState, StepStatus};
use crate::run::runner::EventSink;
use crate::workflow::model::WorkflowKind;

/// What the status line shows.
#[derive(Debug, Default)]
struct Status {
    iteration: u32,
    task: Option<String>,
    current: Option<String>,
    done: usize,
    total: usize,
    dag: bool,
    waiting: Option<String>,
    finished: bool,
}

/// Draws the status line.
fn status_line(status: &Status, elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    let clock = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let mut parts = vec![clock];
    if status.iteration > 0 {
        parts.push(format!("iteration {}", status.iteration));
    }
    if let Some(task) = &status.task {
        let short: String = task.chars().take(40).collect();
        parts.push(format!("task {short}"));
    }
    if let Some(step) = &status.waiting {
        parts.push(format!("{step}: waiting for `ralph-loop approve | reject`"));
    } else if let Some(current) = &status.current {
        parts.push(current.clone());
    }
    if status.dag && status.total > 0 {
        let width = 24;
        let filled = status.done * width / status.total;
        parts.push(format!(
            "[{}{}] {}/{}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            status.done,
            status.total
        ));
    }
    parts.join(" · ")
}

/// The progress display.
pub struct Progress {
    total: usize,
    /// A state machine: its states may be visited any number of times, so a step's line shows
    /// how many steps the pass has taken, not a fraction of the states.
    revisits: bool,
    /// Steps ended in this pass (for `revisits`).
    taken: usize,
    styles: Styles,
    live: Option<Arc<Mutex<Status>>>,
    started: Instant,
}

impl Progress {
    /// A display for a plan of `total` steps (states, for a state machine, whose steps are
    /// counted as taken instead); `live` draws the status line (on a terminal).
    pub fn new(total: usize, kind: WorkflowKind, styles: Styles, live: bool) -> Self {
        let dag = kind == WorkflowKind::Dag;
        let started = Instant::now();
        let live = live.then(|| {
            let status = Arc::new(Mutex::new(Status { total, dag, ..Status::default() }));
            let shared = Arc::clone(&status);
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    let Ok(status) = shared.lock() else { return };
                    if status.finished {
                        return;
                    }
                    let line = status_line(&status, started.elapsed());
                    let _ = write!(std::io::stderr().lock(), "\r\x1b[2K{line}");
                }
            });
            status
        });
        Progress { total, revisits: kind == WorkflowKind::StateMachine, taken: 0, styles, live, started }
    }

    /// Prints a line above the status line.
    fn line(&self, text: &str) {
        // One write (stderr is unbuffered): a DAG prints thousands of these a second.
        let mut out = String::with_capacity(text.len() + 8);
        if self.live.is_some() {
            out.push_str("\r\x1b[2K");
        }
        out.push_str(text);
        out.push('\n');
        if let Some(status) = &self.live {
            if let Ok(status) = status.lock() {
                if !status.finished {
                    out.push_str(&status_line(&status, self.started.elapsed()));
                }
            }
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

impl EventSink for Progress {
    fn event(&mut self, event: &Event, state: &RunState) {
        let done = state.count(StepStatus::Succeeded)
            + state.count(StepStatus::Failed)
            + state.count(StepStatus::Skipped);
        if let Some(status) = &self.live {
            if let Ok(mut status) = status.lock() {
                status.done = done;
                status.iteration = state.iteration;
                status.task = state.task().map(|t| format!("{}: {}", t.id, t.title));
                status.waiting.clone_from(&state.waiting_for_review);
                let running = state.count(StepStatus::Running);
                status.current = match (state.current(), running) {
                    (_, 2..) => Some(format!("{running} steps running")),
                    (Some(c), 1) => Some(format!("running {c}")),
                    _ => None,
                };
                if matches!(event, Event::RunFinished { .. }) {
                    status.finished = true;
                }
            }
        }
        let (ok, bad) = (self.styles.gutter, self.styles.error);
        let width = self.total.to_string().len();
        match event {
            Event::IterationStarted { .. } | Event::RunStarted { .. } => self.taken = 0,
            Event::StepFinished { .. } | Event::StepSkipped { .. } => self.taken += 1,
            _ => {}
        }
        // `[3/5]` of a DAG or saga; `[7]` of a state machine (the seventh step of the pass).
        let counter = match self.revisits {
            true => format!("[{}]", self.taken),
            false => format!("[{done:>width$}/{}]", self.total),
        };
        match event {
            Event::RunStarted { run_id, workflow, kind, .. } => {
                let noun = if self.revisits { "state" } else { "step" };
                let steps = if self.total == 1 { format!("1 {noun}") } else { format!("{} {noun}s", self.total) };
                self.line(&format!("run {run_id}: {workflow} ({kind}, {steps})"));
            }
            Event::IterationStarted { iteration, task: Some(task), .. } => {
                self.line(&format!("iteration {iteration}: task {}: {}", task.id, task.title));
            }
            Event::IterationFinished { iteration, status, reason, .. } if state.task().is_some() => {
                self.line(&format!("iteration {iteration}: {status:?} — {reason}"));
            }
            Event::TaskMarked { task, status, .. } => {
                self.line(&format!("task {} marked {}", task.id, status.as_str()));
            }
            Event::Committed { commit, message, .. } => {
                self.line(&format!("committed {}: {message}", &commit[..commit.len().min(10)]));
            }
            Event::StepFinished { step, outcome, .. } => {
                let (mark, style) = if outcome.success { ("ok", ok) } else { ("FAILED", bad) };
                let result = outcome.result.as_deref().map(|r| format!(" → {r}")).unwrap_or_default();
                let error = outcome.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                let tests = outcome
                    .evidence
                    .test_results
                    .as_ref()
                    .map(|t| format!(" [tests: {} passed, {} failed]", t.passed, t.failed))
                    .unwrap_or_default();
                self.line(&format!(
                    "{counter} {}{mark}{} {step} ({:.2}s){result}{tests}{error}",
                    style.render(),
                    style.render_reset(),
                    outcome.duration_ms as f64 / 1000.0,
                ));
            }
            Event::StepRetrying { step, attempt, delay_ms, error, policy, .. } => {
                let error = error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
                self.line(&format!(
                    "{step}: attempt {attempt} failed{error}; retrying in {:.1}s (policy `{policy}`)",
                    *delay_ms as f64 / 1000.0
                ));
            }
            Event::StepSkipped { step, reason, .. } => {
                self.line(&format!("{counter} skipped {step}: {reason}"));
            }
            Event::ActionFinished { step, hook, action, outcome, .. } if !outcome.success => {
                self.line(&format!("{step} {hook} `{action}` failed: {}", outcome.error.as_deref().unwrap_or("")));
            }
            Event::ReviewRequested { step, .. } => self.line(&format!(
                "{step}: waiting for review — ralph-loop approve [--comment …] | ralph-loop reject [--comment …]"
            )),
            Event::ReviewDecided { step, decision, by, display_name, .. } => {
                let by = by
                    .as_deref()
                    .map(|b| format!(" by {}", crate::run::core::signal::sender(Some(b), display_name.as_deref())))
                    .unwrap_or_default();
                self.line(&format!("{step}: {decision}{by}"));
            }
            Event::ControlRefused { reason, .. } => self.line(&format!("refused: {reason}")),
            // Every wait and every steer is said on the loop's own stderr, terminal or not, with
            // who asked: a log of a loop that sat paused must not show silence.
            Event::Control { signal, by, display_name, .. } => {
                use crate::run::core::signal::{Signal, sender};
                let who = sender(by.as_deref(), display_name.as_deref());
                let text = match signal {
                    Signal::Pause => format!("paused by {who}: the loop waits after the steps in flight (`ralph-loop resume` goes on)"),
                    Signal::Resume => format!("resumed by {who}"),
                    Signal::Interrupt => format!("interrupted by {who}: the running agents were stopped; the loop waits (`ralph-loop resume` goes on)"),
                    Signal::Redirect { to } => format!("redirected to `{to}` by {who}"),
                    Signal::Hint { .. } => format!("a hint from {who} goes to the next agent"),
                    Signal::AddIterations { n } => format!("{n} more iteration(s) allowed by {who}"),
                    // Decisions are said by `ReviewDecided`; added tasks by `TaskAdded`.
                    Signal::Approve { .. } | Signal::Reject { .. } | Signal::AddTask { .. } => return,
                };
                self.line(&text);
            }
            Event::Breaker { state: breaker, reason, agent, .. } => {
                // What the loop does about its own breaker (stop, pause, escalate) is said by
                // the events that follow; an agent's open breaker fails its steps at once.
                let whose = agent
                    .as_deref()
                    .map_or("the loop's circuit breaker".to_owned(), |a| format!("the circuit breaker of agent `{a}`"));
                // An agent's reason starts with its name, which `whose` already says.
                let reason = match (reason.as_deref(), agent.as_deref()) {
                    (Some(r), Some(a)) => r.strip_prefix(&format!("agent `{a}`")).map(|r| r.trim_start_matches(": ")),
                    (r, None) => r,
                    _ => None,
                };
                let why = reason.filter(|r| !r.is_empty()).map(|r| format!(" ({r})")).unwrap_or_default();
                let text = match (breaker.as_str(), agent) {
                    ("open", Some(_)) => format!(
                        "{whose} opened{why}: its steps fail at once (`circuit_open`) until its timeout lets a probe through"
                    ),
                    ("open", None) => format!("{whose} opened{why}"),
                    ("half_open", _) => format!("{whose} is half-open{why}: the next step is the probe"),
                    _ => format!("{whose} closed{why}"),
                };
                self.line(&text);
            }
            Event::Waiting { step, seconds, reason } => {
                let wait = humantime::format_duration(Duration::from_secs(*seconds));
                self.line(&format!("{step}: waiting {wait} before it starts ({reason}); the loop goes on by itself"));
            }
            Event::Escalating { reason } => {
                self.line(&format!("the circuit breaker opened ({reason}): its escalation agents run now"));
            }
            Event::Escalated { agents, succeeded } => self.line(&format!(
                "escalation ({}) {}",
                agents.join(", "),
                if *succeeded { "succeeded: the run goes on with a probe" } else { "failed: the run stops" }
            )),
            Event::Signal { step, signal, message: Some(message), .. } => {
                self.line(&format!("{step}: {signal}: {message}"));
            }
            // A plugin's decisions and failures are shown; its routine log lines, metrics and
            // notes are in the journal (`ralph-loop logs`).
            Event::Plugin { plugin, hook, kind, message, .. } => {
                let shown = match kind.as_str() {
                    "log" => message.starts_with("[warn]") || message.starts_with("[error]"),
                    "metric" | "annotate" | "notify" => false,
                    _ => true,
                };
                if shown {
                    let at = if hook.is_empty() { String::new() } else { format!(" at {hook}") };
                    self.line(&format!("plugin {plugin}{at}: {}: {message}", kind.replace('_', " ")));
                }
            }
            Event::Warning { message, .. } => {
                let style = self.styles.warning;
                self.line(&format!("{}warning{}: {message}", style.render(), style.render_reset()));
            }
            Event::Halt { reason, .. } => self.line(&format!("the run stops after the steps in flight: {reason}")),
            Event::LearningReported { step, id, text, .. } => self.line(&format!("{step} learnt {id}: {text}")),
            Event::TaskAdded { task, step, by, .. } => {
                let from = match (step, by) {
                    (Some(step), _) => format!("`{step}`"),
                    (None, Some(by)) => by.clone(),
                    (None, None) => "someone".into(),
                };
                self.line(&format!("{from} added task {}: {}", task.id, task.title));
            }
            Event::TaskRefused { task, reason, step, .. } => {
                let from = step.as_deref().map(|s| format!(" from `{s}`")).unwrap_or_default();
                self.line(&format!("task {task}{from} not added: {reason}"));
            }
            Event::TaskRouted(route) => {
                let said = crate::inspect::status::route_text(route);
                self.line(&format!("iteration {}: {said}", route.iteration));
            }
            Event::TaskSentBack { task, by, review, .. } => {
                self.line(&format!("{by} sent task {} back: {review}", task.id));
            }
            Event::RunFinished { status, reason, .. } => {
                let spent = if state.tokens > 0 || state.cost_usd > 0.0 {
                    format!(" ({} tokens, ${:.4})", state.tokens, state.cost_usd)
                } else {
                    String::new()
                };
                self.line(&format!("run {}: {status:?} — {reason}{spent}", state.run_id));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_shows_iteration_task_state_clock_and_bar() {
        let status = Status {
            iteration: 2,
            task: Some("T-3: Add login".into()),
            current: Some("running build".into()),
            done: 6,
            total: 12,
            dag: true,
            ..Status::default()
        };
        assert_eq!(
            status_line(&status, Duration::from_secs(3725)),
            "01:02:05 · iteration 2 · task T-3: Add login · running build · [############------------] 6/12"
        );
    }
}
