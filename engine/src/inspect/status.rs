//! The project's status as `status --json` and the dashboard's `/api/status` give it: the
//! running loop's own account over its control socket when one runs, else the latest run in
//! the store, with the ledger's circuit breakers and spend, and the run's pace (velocity, ETA,
//! drift, stalls: `run/core/pace.rs`). One builder, so the two never disagree on a field name.

use std::path::Path;

use serde_json::{Value, json};

use crate::control::{ControlError, LiveStatus, Reply, Request};
use crate::policy::breaker::BreakerState;
use crate::run::core::pace::{Pace, PaceLog, STALL_FACTOR};
use crate::run::ledger::{Ledger, today};
use crate::store::{Store, StoreError};

/// Why the status cannot be told.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The ledger (`.ralph/ledger.json`) cannot be read.
    #[error("{0}")]
    Ledger(String),
    /// The store cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The running loop did not answer as it should.
    #[error(transparent)]
    Live(#[from] ControlError),
}

/// The latest run when no loop answers for it: its id, `status`, `reason`, and the step
/// waiting for review.
#[derive(Debug, Clone)]
pub struct LatestRun {
    /// The run.
    pub run_id: String,
    /// `succeeded`, `failed`, …, `interrupted (resume it)`, or `running` (a loop holds the
    /// store but did not answer).
    pub status: String,
    /// Why it ended as it did.
    pub reason: Option<String>,
    /// The step waiting for a person's review, if one is.
    pub waiting_for_review: Option<String>,
    /// Its pace, from its journal (none for a run a loop holds but does not answer for).
    pub pace: Option<Pace>,
    /// Who did its latest iteration's work, when a role, routing or an escalation chose.
    pub route: Option<crate::run::core::event::Route>,
}

/// Who does the work, for people: `` `builder` on claude-sonnet-4-5 (escalation: …) ``.
pub fn route_text(route: &crate::run::core::event::Route) -> String {
    let on: Vec<&str> = [route.backend.as_deref(), route.model.as_deref()].into_iter().flatten().collect();
    let on = if on.is_empty() { String::new() } else { format!(" on {}", on.join(" · ")) };
    let escalated = if route.escalated { "escalated: " } else { "" };
    format!("{escalated}`{}`{on} does the work ({})", route.agent, route.reason)
}

/// A running loop's own account of itself, over its control socket (`None`: no loop runs).
///
/// # Errors
///
/// The socket cannot be reached, or the loop answers something else.
pub fn live(state_dir: &Path) -> Result<Option<LiveStatus>, ControlError> {
    match crate::control::client::ask(state_dir, &Request::Status)? {
        None => Ok(None),
        Some(Reply::Status { status }) => Ok(Some(*status)),
        Some(other) => Err(ControlError::Protocol(format!(
            "the loop answered `{}` to `status`",
            serde_json::to_string(&other).unwrap_or_default()
        ))),
    }
}

/// The latest run, read from the store when no loop owns it; a loop's run is reported as
/// running, with its pid. A directory without a store has no runs (and gets no store).
///
/// # Errors
///
/// The store cannot be read.
pub fn latest_run(project_dir: &Path, state_dir: &Path) -> Result<Option<LatestRun>, StoreError> {
    let runs = crate::run::runner::runs_dir(project_dir);
    let mut route = None;
    let (run_id, status, reason, pace) = match Store::open_existing(state_dir) {
        Ok(None) => return Ok(None),
        Ok(Some(store)) => match store.runs()?.pop() {
            Some(record) => {
                let status = if record.status == "running" {
                    "interrupted (resume it)".to_owned()
                } else {
                    record.status
                };
                // A journal that cannot be read leaves the pace out, not the status.
                let pace = super::journal(&store, &record.run_id).ok().map(|events| {
                    let mut latest = 0;
                    for (_, event) in &events {
                        match event {
                            crate::run::core::event::Event::IterationStarted { iteration, .. } => {
                                latest = *iteration;
                                route = None;
                            }
                            crate::run::core::event::Event::TaskRouted(r) if r.iteration == latest => {
                                route = Some((**r).clone());
                            }
                            _ => {}
                        }
                    }
                    let log = PaceLog::from_events(events.iter().map(|(_, e)| e));
                    let counts = record
                        .tasks
                        .as_deref()
                        .and_then(|f| super::tasks::counts_at(&super::tasks::resolve(project_dir, f)));
                    log.pace(counts, None)
                });
                (record.run_id, status, record.reason, pace)
            }
            None => return Ok(None),
        },
        Err(StoreError::Locked { pid, .. }) => {
            let Some(id) = crate::run::runner::run_ids(&runs).ok().and_then(|mut ids| ids.pop()) else {
                return Ok(None);
            };
            let by = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            (id, "running".to_owned(), Some(format!("a loop is running{by}")), None)
        }
        Err(e) => return Err(e),
    };
    let waiting_for_review = crate::run::human::waiting(&runs.join(&run_id));
    Ok(Some(LatestRun { run_id, status, reason, waiting_for_review, pace, route }))
}

/// The ledger's spend, the same with or without a running loop.
pub fn spend_json(ledger: &Ledger) -> Value {
    json!({
        "tokens": ledger.tokens,
        "cost_usd": ledger.cost_usd,
        "today_cost_usd": ledger.daily_cost_usd.get(&today()).copied().unwrap_or(0.0),
        "ai_invocations": ledger.ai_invocations,
    })
}

/// The project's ledger (`.ralph/ledger.json`).
///
/// # Errors
///
/// It exists but cannot be read or understood.
pub fn ledger(project_dir: &Path) -> Result<Ledger, StatusError> {
    crate::run::ledger::load(&crate::run::ledger::path(project_dir)).map_err(StatusError::Ledger)
}

/// `status --json`: `latest_run`, `live` (when a loop answers), `pace`, `breaker`,
/// `agent_breakers`, `spend`.
///
/// # Errors
///
/// The ledger, the store or the loop's socket cannot be read.
pub fn json(project_dir: &Path, state_dir: &Path) -> Result<Value, StatusError> {
    let ledger = ledger(project_dir)?;
    Ok(match live(state_dir)? {
        Some(status) => live_json(project_dir, &status, &ledger),
        None => stored_json(latest_run(project_dir, state_dir)?.as_ref(), &ledger),
    })
}

/// A running loop's pace, now: the task file is read for its counts.
pub fn live_pace(project_dir: &Path, status: &LiveStatus) -> Option<Pace> {
    let counts = status
        .task_file
        .as_deref()
        .and_then(|f| super::tasks::counts_at(&super::tasks::resolve(project_dir, f)));
    status.pace_log.as_ref().map(|log| log.pace(counts, Some(std::time::SystemTime::now())))
}

/// The status of a running loop.
pub fn live_json(project_dir: &Path, status: &LiveStatus, ledger: &Ledger) -> Value {
    // The pace's raw fold is the loop's business; its result is `pace`.
    let mut live = serde_json::to_value(status).unwrap_or_default();
    if let Value::Object(map) = &mut live {
        map.remove("pace_log");
    }
    json!({
        "latest_run": {
            "run_id": status.run_id,
            "status": if status.paused { "paused" } else { "running" },
            "reason": status.paused_by.as_ref().map(|by| format!("paused by {by}")),
            "waiting_for_review": status.waiting_for_review,
            "route": status.route,
        },
        "live": live,
        "pace": live_pace(project_dir, status),
        "breaker": ledger.breaker,
        "agent_breakers": ledger.agents,
        "spend": spend_json(ledger),
    })
}

/// The status when no loop runs.
pub fn stored_json(latest: Option<&LatestRun>, ledger: &Ledger) -> Value {
    json!({
        "latest_run": latest.map(|l| json!({
            "run_id": l.run_id, "status": l.status, "reason": l.reason, "waiting_for_review": l.waiting_for_review,
            "route": l.route,
        })),
        "pace": latest.and_then(|l| l.pace.as_ref()),
        "breaker": ledger.breaker,
        "agent_breakers": ledger.agents,
        "spend": spend_json(ledger),
    })
}

/// `ralph-loop status` for people, and the dashboard's "copy status": the same words.
///
/// # Errors
///
/// The ledger, the store or the loop's socket cannot be read.
pub fn text(project_dir: &Path, state_dir: &Path) -> Result<String, StatusError> {
    let ledger = ledger(project_dir)?;
    if let Some(live) = live(state_dir)? {
        let mut text = live_text(&live);
        if let Some(pace) = live_pace(project_dir, &live) {
            text.push_str(&pace_text(&pace));
        }
        text.push_str(&format!("circuit breaker: {}", live.breaker));
        if let Some(reason) = &live.breaker_reason {
            text.push_str(&format!(" — {reason}"));
        }
        text.push('\n');
        text.push_str(&spend_line(&ledger));
        return Ok(text);
    }
    let latest = latest_run(project_dir, state_dir)?;
    let mut text = String::new();
    match &latest {
        Some(l) => {
            let reason = l.reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default();
            text.push_str(&format!("latest run: {}: {}{reason}\n", l.run_id, l.status));
            if let Some(step) = &l.waiting_for_review {
                text.push_str(&format!("waiting for review: `{step}` (ralph-loop approve | reject)\n"));
            }
            if let Some(route) = &l.route {
                text.push_str(&format!("  latest iteration: {}\n", route_text(route)));
            }
            if let Some(pace) = &l.pace {
                text.push_str(&pace_text(pace));
            }
        }
        None => text.push_str("no runs yet\n"),
    }
    let b = &ledger.breaker;
    let state =
        serde_json::to_value(b.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    text.push_str(&format!("circuit breaker: {state}"));
    if let Some(reason) = &b.reason {
        text.push_str(&format!(" — {reason}"));
    }
    if let Some(at) = b.opened_at {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at);
        text.push_str(&format!(" (since {})", humantime::format_rfc3339_seconds(when)));
    }
    text.push_str(&format!(
        "\n  consecutive failures: {}, idle iterations: {}\n",
        b.consecutive_failures, b.idle_iterations
    ));
    for (agent, breaker) in ledger.agents.iter().filter(|(_, b)| b.state != BreakerState::Closed) {
        let state = serde_json::to_value(breaker.state).ok().and_then(|v| v.as_str().map(str::to_owned));
        let reason = breaker.reason.as_deref().unwrap_or_default();
        text.push_str(&format!("agent `{agent}`'s breaker: {} — {reason}\n", state.unwrap_or_default()));
    }
    text.push_str(&spend_line(&ledger));
    Ok(text)
}

fn live_text(s: &LiveStatus) -> String {
    let mut text = format!(
        "run {}: {} (pid {}) — workflow `{}` ({})\n",
        s.run_id,
        if s.paused { "paused" } else { "running" },
        s.pid,
        s.workflow,
        s.kind
    );
    let state = s.state.as_deref().map(|st| format!("in `{st}`, ")).unwrap_or_default();
    let task = s.task.as_deref().map(|t| format!(", task {t}")).unwrap_or_default();
    text.push_str(&format!(
        "  {state}iteration {}{task}; {} step(s) running\n",
        s.iteration.max(1),
        s.running
    ));
    if let Some(route) = &s.route {
        text.push_str(&format!("  {}\n", route_text(route)));
    }
    if let Some(by) = &s.paused_by {
        text.push_str(&format!("  paused by {by}: `ralph-loop resume` lets it go on\n"));
    }
    if let Some(step) = &s.waiting_for_review {
        text.push_str(&format!("  waiting for review: `{step}` (ralph-loop approve | reject)\n"));
    }
    text.push_str(&format!(
        "  agent invocations: {} of max_iterations {}\n  this run: {} tokens, ${:.4}\n",
        s.invocations, s.max_iterations, s.tokens, s.cost_usd
    ));
    if s.pending_hints > 0 {
        text.push_str(&format!("  hints waiting for the next prompt: {}\n", s.pending_hints));
    }
    if let Some(to) = &s.redirect {
        text.push_str(&format!("  redirected: the next state is `{to}`\n"));
    }
    if let Some(signal) = &s.last_signal {
        text.push_str(&format!("  last signal: {signal}\n"));
    }
    text
}

/// The pace, for people: nothing before an iteration has ended or a task is counted, and each
/// line only when it has something to say.
pub fn pace_text(p: &Pace) -> String {
    let ms = crate::inspect::human_ms;
    let mut text = String::new();
    if p.iterations_finished == 0 && p.tasks_remaining.is_none() && p.stall.is_none() {
        return text;
    }
    let mut first = format!("{} tasks done", p.tasks_done);
    if let Some(remaining) = p.tasks_remaining {
        first.push_str(&format!(", {remaining} remaining"));
    }
    if let Some(rate) = p.success_rate {
        first.push_str(&format!(", {:.0}% of {} iterations succeeded", rate * 100.0, p.iterations_finished));
    }
    first.push_str(&format!(", {} elapsed", ms(p.elapsed_ms)));
    text.push_str(&format!("pace: {first}\n"));
    if let (Some(average), Some(velocity)) = (p.average_task_ms, p.velocity_per_hour) {
        let mut line = format!("  average task {}, recent velocity {velocity:.1} tasks/h", ms(average));
        if let Some(eta) = p.eta_ms.filter(|_| p.tasks_remaining != Some(0)) {
            line.push_str(&format!(", ETA {}", ms(eta)));
            if let Some(at) = &p.eta_at {
                line.push_str(&format!(" (at {at})"));
            }
        }
        text.push_str(&format!("{line}\n"));
    }
    if let Some(d) = p.drift.filter(|d| d.warning) {
        text.push_str(&format!(
            "  drift: recent tasks take {:.2}× the run's first ({} against {}): behind schedule\n",
            d.ratio,
            ms(d.recent_ms),
            ms(d.baseline_ms)
        ));
    }
    if let Some(s) = p.stall.as_ref().filter(|s| s.warning) {
        text.push_str(&format!(
            "  stall: task {} has run {}, more than {STALL_FACTOR}× the average task ({})\n",
            s.task,
            ms(s.running_ms),
            ms(p.average_task_ms.unwrap_or_default())
        ));
    }
    text
}

/// The ledger's spend, for people.
fn spend_line(ledger: &Ledger) -> String {
    format!(
        "spend: {} tokens, ${:.4} in all, ${:.4} today, {} AI invocations\n",
        ledger.tokens,
        ledger.cost_usd,
        ledger.daily_cost_usd.get(&today()).copied().unwrap_or(0.0),
        ledger.ai_invocations
    )
}
