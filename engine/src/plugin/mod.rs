//! WebAssembly plugins: components of the `ralph:plugin@1` world (`plugins-sdk/wit/`), called
//! at lifecycle hooks.
//!
//! - [`runtime`]: the host — one wasmtime engine, a fresh store per call with a memory limit,
//!   fuel and a deadline, a WASI context that grants nothing;
//! - [`bundled`]: the plugins shipped inside the binary, enabled by name;
//! - [`cache`]: compiled components on disk, keyed by content hash and engine compatibility;
//! - [`catalog`]: which plugins a project has, as ralph.yaml configures them;
//! - [`install`]: installing from a path, a registry or a URL, checksums always checked;
//! - [`scaffold`]: a new plugin crate with a vendored SDK (`plugin new`), and
//!   [`scaffold_lang`] a new Python or JavaScript plugin;
//! - [`source`], [`toolchain`], [`guest`], [`build`]: a plugin's source, the programs that
//!   build it, the guest libraries and WIT it is built with, and the (cached) build itself
//!   (`plugin build`, and `.py` / `.js` / `.ts` entries when a run starts);
//! - [`set`]: the plugins of a run as `ralph.yaml` configures them — hooks, granted
//!   capabilities, `on_error`, disabling after repeated failures — and what their decisions do.

pub mod build;
pub mod bundled;
pub mod cache;
pub mod catalog;
pub mod error;
pub mod guest;
pub mod install;
pub mod limits;
pub mod runtime;
pub mod scaffold;
pub mod scaffold_lang;
pub mod set;
pub mod source;
pub mod toolchain;

pub use error::PluginError;
pub use limits::Limits;
pub use runtime::{CallEnv, CallOutput, Loaded, LogLine, Metric, Notification, Runtime};
pub use set::{Fired, PluginSet, Report};
