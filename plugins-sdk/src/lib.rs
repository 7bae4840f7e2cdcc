//! The contract between the `ralph-loop` engine and the people who extend it.
//!
//! `ralph-loop` runs workflows whose steps are AI agents and commands. Each step receives a
//! **steering packet** — the JSON message that carries the workflow's state, the agent's
//! instructions, the control signal in force and fresh evidence — and plugins are called at
//! **hooks**, named points of a run's lifecycle, where they may veto, modify or annotate.
//! This crate defines those messages and nothing else: the engine depends on it, never the
//! reverse, so plugin authors (and agent wrappers) can build against it without pulling in the
//! engine.
//!
//! | concept | types |
//! | --- | --- |
//! | steering packet (format [`SteeringPacket::VERSION`]) | [`SteeringPacket`], [`WorkflowInfo`], [`Control`], [`TaskContext`], [`Evidence`], [`Instructions`] |
//! | signals | [`Signal`] (control), [`MessageSignal`] (message level), [`Priority`] |
//! | hooks | [`Hook`], [`HookContext`] over [`WorkflowContext`], [`PhaseContext`], [`StateContext`], [`HookCall`] |
//! | plugin replies | [`Decision`], applied to a packet with [`Decision::apply_to`] / [`merge_patch`] |
//! | agent results | [`ResultReport`], written to `$RALPH_RESULT_FILE` ([`env`](mod@env), [`outcome`](mod@outcome)) |
//!
//! All messages are JSON. Readers ignore fields they do not know, and writers leave out absent
//! optional fields and empty lists, so minor versions can add fields without breaking anyone.
//!
//! # Example
//!
//! ```
//! use ralph_plugin_sdk::{Signal, SteeringPacket, Task, WorkflowInfo};
//!
//! let mut packet = SteeringPacket::new(
//!     "2024-03-08T10:30:15Z",
//!     WorkflowInfo {
//!         name: "default".into(),
//!         iteration: 5,
//!         phase: "building".into(),
//!         state: "active".into(),
//!         started_at: "2024-03-08T10:00:00Z".into(),
//!     },
//! );
//! packet.context.current_task = Some(Task::new("task-5", "Implement authentication"));
//! packet.instructions.primary = "Complete task-5: Implement JWT authentication".into();
//! packet.instructions.outcomes = vec!["build_success".into(), "needs_planning".into()];
//!
//! let json = serde_json::to_string_pretty(&packet)?;
//! assert!(json.contains(r#""version": "2.0""#));
//!
//! let back: SteeringPacket = serde_json::from_str(&json)?;
//! assert_eq!(back, packet);
//! assert_eq!(back.control.signal, Signal::Continue);
//! # Ok::<(), serde_json::Error>(())
//! ```
#![deny(missing_docs)]

mod call;
mod context;
mod control;
mod decision;
mod error;
mod evidence;
mod hook;
mod packet;
mod patch;
mod result;
mod signal;
mod task;

pub use call::HookCall;
pub use context::{ContextKind, HookContext, PhaseContext, StateContext, WorkflowContext};
pub use control::{Control, Hint, Priority, SignalRecord};
pub use decision::{Decision, MetricSample};
pub use error::UnknownName;
pub use evidence::{Evidence, Metrics, TestResults};
pub use hook::Hook;
pub use packet::{Instructions, SteeringPacket, WorkflowInfo};
pub use patch::merge_patch;
pub use result::{ResultReport, env, outcome};
pub use signal::{MessageSignal, Signal};
pub use task::{Failure, Message, Task, TaskContext};
