//! Runs: events applied to a run's state in one place, the schedulers that walk the plan, and
//! the runner that drives agents.
//!
//! **Architecture invariant:** nothing changes a run's state except
//! [`state::RunState::apply`] with an [`event::Event`].

pub mod dag;
pub mod dry_run;
pub mod event;
pub mod outcome;
pub mod runner;
pub mod state;
