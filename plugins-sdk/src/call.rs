//! What the engine sends a plugin at a hook.

use serde::{Deserialize, Serialize};

use crate::context::HookContext;
use crate::hook::Hook;
use crate::packet::SteeringPacket;

/// One call of a plugin: the hook, its context and, for step hooks, the step's packet.
///
/// The plugin answers with a [`Decision`](crate::Decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookCall {
    /// The hook being called.
    pub hook: Hook,
    /// Its context (its `kind` matches [`Hook::context_kind`]).
    pub context: HookContext,
    /// The steering packet of the step, for `phase.*` and `agent.on_invoke` hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<SteeringPacket>,
}

impl HookCall {
    /// A call without a packet.
    pub fn new(hook: Hook, context: impl Into<HookContext>) -> Self {
        Self { hook, context: context.into(), packet: None }
    }

    /// Whether the context is the kind the hook carries.
    pub fn is_consistent(&self) -> bool {
        self.hook.context_kind() == self.context.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{PhaseContext, StateContext};
    use serde_json::json;

    fn state() -> StateContext {
        StateContext {
            from_state: "planning".into(),
            to_state: "building".into(),
            trigger: "plan_complete".into(),
            timestamp: "2024-03-08T10:30:15Z".into(),
        }
    }

    #[test]
    fn call_serializes_hook_name_and_tagged_context() {
        let call = HookCall::new(Hook::StateOnChange, state());
        assert!(call.is_consistent());
        let value = serde_json::to_value(&call).unwrap();
        assert_eq!(value["hook"], "state.on_change");
        assert_eq!(value["context"]["kind"], "state");
        assert!(value.get("packet").is_none());
        assert_eq!(serde_json::from_value::<HookCall>(value).unwrap(), call);
    }

    #[test]
    fn mismatched_context_is_detected() {
        assert!(!HookCall::new(Hook::BEFORE_BUILD, state()).is_consistent());
        let phase = PhaseContext {
            phase: "build".into(),
            agent: "builder".into(),
            iteration: 1,
            started_at: "2024-03-08T10:30:15Z".into(),
            ..PhaseContext::default()
        };
        assert!(HookCall::new(Hook::BEFORE_BUILD, phase).is_consistent());
        let call: HookCall = serde_json::from_value(json!({
            "hook": "workflow.on_start",
            "context": {"kind": "workflow", "workflow_name": "w", "iteration": 1,
                        "started_at": "2024-03-08T10:30:15Z"}
        }))
        .unwrap();
        assert!(call.is_consistent());
    }
}
