//! A plugin's reply to a hook call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::packet::SteeringPacket;

/// One measurement a plugin reports (exported by the engine as a metric).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// The metric's name, e.g. `lint_warnings`.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its unit, e.g. `ms`, `By`, `{warning}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Labels (attributes) distinguishing series of the same metric.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl MetricSample {
    /// A sample without unit or labels.
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self { name: name.into(), value, unit: None, labels: BTreeMap::new() }
    }
}

/// What a plugin answers at a hook, tagged by `decision`:
///
/// ```json
/// {"decision": "continue"}
/// {"decision": "veto", "reason": "secrets found in src/config.rs"}
/// {"decision": "modify", "patch": {"instructions": {"constraints": ["No new dependencies"]}}}
/// {"decision": "annotate", "notes": ["3 files lack tests"]}
/// {"decision": "metrics", "samples": [{"name": "lint_warnings", "value": 3}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Nothing to add: carry on.
    #[default]
    Continue,
    /// Stop what is about to happen (only at hooks where [`Hook::can_veto`](crate::Hook::can_veto)).
    Veto {
        /// Why, for the journal and for people.
        reason: String,
    },
    /// Change the step's steering packet with a JSON Merge Patch (RFC 7396).
    Modify {
        /// The merge patch.
        patch: serde_json::Value,
    },
    /// Add notes to the packet's `instructions.notes`; they appear in the agent's PROMPT.md.
    Annotate {
        /// The notes, in order.
        notes: Vec<String>,
    },
    /// Report measurements.
    Metrics {
        /// The measurements.
        samples: Vec<MetricSample>,
    },
}

impl Decision {
    /// Its kind, as its `decision` tag names it: `continue`, `veto`, `modify`, `annotate`,
    /// `metrics`.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Continue => "continue",
            Decision::Veto { .. } => "veto",
            Decision::Modify { .. } => "modify",
            Decision::Annotate { .. } => "annotate",
            Decision::Metrics { .. } => "metrics",
        }
    }

    /// Whether this is a veto.
    pub fn is_veto(&self) -> bool {
        matches!(self, Decision::Veto { .. })
    }

    /// Applies the decision's effect on `packet`: a `modify` merges its patch, an `annotate`
    /// appends its notes to `instructions.notes`; the other decisions leave it unchanged.
    ///
    /// # Errors
    ///
    /// When a `modify` patch leaves something that is not a valid packet; `packet` is then
    /// unchanged.
    pub fn apply_to(&self, packet: &mut SteeringPacket) -> Result<(), serde_json::Error> {
        match self {
            Decision::Modify { patch } => *packet = packet.with_merge_patch(patch)?,
            Decision::Annotate { notes } => packet.instructions.notes.extend(notes.iter().cloned()),
            Decision::Continue | Decision::Veto { .. } | Decision::Metrics { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::WorkflowInfo;
    use serde_json::json;

    fn packet() -> SteeringPacket {
        SteeringPacket::new(
            "2024-03-08T10:30:15Z",
            WorkflowInfo {
                name: "default".into(),
                iteration: 1,
                phase: "building".into(),
                state: "active".into(),
                started_at: "2024-03-08T10:00:00Z".into(),
            },
        )
    }

    #[test]
    fn decisions_are_tagged() {
        let cases = [
            (Decision::Continue, json!({"decision": "continue"})),
            (Decision::Veto { reason: "no".into() }, json!({"decision": "veto", "reason": "no"})),
            (
                Decision::Modify { patch: json!({"control": {"signal": "pause"}}) },
                json!({"decision": "modify", "patch": {"control": {"signal": "pause"}}}),
            ),
            (Decision::Annotate { notes: vec!["n".into()] }, json!({"decision": "annotate", "notes": ["n"]})),
            (
                Decision::Metrics { samples: vec![MetricSample::new("lint_warnings", 3.0)] },
                json!({"decision": "metrics", "samples": [{"name": "lint_warnings", "value": 3.0}]}),
            ),
        ];
        for (decision, expected) in cases {
            assert_eq!(serde_json::to_value(&decision).unwrap(), expected);
            assert_eq!(serde_json::from_value::<Decision>(expected).unwrap(), decision);
        }
        assert!(serde_json::from_value::<Decision>(json!({"decision": "explode"})).is_err());
        assert!(serde_json::from_value::<Decision>(json!({"decision": "veto"})).is_err());
    }

    #[test]
    fn kind_is_the_serde_tag() {
        let all = [
            Decision::Continue,
            Decision::Veto { reason: "r".into() },
            Decision::Modify { patch: serde_json::json!({}) },
            Decision::Annotate { notes: vec![] },
            Decision::Metrics { samples: vec![] },
        ];
        for decision in all {
            assert_eq!(serde_json::to_value(&decision).unwrap()["decision"], decision.kind());
        }
    }

    #[test]
    fn metric_labels_round_trip() {
        let decision: Decision = serde_json::from_value(json!({
            "decision": "metrics",
            "samples": [{"name": "scan_ms", "value": 12.5, "unit": "ms", "labels": {"tool": "semgrep"}}]
        }))
        .unwrap();
        let Decision::Metrics { samples } = &decision else { panic!("{decision:?}") };
        assert_eq!(samples[0].labels["tool"], "semgrep");
        assert_eq!(samples[0].unit.as_deref(), Some("ms"));
    }

    #[test]
    fn annotate_appends_notes() {
        let mut packet = packet();
        packet.instructions.notes.push("first".into());
        Decision::Annotate { notes: vec!["second".into(), "third".into()] }.apply_to(&mut packet).unwrap();
        assert_eq!(packet.instructions.notes, ["first", "second", "third"]);
    }

    #[test]
    fn modify_patches_and_bad_patches_leave_packet_unchanged() {
        let mut packet = packet();
        Decision::Modify { patch: json!({"instructions": {"primary": "Fix the login bug"}}) }
            .apply_to(&mut packet)
            .unwrap();
        assert_eq!(packet.instructions.primary, "Fix the login bug");

        let before = packet.clone();
        let bad = Decision::Modify { patch: json!({"workflow": {"iteration": "five"}}) };
        assert!(bad.apply_to(&mut packet).is_err());
        assert_eq!(packet, before);

        for decision in [Decision::Continue, Decision::Veto { reason: "r".into() }] {
            decision.apply_to(&mut packet).unwrap();
            assert_eq!(packet, before);
        }
        assert!(Decision::Veto { reason: "r".into() }.is_veto());
        assert!(!Decision::default().is_veto());
    }
}
