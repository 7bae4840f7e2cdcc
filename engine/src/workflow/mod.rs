//! The workflow language: YAML in, a typed and checked [`model::Document`] out.
//!
//! **Architecture invariant:** this module knows nothing about agents' processes, the store,
//! plugins' runtime or telemetry. It turns text into a model and diagnostics, nothing more.

pub mod path;
pub mod yaml;
pub mod model;
pub mod schema;
pub mod structure;
pub mod suggest;
pub mod load;
pub mod condition;
pub mod vocabulary;
pub mod merge;
pub mod semantic;
pub mod validate;
