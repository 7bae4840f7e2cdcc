//! Steering packets: the state a step is given (built before it) and what it left (completed
//! after it), in the seed's v2.0 structure.

use petgraph::stable_graph::NodeIndex;
use ralph_plugin_sdk::{Evidence, SteeringPacket, Task, WorkflowInfo};

use super::core::outcome::Outcome;
use super::core::projection::RunState;
use crate::plan::Plan;
use crate::workflow::condition::ConditionKind;

/// The packet of `step`, before it runs: the run's state (its iteration, task, completed
/// tasks, failure history) with `evidence` and the outcome names its transitions test.
pub fn build(
    state: &RunState,
    workflow: &str,
    step: &str,
    outcomes: Vec<String>,
    evidence: Evidence,
    now: &str,
) -> SteeringPacket {
    let started_at = if state.started_at.is_empty() { now.to_owned() } else { state.started_at.clone() };
    let mut packet = SteeringPacket::new(
        now.to_owned(),
        WorkflowInfo {
            name: workflow.to_owned(),
            iteration: u64::from(state.iteration.max(1)),
            phase: step.to_owned(),
            state: "active".into(),
            started_at,
        },
    );
    let task = state.pass().and_then(|p| {
        p.detail.clone().or_else(|| p.task.as_ref().map(|t| Task::new(t.id.clone(), t.title.clone())))
    });
    packet.context.current_task.clone_from(&task);
    packet.context.completed_tasks.clone_from(&state.context.completed_tasks);
    packet.context.failure_history.clone_from(&state.context.failure_history);
    packet.evidence = evidence;
    packet.instructions.primary = match &task {
        Some(task) => format!(
            "Perform the `{step}` step of the `{workflow}` workflow for task {}: {}",
            task.id, task.description
        ),
        None => format!("Perform the `{step}` step of the `{workflow}` workflow."),
    };
    if let Some(task) = &task {
        packet.instructions.success_criteria.clone_from(&task.acceptance_criteria);
    }
    packet.instructions.outcomes = outcomes;
    packet
}

/// The packet after its step: the step's evidence, and the state `completed` or `failed`.
pub fn complete(mut packet: SteeringPacket, outcome: &Outcome, now: &str) -> SteeringPacket {
    packet.timestamp = now.to_owned();
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
