//! A step's life in the runner: started (its agents chosen, its packet and prompts built,
//! `step_started` journaled), performed (a future the executor awaits), finished (its evidence,
//! its completed packet, `step_finished`), and tried again as its retry policy says. Also the
//! hooks around a state (`on_enter`, `on_exit`, `on_timeout`), the agents consulted outside the
//! steps (the planner, an escalation), and the variables conditions see.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use petgraph::stable_graph::NodeIndex;
use ralph_plugin_sdk::{Evidence, SteeringPacket};

use super::action::{self, ActionContext};
use super::agents::{Backing, StepAgent};
use super::core::event::{Event, RunStatus};
use super::core::outcome::{FailureClass, Outcome};
use super::core::projection::StepStatus;
use super::human;
use super::packet;
use super::performer::{Perform, Performer};
use super::runner::{HumanSpec, OnTimeout, Runner, unit_name};
use super::step;
use crate::agent::command::{Invocation, file_name};
use crate::git::Snapshot;
use crate::prompt::stack;
use crate::workflow::condition::{self, Scope};

/// A step that started: what is needed to finish it.
pub(super) struct Ticket {
    pub node: NodeIndex,
    /// The attempt, from 1 (per visit of a state).
    pub attempt: u32,
    pub packet: Option<SteeringPacket>,
    pub packet_file: Option<PathBuf>,
    pub before: Option<Snapshot>,
}

/// How starting a step went.
#[allow(clippy::large_enum_variant)] // Made once per step and taken apart at once.
pub(super) enum Started<F> {
    /// It runs: await the future, then [`Runner::finish`] it with the ticket.
    Running(Ticket, F),
    /// None of its agents' conditions held.
    Skipped(String),
}

impl Runner {
    pub(super) fn action_context(&self, step: &str) -> ActionContext {
        ActionContext {
            workdir: self.options.project_dir.clone(),
            run_dir: self.run_dir.clone(),
            base_commit: self.base_commit.clone(),
            step: step.to_owned(),
            control: Some(self.live.orders_tx.clone()),
            desk: self.live.desk.clone(),
        }
    }

    /// The name a step's files start with: numbered by invocation, so that a later visit of the
    /// same step never overwrites an earlier one's files.
    pub(super) fn stem(&self, step: &str) -> String {
        format!("{:04}-{}", self.state.invocations, file_name(step))
    }

    pub(super) fn invocation(
        &self,
        node: NodeIndex,
        packet: Option<String>,
        packet_file: Option<PathBuf>,
    ) -> Invocation {
        let id = &self.plan.graph[node].id;
        let mut env = vec![
            ("RALPH_ITERATION".to_owned(), self.state.iteration.max(1).to_string()),
            ("RALPH_TASK_ID".to_owned(), self.state.task().map(|t| t.id.clone()).unwrap_or_default()),
        ];
        // Agents that speak OpenTelemetry put their spans under the step's.
        if let Some(traceparent) = self.telemetry.traceparent(id) {
            env.push(("TRACEPARENT".to_owned(), traceparent));
        }
        Invocation {
            run_id: self.state.run_id.clone(),
            step: id.clone(),
            workdir: self.options.project_dir.clone(),
            steps_dir: self.run_dir.join("steps"),
            file_stem: self.stem(id),
            stale_result: !self.run_dir_fresh,
            packet_path: packet_file,
            signals: Some(self.signals_tx.clone()),
            spawned: Some(self.spawned_tx.clone()),
            packet,
            prompt: None,
            timeout: None,
            idle_timeout: None,
            env,
            log_limit: self.step_log,
        }
    }

    /// Whether the work tree must be looked at around `node`'s step: an AI agent's packet
    /// carries what changed, a condition or a plugin may read it. A quiet command in a DAG of
    /// thousands costs no `git` process.
    fn wants_evidence(&self, node: NodeIndex) -> bool {
        self.tree.is_some() && (self.nodes[node.index()].ai || self.evidence_everywhere())
    }

    /// Evidence for conditions and packets before a step: what the iteration has changed so
    /// far (from the work tree when the run looked at it, else from its steps' own lists) —
    /// never what was dirty before it and left alone.
    pub(super) async fn evidence_so_far(&mut self, now: Option<&Snapshot>) -> Evidence {
        let mut evidence = Evidence { test_results: self.state.context.test_results, ..Evidence::default() };
        let since = self.iteration_start.as_ref().or(self.run_start.as_ref());
        if let (Some(tree), Some(since), Some(now)) = (&self.tree, since, now) {
            if let Ok(files) = tree.changed(since, now).await {
                evidence.files_changed = files;
                return evidence;
            }
        }
        if let Some(pass) = self.state.pass() {
            evidence.files_changed = pass.files.iter().cloned().collect();
        }
        evidence
    }

    /// The packet of a step of `node`, before it runs.
    pub(super) fn packet_for(&self, node: NodeIndex, evidence: Evidence) -> SteeringPacket {
        let id = &self.plan.graph[node].id;
        let is_named = |n: &str| self.named_conditions.iter().any(|c| c == n);
        let outcomes = packet::outcome_names(&self.plan, node, is_named);
        let mut packet =
            packet::build(&self.state, &self.options.workflow, id, outcomes, evidence, &self.now());
        packet.trace_id = self.telemetry.trace_id();
        self.add_learnings(&mut packet);
        self.add_review_of(&mut packet);
        if let Some(pass) = self.state.pass() {
            packet.context.routing = pass.route.as_ref().map(super::routing::packet_route);
            if let Some(task) = &pass.task {
                packet.context.reviews = self.state.reviews.get(&task.id).cloned().unwrap_or_default();
            }
        }
        packet
    }

    /// Starts a node's step: emits `step_started`, builds its packet and prompts, and returns
    /// the future that performs it.
    pub(super) async fn start(
        &mut self,
        node: NodeIndex,
        parallel: bool,
        require_all: bool,
        attempt: u32,
        delay: Duration,
    ) -> Started<impl Future<Output = Outcome> + Send + 'static> {
        let id = self.plan.graph[node].id.clone();
        self.mark_learnings();
        let before = if self.wants_evidence(node) { self.look().await } else { None };
        let so_far = match units_have_conditions(&self.nodes[node.index()].units) {
            true => Some(self.evidence_so_far(before.as_ref()).await),
            false => None,
        };
        let prep = &self.nodes[node.index()];
        let mut human = prep.human.clone();
        let mut units = prep.units.clone();
        // The iteration's task may have its work done by another agent or model (`routing.rs`).
        self.routed(&mut units);
        let ai = prep.ai || units.iter().flatten().any(|a| a.backing.is_ai());
        // Conditional agents: `condition:` is tested against what the run has changed so far.
        if let Some(so_far) = &so_far {
            let scope = self.scope_with(node, &Outcome { success: true, ..Outcome::default() }, so_far);
            let mut skipped = Vec::new();
            for unit in &mut units {
                unit.retain(|agent| {
                    let Some(text) = &agent.condition else { return true };
                    let holds =
                        condition::compile(text, &|n: &str| self.named_conditions.iter().any(|c| c == n))
                            .ok()
                            .and_then(|c| self.evaluator.holds(&c, &scope).ok())
                            .unwrap_or(false);
                    if !holds {
                        skipped.push(format!("`{}` (condition `{text}` does not hold)", agent.name));
                    }
                    holds
                });
            }
            units.retain(|u| !u.is_empty());
            if units.is_empty() && human.is_none() {
                return Started::Skipped(format!("no agent to run: {}", skipped.join(", ")));
            }
        }
        // A half-open breaker's probe has a time limit of its own.
        if self.state.ledger.breaker.state == crate::policy::breaker::BreakerState::HalfOpen {
            if let Some(limit) = self.breaker.as_ref().and_then(|c| c.half_open_timeout) {
                for agent in units.iter_mut().flatten() {
                    agent.timeout = Some(agent.timeout.map_or(limit, |t| t.min(limit)));
                }
            }
        }
        let names: Vec<String> = units.iter().map(|u| unit_name(u)).collect();
        let agent = if human.is_some() { "a person".to_owned() } else { names.join(", ") };
        let iteration = self.state.iteration;
        let visit =
            self.state.pass().and_then(|p| p.visits.get(&id)).copied().unwrap_or(0) + u32::from(attempt <= 1);
        let at = self.now();
        self.emit(&Event::StepStarted {
            step: id.clone(),
            agent,
            attempt,
            ai,
            human: human.is_some(),
            iteration,
            at,
        });
        // The packet is built once, and only for steps whose agents read it (or when the
        // display streams packets): a DAG of thousands of quiet commands should not build
        // thousands of unread packets.
        let reads = units.iter().flatten().any(StepAgent::reads_files);
        let mut packet = None;
        if reads || self.sink.wants_packets() {
            let evidence = match so_far {
                Some(so_far) => so_far,
                None => self.evidence_so_far(before.as_ref()).await,
            };
            packet = Some(self.packet_for(node, evidence));
        }
        if let Some(packet) = packet.as_mut().filter(|_| reads) {
            // Signals since the previous packet, and the hints, go to agents that read them.
            self.deliver_control(&id, packet);
        }
        // Plugins see the packet before it is written, so their notes and patches reach it.
        let invokes = human.is_none() && !units.is_empty();
        let veto = self.plugins_before_step(
            node,
            &names.join(", "),
            attempt,
            invokes,
            packet.as_mut().filter(|_| reads),
        );
        // Agents at the step's hooks run after its plugins, and veto likewise.
        let mut veto = veto;
        let hooks = self.before_hooks(node, invokes);
        if veto.is_none() && self.wants_hook_agents(&hooks) {
            let agent_names = names.join(", ");
            veto =
                self.hook_agents(node, &hooks, |r| r.step_context(node, &agent_names, attempt).into()).await;
        }
        if let Some(packet) = packet.as_mut() {
            // What the run observed (an agent's output, a test log) may quote a secret.
            if let Some(masked) = self.redactor.redact_value(&*packet) {
                *packet = masked;
            }
            self.sink.packet(&id, "built", packet);
        }
        let packet_file =
            reads.then(|| self.run_dir.join("packets").join(format!("{}.json", self.stem(&id))));
        let invocation = self.invocation(
            node,
            packet.as_ref().filter(|_| reads).map(|p| serde_json::to_string_pretty(p).unwrap_or_default()),
            packet_file.clone(),
        );
        // AI agents get their stacked prompt, rendered from this step's packet.
        let prompt_error = self.stack_prompts(&mut units, packet.as_ref(), &invocation);
        let actions = self.action_context(&id);
        let scripted = self.scripted(&id, None, visit, attempt);
        let ticket = Ticket { node, attempt, packet, packet_file, before };
        if let Some(spec) = human.as_mut() {
            let at = self.now();
            self.emit(&Event::ReviewRequested {
                step: id.clone(),
                timeout_secs: spec.timeout.map(|t| t.as_secs()),
                at,
            });
            if !self.performer.is_script() {
                spec.remind = self.notify_review(&id);
                let _ = action::record_notification(
                    &self.run_dir,
                    &id,
                    &format!(
                        "`{id}` is waiting for review: ralph-loop approve {} | reject",
                        self.state.run_id
                    ),
                );
            }
        }
        let future = async move {
            if let Some(outcome) = scripted {
                // A script's retry still waits its delay, in the clock the script runs on.
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                return outcome;
            }
            if let Some(reason) = veto {
                return Outcome::failed(FailureClass::PluginVeto, reason);
            }
            // A retry waits out its delay inside the step, so a DAG's other nodes run meanwhile.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some(error) = prompt_error {
                return Outcome::failed(FailureClass::AgentError, error);
            }
            if let Some(spec) = human {
                return review(spec, invocation, &actions).await;
            }
            step::run_units(units, invocation, actions, parallel, require_all).await
        };
        Started::Running(ticket, future)
    }

    /// A script's outcome for a step (or a hook's action); `None` when agents perform it. A
    /// script without an outcome there stops the run (`replay --check`: the recording ends).
    pub(super) fn scripted(
        &mut self,
        step: &str,
        hook: Option<&str>,
        visit: u32,
        attempt: u32,
    ) -> Option<Outcome> {
        let iteration = self.state.iteration;
        let Performer::Script(script) = &mut self.performer else { return None };
        let what = Perform { iteration, step, hook, visit, attempt };
        Some(match script.outcome(&what) {
            Some(outcome) => outcome,
            None if hook.is_some() => return None,
            None => {
                let reason = format!("the recording has no outcome for `{step}` here");
                self.halt(RunStatus::Stopped, reason.clone(), None);
                Outcome::failed(FailureClass::NotRecorded, reason)
            }
        })
    }

    /// The delay before the next attempt of a step that failed with `outcome`, if it is to be
    /// tried again (its policy allows it and the invocation budget has room); emits
    /// `step_retrying`.
    pub(super) fn retry_after(
        &mut self,
        node: NodeIndex,
        attempt: u32,
        outcome: &Outcome,
    ) -> Option<Duration> {
        let not_the_steps = matches!(
            outcome.class,
            Some(FailureClass::Interrupted | FailureClass::Environment | FailureClass::Redirected)
        );
        // A DAG's retry meets the invocation budget when it would start, like any node (see
        // `run_dag`): decided here, the refusal would be journaled nowhere, and a resumed run
        // whose budget had grown meanwhile (`add-iterations`) would decide otherwise.
        let spent = self.plan.kind != crate::workflow::model::WorkflowKind::Dag && self.budget_spent();
        if outcome.success || not_the_steps || spent {
            return None;
        }
        let id = self.plan.graph[node].id.clone();
        if outcome.class == Some(FailureClass::UsageLimit) {
            // Not a failure: the provider said stop for now. Wait for its reset, then go on.
            let now = self.clock.unix();
            let fallback = self.budget.usage_limit_wait.map_or(Duration::from_secs(15 * 60), |d| d.0);
            let wait = match outcome.retry_at.filter(|at| *at > now) {
                Some(at) => Duration::from_secs(at - now),
                None => fallback,
            };
            let reason = outcome.error.clone().unwrap_or_else(|| "usage limit reached".into());
            self.emit(&Event::Waiting { step: id.clone(), seconds: wait.as_secs(), reason: reason.clone() });
            self.notify_usage_limit(&id, wait.as_secs(), &reason);
            return Some(wait);
        }
        let retry = &self.nodes[node.index()].retry;
        let delay = retry.next_delay(attempt, outcome.class.map(FailureClass::as_str))?;
        let policy = retry.name.clone();
        let iteration = self.state.iteration;
        self.emit(&Event::StepRetrying {
            step: id,
            attempt,
            delay_ms: delay.as_millis() as u64,
            class: outcome.class,
            error: outcome.error.clone(),
            policy,
            iteration,
        });
        Some(delay)
    }

    /// Stacks the prompt of every AI agent in `units` from `packet`; the error names the first
    /// prompt that cannot be built.
    pub(super) fn stack_prompts(
        &self,
        units: &mut [Vec<StepAgent>],
        packet: Option<&SteeringPacket>,
        invocation: &Invocation,
    ) -> Option<String> {
        let (_, _, result_file, _) = invocation.files();
        let result_file = result_file.display().to_string();
        let mut prompt_error = None;
        for agent in units.iter_mut().flatten() {
            let (role_prompt, system_prompt) = match &agent.backing {
                Backing::Cli { role_prompt, system_prompt, .. } => (role_prompt, system_prompt.as_deref()),
                // The HTTP backend sends the system prompt as its own message.
                Backing::Http { role_prompt, .. } => (role_prompt, None),
                _ => continue,
            };
            let Some(packet) = packet else { continue };
            let request = stack::StackRequest {
                agent: &agent.name,
                role_prompt: role_prompt.as_deref(),
                system_prompt,
                packet,
                result_file: &result_file,
                dirs: &self.options.prompt_dirs,
            };
            match stack::stack(&request) {
                Ok(text) => agent.prompt = Some(text),
                Err(e) => prompt_error = Some(format!("the prompt of `{}` cannot be built: {e}", agent.name)),
            }
        }
        prompt_error
    }

    /// `on_failure: always`: after a step failed for good, the failure goes to that agent (the
    /// planner) with the failure history in its packet. Its outcome is recorded; the failed
    /// step's outcome still decides what happens next.
    pub(super) async fn route_failure(&mut self, node: NodeIndex) {
        let Some((name, unit)) = self.on_failure.clone() else { return };
        let id = self.plan.graph[node].id.clone();
        if self.plan.graph[node].agents.contains(&name) || self.halted().is_some() {
            return;
        }
        // A resumed run whose planner already took this failure does not hand it over twice.
        if self.state.pass().is_some_and(|p| p.hook_outcomes(&id, "on_failure").next().is_some()) {
            return;
        }
        let instructions = format!(
            "The `{id}` step of the `{}` workflow failed. Read the failure history and change the plan so the next attempt can succeed.",
            self.options.workflow
        );
        self.consult(node, "on_failure", name, unit, instructions).await;
    }

    /// Runs an agent outside the workflow's steps (the planner on failure, the breaker's
    /// escalation) on a packet about `node` that carries the failure history; its spend
    /// counts like any step's. Reported as the `hook`'s action.
    pub(super) async fn consult(
        &mut self,
        node: NodeIndex,
        hook: &str,
        name: String,
        unit: Vec<StepAgent>,
        instructions: String,
    ) -> Outcome {
        let id = self.plan.graph[node].id.clone();
        let iteration = self.state.iteration;
        let outcome = if self.performer.is_script() {
            self.scripted(&id, Some(hook), 1, 1)
                .unwrap_or_else(|| Outcome { success: true, ..Outcome::default() })
        } else {
            self.consult_agent(node, &id, hook, unit, instructions).await
        };
        let at = self.now();
        self.emit(&Event::ActionFinished {
            step: id,
            hook: hook.into(),
            action: name,
            outcome: Box::new(outcome.clone()),
            iteration,
            at,
        });
        outcome
    }

    /// The consulted agent run for real, on its packet, priced like a step.
    async fn consult_agent(
        &mut self,
        node: NodeIndex,
        id: &str,
        hook: &str,
        unit: Vec<StepAgent>,
        instructions: String,
    ) -> Outcome {
        let step = format!("{id}.{hook}");
        let evidence = self.evidence_so_far(None).await;
        let mut packet = self.packet_for(node, evidence);
        packet.workflow.phase.clone_from(&step);
        packet.instructions.primary = instructions;
        packet.instructions.outcomes.clear();
        let packet_file = self.run_dir.join("packets").join(format!("{}.json", self.stem(&step)));
        let mut invocation = self.invocation(
            node,
            Some(serde_json::to_string_pretty(&packet).unwrap_or_default()),
            Some(packet_file),
        );
        invocation.step.clone_from(&step);
        invocation.file_stem = self.stem(&step);
        let ai = unit.iter().any(|a| a.backing.is_ai());
        let mut units = vec![unit];
        let mut outcome = match self.stack_prompts(&mut units, Some(&packet), &invocation) {
            Some(error) => Outcome::failed(FailureClass::AgentError, error),
            None => {
                let run = step::run_unit(units.remove(0), invocation, self.action_context(&step));
                // Consulting is not a step of the workflow: an interrupt pauses after it.
                self.with_control(run, false).await.unwrap_or_default()
            }
        };
        // Journaled with the action: bounded like a step's.
        outcome.bound();
        if ai {
            self.price(node, &mut outcome);
        }
        outcome
    }

    /// Finishes a step: its evidence from git, its completed packet, `step_finished`. Returns
    /// the outcome as journaled — after plugins and hook agents had their say (a veto after the
    /// step fails it) — which is the one the executors decide from, as a resumed run would.
    pub(super) async fn finish(&mut self, ticket: Ticket, mut outcome: Outcome) -> Outcome {
        self.drain_signals();
        let id = self.plan.graph[ticket.node].id.clone();
        self.gather_learnings(&mut outcome);
        // What the agent said is bounded before anything else reads it (a gigabyte summary
        // would otherwise be masked, packeted and journaled whole).
        outcome.bound();
        // What the agent said (its error, its logs) may quote a secret: masked before the
        // outcome reaches a packet, the history of later packets, a plugin or an event.
        if let Some(masked) = self.redactor.redact_value(&outcome) {
            outcome = masked;
        }
        // What the step changed, exactly: compared with the look before it, never the
        // engine's files nor what was dirty before and left alone.
        let mut after = None;
        if let Some(before) = &ticket.before {
            after = self.look_beside(1).await;
            if let (Some(tree), Some(now)) = (self.tree.clone(), &after) {
                if let Ok(files) = tree.changed(before, now).await {
                    outcome.evidence.files_changed = files;
                }
                // A commit a step makes is the run's: `git_reset` may take it back.
                if self.notes_commits && before.head() != now.head() {
                    if let (Some(head), Ok(commits)) = (
                        now.head(),
                        tree.commits_between(before.head(), now.head().unwrap_or_default()).await,
                    ) {
                        let _ = head;
                        let _ = super::base::RunBase::add_commits(&self.run_dir, &commits);
                    }
                }
            }
        }
        // A step a plugin stopped before it ran has no result to look at.
        if outcome.class != Some(FailureClass::PluginVeto) {
            self.plugins_after_step(
                ticket.node,
                ticket.attempt,
                ticket.before.as_ref(),
                after.as_ref(),
                &mut outcome,
            )
            .await;
        }
        // Agents at `phase.after_*` see what the step did, and may fail it as a plugin may.
        let hooks = self.after_hooks(ticket.node);
        if outcome.class != Some(FailureClass::PluginVeto) && self.wants_hook_agents(&hooks) {
            let agent = self.plan.graph[ticket.node].agents.join(", ");
            let seen = outcome.clone();
            let veto = self
                .hook_agents(ticket.node, &hooks, |r| {
                    let mut context = r.step_context(ticket.node, &agent, ticket.attempt);
                    context.duration_ms = Some(seen.duration_ms);
                    context.success = Some(seen.success);
                    context.output = seen.summary.clone().or_else(|| seen.error.clone());
                    context.files_changed.clone_from(&seen.evidence.files_changed);
                    context.into()
                })
                .await;
            if let Some(reason) = veto {
                outcome.success = false;
                outcome.class = Some(FailureClass::PluginVeto);
                outcome.error = Some(reason);
            }
        }
        // A person's decision is the step's outcome: it is journaled with it (then announced).
        let decided = match (&self.nodes[ticket.node.index()].human, &outcome.result) {
            (Some(_), Some(decision)) => Some(Event::ReviewDecided {
                step: id.clone(),
                decision: decision.clone(),
                comment: outcome.summary.clone(),
                by: outcome.reviewer.clone(),
                display_name: outcome.reviewer_as.clone(),
            }),
            _ => None,
        };
        if let Some(packet) = ticket.packet {
            let completed = packet::complete(packet, &outcome, &self.now());
            if let Some(path) = &ticket.packet_file {
                let done = path.with_extension("completed.json");
                let text = serde_json::to_string_pretty(&completed).unwrap_or_default();
                let _ = crate::agent::fresh_file::write(&done, text);
            }
            self.sink.packet(&id, "completed", &completed);
        }
        if self.nodes[ticket.node.index()].ai {
            self.price(ticket.node, &mut outcome);
        }
        let environment = (outcome.class == Some(FailureClass::Environment)).then(|| outcome.error.clone());
        let (iteration, at) = (self.state.iteration, self.now());
        self.emit(&Event::StepFinished {
            step: id.clone(),
            outcome: Box::new(outcome.clone()),
            iteration,
            at,
        });
        self.keep_learnings(&id, &outcome);
        self.add_step_tasks(&id, &outcome);
        if let Some(decided) = decided {
            self.emit(&decided);
        }
        // An agent that cannot work here fails every step alike: the run stops at once, and no
        // task is blamed for it.
        if let Some(error) = environment {
            let error = error.unwrap_or_else(|| "the agent cannot work here".into());
            self.halt(RunStatus::Stopped, format!("`{id}`: {error}"), Some(FailureClass::Environment));
        }
        outcome
    }

    /// Prices an AI invocation from `budget.prices` when the backend reported tokens but no
    /// cost: the outcome carries the cost the ledger folds.
    pub(super) fn price(&self, node: NodeIndex, outcome: &mut Outcome) {
        let metrics = &mut outcome.evidence.metrics;
        if metrics.cost_usd.is_some() {
            return;
        }
        let routed = self
            .state
            .pass()
            .and_then(|p| p.route.as_ref())
            .filter(|r| self.plan.graph[node].agents.contains(&r.work_agent))
            .and_then(|r| r.model.clone());
        let model = routed.or_else(|| self.nodes[node.index()].model.clone());
        let price = model.as_ref().and_then(|m| self.budget.prices.get(m));
        if let (Some(price), Some(input), Some(output)) = (price, metrics.input_tokens, metrics.output_tokens)
        {
            metrics.cost_usd = Some((input as f64 * price.input + output as f64 * price.output) / 1e6);
        }
    }

    /// Runs a state's hook actions (`on_enter`, `on_exit`, `on_timeout`) in order, up to the
    /// first that fails; returns the outcome of the last one run (so a failure, or for
    /// `on_timeout` the decision that stands for the timed-out step). Actions that already ran
    /// in this visit (the state says so: a resumed run) are not run again; their recorded
    /// outcomes stand. `escalate_to_human` is announced as a review wherever it is used.
    pub(super) async fn run_hook(&mut self, node: NodeIndex, hook: &str) -> Option<Outcome> {
        let prep = &self.nodes[node.index()];
        let units = match hook {
            "on_enter" => prep.on_enter.clone(),
            "on_timeout" => prep.on_timeout.clone(),
            _ => prep.on_exit.clone(),
        };
        let id = self.plan.graph[node].id.clone();
        let ran: Vec<Outcome> =
            self.state.pass().map(|p| p.hook_outcomes(&id, hook).cloned().collect()).unwrap_or_default();
        let mut last = None;
        for (i, unit) in units.into_iter().enumerate() {
            let outcome = match ran.get(i) {
                Some(outcome) => outcome.clone(),
                None => match self.hook_action(node, &id, hook, unit).await {
                    Some(outcome) => outcome,
                    None => break,
                },
            };
            let failed = !outcome.success;
            last = Some(outcome);
            if failed {
                break;
            }
        }
        last
    }

    /// Runs one action of a hook and journals it; `None` when a script has no outcome for it
    /// (the recording did not run it).
    async fn hook_action(
        &mut self,
        node: NodeIndex,
        id: &str,
        hook: &str,
        unit: Vec<StepAgent>,
    ) -> Option<Outcome> {
        let name = unit_name(&unit);
        let iteration = self.state.iteration;
        let escalates = name == "escalate_to_human";
        let outcome = if self.performer.is_script() {
            self.scripted(id, Some(hook), 1, 1)?
        } else {
            if escalates {
                let at = self.now();
                self.emit(&Event::ReviewRequested { step: id.to_owned(), timeout_secs: None, at });
                // `escalate_to_human` waits for a person like a human state: they are told.
                let _ = self.notify_review(id);
            }
            let invocation = self.invocation(node, None, None);
            // Hooks are short and not steps: an interrupt pauses the loop after them.
            let run = step::run_unit(unit, invocation, self.action_context(id));
            self.with_control(run, false).await.unwrap_or_default()
        };
        if let (true, Some(decision)) = (escalates, &outcome.result) {
            self.emit(&Event::ReviewDecided {
                step: id.to_owned(),
                decision: decision.clone(),
                comment: outcome.summary.clone(),
                by: outcome.reviewer.clone(),
                display_name: outcome.reviewer_as.clone(),
            });
        }
        let at = self.now();
        self.emit(&Event::ActionFinished {
            step: id.to_owned(),
            hook: hook.to_owned(),
            action: name,
            outcome: Box::new(outcome.clone()),
            iteration,
            at,
        });
        Some(outcome)
    }

    /// The variables a condition sees after a step (see `workflow::condition::VARIABLES`).
    pub(super) fn scope(&self, node: NodeIndex, outcome: &Outcome) -> Scope {
        self.scope_with(node, outcome, &outcome.evidence)
    }

    fn scope_with(&self, node: NodeIndex, outcome: &Outcome, evidence: &Evidence) -> Scope {
        use minijinja::Value;
        let id = &self.plan.graph[node].id;
        let pass = self.state.pass();
        let visits = u64::from(pass.and_then(|p| p.visits.get(id)).copied().unwrap_or(0));
        let failures = u64::from(pass.and_then(|p| p.failures.get(id)).copied().unwrap_or(0));
        let record = pass.and_then(|p| p.step(id));
        let mut v = BTreeMap::new();
        v.insert("visits".to_owned(), Value::from(visits));
        v.insert("retries".to_owned(), Value::from(visits.saturating_sub(1)));
        v.insert("failures".to_owned(), Value::from(failures));
        v.insert("attempt".to_owned(), Value::from(record.map_or(1, |r| r.attempts.max(1))));
        v.insert("iteration".to_owned(), Value::from(self.state.iteration.max(1)));
        v.insert("state".to_owned(), Value::from(id.clone()));
        let agent = record.map(|_| self.plan.graph[node].agents.join(", ")).unwrap_or_default();
        v.insert("agent".to_owned(), Value::from(agent));
        v.insert("workdir".to_owned(), Value::from(self.options.project_dir.display().to_string()));
        v.insert("branch".to_owned(), Value::from(self.git_vars.0.clone()));
        v.insert("tag".to_owned(), Value::from(self.git_vars.1.clone()));
        v.insert("outcome".to_owned(), Value::from(minijinja::value::Serde(outcome)));
        v.insert("evidence".to_owned(), Value::from(minijinja::value::Serde(evidence)));
        let task = pass.and_then(|p| p.detail.as_ref());
        v.insert("task".to_owned(), Value::from(minijinja::value::Serde(task)));
        v.insert("nodes".to_owned(), Value::from(minijinja::value::Serde(self.node_results())));
        Scope { success: outcome.success, result: outcome.result.clone(), variables: v }
    }

    /// DAG: the outcome of every finished node of the pass, for the `nodes` variable.
    fn node_results(&self) -> BTreeMap<String, serde_json::Value> {
        if self.plan.kind != crate::workflow::model::WorkflowKind::Dag {
            return BTreeMap::new();
        }
        let Some(pass) = self.state.pass() else { return BTreeMap::new() };
        pass.steps
            .iter()
            .filter(|(_, r)| matches!(r.status, StepStatus::Succeeded | StepStatus::Failed))
            .filter_map(|(id, r)| {
                let o = r.outcome.as_ref()?;
                Some((id.clone(), serde_json::json!({"success": o.success, "result": o.result})))
            })
            .collect()
    }
}

/// Whether some agent of these units runs only when its condition holds.
fn units_have_conditions(units: &[Vec<StepAgent>]) -> bool {
    units.iter().flatten().any(|a| a.condition.is_some())
}

/// A human review as a step: wait for the decision; at the timeout, `on_timeout` decides.
async fn review(spec: HumanSpec, invocation: Invocation, actions: &ActionContext) -> Outcome {
    let started = std::time::Instant::now();
    let reminders = spec.reminder.map(|every| (every, spec.remind.clone()));
    match human::wait(&actions.desk, &actions.run_dir, &actions.step, spec.timeout, reminders).await {
        human::Review::Decided(decided) => Outcome {
            success: true,
            result: Some(decided.decision),
            summary: decided.comment,
            reviewer: Some(decided.by),
            reviewer_as: decided.display_name,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Outcome::default()
        },
        human::Review::TimedOut => {
            let mut last = Outcome::failed(
                FailureClass::Timeout,
                format!("nobody reviewed `{}` within {:?}", actions.step, spec.timeout.unwrap_or_default()),
            );
            for entry in spec.on_timeout {
                match entry {
                    OnTimeout::Run(unit) => {
                        let mut inv = invocation.clone();
                        inv.file_stem = format!("{}.on_timeout", inv.file_stem);
                        last = step::run_unit(unit, inv, actions.clone()).await;
                        last.reviewer = Some("on_timeout".into());
                        if !last.success {
                            break;
                        }
                    }
                    OnTimeout::Goto(target) => {
                        last = Outcome {
                            success: true,
                            summary: Some(format!("timed out; moving to `{target}`")),
                            goto: Some(target),
                            ..Outcome::default()
                        };
                        break;
                    }
                }
            }
            last.duration_ms = started.elapsed().as_millis() as u64;
            last
        }
    }
}
