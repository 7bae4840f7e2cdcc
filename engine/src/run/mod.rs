//! Runs: the pure core (events folded into a run's state in one place), the schedulers that
//! walk the plan, and the runner that drives agents.
//!
//! **Architecture invariant:** nothing changes a run's state except
//! [`core::projection::RunState::apply`] with a [`core::event::Event`].

pub mod action;
mod agent_tasks;
pub mod agents;
pub mod archive;
mod authority;
pub mod base;
pub mod check;
pub mod commit;
pub mod core;
pub mod dag;
#[cfg(test)]
mod differential_tests;
pub mod dry_run;
mod exec_dag;
mod exec_saga;
mod exec_state_machine;
pub mod fork;
mod git_actions;
mod guard;
pub mod hook_agents;
pub mod human;
pub mod learnings;
pub mod ledger;
mod live;
pub(crate) mod log;
pub mod notify;
mod notifying;
pub mod packet;
pub mod performer;
mod plugins;
pub mod resume;
pub mod routing;
pub mod runner;
mod send_back;
mod snapshots;
pub mod step;
mod steps;
pub mod task_loop;
