//! Who does a task's work: its role (`roles:`), a routing entry (`routing:`) and the escalation
//! of a stuck loop (`escalation:`), applied to the workflow's **work agent** (`roles.implementer`,
//! default `builder`).
//!
//! Every choice the configuration allows is resolved before the first step (a backend whose
//! program is missing stops the run before it starts, as for any agent). At the start of each
//! iteration [`decide`] — a pure function of the configuration, the task and the loop's count of
//! iterations without progress — picks one; the runner journals it (`task_routed`) before the
//! iteration's first step, and every step that names the work agent runs the chosen agent
//! instead. A resumed run reads the choice from its journal, never decides again.
//!
//! The order: an escalation (the loop or the task is stuck) wins over routing, which refines
//! the role: the role picks the agent, a routing entry its backend and model.

use indexmap::IndexMap;

use std::path::Path;

use super::agents::{self, AgentError, StepAgent};
use super::core::event::Event;
use super::core::event::Route;
use super::runner::Runner;
use super::runner::{NodePrep, RunError};
use crate::plan::Plan;
use crate::task::Task;
use crate::workflow::condition::Evaluator;
use crate::workflow::model::{
    DEFAULT_ROLE, DEFAULT_WORK_AGENT, Document, EVALUATOR_ROLE, Escalation, ModelChoice, Roles, Routing,
};

/// A choice, before it is resolved: which agent, and what changes about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The key the runner keeps it under (`role:ideas`, `routing:planning`,
    /// `role:ideas+routing:planning`, `escalation`, `human`).
    pub key: String,
    /// The agent that does the work.
    pub agent: String,
    /// What the choice changes about it.
    pub change: ModelChoice,
    /// Why, for people.
    pub reason: String,
    /// An escalation.
    pub escalated: bool,
    /// The role whose own workflow the iteration runs, when its role names one.
    pub workflow: Option<String>,
}

/// The configuration that chooses, read from the merged document.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The agent the workflow's steps name for a task's work.
    pub work_agent: String,
    /// `roles:`.
    pub roles: Roles,
    /// `routing:`.
    pub routing: Routing,
    /// `escalation:`.
    pub escalation: Option<Escalation>,
    /// How many times an evaluator may send one task back in a run.
    pub max_send_backs: u32,
}

impl Rules {
    /// The rules of `doc`.
    pub fn of(doc: &Document) -> Rules {
        let roles = doc.roles.clone().unwrap_or_default();
        let work_agent =
            roles.get(DEFAULT_ROLE).and_then(|r| r.agent()).unwrap_or(DEFAULT_WORK_AGENT).to_owned();
        let max_send_backs = roles
            .get(EVALUATOR_ROLE)
            .and_then(|r| r.max_send_backs())
            .unwrap_or(super::send_back::DEFAULT_MAX_SEND_BACKS);
        Rules {
            work_agent,
            roles,
            max_send_backs,
            routing: doc.routing.clone().unwrap_or_default(),
            escalation: doc.escalation.clone(),
        }
    }

    /// Whether anything is configured: without it no iteration is routed.
    pub fn is_empty(&self) -> bool {
        self.roles.iter().all(|(role, _)| role == DEFAULT_ROLE)
            && self.routing.is_empty()
            && self.escalation.is_none()
    }

    /// Every choice [`decide`] can make, to resolve before the run starts.
    pub fn every_choice(&self) -> Vec<Choice> {
        let mut agents: Vec<(Option<&str>, String)> = vec![(None, self.work_agent.clone())];
        // A role that runs a workflow of its own keeps the work agent there.
        for (role, target) in &self.roles {
            if let Some(agent) = target.agent().filter(|_| role != DEFAULT_ROLE) {
                agents.push((Some(role), agent.to_owned()));
            }
        }
        let mut out = Vec::new();
        for (role, agent) in &agents {
            if let Some(role) = role {
                out.push(self.choice(Some(role), agent, None));
            }
            for (key, _) in &self.routing {
                out.push(self.choice(*role, agent, Some(key)));
            }
            if let Some(escalation) = &self.escalation {
                out.push(escalate(*role, agent, escalation, String::new()));
            }
        }
        out.retain(|c| c.key != "human");
        out
    }

    /// The choice for a task of `role` routed by `route` (keys of the configuration).
    fn choice(&self, role: Option<&str>, agent: &str, route: Option<&str>) -> Choice {
        let mut key = Vec::new();
        let mut reason = Vec::new();
        if let Some(role) = role {
            key.push(format!("role:{role}"));
            reason.push(format!("role `{role}`"));
        }
        let mut change = ModelChoice::default();
        let mut agent = agent.to_owned();
        if let Some(route) = route {
            key.push(format!("routing:{route}"));
            reason.push(format!("routing `{route}`"));
            change = self.routing[route].choice();
            if let Some(other) = &change.agent {
                agent.clone_from(other);
            }
        }
        Choice {
            key: key.join("+"),
            agent,
            change,
            reason: reason.join(", "),
            escalated: false,
            workflow: None,
        }
    }
}

/// The escalation's choice for a task of `role` whose agent would be `agent`.
fn escalate(role: Option<&str>, agent: &str, escalation: &Escalation, reason: String) -> Choice {
    if escalation.human == Some(true) {
        return Choice {
            key: "human".into(),
            agent: agent.to_owned(),
            change: ModelChoice::default(),
            reason,
            escalated: true,
            workflow: None,
        };
    }
    let change = escalation.choice();
    let agent = change.agent.clone().unwrap_or_else(|| agent.to_owned());
    let key = match role {
        Some(role) => format!("role:{role}+escalation"),
        None => "escalation".to_owned(),
    };
    Choice { key, agent, change, reason, escalated: true, workflow: None }
}

/// Who does `task`'s work, when its role, routing or an escalation says: `None` leaves the
/// workflow's work agent as written. `no_progress` is the loop's count of iterations in a row
/// whose task was not done.
pub fn decide(rules: &Rules, task: &Task, no_progress: u32) -> Option<Choice> {
    let role = task.role.as_deref().map(str::trim).filter(|r| !r.is_empty() && *r != DEFAULT_ROLE);
    let role = role.filter(|r| rules.roles.contains_key(*r));
    // A role names an agent (which replaces the work agent) or a workflow (which the iteration
    // runs; the work agent, where it runs there, is routed and escalated as anywhere).
    let workflow = role.filter(|r| rules.roles[*r].workflow().is_some()).map(str::to_owned);
    let role = role.filter(|r| rules.roles[*r].agent().is_some());
    let agent = role.and_then(|r| rules.roles[r].agent()).unwrap_or(&rules.work_agent).to_owned();
    let with_workflow = |mut choice: Choice| {
        if let Some(w) = &workflow {
            let file = rules.roles[w.as_str()].workflow().unwrap_or_default();
            let runs = format!("role `{w}` runs `{file}`");
            choice.reason =
                if choice.reason.is_empty() { runs } else { format!("{runs}, {}", choice.reason) };
            choice.workflow = Some(w.clone());
        }
        choice
    };
    if let Some(escalation) = &rules.escalation {
        let n = escalation.trigger_after;
        let why = if no_progress >= n {
            Some(format!("escalation: {no_progress} iteration(s) in a row without progress"))
        } else if task.failed_attempts >= n {
            Some(format!("escalation: task {} failed {} attempt(s)", task.id, task.failed_attempts))
        } else {
            None
        };
        if let Some(why) = why {
            return Some(with_workflow(escalate(role, &agent, escalation, why)));
        }
    }
    let route = rules.routing.keys().find(|key| {
        task.kind.as_deref() == Some(key.as_str())
            || task.role.as_deref() == Some(key.as_str())
            || task.labels.iter().any(|l| l == *key)
    });
    if role.is_none() && route.is_none() && workflow.is_none() {
        return None;
    }
    let mut choice = rules.choice(role, &agent, route.map(String::as_str));
    if let Some(route) = route {
        let what = if task.kind.as_deref() == Some(route) {
            "type"
        } else if task.role.as_deref() == Some(route) {
            "role"
        } else {
            "label"
        };
        choice.reason =
            choice.reason.replace(&format!("routing `{route}`"), &format!("routing: {what} `{route}`"));
    }
    Some(with_workflow(choice))
}

/// A choice resolved: its agents, ready to run, and the backend and model they run on.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The agents (one, or a chain's).
    pub agents: Vec<StepAgent>,
    /// The backend, as YAML names it.
    pub backend: Option<String>,
    /// The model, when one is set.
    pub model: Option<String>,
}

/// A role's own workflow, ready to run: what the runner swaps in for that role's iterations.
pub struct RoleWorkflow {
    /// The file, as `roles:` names it.
    pub file: String,
    /// The workflow's name (packets and spans say it).
    pub name: String,
    /// Its plan.
    pub plan: Plan,
    /// What each of its nodes runs.
    pub(super) nodes: Vec<NodePrep>,
    /// Its named conditions.
    pub conditions: Evaluator,
    /// Their names.
    pub condition_names: Vec<String>,
    /// Sections of the file a role's pass does not use (the loop's own settings stand).
    pub unused: Vec<&'static str>,
}

impl std::fmt::Debug for RoleWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleWorkflow")
            .field("file", &self.file)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The choices resolved before the run: each key's agents, ready to run.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The rules.
    pub rules: Rules,
    /// The agents of each choice, by key.
    pub agents: IndexMap<String, Chosen>,
    /// The roles' own workflows, by role.
    pub workflows: IndexMap<String, RoleWorkflow>,
}

impl Prepared {
    /// Resolves every choice of `doc`'s rules, and reads, validates and compiles the roles' own
    /// workflows (relative to `project_dir`).
    pub fn resolve(doc: &Document, project_dir: &Path) -> Result<Prepared, RunError> {
        let rules = Rules::of(doc);
        let mut agents = IndexMap::new();
        for choice in rules.every_choice() {
            if agents.contains_key(&choice.key) {
                continue;
            }
            let chosen = resolve_choice(doc, &choice)
                .map_err(|source| RunError::Choice { choice: entries(&choice.key), source })?;
            agents.insert(choice.key.clone(), chosen);
        }
        let mut workflows = IndexMap::new();
        for (role, target) in &rules.roles {
            if let Some(file) = target.workflow() {
                workflows.insert(role.clone(), role_workflow(role, file, project_dir)?);
            }
        }
        Ok(Prepared { rules, agents, workflows })
    }
}

/// The entries of `ralph.yaml` a choice's key stands for: `` `roles.ideas` and `routing.code` ``.
fn entries(key: &str) -> String {
    let named: Vec<String> = key
        .split('+')
        .map(|part| match part.split_once(':') {
            Some((section, name)) => {
                format!("`{}.{name}`", if section == "role" { "roles" } else { section })
            }
            None => format!("`{part}`"),
        })
        .collect();
    named.join(" with ")
}

/// The sections of a workflow file a role's pass runs by (its workflow, agents, chains,
/// conditions, timeouts, retry policies, compensation); the others are the loop's.
fn unused_sections(doc: &Document) -> Vec<&'static str> {
    let sections: [(&'static str, bool); 10] = [
        ("loop", doc.loop_settings.is_some()),
        ("budget", doc.budget.is_some()),
        ("circuit_breaker", doc.circuit_breaker.is_some()),
        ("notifications", doc.notifications.is_some()),
        ("observability", doc.observability.is_some()),
        ("plugins", doc.plugins.is_some()),
        ("state", doc.state.is_some()),
        ("logging", doc.logging.is_some()),
        ("roles", doc.roles.is_some()),
        ("routing", doc.routing.is_some() || doc.escalation.is_some()),
    ];
    sections.into_iter().filter(|(_, set)| *set).map(|(name, _)| name).collect()
}

/// Reads, validates (strictly, with `ralph.yaml`) and compiles a role's workflow.
fn role_workflow(role: &str, file: &str, project_dir: &Path) -> Result<RoleWorkflow, RunError> {
    let path = project_dir.join(file);
    let options = crate::workflow::validate::Options {
        config: None,
        project_dir: project_dir.to_owned(),
        strict: true,
        inert_errors: false,
    };
    let failed = |why: String| RunError::RoleWorkflow(format!("role `{role}` runs `{file}`, which {why}"));
    let validation = crate::workflow::validate::validate(&path, &options)
        .map_err(|e| failed(format!("cannot be read: {e}")))?;
    if let Some(error) = validation.diagnostics.iter().find(|d| d.is_error()) {
        let at = error
            .location
            .as_ref()
            .map(|l| format!("{}:{}:{}: ", l.file.display(), l.span.start.line, l.span.start.col))
            .unwrap_or_default();
        return Err(failed(format!(
            "is invalid: {at}{} (`ralph-loop workflow validate {file}` says all)",
            error.message
        )));
    }
    let (Some(doc), Some(plan)) = (validation.document, validation.plan) else {
        return Err(failed("has no `workflow:` to run".into()));
    };
    // What the file itself says, not what ralph.yaml merged into it.
    let own = crate::workflow::load::load_path(&path, crate::workflow::schema::SchemaKind::Config)
        .ok()
        .and_then(|f| f.document)
        .map(|d| unused_sections(&d))
        .unwrap_or_default();
    let nodes = super::runner::prepare(&doc, &plan)?;
    let name =
        doc.workflow.as_ref().and_then(|w| w.name.clone()).or_else(|| doc.name.clone()).unwrap_or_else(
            || path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        );
    Ok(RoleWorkflow {
        file: file.to_owned(),
        name,
        plan,
        nodes,
        condition_names: doc.conditions.keys().cloned().collect(),
        conditions: Evaluator::new(super::runner::named_conditions(&doc)),
        unused: own,
    })
}

/// The agents of a choice: the chosen agent's definition (or an agent known only by its
/// prompt), with the choice's backend and model.
fn resolve_choice(doc: &Document, choice: &Choice) -> Result<Chosen, AgentError> {
    let agents = agents::resolve_changed(doc, &choice.agent, &choice.change)?;
    let agent = agents::changed(doc, &choice.agent, &choice.change);
    let backend = agent.backend.or_else(|| agents::default_backend(doc)).map(agents::backend_name);
    Ok(Chosen { agents, backend, model: agent.model })
}

impl Runner {
    /// Journals who does the work of the iteration that just began, for `task` (read from the
    /// task file at its start); a `human` escalation pauses the loop first, once every
    /// `trigger_after` iterations without progress.
    pub(super) async fn route_iteration(&mut self, task: &Task) {
        if self.routing.rules.is_empty() {
            return;
        }
        if let Some(role) =
            task.role.as_deref().filter(|r| *r != DEFAULT_ROLE && !self.routing.rules.roles.contains_key(*r))
        {
            if !self.routing.rules.roles.is_empty() && !self.warned_roles.contains(role) {
                self.warned_roles.insert(role.to_owned());
                let known: Vec<String> = self.routing.rules.roles.keys().map(|r| format!("`{r}`")).collect();
                self.warn(format!(
                    "task {} has role `{role}`, which `roles:` does not name ({}); `{}` does its work",
                    task.id,
                    known.join(", "),
                    self.routing.rules.work_agent
                ));
            }
        }
        let Some(choice) = decide(&self.routing.rules, task, self.state.no_progress) else { return };
        let iteration = self.state.iteration;
        let (backend, model) = match self.routing.agents.get(&choice.key) {
            Some(chosen) => (chosen.backend.clone(), chosen.model.clone()),
            None => (None, None),
        };
        let human = choice.key == "human";
        self.emit(&Event::TaskRouted(Box::new(Route {
            iteration,
            work_agent: self.routing.rules.work_agent.clone(),
            choice: choice.key.clone(),
            agent: choice.agent.clone(),
            backend,
            model,
            reason: choice.reason.clone(),
            escalated: choice.escalated,
            workflow: choice.workflow.clone(),
        })));
        // Durable before the first step: a loop killed during the iteration is resumed with the
        // same choice (another agent, model or workflow), never decided again.
        self.settle().await;
        if let Some(role) = &choice.workflow {
            if let Some(w) = self.routing.workflows.get_mut(role) {
                let unused = std::mem::take(&mut w.unused);
                if !unused.is_empty() {
                    let sections: Vec<String> = unused.iter().map(|s| format!("`{s}`")).collect();
                    let file = w.file.clone();
                    self.warn(format!(
                        "role `{role}` runs `{file}`, whose {} the loop does not take from it: a role's pass runs by the loop's own settings",
                        sections.join(", ")
                    ));
                }
            }
        }
        let trigger = self.routing.rules.escalation.as_ref().map_or(1, |e| e.trigger_after.max(1));
        if human
            && self.state.no_progress > 0
            && self.state.no_progress.is_multiple_of(trigger)
            && self.state.paused.is_none()
        {
            let by = format!("escalation ({})", choice.reason);
            let _ = self.take_signal(crate::control::Signal::Pause, &by).await;
            let text = format!(
                "the loop is stuck ({}) and paused for a person: `ralph-loop hint` says how to go on, `ralph-loop resume` goes on",
                choice.reason
            );
            self.notify_run("on_human_review_needed", &text, None);
        }
    }

    /// Before the latest pass runs: when its task's role has a workflow of its own, that
    /// workflow takes the place of the loop's (its plan, nodes, name and named conditions)
    /// until [`Runner::leave_role_workflow`]. Returns the role swapped in.
    pub(super) fn enter_role_workflow(&mut self) -> Option<String> {
        let role = self.state.pass()?.route.as_ref()?.workflow.clone()?;
        self.swap_role_workflow(&role);
        Some(role)
    }

    /// After the pass: the loop's own workflow again.
    pub(super) fn leave_role_workflow(&mut self, role: Option<String>) {
        if let Some(role) = role {
            self.swap_role_workflow(&role);
        }
    }

    fn swap_role_workflow(&mut self, role: &str) {
        let Some(w) = self.routing.workflows.get_mut(role) else { return };
        std::mem::swap(&mut self.plan, &mut w.plan);
        std::mem::swap(&mut self.nodes, &mut w.nodes);
        std::mem::swap(&mut self.options.workflow, &mut w.name);
        std::mem::swap(&mut self.evaluator, &mut w.conditions);
        std::mem::swap(&mut self.named_conditions, &mut w.condition_names);
    }

    /// The units of a step with the iteration's chosen agents in place of the work agent.
    pub(super) fn routed(&self, units: &mut [Vec<StepAgent>]) {
        let Some(route) = self.state.pass().and_then(|p| p.route.as_ref()) else { return };
        let Some(chosen) = self.routing.agents.get(&route.choice) else { return };
        for unit in units.iter_mut() {
            if unit.iter().any(|a| a.name == route.work_agent) {
                *unit = unit
                    .drain(..)
                    .flat_map(|a| if a.name == route.work_agent { chosen.agents.clone() } else { vec![a] })
                    .collect();
            }
        }
    }
}

/// The route as the packet shows it.
pub fn packet_route(route: &Route) -> ralph_plugin_sdk::Route {
    ralph_plugin_sdk::Route {
        agent: route.agent.clone(),
        backend: route.backend.clone(),
        model: route.model.clone(),
        reason: route.reason.clone(),
        escalated: route.escalated,
    }
}

#[cfg(test)]
mod tests;
