//! Live control of a running loop: the signals people send (`ralph-loop pause`, `resume`,
//! `interrupt`, `redirect`, `hint`, `add-iterations`, `approve`, `reject`), the plain files that
//! do the same (`.ralph/pause`, `.ralph/hint`), and the `pause_loop`/`resume_loop` actions.
//!
//! Every signal is journaled (the `control` event) and made durable before it takes effect,
//! so a resumed run honours it: a journaled pause is still a pause, added iterations are still
//! added, a hint not yet delivered is still delivered. The runner takes signals at its checks:
//! while it waits on steps (at once), between steps, and while it is paused.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use super::core::event::Event;
use super::core::outcome::FailureClass;
use super::core::outcome::Outcome;
use super::runner::Runner;
use crate::control::server::{History, Hub, Order, Server};
use crate::control::{LiveStatus, Reply, Signal};
use crate::workflow::model::WorkflowKind;

/// The longest a status published by [`Runner::publish_soon`] lags behind the run.
const STATUS_EVERY: Duration = Duration::from_millis(20);

/// Who stands for the `.ralph/pause` and `.ralph/hint` files in the journal.
const PAUSE_FILE: &str = "the file .ralph/pause";
const HINT_FILE: &str = "the file .ralph/hint";
/// The most of `.ralph/hint` read as a hint.
const HINT_BYTES: u64 = 64 * 1024;
/// Who stands for the circuit breaker's `pause_loop` and `resume_loop`.
pub(super) const BREAKER: &str = "circuit_breaker";

/// How often a paused loop looks at its plain-file signals and the breaker's timeout.
const PAUSED_POLL: Duration = Duration::from_millis(200);

/// The runner's end of the control channel.
pub(super) struct Live {
    pub orders: mpsc::UnboundedReceiver<Order>,
    /// For the `pause_loop`/`resume_loop` actions, which run inside steps.
    pub orders_tx: mpsc::UnboundedSender<Order>,
    status: watch::Sender<LiveStatus>,
    /// The status changed since it was last published (see [`Runner::publish_soon`]).
    stale: bool,
    /// When the status was last published.
    published: std::time::Instant,
    events: broadcast::Sender<(u64, crate::control::server::LiveEvent)>,
    closing: watch::Sender<bool>,
    /// The bound socket and the journal reader, until the loop's runtime serves them.
    server: Option<(Server, History)>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// `.ralph/` of the project: `pause`, `hint` and the `hints/` archive.
    dot_ralph: PathBuf,
    /// Where review decisions go to the steps waiting for them.
    pub desk: super::human::Desk,
}

impl Live {
    /// The runner's end; `server` is `None` for a run nobody can reach (tests of the runner).
    pub fn new(server: Option<(Server, History)>, dot_ralph: PathBuf) -> Live {
        let (orders_tx, orders) = mpsc::unbounded_channel();
        let (status, _) = watch::channel(LiveStatus::default());
        let (events, _) = broadcast::channel(4096);
        let (closing, _) = watch::channel(false);
        let (stale, published) = (false, std::time::Instant::now());
        let desk = super::human::Desk::default();
        Live {
            orders,
            orders_tx,
            status,
            stale,
            published,
            events,
            closing,
            server,
            task: None,
            dot_ralph,
            desk,
        }
    }
}

/// An interrupted step's outcome.
pub(super) fn interrupted(by: &str) -> Outcome {
    Outcome::failed(
        FailureClass::Interrupted,
        format!("interrupted by {by}; it runs again when the loop is resumed"),
    )
}

impl Runner {
    /// Starts serving the control socket (inside the loop's runtime).
    pub(super) fn serve_control(&mut self) {
        let Some((server, history)) = self.live.server.take() else { return };
        let hub = Hub {
            orders: self.live.orders_tx.clone(),
            status: self.live.status.subscribe(),
            events: self.live.events.clone(),
            history,
            closing: self.live.closing.subscribe(),
        };
        self.publish();
        self.live.task = Some(tokio::spawn(server.serve(hub)));
    }

    /// The run has ended: subscribers get their last events and `end`, the socket goes away.
    pub(super) async fn close_control(&mut self) {
        let _ = self.live.closing.send(true);
        if let Some(task) = self.live.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
        // Signals nobody will act on are refused rather than left hanging.
        self.live.orders.close();
        while let Ok(order) = self.live.orders.try_recv() {
            if let Some(reply) = order.reply {
                let _ = reply.send(Reply::Refused { message: "the loop ended before acting on it".into() });
            }
        }
    }

    /// The journaled event with its sequence number, to `logs --follow` subscribers.
    pub(super) fn broadcast(&self, seq: u64, event: &Event) {
        if self.live.events.receiver_count() > 0 {
            if let Some(json) = crate::control::server::live_event(event) {
                let _ = self.live.events.send((seq, json));
            }
        }
    }

    /// The effective `max_iterations`: the configured one plus what `add-iterations` added.
    pub(super) fn max_invocations(&self) -> u64 {
        self.options.max_invocations.saturating_add(self.state.added_iterations)
    }

    /// Whether the invocations `max_iterations` allows (with what `add-iterations` added) are
    /// spent: nothing more starts.
    pub(super) fn budget_spent(&self) -> bool {
        self.state.invocations >= self.max_invocations()
    }

    /// Publishes the status after `event`, or soon: a DAG's steps start and end by the
    /// thousand per second, and building the status for each would cost more than the steps'
    /// own bookkeeping. Their changes wait at most [`STATUS_EVERY`], and go out whenever the
    /// loop waits (see [`Runner::publish_pending`]); anything else goes out at once.
    pub(super) fn publish_soon(&mut self, event: &Event) {
        let frequent = matches!(
            event,
            Event::StepStarted { .. }
                | Event::StepFinished { .. }
                | Event::AgentStarted { .. }
                | Event::StepSkipped { .. }
                | Event::ActionFinished { .. }
        );
        if frequent && self.live.published.elapsed() < STATUS_EVERY {
            self.live.stale = true;
        } else {
            self.publish();
        }
    }

    /// Publishes a status that changed since it was last published: before the loop waits.
    pub(super) fn publish_pending(&mut self) {
        if self.live.stale {
            self.publish();
        }
    }

    /// Publishes the status `ralph-loop status` shows (and the control socket serves).
    pub(super) fn publish(&mut self) {
        self.live.stale = false;
        self.live.published = std::time::Instant::now();
        let s = &self.state;
        let breaker = &s.ledger.breaker;
        let status = LiveStatus {
            pid: std::process::id(),
            run_id: s.run_id.clone(),
            workflow: self.options.workflow.clone(),
            kind: self.plan.kind.as_str().into(),
            state: s.current().map(str::to_owned),
            iteration: s.iteration,
            task: s.task().map(|t| format!("{}: {}", t.id, t.title)),
            running: s.count(super::core::projection::StepStatus::Running),
            paused: s.paused.is_some(),
            paused_by: s.paused.clone(),
            waiting_for_review: s.waiting_for_review.clone(),
            breaker: serde_json::to_value(breaker.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            breaker_reason: breaker.reason.clone(),
            invocations: s.invocations,
            max_iterations: self.max_invocations(),
            tokens: s.tokens,
            cost_usd: s.cost_usd,
            budget: serde_json::json!({
                "max_tokens": self.budget.max_tokens,
                "max_cost_usd": self.budget.max_cost_usd,
                "daily_cost_usd": self.budget.daily_cost_usd,
                "spent_tokens": s.ledger.tokens,
                "spent_cost_usd": s.ledger.cost_usd,
                "spent_today_usd": s.ledger.daily_cost_usd.get(&super::ledger::today()).copied().unwrap_or(0.0),
            }),
            pending_hints: s.pending_hints.len(),
            redirect: s.redirect.clone(),
            last_signal: s.last_signal.clone(),
            last_refused: s.last_refused.clone(),
            task_file: self.options.record.tasks.clone(),
            pace_log: Some(s.pace.clone()),
            route: s.pass().and_then(|p| p.route.clone()),
        };
        self.live.status.send_replace(status);
    }

    /// Whether `signal` can take effect now; the error says why not, for the sender.
    fn check_signal(&self, signal: &Signal) -> Result<(), String> {
        match signal {
            Signal::Pause => match &self.state.paused {
                Some(by) => Err(format!("the loop is already paused (by {by})")),
                None => Ok(()),
            },
            Signal::Resume if self.state.paused.is_none() => Err("the loop is not paused".into()),
            Signal::Redirect { .. } if self.plan.kind != WorkflowKind::StateMachine => Err(format!(
                "`redirect` applies to state machines; this run is a {}, whose steps follow their {}",
                self.plan.kind.as_str(),
                if self.plan.kind == WorkflowKind::Dag { "dependencies" } else { "saga order" }
            )),
            Signal::Redirect { to } => {
                let states: Vec<&str> = self
                    .plan
                    .nodes()
                    .filter(|(_, n)| matches!(n.role, crate::plan::NodeRole::State { .. }))
                    .map(|(_, n)| n.id.as_str())
                    .collect();
                if states.contains(&to.as_str()) {
                    return Ok(());
                }
                let hint = crate::workflow::suggest::did_you_mean(to, states.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                Err(format!("there is no state `{to}` in `{}`{hint}", self.options.workflow))
            }
            Signal::Hint { text } if text.trim().is_empty() => Err("the hint is empty".into()),
            Signal::AddIterations { n: 0 } => Err("add at least one iteration".into()),
            Signal::Approve { .. } | Signal::Reject { .. } if self.state.waiting_for_review.is_none() => {
                Err(format!("nothing in run {} is waiting for review", self.state.run_id))
            }
            _ => Ok(()),
        }
    }

    /// Journals a signal (applied, appended, shown), without waiting for it to be durable:
    /// for the breaker, whose own changes are journaled the same way.
    pub(super) fn journal_signal(&mut self, signal: Signal, by: &str) {
        self.journal_signal_as(signal, by, None);
    }

    fn journal_signal_as(&mut self, signal: Signal, by: &str, display_name: Option<&str>) {
        let at = self.now();
        let display_name = display_name.map(str::to_owned);
        self.emit(&Event::Control { signal, by: Some(by.to_owned()), display_name, at });
    }

    /// A signal a script's person sends as a step starts: checked and journaled like any
    /// (a script's log is durable at once).
    pub(super) fn script_signal(&mut self, signal: Signal, by: &str) {
        if self.check_signal(&signal).is_ok() {
            self.journal_signal(signal, by);
        }
    }

    /// A signal takes effect: checked, journaled and durable, then acted on. Returns what it
    /// does (for the sender), or why it was refused.
    pub(super) async fn take_signal(&mut self, signal: Signal, by: &str) -> Result<String, String> {
        self.take_signal_as(signal, by, None).await
    }

    /// [`Runner::take_signal`] from a sender who gave a name beside their OS user `by`.
    async fn take_signal_as(
        &mut self,
        signal: Signal,
        by: &str,
        display_name: Option<&str>,
    ) -> Result<String, String> {
        self.check_signal(&signal)?;
        self.journal_signal_as(signal.clone(), by, display_name);
        self.settle().await;
        Ok(match signal {
            Signal::Pause => "the loop pauses after its current step".into(),
            Signal::Resume => {
                let _ = std::fs::remove_file(self.live.dot_ralph.join("pause"));
                self.resumed_over_breaker(by);
                "the loop goes on".into()
            }
            Signal::Interrupt => "the running step is stopped; the loop pauses (hint, then resume)".into(),
            Signal::Redirect { to } => format!("the next state is `{to}`"),
            Signal::Hint { .. } => "the hint goes into the next agent's prompt".into(),
            Signal::AddIterations { n } => {
                format!("max_iterations raised by {n} to {}", self.max_invocations())
            }
            Signal::Approve { .. } | Signal::Reject { .. } => self.decide(&signal, by, display_name),
            Signal::AddTask { .. } => unreachable!("`add_task` is taken by `take_order`, never journaled"),
        })
    }

    /// Hands a review decision to the step waiting for it (the signal was checked against the
    /// review waiting now, and journaled).
    fn decide(&mut self, signal: &Signal, by: &str, display_name: Option<&str>) -> String {
        let step = self.state.waiting_for_review.clone().unwrap_or_default();
        let (Some(decision), Signal::Approve { comment, .. } | Signal::Reject { comment }) =
            (super::human::decision_name(signal), signal)
        else {
            return String::new();
        };
        self.live.desk.lay(
            &step,
            super::human::Decision {
                decision: decision.to_owned(),
                comment: comment.clone(),
                by: by.to_owned(),
                display_name: display_name.map(str::to_owned),
            },
        );
        format!("{} `{step}`", if decision == "rejected" { "rejected" } else { "approved" })
    }

    /// A person resumed a loop the breaker paused: the breaker goes half-open, so the next step
    /// is the probe (as after an escalation).
    fn resumed_over_breaker(&mut self, by: &str) {
        if by == BREAKER || self.state.ledger.breaker.state != crate::policy::breaker::BreakerState::Open {
            return;
        }
        self.half_open_all(format!("resumed by {by}; the next step is the probe"));
    }

    /// Takes one order from the control channel and answers it. Returns who interrupted, when
    /// it was an interrupt. An order from the socket is recorded under the OS user on its other
    /// end, and refused (and journaled as refused) when an agent of the run sent it.
    pub(super) async fn take_order(&mut self, order: Order) -> Option<String> {
        let Order { signal, display_name, peer, reply } = order;
        if let Signal::AddTask { task } = signal {
            let answer = self.add_task_order(&task, peer.as_deref());
            if let Some(tx) = reply {
                let _ = tx.send(answer);
            }
            return None;
        }
        let display_name = display_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        let interrupt = signal == Signal::Interrupt;
        let (by, display_name) = match &peer {
            Some(peer) => (peer.user.clone(), display_name),
            // The loop's own orders (`pause_loop`, `resume_loop`) name their action.
            None => (display_name.unwrap_or_else(|| "someone".into()), None),
        };
        let refused = peer.as_ref().and_then(|peer| self.refusal(peer, &signal));
        let reply_to_send = match refused {
            Some(message) => Reply::Refused { message },
            None => match self.take_signal_as(signal, &by, display_name.as_deref()).await {
                Ok(message) => Reply::Accepted { message },
                Err(message) => Reply::Refused { message },
            },
        };
        let accepted = matches!(reply_to_send, Reply::Accepted { .. });
        if let Some(tx) = reply {
            let _ = tx.send(reply_to_send);
        }
        (interrupt && accepted).then_some(by)
    }

    /// Who sent a control request: a person, an agent of this run (and its step), or a process
    /// that could not be examined — against the process groups the run's steps started.
    fn place(&self, peer: &crate::control::peer::Peer) -> super::authority::Sender {
        let loop_pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let groups: std::collections::BTreeMap<i32, String> =
            self.state.passes.values().flat_map(|p| p.agents.iter().map(|(g, s)| (*g, s.clone()))).collect();
        super::authority::place(peer, loop_pid, &self.state.run_id, &groups)
    }

    /// `ralph-loop task add` reached the loop: anyone may add a task (an ideas agent from inside
    /// its step, a person beside the loop); the step whose agent sent it is journaled with it.
    fn add_task_order(
        &mut self,
        task: &ralph_plugin_sdk::NewTask,
        peer: Option<&crate::control::peer::Peer>,
    ) -> Reply {
        let step = peer.and_then(|peer| match self.place(peer) {
            super::authority::Sender::Agent { step, .. } => step,
            super::authority::Sender::Person | super::authority::Sender::Unplaced => None,
        });
        let by = peer.map(|p| p.user.clone());
        match self.add_task(task, step.as_deref(), by.as_deref()) {
            Ok(id) => {
                let file =
                    self.options.record.tasks.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                Reply::Accepted { message: format!("added task {id} to {file}") }
            }
            Err(reason) => Reply::Refused { message: format!("the task was not added: {reason}") },
        }
    }

    /// Why `peer` may not send `signal`, if it may not: it is an agent of this run that the
    /// workflow does not make an `approver`, or its process could not be placed. The refusal
    /// is journaled (`control_refused`), so the attempt is on record.
    fn refusal(&mut self, peer: &crate::control::peer::Peer, signal: &Signal) -> Option<String> {
        let (from_step, reason) = match self.place(peer) {
            super::authority::Sender::Person => return None,
            super::authority::Sender::Agent { step, how } => {
                if step.as_deref().is_some_and(|s| self.is_approver_step(s)) {
                    return None;
                }
                let whose = step.as_ref().map(|s| format!("of `{s}` ")).unwrap_or_default();
                let reason = format!(
                    "`{}` was sent by an agent {whose}of this run ({how}); an agent may not steer or decide for the loop unless the workflow makes it an `approver`",
                    signal.name()
                );
                (step, reason)
            }
            super::authority::Sender::Unplaced => (
                None,
                format!(
                    "`{}` was refused: the sending process ({}) could not be examined, so it cannot be told from an agent of this run",
                    signal.name(),
                    peer.describe()
                ),
            ),
        };
        let at = self.now();
        self.emit(&Event::ControlRefused {
            signal: signal.clone(),
            by: peer.user.clone(),
            pid: peer.pid,
            from_step,
            reason: reason.clone(),
            at,
        });
        Some(reason)
    }

    /// Whether every agent of `step` is an `approver` (so its processes may send signals).
    fn is_approver_step(&self, step: &str) -> bool {
        let Some(node) = self.plan.node(step) else { return false };
        let agents: Vec<&super::agents::StepAgent> =
            self.nodes[node.index()].units.iter().flatten().collect();
        !agents.is_empty() && agents.iter().all(|a| a.approver)
    }

    /// Waits for `work` while taking signals. An interrupt (when `interruptible`) drops the
    /// work at once — which kills its agents' process groups — and returns who sent it.
    pub(super) async fn with_control<T>(
        &mut self,
        work: impl Future<Output = T>,
        interruptible: bool,
    ) -> Result<T, String> {
        tokio::pin!(work);
        loop {
            self.publish_pending();
            tokio::select! {
                done = &mut work => return Ok(done),
                Some(report) = self.signals_rx.recv() => self.on_signal(report),
                Some(spawned) = self.spawned_rx.recv() => self.on_spawned(spawned),
                Some(report) = self.notifier.reports.recv() => self.on_notification(report),
                Some(order) = self.live.orders.recv() => {
                    if let Some(by) = self.take_order(order).await {
                        if interruptible {
                            return Err(by);
                        }
                    }
                }
            }
        }
    }

    /// Takes the signals waiting (orders and plain files) without waiting for any. Returns who
    /// interrupted, if someone did.
    pub(super) async fn poll_control(&mut self, next: Option<&str>) -> Option<String> {
        let mut interrupted = None;
        while let Ok(order) = self.live.orders.try_recv() {
            if let Some(by) = self.take_order(order).await {
                interrupted = Some(by);
            }
        }
        // A script's people send theirs as a step is about to start.
        if let (Some(next), super::performer::Performer::Script(script)) = (next, &mut self.performer) {
            for (signal, by) in script.signals(&self.state, next) {
                self.script_signal(signal, &by);
            }
        }
        self.poll_files().await;
        interrupted
    }

    /// `.ralph/pause` pauses the loop until it is removed; `.ralph/hint` is a hint, moved to the
    /// archive once it is journaled.
    async fn poll_files(&mut self) {
        // Once an agent of this run has started, a file in `.ralph/` may be its doing: the files
        // steer a loop only from before its first step (a person's `touch .ralph/pause` or the
        // `hint` left for the next run); while agents run, people use the control socket, which
        // knows who is asking.
        let agents_ran = self.state.invocations > 0;
        let pause = self.live.dot_ralph.join("pause");
        match (&self.state.paused, pause.exists()) {
            (None, true) if agents_ran => {
                let _ = std::fs::remove_file(&pause);
                self.refuse_file(Signal::Pause, PAUSE_FILE, "ralph-loop pause");
            }
            (None, true) => {
                let _ = self.take_signal(Signal::Pause, PAUSE_FILE).await;
            }
            (Some(by), false) if by == PAUSE_FILE => {
                let _ = self.take_signal(Signal::Resume, &format!("{PAUSE_FILE} (removed)")).await;
            }
            _ => {}
        }
        let hint = self.live.dot_ralph.join("hint");
        // Read without blocking (a FIFO put there would hold the loop), at most 64 KiB.
        let read = crate::agent::result_file::read_sync(&hint, HINT_BYTES);
        let text = match read {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).trim().to_owned(),
            Ok(None) => return,
            Err(_) => {
                // Not a regular file, or too large: not a hint; it goes, so it is not read again.
                let _ = std::fs::remove_file(&hint);
                self.refuse_file(Signal::Hint { text: String::new() }, HINT_FILE, "ralph-loop hint");
                return;
            }
        };
        let archive = self.live.dot_ralph.join("hints");
        // The archive keeps it masked and owner-only, as the journal does.
        let keep = |redactor: &crate::redact::Redactor, outcome: &str| {
            let _ = crate::private::create_dir_all(&archive);
            let name = format!("{}-{outcome}.md", stamp());
            let _ = crate::private::write(&archive.join(name), redactor.redact(&text).as_bytes());
        };
        if text.is_empty() {
            let _ = std::fs::remove_file(&hint);
        } else if agents_ran {
            keep(&self.redactor, "refused");
            let _ = std::fs::remove_file(&hint);
            self.refuse_file(Signal::Hint { text: text.clone() }, HINT_FILE, "ralph-loop hint");
        } else if self.take_signal(Signal::Hint { text: text.clone() }, HINT_FILE).await.is_ok() {
            // Journaled (durably) before the file goes: a crash in between delivers it twice
            // at worst, never loses it.
            keep(&self.redactor, "received");
            let _ = std::fs::remove_file(&hint);
        }
    }

    /// Journals a control file that appeared while agents ran as refused, and says so.
    fn refuse_file(&mut self, signal: Signal, file: &str, command: &str) {
        let reason = format!(
            "{file} appeared while this run's agents were running, and an agent can write it: it was removed, not obeyed; people steer a running loop with `{command}`"
        );
        let at = self.now();
        self.emit(&Event::ControlRefused {
            signal,
            by: file.to_owned(),
            pid: None,
            from_step: None,
            reason,
            at,
        });
    }

    /// A check between steps: takes waiting signals, then waits while the loop is paused.
    /// `next` is the step about to start, if one is.
    pub(super) async fn checkpoint(&mut self, next: Option<&str>) {
        self.poll_control(next).await;
        while self.state.paused.is_some() {
            // A script's people answer a pause (they resume it) while the loop waits.
            let paused_by = self.state.paused.clone().unwrap_or_default();
            if let super::performer::Performer::Script(script) = &mut self.performer {
                for (signal, by) in script.while_paused(&paused_by) {
                    self.script_signal(signal, &by);
                }
                if self.state.paused.is_none() {
                    break;
                }
            }
            self.publish_pending();
            tokio::select! {
                Some(order) = self.live.orders.recv() => {
                    self.take_order(order).await;
                }
                Some(report) = self.signals_rx.recv() => self.on_signal(report),
                Some(report) = self.notifier.reports.recv() => self.on_notification(report),
                _ = tokio::time::sleep(PAUSED_POLL) => {
                    self.poll_files().await;
                    self.breaker_timeout_passed().await;
                }
            }
        }
    }

    /// A loop the breaker paused (`pause_loop`) goes on by itself once the breaker's timeout
    /// has passed: the next step is the half-open probe, and a probe that succeeds closes it.
    async fn breaker_timeout_passed(&mut self) {
        let (Some(by), Some(config)) = (&self.state.paused, &self.breaker) else { return };
        if by != BREAKER || self.state.ledger.breaker.check(config, self.clock.unix()).is_err() {
            return;
        }
        let _ = self.take_signal(Signal::Resume, BREAKER).await;
    }

    /// The signals since the last packet, and the pending hints, go into this step's packet
    /// (and so its prompt); they are journaled as delivered and the hints archived under
    /// `.ralph/hints/`. Only a step whose agents read their packet takes them: a command step
    /// in between does not swallow a hint meant for the next AI agent.
    pub(super) fn deliver_control(&mut self, step: &str, packet: &mut ralph_plugin_sdk::SteeringPacket) {
        let signals = self.state.since_packet.clone();
        if let Some(last) = signals.iter().rev().find(|s| s.signal != ralph_plugin_sdk::Signal::Continue) {
            let control = &mut packet.control;
            control.signal = last.signal;
            control.reason =
                Some(format!("`{}` sent by {}", last.name, last.by.as_deref().unwrap_or("someone")));
            if last.signal == ralph_plugin_sdk::Signal::Redirect {
                control.new_phase.clone_from(&last.detail);
                control.keep_evidence = Some(true);
            }
            if signals.iter().any(|s| s.signal == ralph_plugin_sdk::Signal::Interrupt) {
                control.preserve_context = Some(true);
            }
        }
        let hints = self.state.pending_hints.clone();
        packet.control.signals = signals;
        packet.control.hints.extend(hints.iter().cloned());
        let refusals = self.state.task_refusals.len();
        packet.context.task_refusals.extend(self.state.task_refusals.iter().cloned());
        if hints.is_empty() && packet.control.signals.is_empty() && refusals == 0 {
            return;
        }
        if !hints.is_empty() && !self.performer.is_script() {
            let archive = self.live.dot_ralph.join("hints");
            let _ = crate::private::create_dir_all(&archive);
            for (i, hint) in hints.iter().enumerate() {
                let text = format!(
                    "{}\n\n---\nsent: {}\ndelivered: {} to `{step}` of run {}\n",
                    hint.text,
                    hint.at.as_deref().unwrap_or("?"),
                    self.now(),
                    self.state.run_id
                );
                let _ = crate::private::write(&archive.join(format!("{}-{i}.md", stamp())), text);
            }
        }
        let signals = packet.control.signals.len();
        self.emit(&Event::HintsDelivered { step: step.to_owned(), count: hints.len(), signals, refusals });
    }
}

/// A file-name timestamp that sorts: `20260101T120000.123456789`.
fn stamp() -> String {
    let now = std::time::SystemTime::now();
    let nanos = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let digits: String =
        humantime::format_rfc3339_seconds(now).to_string().chars().filter(char::is_ascii_digit).collect();
    format!("{}T{}.{nanos:09}", &digits[..8], &digits[8..14])
}
