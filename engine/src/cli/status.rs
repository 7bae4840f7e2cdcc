//! `ralph-loop status`: the project's latest run, its spend, and its circuit breaker.
//!
//! It reads what runs leave behind — the ledger (`.ralph/ledger.json`) and the latest run's
//! journal — so it works whether or not a loop is running.

use clap::Args;

use super::{Env, Exit};
use crate::inspect::status;
use crate::policy::breaker::BreakerState;
use crate::run::ledger::{Ledger, today};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
    let ledger = status::ledger(&env.project_dir)?;
    if let Some(live) = status::live(&env.state_dir)? {
        if args.json {
            super::out(&format!("{}\n", serde_json::to_string_pretty(&status::live_json(&live, &ledger))?));
            return Ok(Exit::Ok);
        }
        super::out(&live_text(&live));
        let mut text = format!("circuit breaker: {}", live.breaker);
        if let Some(reason) = &live.breaker_reason {
            text.push_str(&format!(" — {reason}"));
        }
        text.push('\n');
        text.push_str(&spend_line(&ledger));
        super::out(&text);
        return Ok(Exit::Ok);
    }
    let latest = status::latest_run(&env.project_dir, &env.state_dir)?;
    if args.json {
        let value = status::stored_json(latest.as_ref(), &ledger);
        super::out(&format!("{}\n", serde_json::to_string_pretty(&value)?));
        return Ok(Exit::Ok);
    }
    let mut text = String::new();
    match &latest {
        Some(l) => {
            let reason = l.reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default();
            text.push_str(&format!("latest run: {}: {}{reason}\n", l.run_id, l.status));
            if let Some(step) = &l.waiting_for_review {
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
