//! Compiling a validated document into a [`Plan`].

use std::collections::HashSet;

use super::{EdgeKind, NodeRole, Plan, PlanEdge, PlanNode};
use crate::workflow::condition::{self, Condition};
use crate::workflow::model::{ContinueOn, Document, StateKind, Workflow, WorkflowKind};
use crate::workflow::vocabulary::{self, STOP_TARGET};

/// Compiles the workflow of a document that validated without errors. Returns `None` when the
/// document has no workflow.
pub fn compile(doc: &Document) -> Option<Plan> {
    let workflow = doc.workflow.as_ref()?;
    let named = |n: &str| doc.conditions.contains_key(n);
    let cond = |text: &Option<String>| -> Option<Condition> {
        text.as_ref().and_then(|t| condition::compile(t, &named).ok())
    };
    Some(match workflow.effective_kind() {
        WorkflowKind::StateMachine => state_machine(doc, workflow, &cond),
        WorkflowKind::Dag => dag(workflow, &cond),
        WorkflowKind::Saga => saga(doc, workflow),
    })
}

fn edge(kind: EdgeKind, condition: Option<Condition>, order: usize) -> PlanEdge {
    PlanEdge { kind, condition, order }
}

fn state_machine(
    doc: &Document,
    workflow: &Workflow,
    cond: &dyn Fn(&Option<String>) -> Option<Condition>,
) -> Plan {
    let mut plan = Plan::new(WorkflowKind::StateMachine);
    let states = &workflow.states;
    let with_transitions: HashSet<&str> = workflow.transitions.iter().map(|t| t.from.as_str()).collect();
    let declared_terminal: HashSet<&str> = workflow.terminal.as_slice().iter().map(String::as_str).collect();
    let last = states.len().saturating_sub(1);
    for (i, def) in states.iter().enumerate() {
        let id = def.id();
        let state = def.state();
        let kind = state.and_then(|s| s.kind).unwrap_or(if vocabulary::HUMAN_STATES.contains(&id) {
            StateKind::HumanInTheLoop
        } else {
            StateKind::Agent
        });
        let terminal = kind == StateKind::Terminal
            || declared_terminal.contains(id)
            || (i == last && !with_transitions.contains(id));
        let mut agents: Vec<String> = Vec::new();
        if let Some(state) = state {
            agents.extend(state.agent.iter().cloned());
            agents.extend(state.agents.as_slice().iter().cloned());
        }
        let human = matches!(kind, StateKind::Human | StateKind::HumanInTheLoop);
        if agents.is_empty() && human {
            agents.extend(crate::workflow::semantic::human_agent_of(doc, id));
        } else if agents.is_empty() && !terminal {
            agents.push(crate::workflow::semantic::state_agent(doc, id));
        } else if agents.is_empty() {
            agents.extend(crate::workflow::semantic::terminal_agent(doc, id));
        }
        let require_all = state.and_then(|s| s.require_all).unwrap_or(true);
        let parallel = kind == StateKind::Parallel || state.and_then(|s| s.parallel).unwrap_or(false);
        plan.add(PlanNode {
            id: id.to_owned(),
            role: NodeRole::State { kind, terminal, require_all, parallel },
            agents,
            condition: None,
        });
    }
    plan.initial = workflow
        .initial
        .as_deref()
        .and_then(|i| plan.node(i))
        .or_else(|| states.first().and_then(|s| plan.node(s.id())));
    let mut stop = None;
    let mut stop_node = |plan: &mut Plan| {
        *stop.get_or_insert_with(|| {
            plan.add(PlanNode {
                id: STOP_TARGET.to_owned(),
                role: NodeRole::Stop,
                agents: Vec::new(),
                condition: None,
            })
        })
    };
    // Transitions without a condition, and implicit next-state edges, hold on success.
    let success = condition::compile("success", &|_| false).ok();
    let mut order = 0;
    let mut else_edges = Vec::new();
    for t in &workflow.transitions {
        let Some(from) = plan.node(&t.from) else { continue };
        let target = |plan: &mut Plan, name: &str, stop_node: &mut dyn FnMut(&mut Plan) -> _| {
            if name == STOP_TARGET && plan.node(name).is_none() {
                Some(stop_node(plan))
            } else {
                plan.node(name)
            }
        };
        if let Some(to) = target(&mut plan, &t.to, &mut stop_node) {
            let condition = cond(&t.condition).or_else(|| success.clone());
            plan.graph.add_edge(from, to, edge(EdgeKind::Transition, condition, order));
            order += 1;
        }
        if let Some(else_to) = &t.else_to {
            if let Some(to) = target(&mut plan, else_to, &mut stop_node) {
                else_edges.push((from, to));
            }
        }
    }
    // The fallback is evaluated after every transition of its state.
    for (from, to) in else_edges {
        plan.graph.add_edge(from, to, edge(EdgeKind::Else, None, usize::MAX / 2));
    }
    for (i, def) in states.iter().enumerate() {
        let Some(from) = plan.node(def.id()) else { continue };
        let terminal = matches!(plan.graph[from].role, NodeRole::State { terminal: true, .. });
        if !with_transitions.contains(def.id()) && !terminal && i < last {
            if let Some(next) = plan.node(states[i + 1].id()) {
                plan.graph.add_edge(from, next, edge(EdgeKind::Next, success.clone(), 0));
            }
        }
        if let Some(on_timeout) = def.state().and_then(|s| s.on_timeout.as_ref()) {
            for action in on_timeout.as_slice() {
                if let Some(to) = plan.node(action.name()) {
                    plan.graph.add_edge(from, to, edge(EdgeKind::Timeout, None, usize::MAX - 1));
                }
            }
        }
    }
    plan
}

fn dag(workflow: &Workflow, cond: &dyn Fn(&Option<String>) -> Option<Condition>) -> Plan {
    let mut plan = Plan::new(WorkflowKind::Dag);
    for node in &workflow.nodes {
        let continue_on: Vec<ContinueOn> = node.continue_on.as_slice().to_vec();
        plan.add(PlanNode {
            id: node.id.clone(),
            role: NodeRole::Node { continue_on },
            agents: vec![node.agent.clone().unwrap_or_else(|| node.id.clone())],
            condition: cond(&node.condition),
        });
    }
    for node in &workflow.nodes {
        let Some(to) = plan.node(&node.id) else { continue };
        for (order, dep) in node.depends_on.as_slice().iter().enumerate() {
            if let Some(from) = plan.node(dep) {
                plan.graph.add_edge(from, to, edge(EdgeKind::Dependency, None, order));
            }
        }
    }
    plan
}

fn saga(doc: &Document, workflow: &Workflow) -> Plan {
    let mut plan = Plan::new(WorkflowKind::Saga);
    let mut steps = Vec::new();
    let mut compensations = Vec::new();
    for step in &workflow.steps {
        steps.push(plan.add(PlanNode {
            id: step.name.clone(),
            role: NodeRole::Step,
            agents: vec![step.action.clone()],
            condition: None,
        }));
        compensations.push(step.compensate.as_ref().map(|c| {
            plan.add(PlanNode {
                id: format!("{}.compensate", step.name),
                role: NodeRole::Compensation { step: step.name.clone() },
                agents: vec![c.clone()],
                condition: None,
            })
        }));
    }
    let final_actions: Vec<String> = doc
        .compensation
        .as_ref()
        .map(|c| c.on_failure.as_slice().iter().map(|a| a.name().to_owned()).collect())
        .unwrap_or_default();
    let final_node = (!final_actions.is_empty()).then(|| {
        plan.add(PlanNode {
            id: "compensation.on_failure".into(),
            role: NodeRole::FinalCompensation,
            agents: final_actions,
            condition: None,
        })
    });
    plan.initial = steps.first().copied();
    for pair in steps.windows(2) {
        plan.graph.add_edge(pair[0], pair[1], edge(EdgeKind::Forward, None, 0));
    }
    // Step k failing undoes steps k-1, …, 1: an edge to the nearest earlier compensation, then
    // rollback edges from each compensation to the next earlier one, then the final actions.
    let nearest_before = |k: usize| (0..k).rev().find_map(|j| compensations[j]);
    for (k, step) in steps.iter().enumerate() {
        if let Some(first) = nearest_before(k).or(final_node) {
            plan.graph.add_edge(*step, first, edge(EdgeKind::Compensate, None, 1));
        }
    }
    for (j, compensation) in compensations.iter().enumerate() {
        if let Some(c) = compensation {
            if let Some(next) = nearest_before(j).or(final_node) {
                plan.graph.add_edge(*c, next, edge(EdgeKind::Rollback, None, 0));
            }
        }
    }
    plan
}
