//! Agents invoked at hooks (`agents.<name>.hooks: [phase.before_build, …]`): they run where the
//! step's plugins run, on a packet that carries the hook and its context, and their outcome
//! vetoes where a plugin's veto would (a failure, or the named result `veto`).
//!
//! Each call is journaled as the `action_finished` of the step it is about (its `hook` is the
//! hook's name), so a run's state keeps it like any hook action; nothing here touches the state
//! but through `Runner::emit`.

use petgraph::stable_graph::NodeIndex;
use ralph_plugin_sdk::{Hook, HookContext, SteeringPacket};
use serde::Serialize;

use super::agents::{self, AgentError, StepAgent};
use super::core::event::Event;
use super::core::outcome::{FailureClass, Outcome};
use super::plugins::phases;
use super::runner::Runner;
use super::step;
use crate::workflow::model::Document;
use crate::workflow::vocabulary;

/// The named result with which a hook agent vetoes (a failure vetoes as well).
pub const VETO: &str = "veto";

/// An agent with hooks, resolved before the run starts.
#[derive(Debug, Clone)]
pub struct HookAgent {
    /// Its name under `agents:`.
    pub name: String,
    /// The hooks it runs at.
    pub hooks: Vec<Hook>,
    /// How it runs.
    pub unit: Vec<StepAgent>,
}

/// The agents of `doc` that have hooks at which agents run, in file order.
pub fn resolve(doc: &Document) -> Result<Vec<HookAgent>, AgentError> {
    let mut out = Vec::new();
    for (name, agent) in &doc.agents {
        let hooks: Vec<Hook> = agent
            .hooks
            .iter()
            .filter_map(|h| h.parse::<Hook>().ok())
            .filter(vocabulary::agents_run_at)
            .collect();
        if hooks.is_empty() {
            continue;
        }
        out.push(HookAgent { name: name.clone(), hooks, unit: agents::resolve(doc, name)? });
    }
    Ok(out)
}

/// The hook a hook agent's packet is about: written next to the step's packet fields, so a
/// reader of the steering packet (v2.0) that does not know it simply ignores it.
#[derive(Debug, Clone, Serialize)]
pub struct HookCall {
    /// The hook's name, e.g. `phase.before_build`.
    pub name: String,
    /// Whether the agent's outcome can stop what the hook is before (or fail what it is after).
    pub can_veto: bool,
    /// The hook's context, as plugins get it (`{"kind": "phase", "phase": "build", …}`).
    pub context: HookContext,
}

/// The packet of a hook agent: the step's packet, and `hook`.
#[derive(Serialize)]
struct HookPacket<'a> {
    #[serde(flatten)]
    packet: &'a SteeringPacket,
    hook: &'a HookCall,
}

impl Runner {
    /// Runs the agents at any of `hooks` for `node`'s step, in file order, each once; the first
    /// veto (where the hook can veto) stops the rest and is returned as the step's reason.
    pub(super) async fn hook_agents(
        &mut self,
        node: NodeIndex,
        hooks: &[Hook],
        context: impl Fn(&Self) -> HookContext,
    ) -> Option<String> {
        let due: Vec<(HookAgent, Hook)> = self
            .hook_agents
            .iter()
            .filter_map(|a| hooks.iter().find(|h| a.hooks.contains(h)).map(|h| (a.clone(), h.clone())))
            .collect();
        for (agent, hook) in due {
            let call = HookCall {
                name: hook.as_str().into_owned(),
                can_veto: hook.can_veto(),
                context: context(self),
            };
            let outcome = self.call_hook_agent(node, &agent, &call).await;
            let vetoed = !outcome.success || outcome.result.as_deref() == Some(VETO);
            if call.can_veto && vetoed {
                let reason =
                    outcome.error.or(outcome.summary).unwrap_or_else(|| format!("it reported `{VETO}`"));
                return Some(format!("vetoed by agent `{}` at `{}`: {reason}", agent.name, call.name));
            }
        }
        None
    }

    /// The hooks before `node`'s step: `phase.before_<phase>` for each of its phases, and
    /// `agent.on_invoke` when an agent is invoked.
    pub(super) fn before_hooks(&self, node: NodeIndex, invokes: bool) -> Vec<Hook> {
        let graph = &self.plan.graph[node];
        let mut hooks: Vec<Hook> =
            phases(&graph.id, &graph.agents).into_iter().map(Hook::before_phase).collect();
        if invokes {
            hooks.push(Hook::AgentOnInvoke);
        }
        hooks
    }

    /// The hooks after `node`'s step: `phase.after_<phase>` for each of its phases.
    pub(super) fn after_hooks(&self, node: NodeIndex) -> Vec<Hook> {
        let graph = &self.plan.graph[node];
        phases(&graph.id, &graph.agents).into_iter().map(Hook::after_phase).collect()
    }

    /// Whether any agent runs at any of `hooks`.
    pub(super) fn wants_hook_agents(&self, hooks: &[Hook]) -> bool {
        self.hook_agents.iter().any(|a| a.hooks.iter().any(|h| hooks.contains(h)))
    }

    /// One hook agent's call: its packet (the step's, its instructions the hook's, and the hook
    /// with its context), the agent run like a consulted one, and `action_finished`.
    async fn call_hook_agent(&mut self, node: NodeIndex, agent: &HookAgent, call: &HookCall) -> Outcome {
        let id = self.plan.graph[node].id.clone();
        let iteration = self.state.iteration;
        let outcome = if self.performer.is_script() {
            // `replay --check`: the recorded outcome of this hook, if it ran then.
            self.scripted(&id, Some(&call.name), 1, 1)
                .unwrap_or_else(|| Outcome { success: true, ..Outcome::default() })
        } else {
            self.run_hook_agent(node, &id, agent, call).await
        };
        let at = self.now();
        self.emit(&Event::ActionFinished {
            step: id,
            hook: call.name.clone(),
            action: agent.name.clone(),
            outcome: Box::new(outcome.clone()),
            iteration,
            at,
        });
        outcome
    }

    async fn run_hook_agent(
        &mut self,
        node: NodeIndex,
        id: &str,
        agent: &HookAgent,
        call: &HookCall,
    ) -> Outcome {
        let step = format!("{id}.{}", call.name);
        let evidence = self.evidence_so_far(None).await;
        let mut packet = self.packet_for(node, evidence);
        packet.workflow.phase.clone_from(&step);
        packet.instructions.primary = format!(
            "You are called at the `{}` hook of the `{id}` step: check what the packet's `hook.context` describes.",
            call.name
        );
        packet.instructions.outcomes.clear();
        if call.can_veto {
            packet.instructions.outcomes.push(VETO.to_owned());
            packet.instructions.constraints.push(format!(
                "To stop the step, fail or report the outcome `{VETO}` with the reason as the summary."
            ));
        } else {
            packet
                .instructions
                .constraints
                .push("This hook only observes: your outcome stops nothing.".into());
        }
        if let Some(masked) = self.redactor.redact_value(&packet) {
            packet = masked;
        }
        let mut call = call.clone();
        if let Some(masked) = self.redactor.redact_value(&call.context) {
            call.context = masked;
        }
        let text =
            serde_json::to_string_pretty(&HookPacket { packet: &packet, hook: &call }).unwrap_or_default();
        let packet_file = self.run_dir.join("packets").join(format!("{}.json", self.stem(&step)));
        let mut invocation = self.invocation(node, Some(text), Some(packet_file));
        invocation.step.clone_from(&step);
        invocation.file_stem = self.stem(&step);
        let ai = agent.unit.iter().any(|a| a.backing.is_ai());
        let mut units = vec![agent.unit.clone()];
        let mut outcome = match self.stack_prompts(&mut units, Some(&packet), &invocation) {
            Some(error) => Outcome::failed(FailureClass::AgentError, error),
            None => {
                let run = step::run_unit(units.remove(0), invocation, self.action_context(&step));
                // A hook agent is not a step of the workflow: an interrupt pauses after it.
                self.with_control(run, false).await.unwrap_or_default()
            }
        };
        outcome.bound();
        if let Some(masked) = self.redactor.redact_value(&outcome) {
            outcome = masked;
        }
        if ai {
            self.price(node, &mut outcome);
        }
        outcome
    }
}
