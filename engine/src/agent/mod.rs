//! Agents: who performs a step. A backend gets a prompt, a working directory, limits and
//! environment, and returns an outcome.
//!
//! **Architecture invariant:** backends know nothing about workflows, plans or the store.

pub mod claude;
pub mod cli;
pub mod codex;
pub mod command;
pub mod environment;
pub mod fresh_file;
pub mod gemini;
pub mod openai;
pub mod opencode;
pub mod orphans;
pub mod process;
pub mod result_file;
pub mod signal;
pub mod spawn;
pub mod step_log;
pub mod test_counts;
