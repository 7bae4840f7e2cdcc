//! The steering packet: the JSON message that carries workflow state, instructions, control
//! signal and evidence into a step and out of it.

use serde::{Deserialize, Serialize};

use crate::control::Control;
use crate::evidence::Evidence;
use crate::patch::merge_patch;
use crate::task::TaskContext;

/// Where the run is: the `workflow` section of a steering packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowInfo {
    /// The workflow's name.
    pub name: String,
    /// The run's iteration, counting from 1.
    pub iteration: u64,
    /// The phase the step belongs to (e.g. `building`, or a DAG node / saga step name).
    pub phase: String,
    /// The run's status (e.g. `active`, `paused`).
    pub state: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
}

/// What the step must do: the `instructions` section of a steering packet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Instructions {
    /// The one thing to do, in a sentence.
    pub primary: String,
    /// Rules the work must respect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// What must be true when the step is done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub success_criteria: Vec<String>,
    /// What to do after the primary instruction, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    /// The named results this step may report (e.g. `verified`, `needs_fixes`): the
    /// conditions of the workflow transitions leaving it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<String>,
    /// Annotations added by plugins (see [`Decision::Annotate`](crate::Decision::Annotate)).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The steering packet, format version 2.0.
///
/// Unknown fields are ignored when reading, so a packet written by a newer engine still
/// parses; optional fields that are absent and lists that are empty are left out when writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteeringPacket {
    /// The format version; [`SteeringPacket::VERSION`] for packets written by this crate.
    pub version: String,
    /// When the packet was made (RFC 3339).
    pub timestamp: String,
    /// The trace the step belongs to, for correlation with Jaeger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Where the run is.
    pub workflow: WorkflowInfo,
    /// The control signal in force.
    #[serde(default)]
    pub control: Control,
    /// The conversation, the current task, and its history.
    #[serde(default)]
    pub context: TaskContext,
    /// What has been observed so far.
    #[serde(default)]
    pub evidence: Evidence,
    /// What the step must do.
    #[serde(default)]
    pub instructions: Instructions,
}

impl SteeringPacket {
    /// The format version this crate writes.
    pub const VERSION: &'static str = "2.0";

    /// A packet of the current version with default control and empty context, evidence and
    /// instructions.
    pub fn new(timestamp: impl Into<String>, workflow: WorkflowInfo) -> Self {
        Self {
            version: Self::VERSION.to_owned(),
            timestamp: timestamp.into(),
            trace_id: None,
            workflow,
            control: Control::default(),
            context: TaskContext::default(),
            evidence: Evidence::default(),
            instructions: Instructions::default(),
        }
    }

    /// Whether this crate understands the packet's version: same major version as
    /// [`SteeringPacket::VERSION`] (minor versions only add optional fields).
    pub fn is_supported_version(&self) -> bool {
        fn major(version: &str) -> &str {
            version.split('.').next().unwrap_or(version)
        }
        major(&self.version) == major(Self::VERSION)
    }

    /// Returns the packet with `patch` applied as a JSON Merge Patch (RFC 7396), as a plugin's
    /// [`Decision::Modify`](crate::Decision::Modify) asks.
    ///
    /// # Errors
    ///
    /// When the patched document is no longer a valid packet (e.g. it removes `workflow`).
    pub fn with_merge_patch(&self, patch: &serde_json::Value) -> Result<Self, serde_json::Error> {
        let mut document = serde_json::to_value(self)?;
        merge_patch(&mut document, patch);
        serde_json::from_value(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Priority, Signal};
    use serde_json::json;

    /// The sample of the spec's "Steering Packet Structure", verbatim.
    const SPEC_SAMPLE: &str = r#"{
"version": "2.0",
"timestamp": "2024-03-08T10:30:15Z",
"trace_id": "abc123-def456",
"workflow": {
"name": "default",
"iteration": 5,
"phase": "building",
"state": "active",
"started_at": "2024-03-08T10:00:00Z"
},
"control": {
"signal": "continue",
"priority": "normal",
"timeout": 7200,
"can_interrupt": true,
"can_redirect": true
},
"context": {
"prior_thread": [
{"role": "system", "content": "..."},
{"role": "assistant", "content": "..."}
],
"current_task": {
"id": "task-5",
"description": "Implement authentication",
"from_todo": "line 42",
"spec_ref": "section-4.2"
},
"completed_tasks": ["task-1", "task-2", "task-3", "task-4"],
"failure_history": [
{"task": "task-5", "attempt": 1, "error": "..."}
]
},
"evidence": {
"files_changed": ["src/auth.ts"],
"test_results": {"passed": 8, "failed": 2},
"logs": ["..."],
"metrics": {
"duration_ms": 45000,
"tokens_used": 15000
}
},
"instructions": {
"primary": "Complete task-5: Implement JWT authentication",
"constraints": ["Use existing auth library", "Follow security best practices"],
"success_criteria": ["All auth tests pass", "No security vulnerabilities"],
"next_steps": ["Update TODO.md", "Write tests"]
}
}"#;

    fn sample_workflow() -> WorkflowInfo {
        WorkflowInfo {
            name: "default".into(),
            iteration: 1,
            phase: "building".into(),
            state: "active".into(),
            started_at: "2024-03-08T10:00:00Z".into(),
        }
    }

    #[test]
    fn spec_sample_parses() {
        let packet: SteeringPacket = serde_json::from_str(SPEC_SAMPLE).unwrap();
        assert_eq!(packet.version, SteeringPacket::VERSION);
        assert!(packet.is_supported_version());
        assert_eq!(packet.trace_id.as_deref(), Some("abc123-def456"));
        assert_eq!(packet.workflow.iteration, 5);
        assert_eq!(packet.workflow.phase, "building");
        assert_eq!(packet.control.signal, Signal::Continue);
        assert_eq!(packet.control.priority, Priority::Normal);
        assert_eq!(packet.control.timeout, Some(7200));
        assert_eq!(packet.context.prior_thread.len(), 2);
        let task = packet.context.current_task.as_ref().unwrap();
        assert_eq!(task.id, "task-5");
        assert_eq!(task.from_todo.as_deref(), Some("line 42"));
        assert_eq!(task.spec_ref.as_deref(), Some("section-4.2"));
        assert_eq!(packet.context.completed_tasks.len(), 4);
        assert_eq!(packet.context.failure_history[0].attempt, 1);
        assert_eq!(packet.evidence.files_changed, ["src/auth.ts"]);
        let tests = packet.evidence.test_results.unwrap();
        assert_eq!((tests.passed, tests.failed, tests.skipped), (8, 2, None));
        assert_eq!(packet.evidence.metrics.duration_ms, Some(45_000));
        assert_eq!(packet.evidence.metrics.tokens_used, Some(15_000));
        assert_eq!(packet.instructions.constraints.len(), 2);
        assert_eq!(packet.instructions.next_steps, ["Update TODO.md", "Write tests"]);
        assert!(packet.instructions.outcomes.is_empty());
    }

    #[test]
    fn spec_sample_round_trips_exactly() {
        let original: serde_json::Value = serde_json::from_str(SPEC_SAMPLE).unwrap();
        let packet: SteeringPacket = serde_json::from_str(SPEC_SAMPLE).unwrap();
        // Nothing is added and nothing is lost: the written JSON is the sample.
        assert_eq!(serde_json::to_value(&packet).unwrap(), original);
        let again: SteeringPacket =
            serde_json::from_str(&serde_json::to_string_pretty(&packet).unwrap()).unwrap();
        assert_eq!(again, packet);
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let mut document: serde_json::Value = serde_json::from_str(SPEC_SAMPLE).unwrap();
        document["version"] = json!("2.1");
        document["routing"] = json!({"shard": 3});
        document["workflow"]["run_id"] = json!("r-1");
        document["control"]["deadline"] = json!("soon");
        document["evidence"]["metrics"]["cache_hits"] = json!(4);
        let packet: SteeringPacket = serde_json::from_value(document).unwrap();
        assert!(packet.is_supported_version());
        assert_eq!(packet.workflow.name, "default");
    }

    #[test]
    fn minimal_packet_parses_with_defaults() {
        let packet: SteeringPacket = serde_json::from_value(json!({
            "version": "2.0",
            "timestamp": "2024-03-08T10:30:15Z",
            "workflow": {"name": "w", "iteration": 1, "phase": "p", "state": "active",
                         "started_at": "2024-03-08T10:00:00Z"}
        }))
        .unwrap();
        assert_eq!(
            packet,
            SteeringPacket::new(
                "2024-03-08T10:30:15Z",
                WorkflowInfo {
                    name: "w".into(),
                    iteration: 1,
                    phase: "p".into(),
                    state: "active".into(),
                    started_at: "2024-03-08T10:00:00Z".into(),
                }
            )
        );
    }

    #[test]
    fn new_packet_serializes_sections_without_empty_fields() {
        let packet = SteeringPacket::new("2024-03-08T10:30:15Z", sample_workflow());
        assert_eq!(
            serde_json::to_value(&packet).unwrap(),
            json!({
                "version": "2.0",
                "timestamp": "2024-03-08T10:30:15Z",
                "workflow": {"name": "default", "iteration": 1, "phase": "building",
                             "state": "active", "started_at": "2024-03-08T10:00:00Z"},
                "control": {"signal": "continue", "priority": "normal",
                            "can_interrupt": true, "can_redirect": true},
                "context": {},
                "evidence": {},
                "instructions": {"primary": ""}
            })
        );
    }

    #[test]
    fn other_major_versions_are_not_supported() {
        let mut packet = SteeringPacket::new("t", sample_workflow());
        packet.version = "3.0".into();
        assert!(!packet.is_supported_version());
        packet.version = "2".into();
        assert!(packet.is_supported_version());
    }

    #[test]
    fn merge_patch_modifies_a_packet() {
        let packet: SteeringPacket = serde_json::from_str(SPEC_SAMPLE).unwrap();
        let patched = packet
            .with_merge_patch(&json!({
                "control": {"signal": "redirect", "new_phase": "planning"},
                "instructions": {"constraints": ["Do not touch the database schema"]},
                "trace_id": null
            }))
            .unwrap();
        assert_eq!(patched.control.signal, Signal::Redirect);
        assert_eq!(patched.control.new_phase.as_deref(), Some("planning"));
        assert_eq!(patched.control.timeout, Some(7200));
        assert_eq!(patched.instructions.constraints, ["Do not touch the database schema"]);
        assert_eq!(patched.trace_id, None);
        assert_eq!(patched.workflow, packet.workflow);

        assert!(packet.with_merge_patch(&json!({"workflow": null})).is_err());
        assert!(packet.with_merge_patch(&json!({"control": {"signal": "explode"}})).is_err());
    }
}
