//! Mermaid output: `stateDiagram-v2` for state machines, `flowchart` for DAGs and sagas.

use std::fmt::Write as _;

use super::{EdgeKind, NodeRole, Plan, edge_label};
use crate::workflow::model::WorkflowKind;

/// Mermaid identifiers are letters, digits and `_`; anything else is replaced, and the original
/// name is kept as the node's label.
fn ident(id: &str) -> String {
    let mut out: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit())
        || matches!(out.as_str(), "end" | "graph" | "state" | "style" | "class" | "direction")
    {
        out.insert_str(0, "n_");
    }
    out
}

/// Escapes label text with Mermaid's numeric entity codes.
fn text(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        match c {
            ':' | ';' | '<' | '>' | '"' | '#' | '|' => {
                let _ = write!(out, "#{};", c as u32);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Renders a plan as Mermaid.
pub fn render(plan: &Plan) -> String {
    match plan.kind {
        WorkflowKind::StateMachine => state_diagram(plan),
        WorkflowKind::Dag | WorkflowKind::Saga => flowchart(plan),
    }
}

fn state_diagram(plan: &Plan) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    for (_, node) in plan.nodes() {
        let id = ident(&node.id);
        let mut label = node.id.clone();
        match &node.role {
            NodeRole::State { kind, .. } => {
                if !node.agents.is_empty() {
                    label = format!("{} ({})", node.id, node.agents.join(", "));
                } else if matches!(
                    kind,
                    crate::workflow::model::StateKind::Human
                        | crate::workflow::model::StateKind::HumanInTheLoop
                ) {
                    label = format!("{} (human)", node.id);
                }
            }
            NodeRole::Stop => label = "stop (run fails)".into(),
            _ => {}
        }
        let _ = writeln!(out, "    state \"{}\" as {id}", text(&label));
    }
    if let Some(initial) = plan.initial {
        let _ = writeln!(out, "    [*] --> {}", ident(&plan.graph[initial].id));
    }
    for (from, to, edge) in plan.edges() {
        let arrow = format!("    {} --> {}", ident(&from.id), ident(&to.id));
        match (edge.kind, edge_label(edge)) {
            (EdgeKind::Next, _) => {
                let _ = writeln!(out, "{arrow}");
            }
            (EdgeKind::Transition, Some(l))
                if l == "success" && edge.condition.as_ref().is_some_and(|c| c.source == "success") =>
            {
                let _ = writeln!(out, "{arrow}");
            }
            (_, Some(label)) => {
                let _ = writeln!(out, "{arrow}: {}", text(&label));
            }
            (_, None) => {
                let _ = writeln!(out, "{arrow}");
            }
        }
    }
    for (_, node) in plan.nodes() {
        if matches!(node.role, NodeRole::State { terminal: true, .. } | NodeRole::Stop) {
            let _ = writeln!(out, "    {} --> [*]", ident(&node.id));
        }
    }
    out
}

fn flowchart(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    for (_, node) in plan.nodes() {
        let id = ident(&node.id);
        let agents = node.agents.join(", ");
        let label = if agents.is_empty() || agents == node.id {
            node.id.clone()
        } else {
            format!("{}<br/>{agents}", node.id)
        };
        let label = match &node.condition {
            Some(c) => format!("{label}<br/>if {}", c.source.trim()),
            None => label,
        };
        let shape = match node.role {
            NodeRole::Compensation { .. } | NodeRole::FinalCompensation => ("([\"", "\"])"),
            _ => ("[\"", "\"]"),
        };
        let _ =
            writeln!(out, "    {id}{}{}{}", shape.0, text(&label).replace("#60;br/#62;", "<br/>"), shape.1);
    }
    for (from, to, edge) in plan.edges() {
        let dashed = matches!(edge.kind, EdgeKind::Compensate | EdgeKind::Rollback);
        let continue_label = match (&from.role, edge.kind) {
            (NodeRole::Node { continue_on }, EdgeKind::Dependency) if !continue_on.is_empty() => {
                Some(format!(
                    "also on {}",
                    continue_on
                        .iter()
                        .map(|c| format!("{c:?}").to_lowercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            _ => None,
        };
        let label = edge_label(edge).or(continue_label);
        let arrow = if dashed { "-.->" } else { "-->" };
        match label {
            Some(l) => {
                let _ = writeln!(out, "    {} {arrow}|{}| {}", ident(&from.id), text(&l), ident(&to.id));
            }
            None => {
                let _ = writeln!(out, "    {} {arrow} {}", ident(&from.id), ident(&to.id));
            }
        }
    }
    out
}
