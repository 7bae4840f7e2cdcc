//! Graphviz DOT output.

use std::fmt::Write as _;

use super::{EdgeKind, NodeRole, Plan, edge_label};
use crate::workflow::model::{StateKind, WorkflowKind};

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a plan as a DOT digraph: `else` edges dashed, implicit and compensation edges dotted.
pub fn render(plan: &Plan, name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(name));
    let rank = if plan.kind == WorkflowKind::StateMachine { "LR" } else { "TB" };
    let _ = writeln!(out, "  rankdir={rank};");
    let _ = writeln!(out, "  node [shape=box, style=rounded, fontname=\"Helvetica\"];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=10];");
    if let Some(initial) = plan.initial {
        let _ = writeln!(out, "  __start [shape=point, width=0.15, label=\"\"];");
        let _ = writeln!(out, "  __start -> {};", quote(&plan.graph[initial].id));
    }
    for (_, node) in plan.nodes() {
        let mut label = node.id.clone();
        if !node.agents.is_empty() && node.agents != [node.id.clone()] {
            label = format!("{}\n{}", node.id, node.agents.join(", "));
        }
        if let Some(c) = &node.condition {
            label = format!("{label}\nif {}", c.source.trim());
        }
        let attrs = match &node.role {
            NodeRole::State { terminal: true, .. } => "shape=doublecircle, style=solid".to_owned(),
            NodeRole::State { kind: StateKind::Human | StateKind::HumanInTheLoop, .. } => {
                label = format!("{label}\n(human)");
                "shape=hexagon, style=solid".to_owned()
            }
            NodeRole::Stop => "shape=octagon, style=solid".to_owned(),
            NodeRole::Compensation { .. } | NodeRole::FinalCompensation => {
                "style=\"rounded,dashed\"".to_owned()
            }
            _ => String::new(),
        };
        let sep = if attrs.is_empty() { "" } else { ", " };
        let _ = writeln!(out, "  {} [label={}{sep}{attrs}];", quote(&node.id), quote(&label));
    }
    for (from, to, edge) in plan.edges() {
        let mut attrs: Vec<String> = Vec::new();
        if let Some(label) = edge_label(edge).filter(|l| {
            !(edge.kind == EdgeKind::Transition
                && l == "success"
                && edge.condition.as_ref().is_some_and(|c| c.source == "success"))
        }) {
            attrs.push(format!("label={}", quote(&label)));
        }
        match edge.kind {
            EdgeKind::Else => attrs.push("style=dashed".into()),
            EdgeKind::Next | EdgeKind::Rollback => attrs.push("style=dotted".into()),
            EdgeKind::Compensate => attrs.push("style=dashed, color=red".into()),
            EdgeKind::Timeout => attrs.push("style=dashed, color=orange".into()),
            _ => {}
        }
        let attrs = if attrs.is_empty() { String::new() } else { format!(" [{}]", attrs.join(", ")) };
        let _ = writeln!(out, "  {} -> {}{attrs};", quote(&from.id), quote(&to.id));
    }
    out.push_str("}\n");
    out
}
