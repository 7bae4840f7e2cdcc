//! The three ways to run something again, side by side: `resume`, `retry` and `replay` sound
//! alike, so each one's `--help` shows all three and when to use which.

/// Shown after the help of `resume`, `retry` and `replay`.
pub const HELP: &str = "\
Resume, retry or replay?
  resume [RUN]                  the same run goes on where it stopped (a crash, Ctrl-C,
                                `pause`); nothing that finished runs again
  retry RUN --from STEP         a new run from an ended one: the steps before STEP keep their
                                outcomes, STEP and everything after it run again (after fixing a
                                prompt or an agent, say)
  replay --from-state RUN@SEQ   a new run from any snapshot (`ralph-loop snapshots`): the state
                                exactly as it was after that event, then onward
  replay --check RUN [--workflow FILE]
                                no new run and no agent: re-decides the run's recorded outcomes
                                with a changed workflow (default: the definition it ran) and
                                reports the first step that differs";
