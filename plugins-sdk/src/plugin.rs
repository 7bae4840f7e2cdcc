//! Writing a plugin: the [`Plugin`] trait, one method per hook, and the dispatch from a hook
//! call to the method.

use serde::{Deserialize, Serialize};

use crate::context::{HookContext, PhaseContext, StateContext, WorkflowContext};
use crate::decision::Decision;
use crate::hook::Hook;

/// What a hook method answers: a decision, or an error the engine handles as the plugin's
/// `on_error` says (`fail_open` carries on, `fail_closed` stops what the hook guards).
pub type Reply = Result<Decision, String>;

/// Who a plugin is and what it wants: the answer of the component's `describe` export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The plugin's name, e.g. `secret-guard`.
    pub name: String,
    /// Its version (semver).
    pub version: String,
    /// One line on what it does.
    #[serde(default)]
    pub description: String,
    /// The hooks it wants to be called at (used when `ralph.yaml` names none).
    #[serde(default)]
    pub hooks: Vec<String>,
    /// The capabilities it requests: `veto`, `modify`, `notify`. Only `ralph.yaml` grants them.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl Descriptor {
    /// A descriptor with a name and version, no hooks and no capabilities.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self { name: name.into(), version: version.into(), ..Self::default() }
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds hooks it wants to be called at.
    pub fn hooks<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hooks: I) -> Self {
        self.hooks.extend(hooks.into_iter().map(Into::into));
        self
    }

    /// Adds capabilities it requests.
    pub fn capabilities<I: IntoIterator<Item = S>, S: Into<String>>(mut self, capabilities: I) -> Self {
        self.capabilities.extend(capabilities.into_iter().map(Into::into));
        self
    }
}

/// A plugin. Every hook has a method that carries on by default; implement the ones you want
/// and list their hooks in [`Plugin::describe`].
///
/// The engine makes a fresh instance (with [`Default`]) for every call, so a plugin keeps no
/// state between calls: what it needs to know is in the context, its `config:` (read with
/// [`host::config`](crate::host::config)) and the steering packet.
///
/// `phase.before_build` calls [`Plugin::before_build`], whose default calls
/// [`Plugin::before_phase`] with `"build"`: implement `before_phase` to see every phase.
pub trait Plugin: Default {
    /// Who the plugin is, which hooks it wants and which capabilities it requests.
    fn describe() -> Descriptor;

    /// `workflow.on_start`: the run starts. A veto stops it before its first step.
    fn on_start(&self, context: &WorkflowContext) -> Reply {
        let _ = context;
        Ok(Decision::Continue)
    }

    /// `workflow.on_iteration`: an iteration starts. A veto ends the run before it.
    fn on_iteration(&self, context: &WorkflowContext) -> Reply {
        let _ = context;
        Ok(Decision::Continue)
    }

    /// `workflow.on_complete`: the run completed.
    fn on_complete(&self, context: &WorkflowContext) -> Reply {
        let _ = context;
        Ok(Decision::Continue)
    }

    /// `workflow.on_failure`: the run failed or was stopped.
    fn on_failure(&self, context: &WorkflowContext) -> Reply {
        let _ = context;
        Ok(Decision::Continue)
    }

    /// `phase.before_<phase>`: a step of `phase` is about to run. A veto fails the step
    /// (class `plugin_veto`); `modify` and `annotate` change its steering packet.
    fn before_phase(&self, phase: &str, context: &PhaseContext) -> Reply {
        let _ = (phase, context);
        Ok(Decision::Continue)
    }

    /// `phase.after_<phase>`: a step of `phase` ran. A veto fails it (its changes are not
    /// committed); the context carries its diff.
    fn after_phase(&self, phase: &str, context: &PhaseContext) -> Reply {
        let _ = (phase, context);
        Ok(Decision::Continue)
    }

    /// `phase.before_build`.
    fn before_build(&self, context: &PhaseContext) -> Reply {
        self.before_phase("build", context)
    }

    /// `phase.after_build`.
    fn after_build(&self, context: &PhaseContext) -> Reply {
        self.after_phase("build", context)
    }

    /// `phase.before_verify`.
    fn before_verify(&self, context: &PhaseContext) -> Reply {
        self.before_phase("verify", context)
    }

    /// `phase.after_verify`.
    fn after_verify(&self, context: &PhaseContext) -> Reply {
        self.after_phase("verify", context)
    }

    /// `agent.on_invoke`: an agent is about to be invoked. A veto stops the invocation.
    fn on_invoke(&self, context: &PhaseContext) -> Reply {
        let _ = context;
        Ok(Decision::Continue)
    }

    /// `state.on_change`: the run moves from one state to another.
    fn on_state_change(&self, context: &StateContext) -> Reply {
        let _ = context;
        Ok(Decision::Continue)
    }
}

/// Calls the method of `plugin` for `hook` with `context`; an error when the context is not
/// the kind the hook carries.
pub fn dispatch<P: Plugin>(plugin: &P, hook: &Hook, context: &HookContext) -> Reply {
    let mismatch = || Err(format!("hook `{hook}` does not carry a {} context", context.kind()));
    match (hook, context) {
        (Hook::WorkflowOnStart, HookContext::Workflow(c)) => plugin.on_start(c),
        (Hook::WorkflowOnIteration, HookContext::Workflow(c)) => plugin.on_iteration(c),
        (Hook::WorkflowOnComplete, HookContext::Workflow(c)) => plugin.on_complete(c),
        (Hook::WorkflowOnFailure, HookContext::Workflow(c)) => plugin.on_failure(c),
        (Hook::BeforePhase(p), HookContext::Phase(c)) => match p.as_ref() {
            "build" => plugin.before_build(c),
            "verify" => plugin.before_verify(c),
            other => plugin.before_phase(other, c),
        },
        (Hook::AfterPhase(p), HookContext::Phase(c)) => match p.as_ref() {
            "build" => plugin.after_build(c),
            "verify" => plugin.after_verify(c),
            other => plugin.after_phase(other, c),
        },
        (Hook::AgentOnInvoke, HookContext::Phase(c)) => plugin.on_invoke(c),
        (Hook::StateOnChange, HookContext::State(c)) => plugin.on_state_change(c),
        _ => mismatch(),
    }
}

/// The whole of a call as the component's `on-hook` export sees it: the hook's name and the
/// context as JSON in, the decision as JSON out.
pub fn dispatch_json<P: Plugin>(hook: &str, context_json: &str) -> Result<String, String> {
    let hook: Hook = hook.parse().map_err(|e| format!("{e}"))?;
    let context: HookContext = serde_json::from_str(context_json)
        .map_err(|e| format!("the context of `{hook}` cannot be read: {e}"))?;
    let decision = dispatch(&P::default(), &hook, &context)?;
    serde_json::to_string(&decision).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Guard;

    impl Plugin for Guard {
        fn describe() -> Descriptor {
            Descriptor::new("guard", "1.0.0").hooks(["phase.before_build"]).capabilities(["veto"])
        }

        fn before_phase(&self, phase: &str, context: &PhaseContext) -> Reply {
            if context.agent == "rogue" {
                return Ok(Decision::Veto { reason: format!("no rogue agents in {phase}") });
            }
            Ok(Decision::Continue)
        }
    }

    #[test]
    fn phase_methods_fall_back_to_before_phase() {
        let context = r#"{"kind":"phase","phase":"build","agent":"rogue","iteration":1,"started_at":"t"}"#;
        let out = dispatch_json::<Guard>("phase.before_build", context).unwrap();
        assert_eq!(out, r#"{"decision":"veto","reason":"no rogue agents in build"}"#);
        let out = dispatch_json::<Guard>("phase.before_lint", context).unwrap();
        assert!(out.contains("lint"));
        let out = dispatch_json::<Guard>("phase.after_build", context).unwrap();
        assert_eq!(out, r#"{"decision":"continue"}"#);
    }

    #[test]
    fn bad_calls_are_errors() {
        let context = r#"{"kind":"phase","phase":"build","agent":"a","iteration":1,"started_at":"t"}"#;
        let err = dispatch_json::<Guard>("workflow.on_start", context).unwrap_err();
        assert!(err.contains("does not carry a phase context"), "{err}");
        assert!(dispatch_json::<Guard>("workflow.on_stop", context).unwrap_err().contains("unknown hook"));
        assert!(dispatch_json::<Guard>("phase.before_build", "{").unwrap_err().contains("cannot be read"));
        let d = Guard::describe();
        assert_eq!((d.name.as_str(), d.capabilities.as_slice()), ("guard", &["veto".to_owned()][..]));
    }
}
