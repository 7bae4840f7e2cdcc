//! Hooks: the named points in a run's lifecycle where plugins are called.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::context::ContextKind;
use crate::error::UnknownName;

const BEFORE_PREFIX: &str = "phase.before_";
const AFTER_PREFIX: &str = "phase.after_";

/// A named point in the lifecycle of a run where plugins are called.
///
/// Written as the spec's dotted names (`workflow.on_start`, `phase.after_verify`, ...).
/// `phase.before_<phase>` and `phase.after_<phase>` exist for every phase, not only `build`
/// and `verify`: `"phase.before_lint".parse::<Hook>()` gives `Hook::BeforePhase("lint".into())`.
///
/// ```
/// use ralph_plugin_sdk::Hook;
///
/// let hook: Hook = "phase.before_verify".parse().unwrap();
/// assert_eq!(hook, Hook::BEFORE_VERIFY);
/// assert_eq!(hook.phase(), Some("verify"));
/// assert_eq!(Hook::after_phase("lint").as_str(), "phase.after_lint");
/// assert!("workflow.on_stop".parse::<Hook>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `workflow.on_start`: the run starts.
    WorkflowOnStart,
    /// `workflow.on_iteration`: an iteration starts.
    WorkflowOnIteration,
    /// `workflow.on_complete`: the run completed.
    WorkflowOnComplete,
    /// `workflow.on_failure`: the run failed.
    WorkflowOnFailure,
    /// `phase.before_<phase>`: before a step of the named phase runs.
    BeforePhase(Cow<'static, str>),
    /// `phase.after_<phase>`: after a step of the named phase ran.
    AfterPhase(Cow<'static, str>),
    /// `agent.on_invoke`: an agent is about to be invoked.
    AgentOnInvoke,
    /// `state.on_change`: the run moves from one state to another.
    StateOnChange,
}

impl Hook {
    /// `phase.before_build`.
    pub const BEFORE_BUILD: Hook = Hook::BeforePhase(Cow::Borrowed("build"));
    /// `phase.after_build`.
    pub const AFTER_BUILD: Hook = Hook::AfterPhase(Cow::Borrowed("build"));
    /// `phase.before_verify`.
    pub const BEFORE_VERIFY: Hook = Hook::BeforePhase(Cow::Borrowed("verify"));
    /// `phase.after_verify`.
    pub const AFTER_VERIFY: Hook = Hook::AfterPhase(Cow::Borrowed("verify"));

    /// The hooks the spec names, in its order.
    pub const ALL: &'static [Hook] = &[
        Hook::WorkflowOnStart,
        Hook::WorkflowOnIteration,
        Hook::WorkflowOnComplete,
        Hook::WorkflowOnFailure,
        Hook::BEFORE_BUILD,
        Hook::AFTER_BUILD,
        Hook::BEFORE_VERIFY,
        Hook::AFTER_VERIFY,
        Hook::AgentOnInvoke,
        Hook::StateOnChange,
    ];

    /// The accepted names, phase hooks written as patterns.
    pub const NAMES: &'static [&'static str] = &[
        "workflow.on_start",
        "workflow.on_iteration",
        "workflow.on_complete",
        "workflow.on_failure",
        "phase.before_<phase>",
        "phase.after_<phase>",
        "agent.on_invoke",
        "state.on_change",
    ];

    /// `phase.before_<phase>`.
    pub fn before_phase(phase: impl Into<String>) -> Self {
        Hook::BeforePhase(Cow::Owned(phase.into()))
    }

    /// `phase.after_<phase>`.
    pub fn after_phase(phase: impl Into<String>) -> Self {
        Hook::AfterPhase(Cow::Owned(phase.into()))
    }

    /// The hook's dotted name. Borrowed for fixed hooks, built for phase hooks.
    pub fn as_str(&self) -> Cow<'static, str> {
        match self {
            Hook::WorkflowOnStart => Cow::Borrowed("workflow.on_start"),
            Hook::WorkflowOnIteration => Cow::Borrowed("workflow.on_iteration"),
            Hook::WorkflowOnComplete => Cow::Borrowed("workflow.on_complete"),
            Hook::WorkflowOnFailure => Cow::Borrowed("workflow.on_failure"),
            Hook::BeforePhase(phase) => Cow::Owned(format!("{BEFORE_PREFIX}{phase}")),
            Hook::AfterPhase(phase) => Cow::Owned(format!("{AFTER_PREFIX}{phase}")),
            Hook::AgentOnInvoke => Cow::Borrowed("agent.on_invoke"),
            Hook::StateOnChange => Cow::Borrowed("state.on_change"),
        }
    }

    /// The phase of a `phase.before_*` / `phase.after_*` hook.
    pub fn phase(&self) -> Option<&str> {
        match self {
            Hook::BeforePhase(phase) | Hook::AfterPhase(phase) => Some(phase),
            _ => None,
        }
    }

    /// Which context a plugin receives at this hook.
    pub fn context_kind(&self) -> ContextKind {
        match self {
            Hook::WorkflowOnStart
            | Hook::WorkflowOnIteration
            | Hook::WorkflowOnComplete
            | Hook::WorkflowOnFailure => ContextKind::Workflow,
            Hook::BeforePhase(_) | Hook::AfterPhase(_) | Hook::AgentOnInvoke => ContextKind::Phase,
            Hook::StateOnChange => ContextKind::State,
        }
    }

    /// Whether a plugin's veto at this hook can stop something: the run (`on_start`), an
    /// iteration, a step before it runs, an invocation, or — `phase.after_*` — a step's result
    /// (the step fails, so its changes are not committed). `on_complete`, `on_failure` and
    /// `state.on_change` only observe.
    pub fn can_veto(&self) -> bool {
        matches!(
            self,
            Hook::WorkflowOnStart
                | Hook::WorkflowOnIteration
                | Hook::BeforePhase(_)
                | Hook::AfterPhase(_)
                | Hook::AgentOnInvoke
        )
    }
}

/// Whether `name` can name a phase in a hook: non-empty ASCII letters, digits, `_` or `-`.
fn is_phase_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl FromStr for Hook {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hook = match s {
            "workflow.on_start" => Hook::WorkflowOnStart,
            "workflow.on_iteration" => Hook::WorkflowOnIteration,
            "workflow.on_complete" => Hook::WorkflowOnComplete,
            "workflow.on_failure" => Hook::WorkflowOnFailure,
            "agent.on_invoke" => Hook::AgentOnInvoke,
            "state.on_change" => Hook::StateOnChange,
            _ => match (s.strip_prefix(BEFORE_PREFIX), s.strip_prefix(AFTER_PREFIX)) {
                (Some(phase), _) if is_phase_name(phase) => Hook::before_phase(phase),
                (_, Some(phase)) if is_phase_name(phase) => Hook::after_phase(phase),
                _ => return Err(UnknownName::new("hook", s, Self::NAMES)),
            },
        };
        Ok(hook)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for Hook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for Hook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        name.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_hook_names_round_trip() {
        let names: Vec<String> = Hook::ALL.iter().map(|h| h.as_str().into_owned()).collect();
        assert_eq!(
            names,
            [
                "workflow.on_start",
                "workflow.on_iteration",
                "workflow.on_complete",
                "workflow.on_failure",
                "phase.before_build",
                "phase.after_build",
                "phase.before_verify",
                "phase.after_verify",
                "agent.on_invoke",
                "state.on_change",
            ]
        );
        for hook in Hook::ALL {
            assert_eq!(&hook.as_str().parse::<Hook>().unwrap(), hook);
            let json = serde_json::to_string(hook).unwrap();
            assert_eq!(json, format!("\"{hook}\""));
            assert_eq!(&serde_json::from_str::<Hook>(&json).unwrap(), hook);
        }
    }

    #[test]
    fn any_phase_has_before_and_after_hooks() {
        let hook: Hook = "phase.before_unit_tests".parse().unwrap();
        assert_eq!(hook, Hook::before_phase("unit_tests"));
        assert_eq!(hook.phase(), Some("unit_tests"));
        let hook: Hook = "phase.after_security-scan".parse().unwrap();
        assert_eq!(hook, Hook::after_phase("security-scan"));
        assert_eq!(Hook::before_phase("build"), Hook::BEFORE_BUILD);
        assert_eq!(Hook::WorkflowOnStart.phase(), None);
    }

    #[test]
    fn bad_names_are_rejected_with_the_name() {
        for bad in [
            "workflow.on_stop",
            "phase.before_",
            "phase.after_a.b",
            "phase.during_build",
            "",
            "phase.before_a b",
        ] {
            let err = bad.parse::<Hook>().unwrap_err();
            assert_eq!(err.name(), bad);
            assert_eq!(err.kind(), "hook");
            assert!(err.to_string().contains("phase.before_<phase>"));
        }
        let err = serde_json::from_str::<Hook>("\"agent.on_call\"").unwrap_err();
        assert!(err.to_string().contains("unknown hook `agent.on_call`"));
    }

    #[test]
    fn context_kinds_and_veto() {
        assert_eq!(Hook::WorkflowOnFailure.context_kind(), ContextKind::Workflow);
        assert_eq!(Hook::AFTER_VERIFY.context_kind(), ContextKind::Phase);
        assert_eq!(Hook::AgentOnInvoke.context_kind(), ContextKind::Phase);
        assert_eq!(Hook::StateOnChange.context_kind(), ContextKind::State);
        assert!(Hook::BEFORE_BUILD.can_veto());
        assert!(Hook::AFTER_BUILD.can_veto());
        assert!(!Hook::StateOnChange.can_veto());
        assert!(!Hook::WorkflowOnComplete.can_veto());
    }

    #[test]
    fn hooks_deserialize_from_owned_strings() {
        let value = serde_json::json!(["phase.before_lint", "state.on_change"]);
        let hooks: Vec<Hook> = serde_json::from_value(value).unwrap();
        assert_eq!(hooks, [Hook::before_phase("lint"), Hook::StateOnChange]);
    }
}
