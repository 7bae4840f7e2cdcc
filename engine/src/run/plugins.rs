//! Plugins at the run's hooks: the contexts the runner builds for them, and what their
//! decisions do to the run — a veto fails a step or stops the run, a `modify` patches the
//! step's packet, notes reach the packet (and so PROMPT.md). Everything a plugin did is
//! journaled as `plugin` events.

use std::time::Duration;

use petgraph::graph::NodeIndex;
use ralph_plugin_sdk::{
    Hook, HookContext, PhaseContext, Spend, StateContext, SteeringPacket, WorkflowContext,
};

use super::core::event::{Event, RunStatus};
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::runner::Runner;
use crate::plugin::runtime::cut;
use crate::plugin::{Fired, Report};

/// The most of a step's diff a plugin is shown.
const DIFF_LIMIT: usize = 256 * 1024;
/// The most of a step's output a plugin is shown.
const OUTPUT_LIMIT: usize = 16 * 1024;
/// How long a webhook call of a plugin may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The phase names of a step: its id, and the role its id or agent names (`building` or a
/// `builder` is the `build` phase, likewise `verify` and `plan`), so `phase.before_build`
/// means the same in every workflow.
pub(super) fn phases(id: &str, agents: &[String]) -> Vec<String> {
    let mut phases = vec![id.to_owned()];
    let roles = [
        ("build", "building", "builder"),
        ("verify", "verifying", "verifier"),
        ("plan", "planning", "planner"),
    ];
    for (phase, state, agent) in roles {
        let named = id == state || agents.iter().any(|a| a == agent);
        if named && !phases.iter().any(|p| p == phase) {
            phases.push(phase.to_owned());
        }
    }
    phases
}

impl Runner {
    /// Whether any plugin is loaded.
    pub(super) fn has_plugins(&self) -> bool {
        !self.plugins.is_empty()
    }

    pub(super) fn spend(&self) -> Spend {
        let ledger = &self.state.ledger;
        Spend {
            cost_usd: ledger.cost_usd,
            tokens: ledger.tokens,
            invocations: ledger.ai_invocations,
            max_cost_usd: self.budget.max_cost_usd,
            max_tokens: self.budget.max_tokens,
        }
    }

    fn workflow_context(&self, status: Option<RunStatus>, error: Option<String>) -> WorkflowContext {
        WorkflowContext {
            workflow_name: self.options.workflow.clone(),
            iteration: u64::from(self.state.iteration.max(1)),
            started_at: self.options.record.started_at.clone(),
            config: self.plugin_config.clone(),
            error,
            run_id: self.state.run_id.clone(),
            status: status.map(|s| s.as_str().to_owned()),
            spend: Some(self.spend()),
        }
    }

    /// Calls the plugins at `hooks` and journals what they did; `None` when no plugin is
    /// called there (no context is built).
    fn fire(
        &mut self,
        hooks: &[Hook],
        step: Option<&str>,
        context: impl FnOnce(&Self) -> HookContext,
    ) -> Option<Fired> {
        if !self.plugins.wants(hooks) {
            return None;
        }
        let context = context(self);
        let parent = self.telemetry.hook_parent(step);
        let mut fired = self.plugins.fire(hooks, &context, parent.as_ref());
        for call in std::mem::take(&mut fired.calls) {
            self.telemetry.plugin_call(&call.plugin, &call.hook, call.seconds, call.error);
        }
        for Report { plugin, hook, kind, message } in std::mem::take(&mut fired.reports) {
            self.emit(&Event::Plugin {
                plugin,
                hook,
                kind: kind.into(),
                message,
                step: step.map(str::to_owned),
            });
        }
        for (plugin, notification) in std::mem::take(&mut fired.notifications) {
            if let Some(sending) = send(plugin, notification) {
                self.notifying.push(sending);
            }
        }
        if let Some(reason) = fired.halt.take() {
            self.halt(RunStatus::Failed, reason, None);
        }
        Some(fired)
    }

    /// Journals why plugins that ralph.yaml configures are not loaded.
    pub(super) fn report_plugin_problems(&mut self) {
        for (plugin, kind, message) in std::mem::take(&mut self.plugin_problems) {
            self.warn(format!("plugin `{plugin}`: {message}"));
            self.emit(&Event::Plugin { plugin, hook: String::new(), kind: kind.into(), message, step: None });
        }
    }

    /// `workflow.on_start`: a veto stops the run before its first step.
    pub(super) fn plugins_on_start(&mut self) {
        let fired = self.fire(&[Hook::WorkflowOnStart], None, |r| r.workflow_context(None, None).into());
        if let Some((plugin, reason)) = fired.and_then(|f| f.veto) {
            self.halt(RunStatus::Stopped, format!("plugin `{plugin}` vetoed the run: {reason}"), None);
        }
    }

    /// `workflow.on_iteration`: a veto ends the run before the iteration.
    pub(super) fn plugins_on_iteration(&mut self) -> Option<String> {
        let fired =
            self.fire(&[Hook::WorkflowOnIteration], None, |r| r.workflow_context(None, None).into())?;
        let (plugin, reason) = fired.veto?;
        let reason = format!("plugin `{plugin}` vetoed iteration {}: {reason}", self.state.iteration);
        self.halt(RunStatus::Stopped, reason.clone(), None);
        Some(reason)
    }

    /// `workflow.on_complete` or `workflow.on_failure`, as the run ended.
    pub(super) fn plugins_on_end(&mut self, status: RunStatus, reason: &str) {
        let hook =
            if status == RunStatus::Succeeded { Hook::WorkflowOnComplete } else { Hook::WorkflowOnFailure };
        let error = (status != RunStatus::Succeeded).then(|| reason.to_owned());
        self.fire(&[hook], None, |r| r.workflow_context(Some(status), error).into());
    }

    /// `state.on_change`.
    pub(super) fn plugins_on_transition(&mut self, from: &str, to: &str, trigger: &str) {
        let context = StateContext {
            from_state: from.to_owned(),
            to_state: to.to_owned(),
            trigger: trigger.to_owned(),
            timestamp: self.now(),
        };
        self.fire(&[Hook::StateOnChange], Some(from), |_| context.into());
    }

    fn step_context(&self, node: NodeIndex, agent: &str, attempt: u32) -> PhaseContext {
        let id = &self.plan.graph[node].id;
        PhaseContext {
            phase: phases(id, &self.plan.graph[node].agents).pop().unwrap_or_default(),
            agent: agent.to_owned(),
            iteration: u64::from(self.state.iteration.max(1)),
            started_at: self.now(),
            step: id.clone(),
            attempt: Some(attempt),
            spend: Some(self.spend()),
            ..PhaseContext::default()
        }
    }

    /// `phase.before_<phase>` then `agent.on_invoke` for a step about to run: their notes and
    /// patches change `packet`; a veto is the reason the step does not run.
    pub(super) fn plugins_before_step(
        &mut self,
        node: NodeIndex,
        agent: &str,
        attempt: u32,
        invokes: bool,
        packet: Option<&mut SteeringPacket>,
    ) -> Option<String> {
        if !self.has_plugins() {
            return None;
        }
        let id = self.plan.graph[node].id.clone();
        let names = phases(&id, &self.plan.graph[node].agents);
        let before: Vec<Hook> = names.iter().map(|p| Hook::before_phase(p.clone())).collect();
        let mut packet = packet;
        let mut hooks = vec![before];
        if invokes {
            hooks.push(vec![Hook::AgentOnInvoke]);
        }
        for hook in hooks {
            // The packet is copied into the context only when some plugin is called.
            let shown = packet.as_deref();
            let fired = self.fire(&hook, Some(&id), |r| {
                let mut context = r.step_context(node, agent, attempt);
                context.packet = shown.cloned().map(Box::new);
                context.into()
            });
            let Some(fired) = fired else { continue };
            if let Some((plugin, reason)) = fired.veto {
                return Some(format!("vetoed by plugin `{plugin}`: {reason}"));
            }
            match packet.as_deref_mut() {
                Some(p) => {
                    for patch in fired.patches {
                        if let Err(e) = p.with_merge_patch(&patch).map(|patched| *p = patched) {
                            self.emit(&Event::Plugin {
                                plugin: String::new(),
                                hook: hook[0].as_str().into_owned(),
                                kind: "modify_ignored".into(),
                                message: format!("the patch leaves an invalid packet: {e}"),
                                step: Some(id.clone()),
                            });
                        }
                    }
                    p.instructions.notes.extend(fired.notes);
                }
                None if !fired.patches.is_empty() || !fired.notes.is_empty() => self.emit(&Event::Plugin {
                    plugin: String::new(),
                    hook: hook[0].as_str().into_owned(),
                    kind: "modify_ignored".into(),
                    message: format!(
                        "`{id}` runs no agent that reads a packet: notes and changes are not delivered"
                    ),
                    step: Some(id.clone()),
                }),
                None => {}
            }
        }
        None
    }

    /// `phase.after_<phase>` for a step that ran: the context carries its result, the files it
    /// changed and their diff; a veto fails it (class `plugin_veto`).
    pub(super) async fn plugins_after_step(
        &mut self,
        node: NodeIndex,
        attempt: u32,
        before: Option<&crate::git::Snapshot>,
        after: Option<&crate::git::Snapshot>,
        outcome: &mut Outcome,
    ) {
        if !self.has_plugins() {
            return;
        }
        // The diff is built once, before the plugins are asked (they may read it).
        let diff = match (&self.tree, before, after) {
            (Some(tree), Some(before), Some(after)) => {
                tree.diff(before, after, &outcome.evidence.files_changed, DIFF_LIMIT).await.ok()
            }
            _ => None,
        };
        let id = self.plan.graph[node].id.clone();
        let names = phases(&id, &self.plan.graph[node].agents);
        let hooks: Vec<Hook> = names.iter().map(|p| Hook::after_phase(p.clone())).collect();
        let agent = self.plan.graph[node].agents.join(", ");
        let fired = self.fire(&hooks, Some(&id), |r| {
            let mut context = r.step_context(node, &agent, attempt);
            context.duration_ms = Some(outcome.duration_ms);
            context.success = Some(outcome.success);
            context.output = outcome
                .summary
                .as_deref()
                .or(outcome.error.as_deref())
                .map(|t| cut(t.to_owned(), OUTPUT_LIMIT));
            let metrics = &outcome.evidence.metrics;
            context.metrics = (!metrics.is_empty()).then_some(*metrics);
            context.files_changed.clone_from(&outcome.evidence.files_changed);
            context.diff = diff;
            context.into()
        });
        if let Some((plugin, reason)) = fired.and_then(|f| f.veto) {
            outcome.success = false;
            outcome.class = Some(FailureClass::PluginVeto);
            outcome.error = Some(format!("vetoed by plugin `{plugin}`: {reason}"));
        }
    }
}

impl Runner {
    /// Waits (a little) for the plugins' webhook calls still on their way when the run ends.
    pub(super) async fn notifications_sent(&mut self) {
        let deadline = tokio::time::Instant::now() + NOTIFY_TIMEOUT;
        for sending in std::mem::take(&mut self.notifying) {
            if let Ok(Ok(Some(failure))) = tokio::time::timeout_at(deadline, sending).await {
                self.warn(failure);
            }
        }
    }
}

/// Sends a plugin's webhook call in the background: a slow or broken endpoint never holds the
/// run up (only its end waits, briefly); a failure is what the call ends with, reported then.
fn send(
    plugin: String,
    notification: crate::plugin::Notification,
) -> Option<tokio::task::JoinHandle<Option<String>>> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let sending = handle.spawn(async move {
        crate::tls::ensure_provider();
        let client = reqwest::Client::builder().timeout(NOTIFY_TIMEOUT).build();
        let result = match client {
            Ok(client) => client
                .post(&notification.url)
                .header("content-type", "application/json")
                .body(notification.body)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map(drop),
            Err(e) => Err(e),
        };
        result
            .err()
            .map(|e| format!("plugin `{plugin}`: the notification to {} failed: {e}", notification.url))
    });
    Some(sending)
}

#[cfg(test)]
mod tests {
    use super::phases;

    #[test]
    fn a_step_is_its_own_phase_and_its_role() {
        assert_eq!(phases("building", &["builder".into()]), ["building", "build"]);
        assert_eq!(phases("lint", &["linter".into()]), ["lint"]);
        assert_eq!(phases("build", &["builder".into()]), ["build"]);
        assert_eq!(phases("check", &["verifier".into()]), ["check", "verify"]);
        assert_eq!(phases("planning", &[]), ["planning", "plan"]);
    }
}
