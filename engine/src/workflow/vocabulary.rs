//! The fixed names of the language: built-in actions, failure classes, snapshot triggers,
//! notification events, and the phase → role table. Documented in `docs/language.md`; a change
//! here is a change to the language.

/// Built-in actions, usable in `on_enter`, `on_exit`, `on_timeout`, `on_open`, `on_close`,
/// `compensation.on_failure` and as saga `action`/`compensate`. Any other action name refers to
/// an agent or chain.
pub const BUILTIN_ACTIONS: &[(&str, &str)] = &[
    ("log", "write `args.message` to the run's log"),
    ("log_start", "log that the state was entered"),
    ("log_complete", "log that the state was left"),
    ("notify", "send `args.message` to the notification channels"),
    ("notify_success", "notify the channels of `on_complete` that the run succeeded"),
    ("notify_failure", "notify the channels of `on_failure` that the run failed"),
    ("notify_team", "notify every configured channel"),
    ("escalate_to_human", "move the run into human review"),
    (
        ESCALATE,
        "`circuit_breaker.on_open` only: hand the failures to `args.agent` (on `args.model`, if given); if it succeeds, the loop goes on with a probe",
    ),
    ("pause_loop", "pause the loop until `ralph-loop resume`"),
    ("resume_loop", "resume a paused loop"),
    ("auto_approve", "approve a human review"),
    ("approve", "approve a human review"),
    ("reject", "reject a human review"),
    ("fail", "fail the current step"),
    ("stop", "end the run unsuccessfully"),
    ("git_reset", "reset the work tree to the commit before the step (`args.hard`)"),
    ("git_commit", "commit the work tree (`args.message`)"),
    ("command", "run the shell command `args.run`"),
];

/// The breaker's escalation action.
pub const ESCALATE: &str = "escalate";

/// The built-in transition target that ends a run unsuccessfully.
pub const STOP_TARGET: &str = "stop";

/// Failure classes for `retry_on` and `non_retryable`, with the seed's exception-style aliases.
pub const FAILURE_CLASSES: &[(&str, &[&str])] = &[
    ("timeout", &["TimeoutError"]),
    ("connection_error", &["ConnectionError", "NetworkError"]),
    ("spawn_error", &["SpawnError"]),
    ("nonzero_exit", &["ExitError"]),
    ("check_failed", &["CheckError"]),
    ("rate_limited", &["RateLimitError"]),
    ("usage_limit", &["UsageLimitError"]),
    ("context_overflow", &["ContextOverflowError"]),
    ("plugin_veto", &[]),
    ("cancelled", &["CancelledError"]),
    ("agent_error", &["AgentError"]),
];

/// The canonical failure class of a name or alias.
pub fn failure_class(name: &str) -> Option<&'static str> {
    FAILURE_CLASSES
        .iter()
        .find(|(class, aliases)| *class == name || aliases.contains(&name))
        .map(|(class, _)| *class)
}

/// Every accepted failure-class spelling, for suggestions.
pub fn failure_class_names() -> impl Iterator<Item = &'static str> {
    FAILURE_CLASSES.iter().flat_map(|(class, aliases)| std::iter::once(*class).chain(aliases.iter().copied()))
}

/// Snapshot triggers.
pub const SNAPSHOT_TRIGGERS: &[&str] = &[
    "phase_complete",
    "iteration_complete",
    "before_human_review",
    "state_change",
    "step_complete",
    "run_complete",
    "interval",
];

/// Notification events.
pub const NOTIFICATION_EVENTS: &[&str] = &[
    "on_start",
    "on_iteration",
    "on_complete",
    "on_failure",
    "on_human_review_needed",
    "on_circuit_open",
    "on_circuit_close",
    "on_budget_exceeded",
    "on_usage_limit",
];

/// Plugin capabilities a configuration can grant.
pub const PLUGIN_CAPABILITIES: &[&str] = &["veto", "modify", "notify"];

/// The agent of a state that names none, after the agent named like the state itself.
pub const PHASE_ROLES: &[(&str, &str)] = &[
    ("planning", "planner"),
    ("building", "builder"),
    ("verifying", "verifier"),
    ("security_scan", "security_scanner"),
    ("reviewing", "reviewer"),
    ("testing", "tester"),
    ("linting", "linter"),
    ("merging", "merger"),
    ("deploying", "deployer"),
];

/// State ids that are human-in-the-loop states even without `type:` (the seed lists
/// `human_review` as a plain name).
pub const HUMAN_STATES: &[&str] = &["human_review"];

/// The role for a phase name, if it is one of [`PHASE_ROLES`].
pub fn phase_role(state: &str) -> Option<&'static str> {
    PHASE_ROLES.iter().find(|(phase, _)| *phase == state).map(|(_, role)| *role)
}

/// Whether `name` is a built-in action.
pub fn is_builtin_action(name: &str) -> bool {
    BUILTIN_ACTIONS.iter().any(|(n, _)| *n == name)
}

/// Whether an agent named with `hooks:` runs at `hook`: agents run at a step's hooks
/// (`phase.before_*`, `phase.after_*`, `agent.on_invoke`), where they have a step to look at;
/// the run's hooks (`workflow.*`) and `state.on_change` are for plugins.
pub fn agents_run_at(hook: &ralph_plugin_sdk::Hook) -> bool {
    use ralph_plugin_sdk::Hook;
    matches!(hook, Hook::BeforePhase(_) | Hook::AfterPhase(_) | Hook::AgentOnInvoke)
}
