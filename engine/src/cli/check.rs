//! `ralph-loop replay --check <run> --workflow <file>`.

use super::replay::ReplayArgs;
use super::{EXIT_USAGE, Env};

/// Runs the check.
pub fn run(_args: &ReplayArgs, _run: &str, _env: &Env) -> anyhow::Result<u8> {
    eprintln!("error: `ralph-loop replay --check` is not available yet (tracked in issue #5)");
    Ok(EXIT_USAGE)
}
