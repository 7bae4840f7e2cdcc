//! Performing one step: its units (an agent, a chain or a built-in action) with their backends,
//! one after another or in parallel, combined into one outcome.
//!
//! Nothing here touches the run's state: a step is a future that ends with an [`Outcome`]; the
//! runner turns that into events.

use tokio::task::JoinSet;

use super::action::{self, ActionContext};
use super::agents::{Backing, StepAgent};
use super::core::outcome::Outcome;
use crate::agent::claude::ClaudeStream;
use crate::agent::cli;
use crate::agent::codex::CodexStream;
use crate::agent::command::{self, Invocation};
use crate::agent::gemini::GeminiStream;
use crate::agent::openai;
use crate::agent::opencode::OpencodeStream;
use crate::workflow::model::Backend;

/// Runs one agent.
pub async fn run_agent(agent: &StepAgent, mut inv: Invocation, actions: &ActionContext) -> Outcome {
    inv.timeout = agent.timeout;
    inv.idle_timeout = agent.heartbeat_timeout;
    // The agent's own variables come after the engine's (`RALPH_TASK_ID`, `RALPH_ITERATION`): they
    // add to them, and may override them on purpose.
    inv.env.extend(agent.env.iter().cloned());
    inv.prompt.clone_from(&agent.prompt);
    let check = agent.check.as_deref();
    match &agent.backing {
        Backing::Shell(command, direct) => {
            command::run(command, direct.as_deref(), check, agent.reads_packet, &inv).await
        }
        Backing::Builtin(spec) => action::run(spec, actions).await,
        Backing::Http { config, .. } => openai::run(config, check, &inv).await,
        Backing::Cli { backend, argv, .. } => {
            let argv = argv.clone();
            match backend {
                Backend::Claude => cli::run::<ClaudeStream>(argv, check, &inv).await,
                Backend::Codex => cli::run::<CodexStream>(argv, check, &inv).await,
                Backend::Opencode => cli::run::<OpencodeStream>(argv, check, &inv).await,
                _ => cli::run::<GeminiStream>(argv, check, &inv).await,
            }
        }
    }
}

/// Runs one unit: its agents in order, the first failure ending it. Agents whose condition
/// did not hold were removed before.
pub async fn run_unit(unit: Vec<StepAgent>, invocation: Invocation, actions: ActionContext) -> Outcome {
    let mut last = Outcome { success: true, ..Outcome::default() };
    let mut total_ms = 0;
    let mut evidence = ralph_plugin_sdk::Evidence::default();
    for agent in &unit {
        // Each agent of a chain keeps its own prompt, result and log.
        let mut inv = invocation.clone();
        if unit.len() > 1 {
            inv.file_stem = format!("{}.{}", inv.file_stem, command::file_name(&agent.name));
        }
        last = run_agent(agent, inv, &actions).await;
        total_ms += last.duration_ms;
        merge_metrics(&mut evidence, &last.evidence);
        if !last.success {
            break;
        }
    }
    last.duration_ms = total_ms;
    if unit.len() > 1 {
        last.evidence.metrics = evidence.metrics;
        if last.evidence.test_results.is_none() {
            last.evidence.test_results = evidence.test_results;
        }
    }
    last
}

/// Adds one agent's tokens and cost to a total; the latest test counts win.
fn merge_metrics(total: &mut ralph_plugin_sdk::Evidence, one: &ralph_plugin_sdk::Evidence) {
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    let (t, o) = (&mut total.metrics, &one.metrics);
    t.input_tokens = add(t.input_tokens, o.input_tokens);
    t.output_tokens = add(t.output_tokens, o.output_tokens);
    t.tokens_used = add(t.tokens_used, o.tokens_used);
    t.cost_usd = match (t.cost_usd, o.cost_usd) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    if one.test_results.is_some() {
        total.test_results.clone_from(&one.test_results);
    }
}

/// Runs a step's units, in parallel or in order, and combines their outcomes.
pub async fn run_units(
    units: Vec<Vec<StepAgent>>,
    invocation: Invocation,
    actions: ActionContext,
    parallel: bool,
    require_all: bool,
) -> Outcome {
    if units.len() <= 1 {
        return run_unit(units.into_iter().next().unwrap_or_default(), invocation, actions).await;
    }
    let outcomes = if parallel {
        let mut set = JoinSet::new();
        for (i, unit) in units.into_iter().enumerate() {
            let (inv, actions) = (per_unit(&invocation, &unit), actions.clone());
            set.spawn(async move { (i, run_unit(unit, inv, actions).await) });
        }
        let mut all: Vec<(usize, Outcome)> = set.join_all().await;
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, o)| o).collect()
    } else {
        let mut all = Vec::new();
        for unit in units {
            let inv = per_unit(&invocation, &unit);
            all.push(run_unit(unit, inv, actions.clone()).await);
        }
        all
    };
    combine(outcomes, require_all)
}

/// The invocation of one of a step's several units: its files are named after its first agent,
/// so agents running side by side never share a result file.
fn per_unit(invocation: &Invocation, unit: &[StepAgent]) -> Invocation {
    let mut inv = invocation.clone();
    if let Some(first) = unit.first() {
        inv.file_stem = format!("{}.{}", inv.file_stem, command::file_name(&first.name));
    }
    inv
}

/// Combines the outcomes of a state's several agents: all must succeed (`require_all`) or any
/// one; the named result is the first one reported, in the order the agents are listed.
pub fn combine(outcomes: Vec<Outcome>, require_all: bool) -> Outcome {
    let success =
        if require_all { outcomes.iter().all(|o| o.success) } else { outcomes.iter().any(|o| o.success) };
    let duration_ms = outcomes.iter().map(|o| o.duration_ms).max().unwrap_or_default();
    let result = outcomes.iter().find_map(|o| o.result.clone());
    let mut evidence = ralph_plugin_sdk::Evidence::default();
    for o in &outcomes {
        merge_metrics(&mut evidence, &o.evidence);
    }
    let failure = outcomes.iter().find(|o| !o.success).cloned();
    let mut combined = match (success, failure) {
        (false, Some(mut failed)) => {
            failed.duration_ms = duration_ms;
            failed.result = result;
            failed
        }
        _ => Outcome { success, result, duration_ms, ..outcomes.into_iter().next().unwrap_or_default() },
    };
    combined.evidence.metrics = evidence.metrics;
    if evidence.test_results.is_some() {
        combined.evidence.test_results = evidence.test_results;
    }
    combined
}
