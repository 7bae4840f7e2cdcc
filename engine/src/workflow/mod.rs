//! The workflow language: YAML in, a typed and checked [`model::Document`] out.
//!
//! **Architecture invariant:** this module knows nothing about agents' processes, the store,
//! plugins' runtime or telemetry. It turns text into a model and diagnostics, nothing more.

pub mod condition;
pub mod diff;
pub mod durations;
pub mod inert;
pub mod load;
pub mod merge;
pub mod model;
pub mod path;
pub mod schema;
pub mod semantic;
pub mod structure;
pub mod suggest;
pub mod validate;
pub mod vocabulary;
pub mod yaml;
