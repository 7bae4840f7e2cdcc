//! Semantic checks: what the schema cannot say. Targets exist, the DAG has no cycle, states are
//! reachable, names resolve, expressions compile, prompts exist.
//!
//! Every finding carries a field path; the caller turns paths into `file:line:column`. Nothing
//! here reads a file except to ask whether a prompt or plugin exists, and to parse a review
//! form's template.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use indexmap::IndexMap;

use super::condition::{self, Condition, ConditionKind};
use super::model::{
    Action, AgentKind, Backend, Document, OnFailure, OneOrMany, PluginsSection, PolicyRef, RetryPolicy,
    StateKind, Strategy, UiKind, UiSpec, Workflow, WorkflowKind,
};
use super::path::FieldPath;
use super::suggest::did_you_mean;
use super::vocabulary::{self, STOP_TARGET};
use crate::dashboard::form;
use crate::diagnostic::{Diagnostic, Severity};
use crate::prompt;

/// What the checks need to know beyond the document.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The project directory: prompts and plugins are looked up from here.
    pub project_dir: &'a Path,
    /// The workflow file, whose directory is searched for prompts first.
    pub workflow_file: Option<&'a Path>,
    /// `loop` cannot run without its agents and plugins: make missing ones errors, not warnings.
    pub strict: bool,
    /// Agents defined in the workflow file itself; only these are reported as unused.
    pub local_agents: HashSet<String>,
}

/// Runs every semantic check on a (merged) document.
pub fn check(doc: &Document, cx: &Context<'_>) -> Vec<Diagnostic> {
    let mut checker = Checker::new(doc, cx);
    checker.run();
    checker.out
}

struct Checker<'a> {
    doc: &'a Document,
    cx: &'a Context<'a>,
    dirs: Vec<PathBuf>,
    out: Vec<Diagnostic>,
    conditions: IndexMap<String, Condition>,
    used: HashSet<String>,
    /// Agent references that no agent or chain defines, only a prompt (`verifier` →
    /// `PROMPT-VERIFIER.md`): with where they are and the prompt found.
    prompt_only: Vec<(String, FieldPath, prompt::PromptSource)>,
    /// Checking `circuit_breaker.on_open`, where `escalate` belongs.
    breaker_actions: bool,
}

fn root() -> FieldPath {
    FieldPath::root()
}

fn backticked(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl<'a> Checker<'a> {
    fn new(doc: &'a Document, cx: &'a Context<'a>) -> Self {
        Checker {
            doc,
            cx,
            dirs: prompt::search_dirs(cx.workflow_file, cx.project_dir),
            out: Vec::new(),
            conditions: IndexMap::new(),
            used: HashSet::new(),
            prompt_only: Vec::new(),
            breaker_actions: false,
        }
    }

    fn run(&mut self) {
        self.named_conditions();
        self.retry_policies();
        if let Some(workflow) = &self.doc.workflow {
            self.workflow(workflow);
        }
        self.task_routing();
        self.agents();
        self.chains();
        for (name, _) in &self.doc.timeouts {
            self.agent_ref(name, || root().key("timeouts").key(name), true);
        }
        if let Some(breaker) = &self.doc.circuit_breaker {
            let path = root().key("circuit_breaker");
            self.breaker_actions = true;
            self.actions(&breaker.on_open, &path.key("on_open"), &[]);
            self.breaker_actions = false;
            self.escalations(&breaker.on_open, &path.key("on_open"));
            self.actions(&breaker.on_close, &path.key("on_close"), &[]);
        }
        if let Some(compensation) = &self.doc.compensation {
            self.actions(&compensation.on_failure, &root().key("compensation").key("on_failure"), &[]);
        }
        self.out.extend(super::durations::check(self.doc));
        self.notifications();
        self.snapshots();
        self.plugins();
        let misspelled = self.misspelled_agents();
        self.unused_agents(&misspelled);
    }

    /// `roles:`, `routing:` and `escalation:` name agents that exist, each entry changes
    /// something, and the work agent they replace is one the workflow's steps run.
    fn task_routing(&mut self) {
        use crate::workflow::model::{DEFAULT_ROLE, DEFAULT_WORK_AGENT, RoleTarget, RouteTarget};
        let doc = self.doc;
        // Read before the references below mark agents used: which agents the steps run.
        let used_by_steps = self.used.clone();
        let roles = doc.roles.clone().unwrap_or_default();
        for (role, target) in &roles {
            let at = root().key("roles").key(role);
            match (target.agent(), target.workflow()) {
                (Some(agent), None) => {
                    let path = match target {
                        RoleTarget::Agent(_) => at.clone(),
                        RoleTarget::Spec(_) => at.key("agent"),
                    };
                    self.agent_ref(agent, || path, false);
                }
                (None, Some(_)) if role == DEFAULT_ROLE => {
                    self.out.push(
                        Diagnostic::error(
                            "implementer-workflow",
                            "the `implementer` role is the loop's own workflow; it names the work agent, not a workflow",
                        )
                        .at_key(at.key("workflow"))
                        .note("run another workflow with `loop.workflow` or `--workflow`; give `implementer` an agent"),
                    );
                }
                (None, Some(file)) => self.role_workflow(role, file, at.key("workflow")),
                (None, None) => self.out.push(
                    Diagnostic::error("empty-role", format!("role `{role}` names neither an agent nor a workflow"))
                        .at(at)
                        .note(format!("write `{role}: <agent>`, or `{role}: {{workflow: workflows/{role}.yaml}}`")),
                ),
                (Some(_), Some(_)) => self.out.push(
                    Diagnostic::error("ambiguous-role", format!("role `{role}` names both an agent and a workflow"))
                        .at(at)
                        .note("a role's tasks run on an agent (in the loop's workflow) or in a workflow of their own: keep one"),
                ),
            }
            if target.max_send_backs().is_some() && role != crate::workflow::model::EVALUATOR_ROLE {
                self.out.push(
                    Diagnostic::warning(
                        "inert-key",
                        format!("`max_send_backs` applies to the `evaluator` role; tasks of role `{role}` send nothing back"),
                    )
                    .at_key(root().key("roles").key(role).key("max_send_backs")),
                );
            }
        }
        for (key, route) in doc.routing.iter().flatten() {
            let RouteTarget::Spec(spec) = route else { continue };
            let path = root().key("routing").key(key);
            if let Some(agent) = &spec.agent {
                let path = path.key("agent");
                self.agent_ref(agent, || path, false);
            } else if spec.backend.is_none() && spec.model.is_none() {
                self.out.push(
                    Diagnostic::error("empty-route", format!("routing entry `{key}` changes nothing"))
                        .at(path)
                        .note(
                            "give it a `model`, a `backend` or an `agent`, e.g. `{key}: claude-sonnet-4-5`",
                        ),
                );
            }
        }
        if let Some(escalation) = &doc.escalation {
            let path = root().key("escalation");
            let human = escalation.human == Some(true);
            if let Some(agent) = &escalation.agent {
                let path = path.key("agent");
                self.agent_ref(agent, || path, false);
            }
            let changes =
                escalation.agent.is_some() || escalation.backend.is_some() || escalation.model.is_some();
            if !changes && !human {
                self.out.push(
                    Diagnostic::error("empty-escalation", "`escalation` says when, not to what")
                        .at(path.clone())
                        .note("give it a `model` (and a `backend`), an `agent`, or `human: true` to ask a person"),
                );
            }
            if changes && human {
                self.out.push(
                    Diagnostic::warning(
                        "inert-key",
                        "`human: true` asks a person, so the escalation's `agent`, `backend` and `model` are not used",
                    )
                    .at_key(path.key("human")),
                );
            }
        }
        let agent_roles = roles.iter().any(|(r, t)| r != DEFAULT_ROLE && t.agent().is_some());
        let configured = agent_roles
            || doc.routing.as_ref().is_some_and(|r| !r.is_empty())
            || doc.escalation.as_ref().is_some_and(|e| e.human != Some(true));
        if !configured || doc.workflow.is_none() || self.is_role_workflow() {
            return;
        }
        let work_agent = roles.get(DEFAULT_ROLE).and_then(|r| r.agent()).unwrap_or(DEFAULT_WORK_AGENT);
        if used_by_steps.contains(work_agent) {
            return;
        }
        let mut steps: Vec<&str> = used_by_steps
            .iter()
            .map(String::as_str)
            .filter(|a| doc.agents.contains_key(*a) || self.role_prompt(a).is_some())
            .collect();
        steps.sort_unstable();
        let section = if agent_roles {
            "roles"
        } else if doc.routing.as_ref().is_some_and(|r| !r.is_empty()) {
            "routing"
        } else {
            "escalation"
        };
        let mut d = Diagnostic::error(
            "no-work-agent",
            format!("`{section}` chooses who does a task's work in place of the agent `{work_agent}`, but no step of the workflow runs `{work_agent}`"),
        )
        .at_key(root().key(section))
        .note(format!(
            "name the agent that does the work with `roles: {{implementer: <agent>}}`{}",
            if steps.is_empty() { String::new() } else { format!(" (the steps run {})", backticked(&steps)) }
        ));
        if steps.len() == 1 {
            d = d.suggest(Some(format!("roles: {{implementer: {}}}", steps[0])));
        }
        self.out.push(d);
    }

    /// A role's own workflow: the file must exist (it is validated when `loop` starts).
    fn role_workflow(&mut self, role: &str, file: &str, path: FieldPath) {
        let full = self.cx.project_dir.join(file);
        if full.is_file() {
            return;
        }
        let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
        let known: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
                    .collect()
            })
            .unwrap_or_default();
        let name = full.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let close = did_you_mean(&name, known.iter().map(String::as_str))
            .map(|n| Path::new(file).with_file_name(n).display().to_string());
        let mut d =
            Diagnostic::error("missing-file", format!("role `{role}` runs `{file}`, which does not exist"))
                .at(path)
                .suggest(close)
                .note("the path is relative to the project directory");
        d.severity = self.missing();
        self.out.push(d);
    }

    /// Whether the file being checked is a role's own workflow (its steps need not run the work
    /// agent: routing applies where it does).
    fn is_role_workflow(&self) -> bool {
        let Some(file) = self.cx.workflow_file else { return false };
        let Ok(this) = std::fs::canonicalize(file) else { return false };
        self.doc
            .roles
            .iter()
            .flatten()
            .filter_map(|(_, t)| t.workflow())
            .any(|w| std::fs::canonicalize(self.cx.project_dir.join(w)).is_ok_and(|p| p == this))
    }

    fn missing(&self) -> Severity {
        if self.cx.strict { Severity::Error } else { Severity::Warning }
    }

    // ---- names: agents, actions, conditions, policies ----

    fn agent_defined(&self, name: &str) -> bool {
        self.doc.agents.contains_key(name)
            || self.doc.chains.contains_key(name)
            || self.role_prompt(name).is_some()
    }

    /// The prompt an agent known by no definition runs: its `PROMPT-<NAME>.md`.
    fn role_prompt(&self, name: &str) -> Option<prompt::PromptSource> {
        prompt::role_prompt_names(name).iter().find_map(|p| prompt::find(p, &self.dirs))
    }

    fn mark_used(&mut self, name: &str) {
        if self.used.insert(name.to_owned()) {
            if let Some(members) = self.doc.chains.get(name) {
                for member in members.clone() {
                    self.mark_used(&member);
                }
            }
        }
    }

    /// A reference to an agent (or chain). `quiet` references (timeouts) do not mark it used.
    fn agent_ref(&mut self, name: &str, path: impl FnOnce() -> FieldPath, quiet: bool) {
        if !quiet {
            self.mark_used(name);
        }
        if self.doc.agents.contains_key(name) || self.doc.chains.contains_key(name) {
            return;
        }
        if let Some(found) = self.role_prompt(name) {
            if !quiet {
                self.prompt_only.push((name.to_owned(), path(), found));
            }
            return;
        }
        let path = path();
        let known: Vec<&str> =
            self.doc.agents.keys().chain(self.doc.chains.keys()).map(String::as_str).collect();
        let mut d = Diagnostic::error("undefined-agent", format!("agent `{name}` is not defined"))
            .at(path)
            .suggest(did_you_mean(name, known.iter().copied()))
            .note(format!(
                "define it under `agents:` in the workflow file or in ralph.yaml, or add a `{}` prompt",
                prompt::role_prompt_names(name)[0]
            ));
        d.severity = self.missing();
        if !self.cx.strict {
            d = d.note("`ralph-loop loop` refuses to start until it is defined");
        }
        self.out.push(d);
    }

    fn actions(&mut self, actions: &OneOrMany<Action>, path: &FieldPath, states: &[&str]) {
        for (i, action) in actions.as_slice().iter().enumerate() {
            let item = if matches!(actions, OneOrMany::One(_)) { path.clone() } else { path.index(i) };
            self.action(action, item, states);
        }
    }

    /// `escalate` names the agent the breaker (or a review nobody answered) hands over to.
    fn escalations(&mut self, actions: &OneOrMany<Action>, path: &FieldPath) {
        for (i, action) in actions.as_slice().iter().enumerate() {
            if action.name() != vocabulary::ESCALATE {
                continue;
            }
            let item = if matches!(actions, OneOrMany::One(_)) { path.clone() } else { path.index(i) };
            let agent = match action {
                Action::Spec(spec) => spec.args.get("agent").and_then(|v| v.as_str()),
                Action::Name(_) => None,
            };
            match agent {
                Some(agent) => self.agent_ref(agent, || item.key("args").key("agent"), false),
                None => self.out.push(
                    Diagnostic::error("invalid-action", "`escalate` needs the agent to hand the failures to")
                        .at(item)
                        .expected("`{action: escalate, args: {agent: senior, model: claude-opus-4}}` (`model` is optional)"),
                ),
            }
        }
    }

    fn action(&mut self, action: &Action, path: FieldPath, states: &[&str]) {
        let path = match action {
            Action::Name(_) => path,
            Action::Spec(_) => path.key("action"),
        };
        if action.name() == vocabulary::ESCALATE && !self.breaker_actions {
            self.out.push(
                Diagnostic::error(
                    "invalid-action",
                    "`escalate` only works in `circuit_breaker.on_open` and a review state's `on_timeout`",
                )
                .at(path.clone())
                .expected("`escalate_to_human` to ask a person, or an agent's name to run it"),
            );
        }
        self.action_name(action.name(), path, states);
    }

    fn action_name(&mut self, name: &str, path: FieldPath, states: &[&str]) {
        if vocabulary::is_builtin_action(name) || states.contains(&name) {
            return;
        }
        if self.agent_defined(name) {
            self.mark_used(name);
            return;
        }
        let builtins = vocabulary::BUILTIN_ACTIONS.iter().map(|(n, _)| *n);
        if let Some(close) = did_you_mean(name, builtins.chain(states.iter().copied())) {
            self.out.push(
                Diagnostic::error(
                    "unknown-action",
                    format!("`{name}` is not a built-in action, a state or an agent"),
                )
                .at(path)
                .suggest(Some(close)),
            );
            return;
        }
        self.agent_ref(name, || path, false);
    }

    fn condition(&mut self, text: &str, path: FieldPath) -> Option<Condition> {
        let named = |n: &str| self.doc.conditions.contains_key(n);
        match condition::compile(text, &named) {
            Err(err) => {
                self.out.push(
                    Diagnostic::error("invalid-condition", format!("the condition does not compile: {err}"))
                        .at(path)
                        .expected("a condition name, an outcome name such as `verified`, or an expression such as `failure and retries < 3`"),
                );
                None
            }
            Ok(c) => {
                let mut names: Vec<&str> = c.names.iter().map(String::as_str).collect();
                if let ConditionKind::Outcome(name) = &c.kind {
                    names.push(name);
                }
                for name in names {
                    if self.doc.conditions.contains_key(name) {
                        continue;
                    }
                    let known = condition::VARIABLES
                        .iter()
                        .map(|(n, _)| *n)
                        .chain(["always", "success", "failure"])
                        .chain(self.doc.conditions.keys().map(String::as_str));
                    if let Some(close) = did_you_mean(name, known) {
                        self.out.push(
                            Diagnostic::warning(
                                "outcome-name",
                                format!("`{name}` is read as an outcome name, not a variable or named condition"),
                            )
                            .at(path.clone())
                            .suggest(Some(close))
                            .note("an outcome name holds when the step reports that result, or reports none and succeeds"),
                        );
                    }
                }
                Some(c)
            }
        }
    }

    fn named_conditions(&mut self) {
        let conditions = self.doc.conditions.clone();
        for (name, text) in &conditions {
            if let Some(c) = self.condition(text, root().key("conditions").key(name)) {
                self.conditions.insert(name.clone(), c);
            }
        }
        // Named conditions may use each other; a cycle could never be evaluated.
        let edges: HashMap<&str, Vec<&str>> = self
            .conditions
            .iter()
            .map(|(name, c)| {
                let mut refs: Vec<&str> = c.names.iter().map(String::as_str).collect();
                if let ConditionKind::Named(n) = &c.kind {
                    refs.push(n);
                }
                (name.as_str(), refs.into_iter().filter(|r| self.conditions.contains_key(*r)).collect())
            })
            .collect();
        let order: Vec<&str> = self.conditions.keys().map(String::as_str).collect();
        if let Some(cycle) = find_cycle(&order, &edges) {
            self.out.push(
                Diagnostic::error(
                    "condition-cycle",
                    format!("named conditions refer to each other in a cycle: {}", cycle.join(" → ")),
                )
                .at(root().key("conditions").key(cycle[0])),
            );
        }
    }

    fn policy_names(&self) -> Vec<&str> {
        self.doc
            .retry
            .as_ref()
            .map(|r| r.policies().into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default()
    }

    fn policy_ref(&mut self, policy: &PolicyRef, path: FieldPath) {
        match policy {
            PolicyRef::Named(name) => {
                let names = self.policy_names();
                if !names.contains(&name.as_str()) {
                    let d =
                        Diagnostic::error("unknown-policy", format!("retry policy `{name}` is not defined"))
                            .at(path)
                            .suggest(did_you_mean(name, names.iter().copied()));
                    let d = if names.is_empty() {
                        d.note("define it under `retry:`")
                    } else {
                        d.expected(format!("one of {}", backticked(&names)))
                    };
                    self.out.push(d);
                }
            }
            PolicyRef::Inline(inline) => self.retry_policy(inline, &path),
        }
    }

    fn retry_policies(&mut self) {
        let Some(retry) = &self.doc.retry else { return };
        let single = matches!(retry, super::model::RetrySection::Single(_));
        for (name, policy) in retry.policies() {
            let path = if single { root().key("retry") } else { root().key("retry").key(name) };
            self.retry_policy(policy, &path);
        }
    }

    fn retry_policy(&mut self, policy: &RetryPolicy, path: &FieldPath) {
        let mut classes = HashMap::new();
        for (field, list) in [("retry_on", &policy.retry_on), ("non_retryable", &policy.non_retryable)] {
            for (i, name) in list.iter().enumerate() {
                match vocabulary::failure_class(name) {
                    Some(class) => {
                        if let Some(other) = classes.insert(class, field) {
                            if other != field {
                                self.out.push(
                                    Diagnostic::error(
                                        "conflicting-fields",
                                        format!("failure class `{class}` is both retried and not retryable"),
                                    )
                                    .at(path.key(field).index(i)),
                                );
                            }
                        }
                    }
                    None => self.out.push(
                        Diagnostic::error(
                            "unknown-failure-class",
                            format!("`{name}` is not a failure class"),
                        )
                        .at(path.key(field).index(i))
                        .expected(format!(
                            "one of {}",
                            backticked(
                                &vocabulary::FAILURE_CLASSES.iter().map(|(c, _)| *c).collect::<Vec<_>>()
                            )
                        ))
                        .suggest(did_you_mean(name, vocabulary::failure_class_names())),
                    ),
                }
            }
        }
        for (a, b) in [("base_delay", "initial_interval"), ("max_delay", "max_interval")] {
            let both = match a {
                "base_delay" => policy.base_delay.is_some() && policy.initial_interval.is_some(),
                _ => policy.max_delay.is_some() && policy.max_interval.is_some(),
            };
            if both {
                self.out.push(
                    Diagnostic::error(
                        "conflicting-fields",
                        format!("`{a}` and `{b}` are two names for one setting"),
                    )
                    .at(path.key(b))
                    .note(format!("keep `{a}` (the seed's name) or `{b}` (Temporal's), not both")),
                );
            }
        }
        let first = policy.base_delay.or(policy.initial_interval);
        let max = policy.max_delay.or(policy.max_interval);
        if let (Some(first), Some(max)) = (first, max) {
            if max < first {
                let field = if policy.max_delay.is_some() { "max_delay" } else { "max_interval" };
                self.out.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!("`{field}` ({max}) is shorter than the first delay ({first})"),
                    )
                    .at(path.key(field)),
                );
            }
        }
        match policy.strategy {
            Some(Strategy::Fixed | Strategy::Linear) => self.ignored(
                path,
                &[
                    ("base_delay", policy.base_delay.is_some()),
                    ("initial_interval", policy.initial_interval.is_some()),
                    ("backoff_coefficient", policy.backoff_coefficient.is_some()),
                ],
                "has no effect with this strategy",
                Some("`fixed` and `linear` use `delay`"),
            ),
            Some(Strategy::ExponentialBackoff) if policy.delay.is_some() => self.out.push(
                Diagnostic::warning("ignored-field", "`delay` has no effect with `exponential_backoff`")
                    .at(path.key("delay"))
                    .suggest(Some("base_delay".into())),
            ),
            _ => {}
        }
    }

    /// Warns about each field that is set where it has no effect.
    fn ignored(&mut self, path: &FieldPath, fields: &[(&str, bool)], why: &str, note: Option<&str>) {
        for (field, _) in fields.iter().filter(|(_, set)| *set) {
            let mut d =
                Diagnostic::warning("ignored-field", format!("`{field}` {why}")).at_key(path.key(*field));
            if let Some(note) = note {
                d = d.note(note);
            }
            self.out.push(d);
        }
    }

    // ---- the workflow ----

    fn workflow(&mut self, workflow: &Workflow) {
        let path = root().key("workflow");
        let lists = [
            ("states", !workflow.states.is_empty(), WorkflowKind::StateMachine),
            ("transitions", !workflow.transitions.is_empty(), WorkflowKind::StateMachine),
            ("nodes", !workflow.nodes.is_empty(), WorkflowKind::Dag),
            ("steps", !workflow.steps.is_empty(), WorkflowKind::Saga),
        ];
        let kind = workflow.effective_kind();
        for (name, present, belongs) in lists {
            if present && belongs != kind {
                let how = if workflow.kind.is_some() { "is declared" } else { "was inferred as" };
                self.out.push(
                    Diagnostic::error(
                        "wrong-section",
                        format!(
                            "`{name}` belongs to a `{}` workflow, but this one {how} `{}`",
                            belongs.as_str(),
                            kind.as_str()
                        ),
                    )
                    .at_key(path.key(name)),
                );
            }
        }
        if workflow.initial.is_some() && kind != WorkflowKind::StateMachine {
            self.out.push(
                Diagnostic::warning("ignored-field", "`initial` only applies to state machines")
                    .at_key(path.key("initial")),
            );
        }
        match kind {
            WorkflowKind::StateMachine => self.state_machine(workflow, &path),
            WorkflowKind::Dag => self.dag(workflow, &path),
            WorkflowKind::Saga => self.saga(workflow, &path),
        }
    }

    /// Reports ids defined twice; returns the index of each id's first definition. Paths are built
    /// only for the duplicates: a 10,000-node DAG should not allocate 10,000 paths to find none.
    fn duplicate_ids<'w>(
        &mut self,
        ids: impl Iterator<Item = &'w str>,
        path_of: impl Fn(usize) -> FieldPath,
        what: &str,
    ) -> HashMap<&'w str, usize> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.enumerate() {
            if let Some(&first) = seen.get(id) {
                let note = format!("it is first defined at `{}`", path_of(first));
                self.out.push(
                    Diagnostic::error("duplicate-id", format!("{what} `{id}` is defined twice"))
                        .at(path_of(i))
                        .note(note),
                );
            } else {
                seen.insert(id, i);
            }
        }
        seen
    }

    fn target(
        &mut self,
        target: &str,
        ids: &HashMap<&str, usize>,
        path: FieldPath,
        allow_stop: bool,
    ) -> bool {
        if ids.contains_key(target) || (allow_stop && target == STOP_TARGET) {
            return true;
        }
        let mut names: Vec<&str> = ids.keys().copied().collect();
        names.sort_unstable();
        let mut d = Diagnostic::error("unknown-state", format!("state `{target}` does not exist"))
            .at(path)
            .suggest(did_you_mean(target, names.iter().copied()))
            .expected(format!("one of {}", backticked(&names)));
        if allow_stop {
            d = d.note("`stop` is the built-in target that ends the run unsuccessfully");
        }
        self.out.push(d);
        false
    }

    fn state_machine(&mut self, workflow: &Workflow, path: &FieldPath) {
        let states = &workflow.states;
        if states.is_empty() {
            self.out.push(
                Diagnostic::error("empty-workflow", "a state machine needs at least one state")
                    .at(path.key("states"))
                    .expected("`states:` with a list of state names or objects"),
            );
            return;
        }
        let state_path = |i: usize| -> FieldPath {
            match &states[i] {
                super::model::StateDef::Name(_) => path.key("states").index(i),
                super::model::StateDef::Full(_) => path.key("states").index(i).key("id"),
            }
        };
        let ids = self.duplicate_ids(states.iter().map(|s| s.id()), state_path, "state");
        let id_list: Vec<&str> = states.iter().map(|s| s.id()).collect();
        let initial = match &workflow.initial {
            Some(initial) => {
                if self.target(initial, &ids, path.key("initial"), false) {
                    ids[initial.as_str()]
                } else {
                    0
                }
            }
            None => 0,
        };
        let mut explicit_terminal: HashSet<usize> = HashSet::new();
        for (i, t) in workflow.terminal.as_slice().iter().enumerate() {
            let p = if matches!(workflow.terminal, OneOrMany::One(_)) {
                path.key("terminal")
            } else {
                path.key("terminal").index(i)
            };
            if self.target(t, &ids, p, false) {
                explicit_terminal.insert(ids[t.as_str()]);
            }
        }
        for (i, s) in states.iter().enumerate() {
            if s.state().and_then(|s| s.kind) == Some(StateKind::Terminal) {
                explicit_terminal.insert(i);
            }
        }
        // Edges between state indexes; `None` is the built-in `stop`.
        let mut edges: Vec<(usize, Option<usize>)> = Vec::new();
        let mut outgoing: Vec<usize> = vec![0; states.len()];
        let mut else_seen: HashMap<usize, usize> = HashMap::new();
        for (i, t) in workflow.transitions.iter().enumerate() {
            let tp = path.key("transitions").index(i);
            let from = self.target(&t.from, &ids, tp.key("from"), false).then(|| ids[t.from.as_str()]);
            let to = self.target(&t.to, &ids, tp.key("to"), true).then(|| ids.get(t.to.as_str()).copied());
            let else_to = t
                .else_to
                .as_ref()
                .map(|e| self.target(e, &ids, tp.key("else"), true).then(|| ids.get(e.as_str()).copied()));
            if let Some(condition) = &t.condition {
                self.condition(condition, tp.key("condition"));
            }
            let Some(from) = from else { continue };
            outgoing[from] += 1;
            if explicit_terminal.contains(&from) {
                self.out.push(
                    Diagnostic::warning(
                        "transition-from-terminal",
                        format!("state `{}` is terminal, so this transition is never taken", t.from),
                    )
                    .at(tp.key("from")),
                );
            }
            if let Some(to) = to {
                edges.push((from, to));
            }
            if let Some(else_target) = else_to {
                if let Some(first) = else_seen.insert(from, i) {
                    self.out.push(
                        Diagnostic::error("multiple-else", format!("state `{}` has more than one `else`", t.from))
                            .at_key(tp.key("else"))
                            .note(format!("the first is in `workflow.transitions[{first}]`; a state has one fallback, taken when no transition holds")),
                    );
                }
                if let Some(target) = else_target {
                    edges.push((from, target));
                }
            }
        }
        // A state with no transitions continues to the next listed state; the last one ends.
        let last = states.len() - 1;
        let mut terminal = explicit_terminal.clone();
        for (i, &count) in outgoing.iter().enumerate() {
            if count == 0 && !explicit_terminal.contains(&i) {
                if i == last {
                    terminal.insert(i);
                } else {
                    edges.push((i, Some(i + 1)));
                }
            }
        }
        for (i, s) in states.iter().enumerate() {
            let Some(state) = s.state() else {
                if vocabulary::HUMAN_STATES.contains(&s.id()) {
                    self.human_agent(s.id());
                } else if !terminal.contains(&i) {
                    self.implicit_agent(s.id(), path.key("states").index(i));
                } else if let Some(agent) = terminal_agent(self.doc, s.id()) {
                    self.mark_used(&agent);
                }
                continue;
            };
            let sp = path.key("states").index(i);
            if let Some(on_timeout) = &state.on_timeout {
                // A review nobody answered may be escalated to an agent (on another model).
                let review = matches!(state.kind, Some(StateKind::Human | StateKind::HumanInTheLoop));
                self.breaker_actions = review;
                self.actions(on_timeout, &sp.key("on_timeout"), &id_list);
                self.breaker_actions = false;
                if review {
                    self.escalations(on_timeout, &sp.key("on_timeout"));
                }
                for action in on_timeout.as_slice() {
                    if let Some(&target) = ids.get(action.name()) {
                        edges.push((i, Some(target)));
                    }
                }
                if state.timeout.is_none() {
                    self.out.push(
                        Diagnostic::warning("ignored-field", "`on_timeout` has no effect without `timeout`")
                            .at_key(sp.key("on_timeout")),
                    );
                }
            }
            self.actions(&state.on_enter, &sp.key("on_enter"), &[]);
            self.actions(&state.on_exit, &sp.key("on_exit"), &[]);
            if let Some(policy) = &state.retry {
                self.policy_ref(policy, sp.key("retry"));
            }
            let human = matches!(state.kind, Some(StateKind::Human | StateKind::HumanInTheLoop))
                || (state.kind.is_none() && vocabulary::HUMAN_STATES.contains(&state.id.as_str()));
            if human && state.agent.is_none() {
                self.human_agent(&state.id);
            }
            if !human {
                self.ignored(
                    &sp,
                    &[
                        ("reminder_interval", state.reminder_interval.is_some()),
                        ("notification", state.notification.is_some()),
                        ("ui", state.ui.is_some()),
                    ],
                    "only applies to human states",
                    Some("add `type: human_in_the_loop` to the state"),
                );
            }
            if let (true, Some(ui)) = (human, &state.ui) {
                self.review_form(ui, &sp.key("ui"));
            }
            if let Some(agent) = &state.agent {
                self.agent_ref(agent, || sp.key("agent"), false);
            }
            let agents = state.agents.as_slice();
            for (j, agent) in agents.iter().enumerate() {
                let p = if matches!(state.agents, OneOrMany::One(_)) {
                    sp.key("agents")
                } else {
                    sp.key("agents").index(j)
                };
                self.agent_ref(agent, || p, false);
            }
            let parallel = state.parallel == Some(true) || state.kind == Some(StateKind::Parallel);
            if parallel && agents.is_empty() {
                self.out.push(
                    Diagnostic::error(
                        "missing-key",
                        format!("parallel state `{}` names no agents", state.id),
                    )
                    .at(sp.clone())
                    .expected("`agents: [a, b, …]`"),
                );
            }
            if state.require_all.is_some() && agents.len() < 2 {
                self.out.push(
                    Diagnostic::warning("ignored-field", "`require_all` only matters with several `agents`")
                        .at_key(sp.key("require_all")),
                );
            }
            if state.agent.is_none() && agents.is_empty() && !human && !parallel {
                if !terminal.contains(&i) {
                    self.implicit_agent(&state.id, sp.key("id"));
                } else if let Some(agent) = terminal_agent(self.doc, &state.id) {
                    self.mark_used(&agent);
                }
            }
        }
        // Reachability from the initial state, and a way to end from every reachable state. A
        // dangling reference already has an error; the graph it leaves would only add noise.
        if self.out.iter().any(|d| d.code == "unknown-state") {
            return;
        }
        let mut forward: Vec<Vec<Option<usize>>> = vec![Vec::new(); states.len()];
        for (from, to) in &edges {
            forward[*from].push(*to);
        }
        let mut reachable = vec![false; states.len()];
        let mut stop_reachable = false;
        let mut queue = VecDeque::from([initial]);
        reachable[initial] = true;
        while let Some(s) = queue.pop_front() {
            for to in &forward[s] {
                match to {
                    None => stop_reachable = true,
                    Some(t) if !reachable[*t] => {
                        reachable[*t] = true;
                        queue.push_back(*t);
                    }
                    Some(_) => {}
                }
            }
        }
        for i in 0..states.len() {
            if !reachable[i] {
                self.out.push(
                    Diagnostic::warning(
                        "unreachable-state",
                        format!(
                            "state `{}` cannot be reached from `{}`",
                            states[i].id(),
                            states[initial].id()
                        ),
                    )
                    .at(state_path(i))
                    .note("no transition leads to it; add one, or remove the state"),
                );
            }
        }
        if !terminal.iter().any(|t| reachable[*t]) && !stop_reachable {
            self.out.push(
                Diagnostic::error(
                    "no-terminal",
                    format!(
                        "no terminal state can be reached from `{}`: a run could never end",
                        states[initial].id()
                    ),
                )
                .at(path.key("states"))
                .note(
                    "to end a run, add a last state without transitions, mark a state `type: terminal`, or leave the loop with `else: stop`",
                ),
            );
        } else {
            // Which states can still reach an end? A breadth-first search backwards from the
            // ends, linear in the number of edges.
            let mut backward: Vec<Vec<usize>> = vec![Vec::new(); states.len()];
            let mut can_end: Vec<bool> = (0..states.len()).map(|i| terminal.contains(&i)).collect();
            for (from, to) in &edges {
                match to {
                    Some(t) => backward[*t].push(*from),
                    None => can_end[*from] = true,
                }
            }
            let mut queue: VecDeque<usize> = (0..states.len()).filter(|i| can_end[*i]).collect();
            while let Some(s) = queue.pop_front() {
                for &from in &backward[s] {
                    if !can_end[from] {
                        can_end[from] = true;
                        queue.push_back(from);
                    }
                }
            }
            for i in 0..states.len() {
                if reachable[i] && !can_end[i] {
                    self.out.push(
                        Diagnostic::warning(
                            "no-way-out",
                            format!("a run that enters `{}` can never end", states[i].id()),
                        )
                        .at(state_path(i))
                        .note("every path from it loops back; only a budget or a signal would stop the run"),
                    );
                }
            }
        }
    }

    /// A human state that names no agent uses the agent named like it, else the only human
    /// agent, if exactly one is defined.
    fn human_agent(&mut self, state: &str) {
        if let Some(agent) = human_agent_of(self.doc, state) {
            self.mark_used(&agent);
        }
    }

    /// A state that names no agent: see [`state_agent`].
    fn implicit_agent(&mut self, state: &str, path: FieldPath) {
        let agent = state_agent(self.doc, state);
        if agent != state || self.agent_defined(state) {
            self.agent_ref(&agent, || path, false);
            return;
        }
        let mut d = Diagnostic::error("no-agent", format!("state `{state}` has no agent"))
            .at(path)
            .note(format!("add `agent:` to the state, or define an agent named `{state}`"));
        d.severity = self.missing();
        self.out.push(d);
    }

    fn dag(&mut self, workflow: &Workflow, path: &FieldPath) {
        let nodes = &workflow.nodes;
        let np = |i: usize| path.key("nodes").index(i);
        let ids = self.duplicate_ids(nodes.iter().map(|n| n.id.as_str()), |i| np(i).key("id"), "node");
        let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            let p = np(i);
            for (j, dep) in node.depends_on.as_slice().iter().enumerate() {
                let dp = if matches!(node.depends_on, OneOrMany::One(_)) {
                    p.key("depends_on")
                } else {
                    p.key("depends_on").index(j)
                };
                if dep == &node.id {
                    self.out.push(
                        Diagnostic::error("dag-cycle", format!("node `{dep}` depends on itself")).at(dp),
                    );
                } else if ids.contains_key(dep.as_str()) {
                    edges.entry(node.id.as_str()).or_default().push(dep.as_str());
                } else {
                    let mut names: Vec<&str> = ids.keys().copied().collect();
                    names.sort_unstable();
                    self.out.push(
                        Diagnostic::error("unknown-node", format!("node `{dep}` does not exist"))
                            .at(dp)
                            .suggest(did_you_mean(dep, names.iter().copied()))
                            .expected(format!("one of {}", backticked(&names))),
                    );
                }
            }
            match &node.agent {
                Some(agent) => self.agent_ref(agent, || p.key("agent"), false),
                None => self.agent_ref(&node.id, || p.key("id"), false),
            }
            if let Some(condition) = &node.condition {
                self.condition(condition, p.key("condition"));
            }
            if let Some(policy) = &node.retry {
                self.policy_ref(policy, p.key("retry"));
            }
        }
        let order: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        if let Some(cycle) = find_cycle(&order, &edges) {
            let first = ids[cycle[0]];
            let dep_index =
                nodes[first].depends_on.as_slice().iter().position(|d| d == cycle[1]).unwrap_or(0);
            let dp = if matches!(nodes[first].depends_on, OneOrMany::One(_)) {
                np(first).key("depends_on")
            } else {
                np(first).key("depends_on").index(dep_index)
            };
            self.out.push(
                Diagnostic::error("dag-cycle", format!("dependency cycle: {}", cycle.join(" → ")))
                    .at(dp)
                    .note(
                        cycle
                            .windows(2)
                            .map(|w| format!("`{}` depends on `{}`", w[0], w[1]))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                    .note("a DAG cannot run a node before itself; remove one of these dependencies"),
            );
        }
    }

    fn saga(&mut self, workflow: &Workflow, path: &FieldPath) {
        let steps = &workflow.steps;
        let sp = |i: usize| path.key("steps").index(i);
        self.duplicate_ids(steps.iter().map(|s| s.name.as_str()), |i| sp(i).key("name"), "step");
        for (i, step) in steps.iter().enumerate() {
            self.action_name(&step.action, sp(i).key("action"), &[]);
            if let Some(compensate) = &step.compensate {
                self.action_name(compensate, sp(i).key("compensate"), &[]);
            }
            if let Some(policy) = &step.retry {
                self.policy_ref(policy, sp(i).key("retry"));
            }
        }
    }

    // ---- agents and the rest ----

    fn agents(&mut self) {
        for (name, agent) in &self.doc.agents {
            let path = root().key("agents").key(name);
            if agent.on_failure == Some(OnFailure::Always) || !agent.hooks.is_empty() {
                self.mark_used(name);
            }
            let is_command =
                agent.kind == Some(AgentKind::Command) || agent.backend == Some(Backend::Command);
            let is_human = agent.kind == Some(AgentKind::Human);
            if is_command && agent.command.is_none() {
                self.out.push(
                    Diagnostic::error("missing-key", format!("command agent `{name}` has no `command`"))
                        .at(path.clone())
                        .expected("`command: \"…\"`, the shell command to run"),
                );
            }
            if agent.command.is_some() && !is_command && (agent.backend.is_some() || agent.kind.is_some()) {
                self.out.push(
                    Diagnostic::error(
                        "conflicting-fields",
                        format!("`command` is only for command agents, but `{name}` is not one"),
                    )
                    .at_key(path.key("command"))
                    .note("set `backend: command`, or remove `command`"),
                );
            }
            if is_human {
                self.ignored(
                    &path,
                    &[
                        ("backend", agent.backend.is_some()),
                        ("prompt", agent.prompt.is_some()),
                        ("command", agent.command.is_some()),
                        ("reads_packet", agent.reads_packet.is_some()),
                    ],
                    "has no effect on a human agent",
                    None,
                );
            } else if agent.notification.is_some() {
                self.out.push(
                    Diagnostic::warning("ignored-field", "`notification` only applies to human agents")
                        .at_key(path.key("notification"))
                        .note("add `type: human`"),
                );
            }
            if !is_human && !is_command && agent.command.is_none() {
                self.ignored(
                    &path,
                    &[("reads_packet", agent.reads_packet.is_some())],
                    "has no effect on an AI agent",
                    Some("AI agents always get their packet (`$RALPH_PACKET_FILE`); `reads_packet` is for command agents"),
                );
            }
            if let Some(prompt_name) = &agent.prompt {
                if !is_human && prompt::find(prompt_name, &self.dirs).is_none() {
                    let searched: Vec<String> =
                        self.dirs.iter().map(|d| format!("`{}/`", d.display())).collect();
                    let bundled: Vec<&str> = prompt::BUNDLED.iter().map(|(n, _)| *n).collect();
                    self.out.push(
                        Diagnostic::error(
                            "missing-prompt",
                            format!("prompt file `{prompt_name}` does not exist"),
                        )
                        .at(path.key("prompt"))
                        .suggest(suggest_prompt(prompt_name, &bundled))
                        .note(format!("looked in {} and among the bundled prompts", searched.join(", ")))
                        .note(format!("the bundled prompts are {}", backticked(&bundled))),
                    );
                }
            }
            if let Some(policy) = &agent.retry_policy {
                self.policy_ref(policy, path.key("retry_policy"));
            }
            if let Some(condition) = &agent.condition {
                self.condition(condition, path.key("condition"));
            }
            for (i, hook) in agent.hooks.iter().enumerate() {
                self.hook(hook, path.key("hooks").index(i));
            }
            if let Some(var) = &agent.api_key_env {
                let valid = var.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    self.out.push(
                        Diagnostic::error("invalid-value", format!("`{var}` is not an environment variable name"))
                            .at(path.key("api_key_env"))
                            .note("name the variable that holds the key (e.g. `OPENAI_API_KEY`), not the key itself"),
                    );
                }
            }
        }
    }

    fn hook(&mut self, hook: &str, path: FieldPath) {
        if ralph_plugin_sdk::Hook::from_str(hook).is_err() {
            self.out.push(
                Diagnostic::error("unknown-hook", format!("`{hook}` is not a lifecycle hook"))
                    .at(path)
                    .suggest(did_you_mean(hook, ralph_plugin_sdk::Hook::NAMES.iter().copied()))
                    .expected(format!("one of {}", backticked(ralph_plugin_sdk::Hook::NAMES))),
            );
        }
    }

    fn chains(&mut self) {
        let chains = self.doc.chains.clone();
        let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, members) in &chains {
            let path = root().key("chains").key(name);
            if members.is_empty() {
                self.out.push(
                    Diagnostic::error("empty-chain", format!("chain `{name}` has no agents"))
                        .at(path.clone()),
                );
            }
            for (i, member) in members.iter().enumerate() {
                if chains.contains_key(member) {
                    edges.entry(name.as_str()).or_default().push(member.as_str());
                } else {
                    self.agent_ref(member, || path.index(i), true);
                }
            }
        }
        let order: Vec<&str> = chains.keys().map(String::as_str).collect();
        if let Some(cycle) = find_cycle(&order, &edges) {
            self.out.push(
                Diagnostic::error(
                    "chain-cycle",
                    format!("chains contain each other in a cycle: {}", cycle.join(" → ")),
                )
                .at(root().key("chains").key(cycle[0])),
            );
        }
    }

    fn notifications(&mut self) {
        let Some(notifications) = &self.doc.notifications else { return };
        let path = root().key("notifications");
        let channels: Vec<&str> = notifications.channels.keys().map(String::as_str).collect();
        for (event, refs) in &notifications.events {
            let ep = path.key("events").key(event);
            if !vocabulary::NOTIFICATION_EVENTS.contains(&event.as_str()) {
                self.out.push(
                    Diagnostic::error("unknown-event", format!("`{event}` is not a notification event"))
                        .at_key(ep.clone())
                        .suggest(did_you_mean(event, vocabulary::NOTIFICATION_EVENTS.iter().copied()))
                        .expected(format!("one of {}", backticked(vocabulary::NOTIFICATION_EVENTS))),
                );
            }
            for (i, channel_ref) in refs.iter().enumerate() {
                for name in channel_ref.names() {
                    if !channels.contains(&name) {
                        self.out.push(
                            Diagnostic::error(
                                "unknown-channel",
                                format!("notification channel `{name}` is not defined"),
                            )
                            .at(ep.index(i))
                            .suggest(did_you_mean(name, channels.iter().copied()))
                            .note("define it under `notifications.channels`"),
                        );
                    }
                }
            }
        }
    }

    /// A human state's `ui`: a web form's template must exist and parse (it is read again on
    /// every `GET /review`, where a later break is shown on the page).
    fn review_form(&mut self, ui: &UiSpec, path: &FieldPath) {
        let Some(name) = &ui.template else { return };
        if ui.kind == UiKind::Cli {
            self.out.push(
                Diagnostic::warning("ignored-field", "`template` is used only by the web review form")
                    .at_key(path.key("template"))
                    .note("write `type: web` to serve the form at the web dashboard's `/review`"),
            );
            return;
        }
        let Some(file) = form::find_template(name, self.cx.workflow_file, self.cx.project_dir) else {
            let mut dirs: Vec<String> = Vec::new();
            let beside = self.cx.workflow_file.and_then(Path::parent);
            let beside = beside.map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d });
            for dir in beside.into_iter().chain([self.cx.project_dir]) {
                let shown = format!("`{}/`", dir.display());
                if !dirs.contains(&shown) {
                    dirs.push(shown);
                }
            }
            self.out.push(
                Diagnostic::error("missing-template", format!("review form template `{name}` does not exist"))
                    .at(path.key("template"))
                    .note(format!(
                        "looked in {} (beside the workflow file, then in the project); leave `template` out for the built-in form",
                        dirs.join(", then ")
                    )),
            );
            return;
        };
        let checked = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|source| form::check(name, &source).map_err(|e| format!("{e:#}")));
        if let Err(why) = checked {
            self.out.push(
                Diagnostic::error(
                    "invalid-template",
                    format!("review form template `{name}` cannot be used"),
                )
                .at(path.key("template"))
                .note(why.lines().next().unwrap_or_default().to_owned()),
            );
        }
    }

    fn snapshots(&mut self) {
        let Some(snapshots) = self.doc.state.as_ref().and_then(|s| s.snapshots.as_ref()) else { return };
        for (i, trigger) in snapshots.triggers.iter().enumerate() {
            if !vocabulary::SNAPSHOT_TRIGGERS.contains(&trigger.as_str()) {
                self.out.push(
                    Diagnostic::error("unknown-trigger", format!("`{trigger}` is not a snapshot trigger"))
                        .at(root().key("state").key("snapshots").key("triggers").index(i))
                        .suggest(did_you_mean(trigger, vocabulary::SNAPSHOT_TRIGGERS.iter().copied()))
                        .expected(format!("one of {}", backticked(vocabulary::SNAPSHOT_TRIGGERS))),
                );
            }
        }
    }

    fn plugins(&mut self) {
        let Some(plugins) = &self.doc.plugins else { return };
        let path = root().key("plugins");
        match plugins {
            PluginsSection::List(list) => {
                self.duplicate_ids(
                    list.iter().map(|p| p.name.as_str()),
                    |i| path.index(i).key("name"),
                    "plugin",
                );
                for (i, plugin) in list.iter().enumerate() {
                    let pp = path.index(i);
                    for (j, hook) in plugin.hooks.iter().enumerate() {
                        self.hook(hook, pp.key("hooks").index(j));
                    }
                    self.capabilities(&plugin.capabilities, &pp);
                    if plugin.entry.is_none() && crate::plugin::bundled::get(&plugin.name).is_none() {
                        let names: Vec<&str> = crate::plugin::bundled::names().collect();
                        self.out.push(
                            Diagnostic::error(
                                "missing-plugin",
                                format!(
                                    "plugin `{}` has no `entry` and is not a bundled plugin",
                                    plugin.name
                                ),
                            )
                            .at(pp.clone())
                            .suggest(did_you_mean(&plugin.name, names.iter().copied()))
                            .expected(format!(
                                "a bundled plugin ({}) or an `entry:` file",
                                backticked(&names)
                            ))
                            .note("`ralph-loop plugin list` shows the bundled plugins"),
                        );
                    }
                    if let Some(entry) = &plugin.entry {
                        // The spec's dotted Python form names a module file.
                        let (relative, module) = match crate::plugin::source::dotted(entry) {
                            Some((file, _)) => (file.display().to_string(), Some(entry)),
                            None => (entry.clone(), None),
                        };
                        let file = self.cx.project_dir.join(&relative);
                        if !file.is_file() {
                            let what = match module {
                                Some(module) => format!("`{relative}` (the module of `{module}`)"),
                                None => format!("`{relative}`"),
                            };
                            let mut d = Diagnostic::error("missing-plugin", format!("plugin `{}` has no file at {what}", plugin.name))
                                .at(pp.key("entry"))
                                .note("an entry is a WebAssembly component (`.wasm`), or a Python (`.py`), JavaScript (`.js`) or TypeScript (`.ts`) source that is built when the run starts; `ralph-loop plugin new --lang python NAME` makes one");
                            d.severity = self.missing();
                            if !self.cx.strict {
                                d = d.note("`ralph-loop loop` refuses to start until it is there");
                            }
                            self.out.push(d);
                        }
                    }
                }
            }
            PluginsSection::Managed(managed) => {
                let registries = self.duplicate_ids(
                    managed.registry.iter().map(|r| r.name.as_str()),
                    |i| path.key("registry").index(i).key("name"),
                    "registry",
                );
                self.duplicate_ids(
                    managed.installed.iter().map(|p| p.name.as_str()),
                    |i| path.key("installed").index(i).key("name"),
                    "plugin",
                );
                for (i, plugin) in managed.installed.iter().enumerate() {
                    let pp = path.key("installed").index(i);
                    if let Some(from) = &plugin.from {
                        if !registries.contains_key(from.as_str()) {
                            let names: Vec<&str> = registries.keys().copied().collect();
                            self.out.push(
                                Diagnostic::error(
                                    "unknown-registry",
                                    format!("registry `{from}` is not defined"),
                                )
                                .at(pp.key("from"))
                                .suggest(did_you_mean(from, names.iter().copied()))
                                .note("define it under `plugins.registry`"),
                            );
                        }
                    }
                    if let Some(version) = &plugin.version {
                        if let Err(err) = semver::VersionReq::parse(version) {
                            self.out.push(
                                Diagnostic::error(
                                    "invalid-version",
                                    format!("`{version}` is not a version requirement: {err}"),
                                )
                                .at(pp.key("version"))
                                .expected("a requirement such as `^1.0.0`, `~2.1` or `>=1.2, <2`"),
                            );
                        }
                    }
                    for (j, hook) in plugin.hooks.iter().enumerate() {
                        self.hook(hook, pp.key("hooks").index(j));
                    }
                    self.capabilities(&plugin.capabilities, &pp);
                }
            }
        }
    }

    fn capabilities(&mut self, capabilities: &[String], path: &FieldPath) {
        for (i, capability) in capabilities.iter().enumerate() {
            if !vocabulary::PLUGIN_CAPABILITIES.contains(&capability.as_str()) {
                self.out.push(
                    Diagnostic::error("invalid-value", format!("`{capability}` is not a plugin capability"))
                        .at(path.key("capabilities").index(i))
                        .suggest(did_you_mean(capability, vocabulary::PLUGIN_CAPABILITIES.iter().copied()))
                        .expected(format!("one of {}", backticked(vocabulary::PLUGIN_CAPABILITIES))),
                );
            }
        }
    }

    /// A step whose agent only a prompt defines, while an agent with a close name is defined
    /// and never used: most likely a misspelt definition (`verifer:`), which leaves the step
    /// on the prompt without a word. Returns the agents named in these findings (they need no
    /// "never used" warning besides).
    fn misspelled_agents(&mut self) -> HashSet<String> {
        let mut named = HashSet::new();
        if self.doc.workflow.is_none() {
            return named;
        }
        let unused: Vec<&str> =
            self.doc.agents.keys().filter(|a| !self.used.contains(*a)).map(String::as_str).collect();
        let mut seen = HashSet::new();
        for (name, path, found) in std::mem::take(&mut self.prompt_only) {
            let Some(close) = did_you_mean(&name, unused.iter().copied()) else { continue };
            if !seen.insert((name.clone(), path.to_string())) {
                continue;
            }
            let runs = match &found {
                prompt::PromptSource::Bundled(file) => format!("the bundled prompt `{file}`"),
                prompt::PromptSource::File(file) => format!("the prompt `{}`", file.display()),
            };
            let mut d = Diagnostic::warning(
                "misspelled-agent",
                format!("agent `{name}` is not defined, so this step runs {runs}; agent `{close}` is defined and never used"),
            )
            .at(path)
            .suggest(Some(close.clone()))
            .related(root().key("agents").key(&close), format!("agent `{close}` is defined here"))
            .note(format!("rename one of them so that they match, or say `agent: {close}` here"));
            d.severity = self.missing();
            if !self.cx.strict {
                d = d.note("`ralph-loop loop` refuses to start until the names match");
            }
            self.out.push(d);
            named.insert(close);
        }
        named
    }

    fn unused_agents(&mut self, explained: &HashSet<String>) {
        if self.doc.workflow.is_none() {
            return;
        }
        let mut unused: Vec<&String> = self
            .cx
            .local_agents
            .iter()
            .filter(|a| !self.used.contains(*a) && !explained.contains(*a))
            .collect();
        unused.sort_by_key(|a| self.doc.agents.get_index_of(a.as_str()));
        for name in unused {
            if self.doc.agents.contains_key(name.as_str()) {
                self.out.push(
                    Diagnostic::warning("unused-agent", format!("agent `{name}` is never used"))
                        .at_key(root().key("agents").key(name))
                        .note("no state, node, step, chain or action names it"),
                );
            }
        }
    }
}

/// A close bundled prompt name. The shared `PROMPT-` prefix would make every prompt look close to
/// every other, so only the part after it is compared.
fn suggest_prompt(name: &str, known: &[&str]) -> Option<String> {
    let role = |n: &str| n.trim_start_matches("PROMPT-").trim_end_matches(".md").to_owned();
    let roles: Vec<String> = known.iter().map(|k| role(k)).collect();
    let close = did_you_mean(&role(name), roles.iter().map(String::as_str))?;
    known.iter().find(|k| role(k) == close).map(|k| (*k).to_owned())
}

/// The agent of a state that names none: the agent or chain defined under the state's name, else
/// its phase's role (`building` → `builder`), else the state's own name (an agent defined only by
/// a `PROMPT-<NAME>.md`). The plan and the checks both use this, so they cannot disagree.
pub fn state_agent(doc: &Document, state: &str) -> String {
    if doc.agents.contains_key(state) || doc.chains.contains_key(state) {
        return state.to_owned();
    }
    vocabulary::phase_role(state).unwrap_or(state).to_owned()
}

/// The agent of a terminal state that names none: only an agent or chain actually defined under
/// the state's name or its phase role — a final `complete` state just ends the run, while a
/// workflow whose last state is `building`, with a `builder` defined, builds and then ends.
pub fn terminal_agent(doc: &Document, state: &str) -> Option<String> {
    let defined = |n: &str| doc.agents.contains_key(n) || doc.chains.contains_key(n);
    if defined(state) {
        return Some(state.to_owned());
    }
    vocabulary::phase_role(state).filter(|r| defined(r)).map(str::to_owned)
}

/// The agent of a human state without `agent:`: the agent named like the state, else the only
/// agent with `type: human`.
pub fn human_agent_of(doc: &Document, state: &str) -> Option<String> {
    if doc.agents.contains_key(state) {
        return Some(state.to_owned());
    }
    let mut humans = doc.agents.iter().filter(|(_, a)| a.kind == Some(AgentKind::Human));
    match (humans.next(), humans.next()) {
        (Some((name, _)), None) => Some(name.clone()),
        _ => None,
    }
}

/// The first cycle in a directed graph, as a closed walk of names (`a → b → a`), looking from
/// nodes in `order` so the answer is deterministic.
fn find_cycle<'n>(order: &[&'n str], edges: &HashMap<&'n str, Vec<&'n str>>) -> Option<Vec<&'n str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = order.iter().map(|n| (*n, Mark::New)).collect();
    for start in order {
        if marks.get(start) != Some(&Mark::New) {
            continue;
        }
        // Iterative depth-first search, so that a 10,000-node chain cannot overflow the stack.
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Active);
        while let Some((node, next)) = stack.last().copied() {
            let children = edges.get(node).map(Vec::as_slice).unwrap_or_default();
            if next < children.len() {
                stack.last_mut().expect("non-empty").1 += 1;
                let child = children[next];
                match marks.get(child).copied().unwrap_or(Mark::Done) {
                    Mark::New => {
                        marks.insert(child, Mark::Active);
                        stack.push((child, 0));
                    }
                    Mark::Active => {
                        let from = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(child);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                marks.insert(node, Mark::Done);
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;
    use std::collections::HashMap;

    #[test]
    fn finds_and_names_a_cycle() {
        let mut edges = HashMap::new();
        edges.insert("a", vec!["b"]);
        edges.insert("b", vec!["c"]);
        edges.insert("c", vec!["a"]);
        assert_eq!(find_cycle(&["a", "b", "c"], &edges), Some(vec!["a", "b", "c", "a"]));
        edges.insert("c", vec![]);
        assert_eq!(find_cycle(&["a", "b", "c"], &edges), None);
    }
}
