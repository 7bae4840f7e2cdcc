//! The contract between the `ralph-loop` engine and the people who extend it, and the kit for
//! writing WebAssembly plugins.
//!
//! A complete plugin — it vetoes every build step while its `frozen` setting is `true`, and
//! otherwise adds a note to the builder's prompt:
//!
//! ```
//! use ralph_plugin_sdk::{Decision, Descriptor, PhaseContext, Plugin, Reply, host, register_plugin};
//!
//! #[derive(Default)]
//! struct Freeze;
//!
//! impl Plugin for Freeze {
//!     fn describe() -> Descriptor {
//!         Descriptor::new("freeze", "1.0.0")
//!             .description("Stops builds while the code is frozen")
//!             .hooks(["phase.before_build"])
//!             .capabilities(["veto"])
//!     }
//!
//!     fn before_build(&self, context: &PhaseContext) -> Reply {
//!         let frozen = host::config("frozen").is_some_and(|v| v == "true");
//!         if frozen {
//!             return Ok(Decision::Veto { reason: "the code is frozen".into() });
//!         }
//!         host::info(&format!("build of iteration {} may go on", context.iteration));
//!         Ok(Decision::Annotate { notes: vec!["Keep changes small: a release is near.".into()] })
//!     }
//! }
//!
//! register_plugin!(Freeze);
//! # host::set_config("frozen", "true");
//! # let context = r#"{"kind":"phase","phase":"build","agent":"builder","iteration":1,"started_at":"t"}"#;
//! # let answer = ralph_plugin_sdk::dispatch_json::<Freeze>("phase.before_build", context).unwrap();
//! # assert!(answer.contains("frozen"));
//! ```
//!
//! Its crate is a `cdylib` depending on this crate; `cargo build --target wasm32-wasip2
//! --release` makes the component, and `ralph-loop plugin new <name>` scaffolds one. The
//! component exports the `ralph:plugin@1.0.0` world (`wit/plugin.wit`): `describe` and
//! `on-hook`, with the host's `log`, `emit-metric`, `config-get` and `notify` imported. Each
//! call runs in a fresh instance with a memory limit, fuel and a deadline; a panic is an error
//! the engine reports with the panic's message, never a crash of the engine.
//!
//! The messages — steering packets, hook contexts, decisions, result reports — are the same
//! types the engine uses:
//!
//! `ralph-loop` runs workflows whose steps are AI agents and commands. Each step receives a
//! **steering packet** — the JSON message that carries the workflow's state, the agent's
//! instructions, the control signal in force and fresh evidence — and plugins are called at
//! **hooks**, named points of a run's lifecycle, where they may veto, modify or annotate.
//! The engine depends on this crate, never the reverse, so plugin authors (and agent wrappers)
//! build against it without pulling in the engine.
//!
//! | concept | types |
//! | --- | --- |
//! | steering packet (format [`SteeringPacket::VERSION`]) | [`SteeringPacket`], [`WorkflowInfo`], [`Control`], [`TaskContext`], [`Evidence`], [`Instructions`] |
//! | signals | [`Signal`] (control), [`MessageSignal`] (message level), [`Priority`] |
//! | writing a plugin | [`Plugin`], [`Descriptor`], [`register_plugin!`], [`host`] |
//! | hooks | [`Hook`], [`HookContext`] over [`WorkflowContext`], [`PhaseContext`], [`StateContext`], [`HookCall`] |
//! | plugin replies | [`Decision`], applied to a packet with [`Decision::apply_to`] / [`merge_patch`] |
//! | agent results | [`ResultReport`], written to `$RALPH_RESULT_FILE` ([`env`](mod@env), [`outcome`](mod@outcome)) |
//! | credentials by their form | [`secrets::find`], [`secrets::Kind`] |
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

// The bindings refer to this crate by name, inside it as outside.
#[cfg(target_arch = "wasm32")]
extern crate self as ralph_plugin_sdk;

mod call;
mod context;
mod control;
mod decision;
mod error;
mod evidence;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;
mod hook;
pub mod host;
mod plugin;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use guest as __guest;
mod packet;
mod patch;
mod result;
pub mod secrets;
mod signal;
mod task;

pub use call::HookCall;
pub use context::{ContextKind, HookContext, PhaseContext, Spend, StateContext, WorkflowContext};
pub use control::{Control, Hint, Priority, SignalRecord};
pub use decision::{Decision, MetricSample};
pub use error::UnknownName;
pub use evidence::{Evidence, Metrics, TestResults};
pub use hook::Hook;
pub use packet::{Instructions, SteeringPacket, WorkflowInfo};
pub use patch::merge_patch;
pub use plugin::{Descriptor, Plugin, Reply, dispatch, dispatch_json};
pub use result::{NewTask, ResultReport, SendBack, env, outcome};
pub use signal::{MessageSignal, Signal};
pub use task::{Failure, Learning, Message, Review, ReviewedTask, Route, Task, TaskContext, TaskRefusal};

/// Makes a [`Plugin`] the component's implementation of the `ralph:plugin` world.
///
/// Use it once, at the top level of the plugin's crate: `register_plugin!(MyPlugin);`.
/// Compiled for anything but wasm32 it only checks that the type is a plugin, so a plugin's
/// unit tests build natively.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct RalphPluginExport;
            impl $crate::__guest::Guest for RalphPluginExport {
                fn describe() -> $crate::__guest::Descriptor {
                    $crate::__guest::describe::<$plugin>()
                }
                fn on_hook(
                    hook: ::std::string::String,
                    context_json: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__guest::on_hook::<$plugin>(&hook, &context_json)
                }
            }
    $crate::__guest::__export_plugin_world!(RalphPluginExport with_types_in $crate::__guest);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::Descriptor = <$plugin as $crate::Plugin>::describe;
    };
}
