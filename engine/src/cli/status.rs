//! `ralph-loop status`: the project's latest run, its spend, and its circuit breaker.
//!
//! It reads what runs leave behind — the ledger (`.ralph/ledger.json`) and the latest run's
//! journal — so it works whether or not a loop is running.

use clap::Args;

use super::{Env, Exit};
use crate::policy::breaker::BreakerState;
use crate::run::ledger::{Ledger, today};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The latest run: its id, a summary (`status`, `reason`) and the step waiting for review. The
/// store is read when no loop owns it; a running loop's run is reported as running, with its
/// pid. A directory without a store has no runs (and gets no store).
fn latest_run(env: &Env) -> anyhow::Result<Option<(String, serde_json::Value, Option<String>)>> {
    let runs = env.project_dir.join(".ralph").join("runs");
    let (id, summary) = match crate::store::Store::open_existing(&env.state_dir) {
        Ok(None) => return Ok(None),
        Ok(Some(store)) => match store.runs()?.pop() {
            Some(record) => {
                let status =
                    if record.status == "running" { "interrupted (resume it)" } else { &record.status };
                (record.run_id.clone(), serde_json::json!({"status": status, "reason": record.reason}))
            }
            None => return Ok(None),
        },
        Err(crate::store::StoreError::Locked { pid, .. }) => {
            let Some(id) = crate::run::runner::run_ids(&runs).ok().and_then(|mut ids| ids.pop()) else {
                return Ok(None);
            };
            let by = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            (id, serde_json::json!({"status": "running", "reason": format!("a loop is running{by}")}))
        }
        Err(e) => return Err(e.into()),
    };
    let waiting = crate::run::human::waiting(&runs.join(&id));
    Ok(Some((id, summary, waiting)))
}

/// A running loop's own account of itself, over its control socket.
fn live(env: &Env) -> anyhow::Result<Option<crate::control::LiveStatus>> {
    match crate::control::client::ask(&env.state_dir, &crate::control::Request::Status)? {
        None => Ok(None),
        Some(crate::control::Reply::Status { status }) => Ok(Some(*status)),
        Some(other) => anyhow::bail!("the loop answered `{}` to `status`", serde_json::to_string(&other)?),
    }
}

fn live_text(s: &crate::control::LiveStatus) -> String {
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

/// The ledger's spend, for `--json` (the same with or without a running loop).
fn spend_json(ledger: &Ledger) -> serde_json::Value {
    serde_json::json!({
        "tokens": ledger.tokens,
        "cost_usd": ledger.cost_usd,
        "today_cost_usd": ledger.daily_cost_usd.get(&today()).copied().unwrap_or(0.0),
        "ai_invocations": ledger.ai_invocations,
    })
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

/// Prints the status.
pub fn run(args: &StatusArgs, env: &Env) -> anyhow::Result<Exit> {
    let ledger =
        crate::run::ledger::load(&crate::run::ledger::path(&env.project_dir)).map_err(anyhow::Error::msg)?;
    if let Some(status) = live(env)? {
        if args.json {
            let value = serde_json::json!({
                "latest_run": {
                    "run_id": status.run_id,
                    "status": if status.paused { "paused" } else { "running" },
                    "reason": status.paused_by.as_ref().map(|by| format!("paused by {by}")),
                    "waiting_for_review": status.waiting_for_review,
                },
                "live": status,
                "breaker": ledger.breaker,
                "agent_breakers": ledger.agents,
                "spend": spend_json(&ledger),
            });
            super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
            return Ok(Exit::Ok);
        }
        super::out(&live_text(&status));
        let mut text = format!("circuit breaker: {}", status.breaker);
        if let Some(reason) = &status.breaker_reason {
            text.push_str(&format!(" — {reason}"));
        }
        text.push('\n');
        text.push_str(&spend_line(&ledger));
        super::out(&text);
        return Ok(Exit::Ok);
    }
    let latest = latest_run(env)?;
    if args.json {
        let value = serde_json::json!({
            "latest_run": latest.as_ref().map(|(id, end, waiting)| serde_json::json!({
                "run_id": id, "status": end["status"], "reason": end["reason"], "waiting_for_review": waiting,
            })),
            "breaker": ledger.breaker,
            "agent_breakers": ledger.agents,
            "spend": spend_json(&ledger),
        });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
        return Ok(Exit::Ok);
    }
    let mut text = String::new();
    match &latest {
        Some((id, end, waiting)) => {
            let status = end["status"].as_str().unwrap_or("unknown");
            let reason = end["reason"].as_str().map(|r| format!(" — {r}")).unwrap_or_default();
            text.push_str(&format!("latest run: {id}: {status}{reason}\n"));
            if let Some(step) = waiting {
                text.push_str(&format!("waiting for review: `{step}` (ralph-loop approve | reject)\n"));
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
    super::out(&text);
    Ok(Exit::Ok)
}
