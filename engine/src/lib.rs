//! ralph-loop: a declarative workflow engine for autonomous AI coding-agent loops.
//!
//! The library holds everything; the `ralph-loop` binary is a thin shell over [`cli::run`].

pub mod agent;
pub mod atomic_file;
pub mod bounded_file;
pub mod cli;
pub mod clock;
pub mod control;
pub mod dashboard;
pub mod diagnostic;
pub mod error_text;
pub mod file_lock;
pub mod git;
pub mod init;
pub mod inspect;
pub mod plan;
pub mod plugin;
pub mod policy;
pub mod private;
pub mod prompt;
pub mod redact;
pub mod run;
pub mod source;
pub mod store;
pub mod task;
pub mod telemetry;
pub mod tls;
pub mod workflow;
