//! Exit statuses: the five things a script can tell apart, and how an error says which one it
//! ends a command with.
//!
//! A verb returns `Ok(Exit)` when it ran to the end, and an `anyhow` error when it could not;
//! the error's status is read from its chain ([`of`]): the first cause that is a [`Refusal`] or a
//! library error of a known kind decides. So `?` on a store error gives 4 and
//! `.context("…")` keeps the status of what it wraps, and the message is printed once, whole
//! (`{:#}`), by `cli::main`.

use std::fmt::Display;

/// What a command's exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command did what it was asked (a run succeeded, a file is valid).
    Ok,
    /// 1: the run failed or was stopped, or a check found something: `replay --check`
    /// diverged, a dashboard endpoint is down, the loop refused a signal or none is running.
    Failed,
    /// 2: usage: bad flags, an unknown run, step or snapshot, a verb used where it cannot
    /// apply.
    Usage,
    /// 3: an invalid workflow, configuration (`ralph.yaml`), task file or plugin.
    Invalid,
    /// 4: the environment: an agent that cannot work here (its program missing, not logged
    /// in), a run store that is unusable, corrupt or held, a file that cannot be read or
    /// written.
    Environment,
}

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Invalid => 3,
            Exit::Environment => 4,
        }
    }
}

/// The table in `ralph-loop --help` (and the README): keep the three in step.
pub const HELP: &str = "\
Exit status:
  0  succeeded
  1  the run failed or was stopped; or a check found something (replay --check diverged,
     a dashboard endpoint is down, the loop refused a signal or none is running)
  2  usage: bad flags, an unknown run, step or snapshot, a verb used where it cannot apply
  3  invalid workflow, configuration, task file or plugin
  4  environment: an agent that cannot work here, the run store unusable, I/O errors";

/// An error that says which exit status it ends the command with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The status.
    pub exit: Exit,
    /// What to tell the user: lowercase, names in backticks, what to do.
    pub message: String,
}

fn refusal(exit: Exit, message: impl Display) -> anyhow::Error {
    Refusal { exit, message: message.to_string() }.into()
}

/// A usage error (2).
pub fn usage(message: impl Display) -> anyhow::Error {
    refusal(Exit::Usage, message)
}

/// Invalid input (3).
pub fn invalid(message: impl Display) -> anyhow::Error {
    refusal(Exit::Invalid, message)
}

/// The environment's fault (4).
pub fn environment(message: impl Display) -> anyhow::Error {
    refusal(Exit::Environment, message)
}

/// Something asked for did not happen (1).
pub fn failed(message: impl Display) -> anyhow::Error {
    refusal(Exit::Failed, message)
}

/// The exit status of an error: the first cause in its chain that says. An error nobody
/// classified comes from the machine (I/O, the runtime), so it is the environment's.
pub fn of(error: &anyhow::Error) -> Exit {
    error.chain().find_map(classify).unwrap_or(Exit::Environment)
}

fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    use crate::inspect::InspectError;
    use crate::run::agents::AgentError;
    use crate::run::runner::RunError;
    use crate::task::TaskError;
    use crate::workflow::validate::ValidateError;
    if let Some(r) = cause.downcast_ref::<Refusal>() {
        return Some(r.exit);
    }
    if let Some(e) = cause.downcast_ref::<InspectError>() {
        return Some(match e {
            InspectError::NoRuns { .. }
            | InspectError::UnknownRun { .. }
            | InspectError::AmbiguousRun { .. }
            | InspectError::UnknownIteration { .. }
            | InspectError::UnknownPhase { .. } => Exit::Usage,
            InspectError::LoopRunning { .. }
            | InspectError::Store(_)
            | InspectError::Journal(_)
            | InspectError::NoDefinition { .. } => Exit::Environment,
            InspectError::Live(_) => Exit::Environment,
        });
    }
    if let Some(e) = cause.downcast_ref::<AgentError>() {
        return Some(agent(e));
    }
    if let Some(e) = cause.downcast_ref::<RunError>() {
        return Some(match e {
            RunError::Agent(e) | RunError::Choice { source: e, .. } => agent(e),
            RunError::Plugin(_) | RunError::RoleWorkflow(_) => Exit::Invalid,
            RunError::BreakerOpen(_) => Exit::Failed,
            _ => Exit::Environment,
        });
    }
    if let Some(e) = cause.downcast_ref::<TaskError>() {
        return Some(match e {
            TaskError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => Exit::Usage,
            TaskError::Read { .. } | TaskError::Write { .. } => Exit::Environment,
            TaskError::UnknownKind { .. } => Exit::Usage,
            _ => Exit::Invalid,
        });
    }
    if let Some(ValidateError::Read { source, .. }) = cause.downcast_ref::<ValidateError>() {
        return Some(if source.kind() == std::io::ErrorKind::NotFound {
            Exit::Usage
        } else {
            Exit::Environment
        });
    }
    if cause.is::<crate::store::StoreError>()
        || cause.is::<crate::store::JournalError>()
        || cause.is::<crate::control::ControlError>()
        || cause.is::<std::io::Error>()
    {
        return Some(Exit::Environment);
    }
    None
}

/// An agent that cannot be set up: missing programs and unset variables are the machine's,
/// an incomplete definition is the configuration's.
fn agent(error: &crate::run::agents::AgentError) -> Exit {
    use crate::run::agents::AgentError;
    match error {
        AgentError::Config { .. } => Exit::Invalid,
        AgentError::NoBackend { .. } | AgentError::MissingProgram { .. } | AgentError::Env { .. } => {
            Exit::Environment
        }
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn an_error_keeps_its_status_under_context_and_unknown_ones_are_the_environments() {
        let e = Err::<(), _>(usage("no such run")).context("reading runs").unwrap_err();
        assert_eq!(of(&e), Exit::Usage);
        assert_eq!(format!("{e:#}"), "reading runs: no such run");
        let io = anyhow::Error::from(std::io::Error::other("disk full")).context("writing");
        assert_eq!(of(&io), Exit::Environment);
        assert_eq!(of(&anyhow::anyhow!("something")), Exit::Environment);
        let store = crate::store::StoreError::Locked { dir: "s".into(), pid: Some(1) };
        assert_eq!(of(&store.into()), Exit::Environment);
    }

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [Exit::Ok, Exit::Failed, Exit::Usage, Exit::Invalid, Exit::Environment];
        assert_eq!(all.map(Exit::code), [0, 1, 2, 3, 4]);
        for exit in all {
            assert!(HELP.contains(&format!("  {}  ", exit.code())), "{exit:?} is not in the help");
        }
    }
}
