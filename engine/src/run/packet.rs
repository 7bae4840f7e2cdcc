//! Steering packets: the state a step is given (built before it) and what it left (completed
//! after it), in the seed's v2.0 structure.

use petgraph::stable_graph::NodeIndex;
use ralph_plugin_sdk::{Evidence, Failure, SteeringPacket, Task, WorkflowInfo};

use super::core::event::now;
use super::core::outcome::Outcome;
use crate::plan::Plan;
use crate::workflow::condition::ConditionKind;

/// How many failures a packet's `failure_history` carries: the most recent ones. A loop left
/// alone for hours can fail thousands of times; every packet (and prompt) carrying all of them
/// would grow without bound, and the planner needs the recent ones.
pub const FAILURE_HISTORY: usize = 50;

/// What a packet is built from, besides the step.
#[derive(Debug, Clone, Default)]
pub struct PacketContext {
    /// The workflow's name.
    pub workflow: String,
    /// The iteration, from 1.
    pub iteration: u32,
    /// When the run started.
    pub started_at: String,
    /// The task of this iteration.
    pub task: Option<Task>,
    /// Ids of the tasks done so far.
    pub completed_tasks: Vec<String>,
    /// The most recent failed attempts (at most [`FAILURE_HISTORY`]; the journal keeps all).
    pub failure_history: Vec<Failure>,
    /// Failed attempts so far per task id (the `attempt` of the next failure), counted here
    /// because the history above is cut.
    pub failures_per_task: std::collections::HashMap<String, u32>,
    /// Evidence so far: the files the run changed, the last test counts.
    pub evidence: Evidence,
}

/// The packet of a step, before it runs.
pub fn build(context: &PacketContext, step: &str, outcomes: Vec<String>) -> SteeringPacket {
    let started_at = if context.started_at.is_empty() { now() } else { context.started_at.clone() };
    let mut packet = SteeringPacket::new(
        now(),
        WorkflowInfo {
            name: context.workflow.clone(),
            iteration: u64::from(context.iteration.max(1)),
            phase: step.to_owned(),
            state: "active".into(),
            started_at,
        },
    );
    packet.context.current_task.clone_from(&context.task);
    packet.context.completed_tasks.clone_from(&context.completed_tasks);
    packet.context.failure_history.clone_from(&context.failure_history);
    packet.evidence = context.evidence.clone();
    packet.instructions.primary = match &context.task {
        Some(task) => format!(
            "Perform the `{step}` step of the `{}` workflow for task {}: {}",
            context.workflow, task.id, task.description
        ),
        None => format!("Perform the `{step}` step of the `{}` workflow.", context.workflow),
    };
    if let Some(task) = &context.task {
        packet.instructions.success_criteria.clone_from(&task.acceptance_criteria);
    }
    packet.instructions.outcomes = outcomes;
    packet
}

/// The packet after its step: the step's evidence, and the state `completed` or `failed`.
pub fn complete(mut packet: SteeringPacket, outcome: &Outcome) -> SteeringPacket {
    packet.timestamp = now();
    packet.workflow.state = if outcome.success { "completed" } else { "failed" }.into();
    let evidence = &outcome.evidence;
    if !evidence.files_changed.is_empty() {
        packet.evidence.files_changed.clone_from(&evidence.files_changed);
    }
    if evidence.test_results.is_some() {
        packet.evidence.test_results.clone_from(&evidence.test_results);
    }
    packet.evidence.metrics = evidence.metrics;
    packet.evidence.metrics.duration_ms = Some(outcome.duration_ms);
    if let Some(error) = &outcome.error {
        packet.evidence.logs.push(error.clone());
    }
    if let Some(result) = &outcome.result {
        packet.instructions.notes.push(format!("reported outcome: {result}"));
    }
    packet
}

/// The outcome names the transitions leaving a node test, so the agent knows what to report:
/// bare outcome names and the outcome names an expression mentions, each once, in order.
/// Built-in words and named conditions are not outcomes.
pub fn outcome_names(plan: &Plan, node: NodeIndex, is_named: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, edge) in plan.outgoing(node) {
        if let Some(c) = &edge.condition {
            let found: Vec<&String> = match &c.kind {
                ConditionKind::Outcome(name) => vec![name],
                ConditionKind::Expression => c.names.iter().filter(|n| !is_named(n)).collect(),
                _ => Vec::new(),
            };
            for name in found {
                if !names.contains(name) && !is_named(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}
