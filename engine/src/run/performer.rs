//! Who performs a run's steps: the real agents, or a script that hands out outcomes without
//! running anything — `replay --check`'s recording, and the core's tests, whose outcomes are a
//! function of where the run is. With a script, nothing leaves the run: no agent, hook, git
//! command, plugin, task-file or ledger-file write.

use super::core::outcome::Outcome;
use super::core::projection::RunState;
use super::core::signal::Signal;

/// What is to be performed.
#[derive(Debug, Clone, Copy)]
pub struct Perform<'a> {
    /// The iteration.
    pub iteration: u32,
    /// The step (state, node, saga step) it is for.
    pub step: &'a str,
    /// The hook, for a hook's action (`on_enter`, `on_failure`, …); none for the step itself.
    pub hook: Option<&'a str>,
    /// The visit of the step in its iteration, from 1.
    pub visit: u32,
    /// The attempt, from 1.
    pub attempt: u32,
}

/// Outcomes without agents.
pub trait Script: Send {
    /// The outcome of `what`; `None` when the script has none, which stops the run there.
    fn outcome(&mut self, what: &Perform<'_>) -> Option<Outcome>;

    /// Control signals someone sends as step `next` is about to start (the loop looks for
    /// signals then), with who sends them. `state` is where the run is.
    fn signals(&mut self, _state: &RunState, _next: &str) -> Vec<(Signal, String)> {
        Vec::new()
    }

    /// Control signals someone sends while the loop waits, paused by `paused_by`.
    fn while_paused(&mut self, _paused_by: &str) -> Vec<(Signal, String)> {
        Vec::new()
    }
}

/// Who performs steps.
#[derive(Default)]
pub enum Performer {
    /// The agents the workflow names.
    #[default]
    Agents,
    /// A script.
    Script(Box<dyn Script>),
}

impl std::fmt::Debug for Performer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Performer::Agents => "Agents",
            Performer::Script(_) => "Script",
        })
    }
}

impl Performer {
    /// Whether a script performs the steps (nothing leaves the run).
    pub fn is_script(&self) -> bool {
        matches!(self, Performer::Script(_))
    }
}
