//! `loop --dry-run`: every step's packet and what its agents would be given, without invoking
//! any agent.

use std::fmt::Write as _;
use std::path::Path;

use petgraph::algo::toposort;

use super::packet::outcome_names;
use crate::plan::{NodeRole, Plan};
use crate::prompt::{self, stack};
use crate::workflow::model::{AgentKind, Backend, Document, StateKind, WorkflowKind};

/// The text of a dry run: for each step in the order it would first run, its packet and, per
/// agent, the command it would run or the stacked prompt it would be sent.
pub fn dry_run(
    doc: &Document,
    plan: &Plan,
    workflow: &str,
    workflow_file: &Path,
    project_dir: &Path,
    task: Option<&ralph_plugin_sdk::Task>,
) -> String {
    let dirs = prompt::search_dirs(Some(workflow_file), project_dir);
    let order = match plan.kind {
        WorkflowKind::Dag => toposort(&plan.graph, None).unwrap_or_default(),
        _ => plan.nodes().map(|(i, _)| i).collect(),
    };
    // The state of a first iteration, for the task the loop would take: what packets are built from.
    let mut state = super::core::projection::RunState::new();
    state.apply(&super::core::event::Event::IterationStarted {
        iteration: 1,
        task: task.map(|t| super::core::event::TaskRef { id: t.id.clone(), title: t.description.clone() }),
        detail: task.cloned().map(Box::new),
        completed: Vec::new(),
        at: String::new(),
    });
    let mut out = String::new();
    let _ = writeln!(out, "# Dry run of `{workflow}` ({}): no agent is invoked\n", plan.kind.as_str());
    for node in order {
        let step = &plan.graph[node];
        if matches!(step.role, NodeRole::Stop) {
            continue;
        }
        let _ = writeln!(out, "## Step `{}`\n", step.id);
        if step.agents.is_empty() {
            // Only a terminal state ends the run; a person's review and a state of built-in
            // actions (`on_enter`) go on to the states after them.
            let what = match &step.role {
                NodeRole::State { kind: StateKind::Human | StateKind::HumanInTheLoop, .. } => {
                    "(a person approves or rejects here; the run waits for them, then goes on)"
                }
                NodeRole::State { terminal: true, .. }
                | NodeRole::State { kind: StateKind::Terminal, .. } => "(no agent: the run ends here)",
                _ => "(no agent: its built-in actions run, if it has any, and the run goes on)",
            };
            let _ = writeln!(out, "{what}\n");
            continue;
        }
        let packet = super::packet::build(
            &state,
            workflow,
            &step.id,
            outcome_names(plan, node, |n| doc.conditions.contains_key(n)),
            ralph_plugin_sdk::Evidence::default(),
            &crate::clock::now(),
        );
        let json = serde_json::to_string_pretty(&packet).unwrap_or_default();
        let _ = writeln!(out, "### Packet\n\n```json\n{json}\n```\n");
        let mut names: Vec<String> = Vec::new();
        for name in &step.agents {
            expand(doc, name, &mut names, 0);
        }
        for name in names {
            let agent = doc.agents.get(&name);
            let command = agent.and_then(|a| {
                let is_command = a.kind == Some(AgentKind::Command)
                    || a.backend == Some(Backend::Command)
                    || (a.backend.is_none() && a.command.is_some());
                a.command.as_ref().filter(|_| is_command)
            });
            if let Some(command) = command {
                let _ = writeln!(out, "### Agent `{name}`: command\n\n```sh\n{command}\n```\n");
                continue;
            }
            if agent.is_some_and(|a| a.kind == Some(AgentKind::Human)) {
                let _ = writeln!(out, "### Agent `{name}`: a person (approve or reject)\n");
                continue;
            }
            let request = stack::StackRequest {
                agent: &name,
                role_prompt: agent.and_then(|a| a.prompt.as_deref()),
                system_prompt: agent.and_then(|a| a.system_prompt.as_deref()),
                packet: &packet,
                result_file: "$RALPH_RESULT_FILE",
                dirs: &dirs,
            };
            match stack::stack(&request) {
                Ok(text) => {
                    let _ = writeln!(out, "### Agent `{name}`: prompt\n\n{text}");
                }
                Err(e) => {
                    let _ = writeln!(out, "### Agent `{name}`: the prompt cannot be built: {e}\n");
                }
            }
        }
    }
    out
}

fn expand(doc: &Document, name: &str, out: &mut Vec<String>, depth: usize) {
    match doc.chains.get(name).filter(|_| depth < 16) {
        Some(members) => {
            for member in members {
                expand(doc, member, out, depth + 1);
            }
        }
        None => out.push(name.to_owned()),
    }
}
